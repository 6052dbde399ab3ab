#!/usr/bin/env bash
# Builds Helm (helm.sh/helm/v4, version pinned in tests/chart/versions.env) from the Go module proxy into a cache
# directory outside the repository, so a second run builds nothing. Prints the path of the helm binary on its last
# line. The build runs under `flock $HEAVY_LOCK` (default /tmp/work/heavy.lock when /tmp/work exists; HEAVY_LOCK=
# disables it) so it never competes with other heavy builds on a small machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"
CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}
OUT="$CACHE/bin/helm-$HELM_VERSION"
# GOTOOLCHAIN=local: never download a toolchain (only the module proxy is reachable); the installed Go must do.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS='' CGO_ENABLED=0 GOBIN="$OUT"

log() { printf '[install-helm] %s\n' "$*" >&2; }

if [ -x "$OUT/helm" ] && [ -f "$OUT/.complete" ]; then
  log "cached: $OUT/helm"
  echo "$OUT/helm"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; install Go >= 1.25 first"; exit 1; }
mkdir -p "$OUT"
lock=${HEAVY_LOCK-/tmp/work/heavy.lock}
locked=()
if [ -n "$lock" ] && [ -d "$(dirname "$lock")" ]; then
  log "waiting for $lock"
  locked=(flock "$lock")
fi
start=$(date +%s)
log "building helm.sh/helm/v4/cmd/helm@$HELM_VERSION with $(go version | cut -d' ' -f3)"
# The ldflags stamp the version, as the upstream Makefile does (otherwise `helm version` says v4.0+unreleased).
"${locked[@]}" go install -trimpath -buildvcs=false \
  -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
"$OUT/helm" version --short >&2
echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
touch "$OUT/.complete"
log "built in $(( $(date +%s) - start ))s: $OUT/helm"
echo "$OUT/helm"
