#!/usr/bin/env bash
# Local Kubernetes cluster for the operator's integration/e2e tests, in one of two modes:
#   kwok (default): etcd + kube-apiserver + kube-controller-manager + kube-scheduler on 127.0.0.1 + kwok (3 fake
#                   nodes, fake pods/volumes). Every server binds 127.0.0.1 only.
#   real (--real):  the same control plane + a real node (containerd, runc, kubelet, CNI bridge, kube-proxy,
#                   CoreDNS) running real containers, all inside one network namespace created for the cluster
#                   (real.sh). Nothing is added to the host's network; see README.md.
#
#   tests/cluster/cluster.sh up   [--real] [DIR]   build (cached) and start a cluster whose state lives in DIR
#   tests/cluster/cluster.sh env  [DIR]            print `export KUBECONFIG=...`, `export PATH=<bindir>:$PATH`
#                                                  (real mode: also `export MYI_NETNS=...`)
#   tests/cluster/cluster.sh exec DIR -- CMD...    run CMD with KUBECONFIG and PATH set (real mode: inside the
#                                                  cluster's network namespace, where pods, Services and *.svc work)
#   tests/cluster/cluster.sh load DIR IMAGE.tar... import OCI archives into the node's containerd (real mode)
#   tests/cluster/cluster.sh restart DIR NAME      (kwok mode) stop one component (etcd, kube-apiserver, ...) and start it
#                                                  again with the same command line (fault tests)
#   tests/cluster/cluster.sh down [DIR]            stop every process of that cluster, remove all it created and
#                                                  DIR (idempotent)
#
# kwok mode reads MYI_FAKE_NODES (fake nodes, 3 by default, 110 pods each) and MYI_APISERVER_ARGS (extra
# kube-apiserver flags, split on spaces: the benchmark's audit log).
#
# DIR defaults to ${MYI_CLUSTER_DIR:-/tmp/myi-cluster}. Several clusters can run side by side in different DIRs.
# See tests/cluster/README.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
STAGES="$here/stages"
# Components start in the order etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (DIR/pids);
# `down` stops them in reverse.
NODES=()
for ((node = 0; node < ${MYI_FAKE_NODES:-3}; node++)); do NODES+=("kwok-node-$node"); done
MARKER=.myi-cluster

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $0 up [--real] [DIR]
       $0 {down|env} [DIR]
       $0 exec DIR -- CMD...
       $0 load DIR IMAGE.tar...
       $0 restart DIR NAME
  DIR defaults to \${MYI_CLUSTER_DIR:-/tmp/myi-cluster}
EOF
  exit 2
}

# ---------------------------------------------------------------------------------------------------------------
# process helpers

# proc_start PID: the process's start time (field 22 of /proc/PID/stat), to tell it from a later one with its PID.
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # the fields after "(comm) "; comm may contain spaces
  # shellcheck disable=SC2086 # split into fields
  set -- $stat
  echo "${20}"
}

