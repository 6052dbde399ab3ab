#!/usr/bin/env bash
# Smoke test of the local cluster (tests/cluster/cluster.sh): a Job completes, a StatefulSet with a
# volumeClaimTemplate gets a bound PVC and a Ready pod, the test-unready label flips readiness both ways,
# and `down` leaves no process behind. Usage: tests/cluster/smoke.sh [DIR]   (default: a fresh temp dir)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-$(mktemp -u -d /tmp/myi-smoke.XXXXXX)}
log() { printf '[smoke] %s\n' "$*" >&2; }

trap '"$here/cluster.sh" down "$DIR" >/dev/null 2>&1 || true' EXIT
start=$SECONDS
"$here/cluster.sh" up "$DIR"
log "up took $((SECONDS - start))s"
eval "$("$here/cluster.sh" env "$DIR")"
BIN=$(dirname "$(command -v kubectl)")

log "Job runs to completion"
kubectl create job smoke --image=busybox -- true >/dev/null
kubectl wait --for=condition=Complete job/smoke --timeout=60s

log "StatefulSet with a volumeClaimTemplate becomes Ready"
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 3306}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: mysql
        image: mysql:8.4
        volumeMounts: [{name: data, mountPath: /var/lib/mysql}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
EOF
kubectl wait --for=jsonpath='{.status.phase}'=Bound pvc/data-db-0 --timeout=60s
kubectl wait --for=condition=Ready pod/db-0 --timeout=60s
kubectl rollout status sts/db --timeout=60s

log "label mysqlinstance.io/test-unready=true makes the pod unready (still Running), removing it makes it Ready"
kubectl label pod db-0 mysqlinstance.io/test-unready=true >/dev/null
kubectl wait --for=condition=Ready=false pod/db-0 --timeout=30s
[ "$(kubectl get pod db-0 -o jsonpath='{.status.phase}')" = Running ]
kubectl label pod db-0 mysqlinstance.io/test-unready- >/dev/null
kubectl wait --for=condition=Ready=true pod/db-0 --timeout=30s

log "StatefulSet and PVC deletion releases and deletes the PV"
kubectl delete sts db --wait=true >/dev/null
kubectl wait --for=delete pod/db-0 --timeout=60s
kubectl delete pvc data-db-0 --wait=true >/dev/null
for _ in $(seq 1 100); do [ -z "$(kubectl get pv -o name)" ] && break; sleep 0.2; done
[ -z "$(kubectl get pv -o name)" ] || { log "PV not deleted"; exit 1; }

trap - EXIT
pids=$(awk '{print $2}' "$DIR/pids")
"$here/cluster.sh" down "$DIR"
for pid in $pids; do
  if kill -0 "$pid" 2>/dev/null && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN"/* ]]; then
    log "leftover process after down: $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-200)"
    exit 1
  fi
done
[ ! -e "$DIR" ] || { log "$DIR still exists after down"; exit 1; }
log "PASS in $((SECONDS - start))s"
