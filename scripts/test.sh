#!/usr/bin/env bash
# Every test: unit, property and golden tests; the in-pod subcommands against a real MariaDB; end-to-end tests
# on a fresh local control plane with kwok nodes; backup round trips against real MariaDB and S3; end-to-end
# tests on a real node (kubelet, containerd, runc) running the images built here, then again against the operator
# installed there by the Helm chart; the Dockerfile checked against the operator image; the Helm chart; Prometheus
# rule and dashboard checks. Installs what it needs.
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

step "Building the local control plane and the real node (cached after the first run)"
tests/cluster/build.sh >/dev/null
tests/cluster/build.sh --real >/dev/null

step "Building Helm for the chart checks (Go module proxy, cached)"
tests/chart/install-helm.sh >/dev/null

step "Building the images (pause, MariaDB from Debian, the operator's static binary; cached by input hash)"
tests/images/build.sh pause >/dev/null
# The pause image is loaded by the cluster itself; these are the workloads'.
images=$(tests/images/build.sh mariadb operator | tr '\n' ' ')

step "Checking the Dockerfile against the operator image built here"
python3 tests/images/check-dockerfile.py

step "Building the tests"
cargo test --all-targets --no-run

dir=$(mktemp -d /tmp/myi-test.XXXXXX)
real=$(mktemp -u -d /tmp/myi-test-real.XXXXXX)
trap 'tests/cluster/cluster.sh down "$dir" >/dev/null 2>&1 || true; tests/cluster/cluster.sh down "$real" >/dev/null 2>&1 || true' EXIT
step "Starting the local control plane (kwok nodes)"
tests/cluster/cluster.sh up "$dir"

step "Helm chart: lint, drift against crds/ and deploy/, schema, server-side dry run"
(eval "$(tests/cluster/cluster.sh env "$dir")" && tests/chart/check.sh)

step "cargo test (unit, property, golden, in-pod subcommands, end-to-end on kwok, backup, short chaos suite)"
(eval "$(tests/cluster/cluster.sh env "$dir")" && cargo test --lib --bins --test instance --test e2e --test backup --test chaos)
tests/cluster/cluster.sh down "$dir"

step "Starting the real-node cluster (kubelet, containerd, runc, CNI, kube-proxy, CoreDNS in a private network namespace)"
MYI_IMAGES="$images" tests/cluster/cluster.sh up --real "$real"

step "cargo test --test node (real MariaDB pods under the operator, inside the cluster's network namespace)"
tests/cluster/cluster.sh exec "$real" -- cargo test --test node

step "The operator in the cluster: Helm chart install (local images, its ServiceAccount, leader election), named real-node tests against it, helm uninstall"
tests/cluster/in-cluster.sh "$real"
tests/cluster/cluster.sh down "$real"

step "Prometheus rules, alert unit tests and dashboards"
bash tests/prometheus/run.sh
