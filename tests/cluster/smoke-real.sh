#!/usr/bin/env bash
# Smoke test of the real-node mode (tests/cluster/cluster.sh up --real): the node becomes Ready; a StatefulSet with
# a PVC (default StorageClass) runs MariaDB (or the pause image when no MariaDB image can be built) under Pod
# Security "restricted"; its Service and *.svc names work from inside the cluster's network namespace; kubectl
# logs and exec work; a pod reaches the `kubernetes` Service; deleting the PVC deletes the PV; `down` leaves
# nothing behind (checked here independently of down's own check). Prints the timings.
#
#   tests/cluster/smoke-real.sh [DIR]    (default: a fresh temp dir)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-$(mktemp -u -d /tmp/myi-smoke-real.XXXXXX)}
NS=smoke
log() { printf '[smoke-real] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

trap '"$here/cluster.sh" down "$DIR" >/dev/null 2>&1 || true; rm -f "$DIR.up.log"' EXIT
start=$SECONDS

# Images: the pause image is loaded by `up` itself; MariaDB when tests/images/build.sh can build it.
IMAGE=localhost/pause:3.10
MARIADB_TAR=
if [ -x "$here/../images/build.sh" ] && MARIADB_TAR=$("$here/../images/build.sh" mariadb | tail -n 1) &&
  [ -f "$MARIADB_TAR" ]; then
  IMAGE=localhost/mariadb:10.11
else
  log "no MariaDB image (tests/images/build.sh mariadb failed or is missing): using the pause image"
  MARIADB_TAR=
fi
log "workload image: $IMAGE"

t=$SECONDS
MYI_IMAGES=$MARIADB_TAR "$here/cluster.sh" up --real "$DIR" 2>&1 | tee "$DIR.up.log" >&2
t_up=$((SECONDS - t))
node_ready=$(sed -n 's/.*node Ready \([0-9]*\)s after the kubelet started.*/\1/p' "$DIR.up.log")
rm -f "$DIR.up.log"
eval "$("$here/cluster.sh" env "$DIR")"
in_ns() { "$here/cluster.sh" exec "$DIR" -- "$@"; }
BIN=$(dirname "$(command -v kubectl)")
NODEBIN=$(sed -n 's/^NODEBIN=//p' "$DIR/env")
CGROUP_ROOT=$(sed -n 's/^CGROUP_ROOT=//p' "$DIR/env")
log "up took ${t_up}s; netns $MYI_NETNS"

[ "$(kubectl get node myi-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] ||
  fail "node not Ready"
[ -n "$(kubectl -n default get endpointslices -l kubernetes.io/service-name=kubernetes -o jsonpath='{.items[*].endpoints[*].addresses[*]}')" ] ||
  fail "the kubernetes Service has no endpoints"

log "namespace $NS (Pod Security restricted), Services db and db-hl, StatefulSet db with a PVC"
if [ "$IMAGE" = localhost/mariadb:10.11 ]; then
  # data directory initialised on first start; the mysql user (uid 999) gets unix_socket access
  command='set -e
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/tmp/install.log 2>&1 || { cat /tmp/install.log; exit 1; }
fi
echo "smoke: starting mariadbd"
exec mariadbd --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid --bind-address=0.0.0.0 --port=3306 --skip-name-resolve'
  container="command: [bash, -c]
        args: [$(printf '%s' "$command" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')]
        readinessProbe:
          exec: {command: [mariadb-admin, --socket=/run/mysqld/mysqld.sock, ping]}
          periodSeconds: 1"
else
  container="# the pause image listens nowhere: no probe"
fi
t=$SECONDS
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest}
---
apiVersion: v1
kind: Service
metadata: {name: db-hl, namespace: $NS}
spec: {clusterIP: None, selector: {app: db}, ports: [{name: mysql, port: 3306}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: $NS}
spec: {selector: {app: db}, ports: [{name: mysql, port: 3306}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: $NS}
spec:
  serviceName: db-hl
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 5
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        fsGroupChangePolicy: OnRootMismatch
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: db
        image: $IMAGE
        imagePullPolicy: Never
        $container
        ports: [{name: mysql, containerPort: 3306}]
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts:
        - {name: data, mountPath: /var/lib/mysql}
        - {name: run, mountPath: /run/mysqld}
        - {name: tmp, mountPath: /tmp}
      volumes:
      - {name: run, emptyDir: {}}
      - {name: tmp, emptyDir: {}}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
# the pod appears once the StatefulSet controller has created it
for _ in $(seq 1 100); do kubectl -n $NS get pod db-0 >/dev/null 2>&1 && break; sleep 0.1; done
kubectl -n $NS wait --for=condition=Ready pod/db-0 --timeout=120s >/dev/null ||
  { kubectl -n $NS describe pod db-0 >&2; kubectl -n $NS logs db-0 >&2 || true; fail "pod db-0 not Ready"; }
t_pod=$((SECONDS - t))
log "pod db-0 Ready ${t_pod}s after kubectl apply"
if [ "$t_pod" -gt 8 ]; then
  log "slow: the namespace's events"
  kubectl -n $NS get events --sort-by=.metadata.creationTimestamp \
    -o custom-columns=CREATED:.metadata.creationTimestamp,OBJECT:.involvedObject.name,REASON:.reason >&2 || true
fi

[ "$(kubectl -n $NS get pvc data-db-0 -o jsonpath='{.status.phase} {.spec.storageClassName}')" = "Bound standard" ] ||
  fail "PVC data-db-0 is not Bound with the default StorageClass"
pv=$(kubectl -n $NS get pvc data-db-0 -o jsonpath='{.spec.volumeName}')
log "PVC bound to $pv ($(kubectl get pv "$pv" -o jsonpath='{.spec.hostPath.path}'))"

log "a privileged pod is refused in the restricted namespace"
if kubectl -n $NS run bad --image=localhost/pause:3.10 --privileged --restart=Never >/dev/null 2>"$DIR/bad.err"; then
  fail "a privileged pod was admitted"
fi
grep -q 'violates PodSecurity' "$DIR/bad.err" || fail "privileged pod refused for another reason: $(cat "$DIR/bad.err")"

if [ "$IMAGE" = localhost/mariadb:10.11 ]; then
  log "kubectl logs"
  kubectl -n $NS logs db-0 | grep 'smoke: starting mariadbd' >/dev/null || fail "kubectl logs does not show the container's output"
  log "kubectl exec: a query over the socket, the volume's owner, a pod's DNS and the kubernetes Service"
  [ "$(kubectl -n $NS exec db-0 -- mariadb --socket=/run/mysqld/mysqld.sock -N -e 'select 40 + 2')" = 42 ] ||
    fail "kubectl exec mariadb -e 'select 40 + 2'"
  [ "$(kubectl -n $NS exec db-0 -- stat -c %u:%g /var/lib/mysql)" = 999:999 ] || fail "the volume is not owned by 999:999"
  kubectl -n $NS exec db-0 -- bash -c 'getent hosts kubernetes.default.svc >/dev/null &&
    timeout 5 bash -c "exec 3<>/dev/tcp/kubernetes.default.svc/443"' || fail "the pod cannot reach the kubernetes Service"

  log "from the network namespace: Service db.$NS.svc and the pod's name resolve, port 3306 answers"
  in_ns getent hosts "db.$NS.svc" "db.$NS.svc.cluster.local" "db-0.db-hl.$NS.svc" >/dev/null || fail "*.svc does not resolve"
  greeting=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/db.$NS.svc/3306 && head -c 100 <&3" | tr -dc '[:print:]') || true
  [[ "$greeting" == *MariaDB* ]] || fail "no MariaDB greeting on db.$NS.svc:3306 (got '$greeting')"
  greeting=$(in_ns timeout 5 bash -c "exec 3<>/dev/tcp/db-0.db-hl.$NS.svc.cluster.local/3306 && head -c 100 <&3" | tr -dc '[:print:]') || true
  [[ "$greeting" == *MariaDB* ]] || fail "no MariaDB greeting on db-0.db-hl.$NS.svc.cluster.local:3306"
else
  log "kubectl logs (the pause image prints nothing)"
  kubectl -n $NS logs db-0 >/dev/null || fail "kubectl logs"
  log "from the network namespace: Service db.$NS.svc and the pod's name resolve"
  in_ns getent hosts "db.$NS.svc" "db-0.db-hl.$NS.svc" >/dev/null || fail "*.svc does not resolve"
fi
in_ns kubectl get nodes >/dev/null || fail "kubectl inside the namespace"

log "deleting the StatefulSet and the PVC deletes the PV"
kubectl -n $NS delete sts db --wait=true >/dev/null
kubectl -n $NS wait --for=delete pod/db-0 --timeout=60s >/dev/null
kubectl -n $NS delete pvc data-db-0 --wait=true >/dev/null
for _ in $(seq 1 150); do kubectl get pv "$pv" >/dev/null 2>&1 || break; sleep 0.2; done
! kubectl get pv "$pv" >/dev/null 2>&1 || fail "PV $pv not deleted"
[ -z "$(ls -A "$DIR/node/hostpath")" ] || fail "the hostPath directory was not removed: $(ls "$DIR/node/hostpath")"

log "down"
trap - EXIT
pids=$(cat "$DIR/pids")
etcd_data=$(sed -n 's/^ETCD_DATA=//p' "$DIR/env")
t=$SECONDS
"$here/cluster.sh" down "$DIR"
t_down=$((SECONDS - t))

left=()
# the recorded processes, by PID and start time (a PID may have been reused since)
while read -r name pid st; do
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" != Z ] && [ "${20}" = "$st" ] && left+=("$name (pid $pid)")
done <<<"$pids"
# any process running the cluster's binaries, containerd or runc with this cluster's paths (other clusters may use
# the same binaries)
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  case "$exe" in "$BIN"/* | "$NODEBIN"/* | */containerd* | */runc) ;; *) continue ;; esac
  tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -F -e "$DIR/" -e "$etcd_data" >/dev/null && left+=("${p#/proc/} $exe")
done
[ ! -e "$etcd_data" ] || left+=("$etcd_data")
[ ! -e "/run/netns/$MYI_NETNS" ] || left+=("netns $MYI_NETNS")
[ ! -e "/etc/netns/$MYI_NETNS" ] || left+=("/etc/netns/$MYI_NETNS")
for d in /sys/fs/cgroup/*"$CGROUP_ROOT"; do [ ! -e "$d" ] || left+=("cgroup $d"); done
# no mount under DIR in any mount namespace that is still alive
[ -z "$(grep -lF " $DIR/" /proc/[0-9]*/mountinfo 2>/dev/null)" ] || left+=("mounts under $DIR")
grep -qF " $DIR " /proc/self/mountinfo && left+=("mount $DIR")
[ ! -e "$DIR" ] || left+=("$DIR")
[ ${#left[@]} -eq 0 ] || fail "left behind after down: ${left[*]}"
log "nothing left: no process, netns, /etc/netns entry, cgroup, mount or directory"
log "timings: up ${t_up}s, node Ready ${node_ready:-?}s after the kubelet started, pod Ready ${t_pod}s after apply, down ${t_down}s"
log "PASS in $((SECONDS - start))s"
