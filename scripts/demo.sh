#!/usr/bin/env bash
# The main job on the embedded default: builds what is missing, starts the local control plane, installs the
# CRD, runs the operator, applies examples/ and shows the instances moving through their phases to Ready.
# Ctrl-C tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
started=$(date +%s)

step "Building the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kubectl, kwok) from the Go module proxy"
echo "    The first build takes about 15 minutes on 2 cores; later runs use the cache in ~/.cache/mysqlinstance-operator."
tests/cluster/build.sh >/dev/null

step "Building the operator (cargo build)"
cargo build --quiet --bin mysqlinstance-operator
operator=target/debug/mysqlinstance-operator

dir=$(mktemp -d /tmp/myi-demo.XXXXXX)
operator_pid=
cleanup() {
  step "Tearing down"
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null || true
  tests/cluster/cluster.sh down "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Starting the control plane on 127.0.0.1 (3 kwok fake nodes)"
tests/cluster/cluster.sh up "$dir"
eval "$(tests/cluster/cluster.sh env "$dir")"

step "Installing the MySQLInstance CRD"
"$operator" crd | kubectl apply --server-side -f -
kubectl wait --for=condition=Established crd/mysqlinstances.mysqlinstance.io --timeout=30s

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "Starting the operator; metrics at http://127.0.0.1:$port/metrics (log: $dir/operator.log)"
"$operator" run --metrics-address "127.0.0.1:$port" >"$dir/operator.log" 2>&1 &
operator_pid=$!

step "Applying examples/ (a plain instance and one with backups every minute)"
kubectl apply -f examples/

step "Watching the instances until both are Ready"
for _ in $(seq 1 120); do
  kubectl get myi
  ready=$(kubectl get myi -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Ready$' || true)
  [ "$ready" = 2 ] && break
  sleep 1
  echo
done
[ "$ready" = 2 ] || { echo "the instances did not reach Ready; operator log:"; tail -30 "$dir/operator.log"; exit 1; }
kubectl wait --for=condition=Ready myi --all --timeout=10s
echo
echo "Both instances are Ready after $(( $(date +%s) - started ))s."
echo "Phase counts from /metrics:"
curl -fsS "http://127.0.0.1:$port/metrics" | grep '^mysqlinstance_instances'

if [ "${MYI_DEMO_EXIT:-}" = 1 ]; then exit 0; fi
step "The demo keeps running: 'billing' backs up every minute (watch it go BackingUp). Ctrl-C to stop."
echo "    In another shell: eval \"\$(tests/cluster/cluster.sh env $dir)\"; kubectl get myi -w"
kubectl get myi -w
