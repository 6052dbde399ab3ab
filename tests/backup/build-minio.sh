#!/usr/bin/env bash
# Builds MinIO (the S3-compatible server the backup tests upload to) from the Go module proxy, pinned by module
# version, into a cache directory outside the repository so a second run builds nothing. Prints the path of the
# binary on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}
OUT="$CACHE/bin/minio-$MINIO_VERSION"
# GOTOOLCHAIN=local: never download a toolchain (only the module proxy is reachable); the installed Go must do.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS= CGO_ENABLED=0 GOBIN="$OUT"

log() { printf '[build-minio] %s\n' "$*" >&2; }

if [ -x "$OUT/minio" ] && [ -f "$OUT/.complete" ]; then
  log "cached: $OUT/minio"
  echo "$OUT/minio"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; install Go >= 1.24 first"; exit 1; }
mkdir -p "$OUT"
start=$(date +%s)
log "building github.com/minio/minio@$MINIO_VERSION with $(go version | cut -d' ' -f3) (~10 min cold on 2 cores)"
go install -trimpath -buildvcs=false -ldflags="-s -w" "github.com/minio/minio@$MINIO_VERSION"
"$OUT/minio" --version >/dev/null
echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
touch "$OUT/.complete"
log "built in $(( $(date +%s) - start ))s: $OUT/minio"
echo "$OUT/minio"
