#!/usr/bin/env bash
# Keeps the Helm chart and the plain manifests in step, one source each:
#   crds/mysqlinstances.mysqlinstance.io.yaml (from the Rust types, `make crd`) -> copied into the chart's crds/
#   deploy/prometheus/alerts.yaml (promtool-tested)                             -> copied into the chart's files/
#   charts/mysqlinstance-operator (Deployment, RBAC)                            -> rendered into deploy/operator.yaml
# deploy/operator.yaml is `helm template` with the chart's defaults except one replica (leader election stays on,
# so a rolling update or `kubectl scale` never runs two active operators), after its own Namespace.
#
#   tests/chart/generate.sh           write the three files (make deploy)
#   tests/chart/generate.sh --check   write nothing; exit 1 with a diff when a committed file is stale
set -euo pipefail
cd "$(dirname "$0")/../.."
CHART=charts/mysqlinstance-operator
FILES=("$CHART/crds/mysqlinstances.mysqlinstance.io.yaml" "$CHART/files/alerts.yaml" deploy/operator.yaml)
helm=$(tests/chart/install-helm.sh | tail -1)

# copy SOURCE TARGET: SOURCE under a line saying where it comes from.
copy() {
  { echo "# COPY of $1 made by tests/chart/generate.sh (make deploy); edit $1, not this file."; cat "$1"; } >"$2"
}

# render DIR: the three files as they should be, under DIR.
render() {
  mkdir -p "$1/$CHART/crds" "$1/$CHART/files" "$1/deploy"
  copy crds/mysqlinstances.mysqlinstance.io.yaml "$1/${FILES[0]}"
  copy deploy/prometheus/alerts.yaml "$1/${FILES[1]}"
  {
    cat <<'HEADER'
# GENERATED from charts/mysqlinstance-operator by tests/chart/generate.sh (`make deploy`); do not edit by hand.
# Installs the operator without Helm: its namespace, a ServiceAccount with least-privilege RBAC (cluster-wide), a
# Role for leader election, the metrics Service and a Deployment of one replica.
# Install the CRD first: kubectl apply --server-side -f crds/
apiVersion: v1
kind: Namespace
metadata:
  name: mysqlinstance-system
  labels:
    pod-security.kubernetes.io/enforce: restricted
HEADER
    "$helm" template mysqlinstance-operator "$CHART" --namespace mysqlinstance-system --set replicas=1
  } >"$1/${FILES[2]}"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
render "$tmp"
if [ "${1:-}" = --check ]; then
  stale=0
  for f in "${FILES[@]}"; do
    diff -u "$f" "$tmp/$f" || { echo "$f is stale: run make deploy (tests/chart/generate.sh)" >&2; stale=1; }
  done
  exit "$stale"
fi
for f in "${FILES[@]}"; do cp "$tmp/$f" "$f"; done
echo "wrote ${FILES[*]}"
