#!/usr/bin/env bash
# The main job on the embedded default: builds what is missing (the local control plane, a real node, the
# images), starts a one-node cluster whose kubelet, containerd and runc run real pods inside a private network
# namespace, runs the operator, applies examples/ (MariaDB, which is what Debian ships), and ends by showing a
# query answered through each instance's Service with the credentials from its Secret. One line per step on the
# terminal, everything else in a log file. Ctrl-C tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
dir=$(mktemp -d /tmp/myi-demo.XXXXXX)
cluster="$dir/cluster"
log="$dir/demo.log"
step() { printf '\033[1m==>\033[0m %s\n' "$*"; }
# quietly CMD...: the command's output goes to the log; on failure its tail is shown.
quietly() {
  if ! "$@" >>"$log" 2>&1; then
    echo "failed: $*; the last lines of $log:" >&2
    tail -25 "$log" >&2
    exit 1
  fi
}

operator_pid=
cleanup() {
  step "Tearing down (the cluster leaves nothing behind on this machine)"
  [ -n "$operator_pid" ] && kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null || true
  tests/cluster/cluster.sh down "$cluster" >>"$log" 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "Details of every step: $log"

step "Building the control plane and the real node from the Go module proxy (about 20 minutes the first time, then cached)"
quietly tests/cluster/build.sh
quietly tests/cluster/build.sh --real
if ! command -v mariadb >/dev/null; then
  step "Installing the MariaDB client from Debian (to query the instances as an application would)"
  quietly apt-get update
  DEBIAN_FRONTEND=noninteractive quietly apt-get install -y --no-install-recommends mariadb-client
fi

step "Building the images: pause, MariaDB 10.11 from Debian packages, the operator (static binary)"
quietly tests/images/build.sh pause
# The pause image is loaded by the cluster itself; these are the workloads'.
images=$(tests/images/build.sh mariadb operator 2>>"$log" | tr '\n' ' ') || {
  tail -25 "$log" >&2
  exit 1
}
operator=target/x86_64-unknown-linux-musl/release/mysqlinstance-operator
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

step "Starting the cluster: control plane, kubelet, containerd, CNI, kube-proxy, CoreDNS (in a private network namespace)"
MYI_IMAGES="$images" quietly tests/cluster/cluster.sh up --real "$cluster"
in_cluster() { tests/cluster/cluster.sh exec "$cluster" -- "$@"; }

step "Installing the MySQLInstance CRD"
"$operator" crd >"$dir/crd.yaml"
quietly in_cluster kubectl apply --server-side -f "$dir/crd.yaml"
quietly in_cluster kubectl wait --for=condition=Established crd/mysqlinstances.mysqlinstance.io --timeout=30s

port=$(in_cluster python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "Starting the operator (log: $dir/operator.log; metrics on 127.0.0.1:$port inside the cluster's namespace)"
in_cluster env OPERATOR_IMAGE="localhost/mysqlinstance-operator:$version" SERVER_IMAGES="10.11=localhost/mariadb:10.11" \
  "$operator" run --metrics-address "127.0.0.1:$port" >"$dir/operator.log" 2>&1 &
operator_pid=$!

step "Applying examples/: shop (a plain instance) and billing (backed up every minute)"
quietly in_cluster kubectl apply -f examples/

step "Waiting until both run a real server and are Ready"
last=
for _ in $(seq 1 300); do
  now=$(in_cluster kubectl get myi -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{" "}{end}' 2>>"$log")
  if [ "$now" != "$last" ]; then
    echo "    $(($(date +%s) - started))s: $now"
    last=$now
  fi
  [ "$(grep -o '=Ready' <<<"$now" | wc -l)" = 2 ] && break
  sleep 1
done
[ "$(grep -o '=Ready' <<<"$now" | wc -l)" = 2 ] || {
  echo "the instances did not reach Ready; operator log tail:" >&2
  tail -20 "$dir/operator.log" >&2
  exit 1
}
in_cluster kubectl get myi
echo

step "Querying each instance through its Service with the credentials from its Secret"
secret_key() { in_cluster kubectl get secret "$1-credentials" -o "jsonpath={.data.$2}" | base64 -d; }
for name in shop billing; do
  cnf="$dir/$name.cnf"
  (
    umask 077
    printf '[client]\nuser = %s\npassword = "%s"\n' "$(secret_key "$name" username)" "$(secret_key "$name" password)" >"$cnf"
  )
  host=$(secret_key "$name" host)
  port=$(secret_key "$name" port)
  echo "    $name: mariadb --host=$host --port=$port (user and password from the Secret $name-credentials)"
  in_cluster mariadb --defaults-file="$cnf" --host="$host" --port="$port" --protocol=TCP --table \
    -e "SELECT CURRENT_USER() AS user, DATABASE() AS db, VERSION() AS server, @@hostname AS pod, NOW() AS now" \
    "$(secret_key "$name" database)" | sed 's/^/    /'
done
echo
echo "Both instances are Ready and answered $(($(date +%s) - started))s after the start."

if [ "${MYI_DEMO_EXIT:-}" = 1 ]; then exit 0; fi
step "The demo keeps running: billing backs up every minute (watch it go BackingUp). Ctrl-C to stop."
echo "    In another shell: tests/cluster/cluster.sh exec $cluster -- kubectl get myi -w"
in_cluster kubectl get myi -w
