#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl and kwok. Binaries are cached by version outside the repository, so a second run
# builds nothing. Prints the directory holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"

CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}
OUT="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS= CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ] && [ -x "$OUT/kwok" ] && [ -f "$OUT/.complete" ]; then
  log "cached: $OUT"
  echo "$OUT"
  exit 0
fi
mkdir -p "$OUT"
start=$(date +%s)

log "etcd $ETCD_VERSION"
(cd "$here/etcd" && go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$OUT/etcd" .)

log "kwok $KWOK_VERSION"
(cd "$here/kwok" && go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$OUT/" sigs.k8s.io/kwok/cmd/kwok)

log "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (the long part: ~20 min cold on 2 cores)"
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
ldflags="-s -w"
for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean "buildDate=1970-01-01T00:00:00Z"; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
(cd "$here/k8s" && go build -trimpath -buildvcs=false -tags=selinux,notest,grpcnotrace -ldflags="$ldflags" -o "$OUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)

"$OUT/kube-apiserver" --version | grep -qx "Kubernetes $K8S_VERSION" || { log "kube-apiserver reports the wrong version"; exit 1; }
echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
touch "$OUT/.complete"
log "built in $(( $(date +%s) - start ))s: $OUT"
echo "$OUT"