# pid_is_ours PID [START]: the process is alive and is the one recorded (same start time), or, for a pids file
# without start times, runs one of our binaries (guards against PID reuse).
pid_is_ours() {
  local pid=$1 start=${2:-} exe stat
  [ -n "$pid" ] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # a zombie is dead: its reaper (for an orphan, possibly a slow PID 1) has just not collected it yet
  [ "${stat%% *}" != Z ] || return 1
  if [ -n "$start" ]; then
    # shellcheck disable=SC2086 # split into fields; the start time is the 20th after "(comm) "
    set -- $stat
    # an explicit status: a bare `return` in a function called from a trap (up's EXIT trap runs `down`) returns
    # the status of the command before the trap
    [ "${20}" = "$start" ] && return 0 || return 1
  fi
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case "$exe" in "$BIN"/*) return 0 ;; *) return 1 ;; esac
}

# stop_all [NAME...]: SIGTERM the recorded processes (all, or only those NAMEs) in reverse start order, waiting up
# to 10s for each, then SIGKILL what is left.
stop_all() {
  local pidfile="$DIR/pids" name pid start i
  [ -f "$pidfile" ] || return 0
  local -a names=() pids=() starts=()
  while read -r name pid start; do
    if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
    names+=("$name"); pids+=("$pid"); starts+=("$start")
  done <"$pidfile"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if pid_is_ours "${pids[$i]}" "${starts[$i]}"; then
      log "stopping ${names[$i]} (pid ${pids[$i]})"
      kill -TERM "${pids[$i]}" 2>/dev/null || true
      # let each component exit before stopping the one it depends on (kwok/kcm/scheduler before the apiserver,
      # the apiserver before etcd), so nothing spins on a vanished dependency
      wait_gone "${pids[$i]}" 10 "${starts[$i]}" || true
    fi
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if ! wait_gone "${pids[$i]}" 10 "${starts[$i]}"; then
      log "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM; sending SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      wait_gone "${pids[$i]}" 10 "${starts[$i]}" || die "${names[$i]} (pid ${pids[$i]}) is still running"
    fi
  done
  [ $# -gt 0 ] || rm -f "$pidfile"
}

# wait_gone PID SECONDS [START]: true once PID is no longer that process of ours (reaps it if it is our child).
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2)) start=${3:-}
  while pid_is_ours "$pid" "$start"; do
    # a zombie child of this shell still passes kill -0; reap it
    if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then wait "$pid" 2>/dev/null || true; fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  wait "$pid" 2>/dev/null || true
  return 0
}

# start NAME CMD...: run CMD in the background with its output appended to DIR/logs/NAME.log, record its PID and
# start time, and its command line in DIR/commands/NAME (for restart).
start() {
  local name=$1; shift
  CURRENT=$name
  log "starting $name"
  mkdir -p "$DIR/commands"
  printf '%q ' "$@" >"$DIR/commands/$name"
  "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 &
  echo "$name $! $(proc_start $!)" >>"$DIR/pids"
}

# do_restart NAME: stop the component NAME and start it again as it was started.
do_restart() {
  local name=$1 command
  [ -f "$DIR/env" ] || die "no cluster in $DIR (run: $0 up $DIR)"
  load_env
  command=$(cat "$DIR/commands/$name" 2>/dev/null) || die "no component $name in $DIR (see $DIR/commands)"
  stop_all "$name"
  grep -v "^$name " "$DIR/pids" >"$DIR/pids.new" || true
  mv "$DIR/pids.new" "$DIR/pids"
  eval "start $name $command"
  log "restarted $name"
}

pid_of() { [ ! -f "$DIR/pids" ] || awk -v n="$1" '$1 == n {print $2, $3}' "$DIR/pids"; } # "PID START"

# wait_until COMPONENT TIMEOUT DESCRIPTION CMD...: poll CMD until it succeeds; fail early if COMPONENT died.
wait_until() {
  local comp=$1 timeout=$2 what=$3; shift 3
  local deadline=$((SECONDS + timeout)) pid
  CURRENT=$comp
  pid=$(pid_of "$comp")
  until "$@" >/dev/null 2>&1; do
    # shellcheck disable=SC2086 # "PID START"
    pid_is_ours $pid || die "$comp exited while waiting for: $what"
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${timeout}s waiting for: $what"
    sleep 0.25
  done
  log "ok: $what"
}

free_ports() { # free_ports N: N distinct free TCP ports on 127.0.0.1 (all held open at once, so distinct)
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
}

# ---------------------------------------------------------------------------------------------------------------
# up

ossl() { # openssl with its chatter in logs/pki.log
  CURRENT=pki
  openssl "$@" >>"$DIR/logs/pki.log" 2>&1 || die "openssl $1 failed"
}

# The key type of every certificate (the real mode uses EC P-256: a dozen RSA keys take seconds on 2 busy cores).
PKI_NEWKEY=(-newkey rsa:2048)

# client_cert NAME SUBJECT [EXTENSIONS]: DIR/pki/NAME.{key,crt} signed by the cluster CA.
client_cert() {
  local pki=$DIR/pki name=$1 subj=$2 ext=${3:-client_ext}
  ossl req -new -nodes "${PKI_NEWKEY[@]}" -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr"
  ossl x509 -req -sha256 -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/openssl.cnf" -extensions "$ext" -out "$pki/$name.crt"
}

gen_pki() {
  local pki=$DIR/pki
  mkdir -p "$pki"
  cat >"$pki/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = myi-cluster-ca
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local${PKI_EXTRA_SAN:-}
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF
  ossl req -x509 -new -nodes "${PKI_NEWKEY[@]}" -sha256 -days 3650 -config "$pki/openssl.cnf" \
    -extensions ca_ext -keyout "$pki/ca.key" -out "$pki/ca.crt"
  ossl req -new -nodes "${PKI_NEWKEY[@]}" -subj "/CN=kube-apiserver" \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
  ossl x509 -req -sha256 -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$pki/openssl.cnf" -extensions server_ext -out "$pki/apiserver.crt"
  client_cert admin "/O=system:masters/CN=myi-admin"
  ossl genrsa -out "$pki/sa.key" 2048
  ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

  write_kubeconfig "$DIR/kubeconfig" "https://127.0.0.1:$API_PORT" admin
}

# write_kubeconfig FILE SERVER CERT: a kubeconfig for the client certificate DIR/pki/CERT.{crt,key}.
write_kubeconfig() {
  local pki=$DIR/pki
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: myi
  cluster:
    server: $2
    certificate-authority: $pki/ca.crt
users:
- name: myi-$3
  user:
    client-certificate: $pki/$3.crt
    client-key: $pki/$3.key
contexts:
- name: myi
  context: {cluster: myi, user: myi-$3}
current-context: myi
EOF
}

write_kwok_config() {
  # Stock kwok v0.8.0 stages (copied verbatim) + the project's pod-test-unready stages. storage-class.yaml is a
  # Kubernetes object, not a stage: it is applied with kubectl.
  local f first=1
  for f in "$STAGES"/*.yaml; do
    [ "$(basename "$f")" = storage-class.yaml ] && continue
    [ $first = 1 ] || echo ---
    first=0
    cat "$f"
  done >"$DIR/kwok.yaml"
}

# Both address types must be set: kwok's node-initialize stage only adds missing ones, and with one of them
# missing (and no --node-name) it renders an empty `addresses:` which wipes the list.
node_manifest() {
  local n
  for n in "${NODES[@]}"; do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $n
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
  addresses:
  - {type: InternalIP, address: 127.0.0.1}
  - {type: Hostname, address: $n}
EOF
  done
}

nodes_ready() {
  local out
  out=$(kc get nodes "${NODES[@]}" \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.taints}{"\n"}{end}') || return 1
  # every node Ready=True and (node-lifecycle has removed its start-up not-ready taints) untainted
  [ "$(grep -cx 'True ' <<<"$out")" = "${#NODES[@]}" ]
}

kc() { "$BIN/kubectl" --kubeconfig="$DIR/kubeconfig" --request-timeout=10s "$@"; }

on_up_exit() {
  local rc=$?
  [ "$UP_OK" = 1 ] && return 0
  trap - EXIT INT TERM
  case $rc in
    130 | 143) log "up interrupted (exit $rc) during: ${CURRENT:-?}" ;;
    *) log "up FAILED (exit $rc) in component: ${CURRENT:-?}" ;;
  esac
  if [ -n "${CURRENT:-}" ] && [ -f "$DIR/logs/$CURRENT.log" ]; then
    log "---- last 40 lines of $DIR/logs/$CURRENT.log ----"
    tail -n 40 "$DIR/logs/$CURRENT.log" >&2 || true
    log "---- end of $CURRENT.log ----"
  fi
  log "tearing down what was started"
  if [ "${MYI_KEEP_FAILED:-0}" = 1 ] && [ "${MODE:-kwok}" = real ]; then
    down_real keep || true
  elif [ "${MYI_KEEP_FAILED:-0}" = 1 ]; then
    stop_all || true
    log "MYI_KEEP_FAILED=1: leaving $DIR (logs) in place"
  else
    do_down || true
  fi
  exit $((rc == 0 ? 1 : rc))
}

# prepare_dir: refuse a running cluster or a foreign non-empty DIR; clear a dead cluster's state.
prepare_dir() {
  if [ -e "$DIR" ]; then
    [ -z "$(ls -A "$DIR")" ] || [ -f "$DIR/$MARKER" ] || die "$DIR exists, is not empty and is not a cluster dir"
    if [ -f "$DIR/pids" ]; then
      local name pid start
      load_env
      while read -r name pid start; do
        pid_is_ours "$pid" "$start" && die "a cluster is already running in $DIR ($name pid $pid); run: $0 down $DIR"
      done <"$DIR/pids"
    fi
    log "removing stale state in $DIR"
    do_down
  elif [ -e "/run/netns/$(real_netns_name)" ]; then
    log "removing a stale real-node cluster of $DIR"
    do_down
  fi
}

do_up() {
  local t0=$SECONDS
  if [ "$REAL" = 1 ]; then do_up_real; return 0; fi
  prepare_dir

  BIN=$("$here/build.sh" | tail -n 1)
  [ -x "$BIN/kube-apiserver" ] || die "build.sh did not print a binary directory (got '$BIN')"
  mkdir -p "$DIR/logs"
  touch "$DIR/$MARKER"
  DIR=$(cd "$DIR" && pwd)

  UP_OK=0 CURRENT=
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT <<<"$(free_ports 5)"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    ETCD_DATA=$(mktemp -d /dev/shm/myi-etcd.XXXXXX)
  else
    ETCD_DATA=$DIR/etcd
  fi
  cat >"$DIR/env" <<EOF
BIN=$BIN
KUBECONFIG=$DIR/kubeconfig
ETCD_DATA=$ETCD_DATA
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
EOF
  log "dir $DIR, binaries $BIN"
  log "ports: etcd $ETCD_PORT (peer $ETCD_PEER_PORT), apiserver $API_PORT, controller-manager $KCM_PORT, scheduler $SCHED_PORT"

  gen_pki
  local pki=$DIR/pki

  start etcd "$BIN/etcd" --name=myi --data-dir="$ETCD_DATA" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="myi=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --auto-compaction-retention=1 --log-level=warn
  wait_until etcd 30 "etcd /health" sh -c "curl -fsS 'http://127.0.0.1:$ETCD_PORT/health' | grep -q true"

  # --advertise-address=127.0.0.1 needs --endpoint-reconciler-type=none on 1.37 (the apiserver refuses a loopback
  # advertise address for the lease reconciler); nothing here is an in-cluster client of the `kubernetes` Service.
  # shellcheck disable=SC2086 # MYI_APISERVER_ARGS is a list of flags
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --cert-dir="$pki/apiserver-generated" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=RBAC --allow-privileged=true \
    --enable-priority-and-fairness=false --max-requests-inflight=0 --max-mutating-requests-inflight=0 \
    --profiling=false ${MYI_APISERVER_ARGS:-}
  wait_until kube-apiserver 120 "kube-apiserver /readyz" \
    curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz"

  CURRENT=kube-apiserver
  # kwok's volume stages provision PVs for this (default) StorageClass
  kc apply -f "$STAGES/storage-class.yaml" >/dev/null

  # shellcheck disable=SC2054 # the commas belong to a flag value
  local common=(--kubeconfig="$DIR/kubeconfig" --authentication-kubeconfig="$DIR/kubeconfig"
    --authorization-kubeconfig="$DIR/kubeconfig" --bind-address=127.0.0.1 --leader-elect=false
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics --kube-api-qps=200 --kube-api-burst=400)
  start kube-controller-manager "$BIN/kube-controller-manager" "${common[@]}" --secure-port="$KCM_PORT" \
    --controllers='*' \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-name=myi --profiling=false --flex-volume-plugin-dir="$DIR/flexvolume"
  start kube-scheduler "$BIN/kube-scheduler" "${common[@]}" --secure-port="$SCHED_PORT" --profiling=false

  write_kwok_config
  start kwok "$BIN/kwok" --kubeconfig="$DIR/kubeconfig" --config="$DIR/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-lease-duration-seconds=40 --cidr=10.0.0.0/16

  wait_until kube-controller-manager 60 "kube-controller-manager /healthz" \
    curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
  wait_until kube-scheduler 60 "kube-scheduler /healthz" curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"

  CURRENT=kwok
  node_manifest | kc apply -f - >/dev/null
  wait_until kwok 60 "${#NODES[@]} fake nodes Ready and untainted" nodes_ready
  wait_until kube-controller-manager 60 "ServiceAccount default/default" kc -n default get serviceaccount default

  UP_OK=1
  trap - EXIT INT TERM
  log "cluster up in $((SECONDS - t0))s: KUBECONFIG=$DIR/kubeconfig"
  log "use: eval \"\$($0 env $DIR)\""
}

# ---------------------------------------------------------------------------------------------------------------
# down / env

# load_env: the KEY=value lines of DIR/env (as written by up) into shell variables.
load_env() {
  BIN='' ETCD_DATA='' MODE=kwok NODEBIN='' NETNS='' NETNS_INODE='' MNTNS='' CGROUP_ROOT='' API_PORT=''
  local k v
  if [ -f "$DIR/env" ]; then
    while IFS='=' read -r k v; do
      case "$k" in
        BIN | ETCD_DATA | MODE | NODEBIN | NETNS | NETNS_INODE | MNTNS | CGROUP_ROOT | API_PORT) printf -v "$k" '%s' "$v" ;;
      esac
    done <"$DIR/env"
  fi
  if [ -z "$BIN" ]; then # env not written yet (very early failure): derive the binary dir as build.sh does
    # shellcheck source=versions.env
    source "$here/versions.env"
    BIN="${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
  fi
}

do_down() {
  if [ ! -e "$DIR" ] && [ ! -e "/run/netns/$(real_netns_name)" ]; then
    log "nothing to do: $DIR does not exist"
    return 0
  fi
  if [ -e "$DIR" ]; then
    # (a real-node cluster's namespace, named after DIR, also proves DIR was a cluster dir)
    [ -f "$DIR/$MARKER" ] || [ -z "$(ls -A "$DIR")" ] || [ -e "/run/netns/$(real_netns_name)" ] ||
      die "$DIR is not a cluster dir (no $MARKER); not touching it"
  fi
  load_env
  # a real-node cluster, or what is left of one whose DIR/env is gone (its namespace is named after DIR)
  if [ "$MODE" = real ] || [ -e "/run/netns/$(real_netns_name)" ]; then
    down_real
    return 0
  fi
  stop_all
  case "$ETCD_DATA" in
    /dev/shm/myi-etcd.*) rm -rf "$ETCD_DATA" ;;
  esac
  rm -rf "$DIR"
  log "down: $DIR removed"
}

do_env() {
  [ -f "$DIR/env" ] || die "no cluster in $DIR (run: $0 up $DIR)"
  load_env
  printf 'export KUBECONFIG=%q\n' "$DIR/kubeconfig"
  # shellcheck disable=SC2016 # $PATH is meant to be expanded by the caller's eval
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
  if [ "$MODE" = real ]; then printf 'export MYI_NETNS=%q\n' "$NETNS"; fi
}

# do_exec CMD...: CMD with KUBECONFIG and PATH set; for a real-node cluster inside its network namespace, where
# `ip netns exec` also bind-mounts /etc/netns/NETNS/resolv.conf (CoreDNS) over /etc/resolv.conf.
do_exec() {
  [ -f "$DIR/env" ] || die "no cluster in $DIR (run: $0 up $DIR)"
  load_env
  [ $# -gt 0 ] || usage
  export KUBECONFIG="$DIR/kubeconfig" PATH="$BIN:$PATH"
  if [ "$MODE" = real ]; then
    [ -n "$NODEBIN" ] && PATH="$BIN:$NODEBIN:${PATH#"$BIN:"}"
    export MYI_NETNS=$NETNS
    exec ip netns exec "$NETNS" "$@"
  fi
  exec "$@"
}

# ---------------------------------------------------------------------------------------------------------------

# shellcheck source=real.sh
source "$here/real.sh"

[ $# -ge 1 ] || usage
cmd=$1; shift
REAL=0
args=()
case "$cmd" in
  up)
    [ "${1:-}" = --real ] && { REAL=1; shift; }
    [ $# -le 1 ] || usage
    DIR=${1:-} ;;
  down | env) [ $# -le 1 ] || usage; DIR=${1:-} ;;
  exec)
    [ $# -ge 3 ] && [ "$2" = -- ] || usage
    DIR=$1; shift 2; args=("$@") ;;
  load)
    [ $# -ge 2 ] || usage
    DIR=$1; shift; args=("$@") ;;
  restart)
    [ $# -eq 2 ] || usage
    DIR=$1; args=("$2") ;;
  *) usage ;;
esac
DIR=${DIR:-${MYI_CLUSTER_DIR:-/tmp/myi-cluster}}
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DIR=${DIR%/}
[ -n "$DIR" ] && [ "$DIR" != / ] || die "refusing DIR=/"
BIN=

case "$cmd" in
  up) do_up ;;
  down) do_down ;;
  env) do_env ;;
  exec) do_exec "${args[@]}" ;;
  load) do_load "${args[@]}" ;;
  restart) do_restart "${args[@]}" ;;
esac
