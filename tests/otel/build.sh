#!/usr/bin/env bash
# Builds the OTLP receiver of the tracing end-to-end test (tests/e2e/observability.rs): a minimal OpenTelemetry
# Collector, tests/otel/main.go, made of the upstream OTLP receiver and the contrib file exporter, with the versions
# pinned in tests/otel/go.mod and go.sum, from the Go module proxy. The binary is cached outside the repository
# under a key made of the collector version and a hash of the module's sources, so a second run builds nothing and
# any change to go.mod, go.sum or main.go builds anew. Prints the path of the binary on its last line.
#
#   tests/otel/build.sh          build if needed, print the path
#   tests/otel/build.sh --path   only print where the binary is expected (the test reads this; builds nothing)
#
# Cold (empty module and build caches): ~2.5 min on 2 cores, module downloads included.
#
# To change versions: `go get` the new versions in tests/otel, then `go mod tidy -e`. Plain `go mod tidy` fails
# because a test-only dependency of the file exporter (otlpencodingextension) is not served by the module proxy;
# the binary does not need it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}
COLLECTOR_VERSION=$(awk '$1 == "go.opentelemetry.io/collector/otelcol" { print $2 }' "$HERE/go.mod")
SOURCES_HASH=$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-12)
OUT="$CACHE/bin/otel-receiver-$COLLECTOR_VERSION-$SOURCES_HASH"
BIN="$OUT/otel-receiver"

log() { printf '[build-otel] %s\n' "$*" >&2; }

if [ "${1:-}" = --path ]; then
  echo "$BIN"
  exit 0
fi
if [ -x "$BIN" ] && [ -f "$OUT/.complete" ]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "go is not installed; install Go >= 1.26 first"; exit 1; }
# GOTOOLCHAIN=local: never download a toolchain (only the module proxy is reachable); the installed Go must do.
# -mod=readonly: go.sum is the pin; a build that would change it fails instead.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0
mkdir -p "$OUT"
start=$(date +%s)
log "building the OTLP receiver (collector $COLLECTOR_VERSION) with $(go version | cut -d' ' -f3) (~2.5 min cold on 2 cores)"
(cd "$HERE" && go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$BIN.tmp" .)
mv "$BIN.tmp" "$BIN"
"$BIN" --version >/dev/null
echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
touch "$OUT/.complete"
log "built in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"
