#!/usr/bin/env bash
# Every test: unit, property and golden tests; end-to-end tests on a fresh local control plane; backup
# round trips against real MariaDB and S3; Prometheus rule and dashboard checks. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

if [ -x tests/backup/setup.sh ]; then
  step "Installing the backup test servers (MariaDB from Debian, MinIO from the Go module proxy)"
  tests/backup/setup.sh
fi

step "Installing Prometheus (Debian package; the end-to-end observability test starts a real server)"
tests/prometheus/install.sh

step "Building the OTLP receiver for the tracing test (OpenTelemetry Collector from the Go module proxy, cached)"
tests/otel/build.sh >/dev/null

step "Building the local control plane (cached after the first run)"
tests/cluster/build.sh >/dev/null

dir=$(mktemp -d /tmp/myi-test.XXXXXX)
trap 'tests/cluster/cluster.sh down "$dir" >/dev/null 2>&1 || true' EXIT
step "Starting the local control plane"
tests/cluster/cluster.sh up "$dir"
eval "$(tests/cluster/cluster.sh env "$dir")"

step "cargo test (unit, property, golden, end-to-end, backup)"
cargo test --all-targets

step "Prometheus rules, alert unit tests and dashboards"
bash tests/prometheus/run.sh
