#!/usr/bin/env bash
# Builds the local cluster's binaries from the Go module proxy, cached by version outside the repository (a second
# run builds nothing), and prints the directory holding them on its last line.
#
#   tests/cluster/build.sh          control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                                   kubectl, kwok        -> $CACHE/bin/k8s-<v>-etcd-<v>-kwok-<v>/
#   tests/cluster/build.sh --real   real node: kubelet, kube-proxy, a slim CoreDNS
#                                   -> $CACHE/bin/node-k8s-<v>-coredns-<v>/
#
# CACHE is ${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}. The node build runs `go build` under
# `flock $HEAVY_LOCK` (default /tmp/work/heavy.lock when /tmp/work exists; HEAVY_LOCK= disables it) so it never
# competes with other heavy builds on a small machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"

CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}
export GOTOOLCHAIN=local GOWORK=off GOFLAGS='' CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

# Version stamps for k8s binaries (without them --version says v0.0.0-master), same as the upstream build.
k8s_ldflags() {
  local minor kv ldflags="-s -w"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean "buildDate=1970-01-01T00:00:00Z"; do
    ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
  done
  echo "$ldflags"
}
K8S_TAGS=selinux,notest,grpcnotrace

build_control_plane() {
  local OUT="$CACHE/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
  if [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/etcd" ] && [ -x "$OUT/kwok" ] && [ -f "$OUT/.complete" ]; then
    log "cached: $OUT"
    echo "$OUT"
    return 0
  fi
  mkdir -p "$OUT"
  local start
  start=$(date +%s)

  log "etcd $ETCD_VERSION"
  (cd "$here/etcd" && go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$OUT/etcd" .)

  log "kwok $KWOK_VERSION"
  (cd "$here/kwok" && go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$OUT/" sigs.k8s.io/kwok/cmd/kwok)

  log "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (the long part: ~20 min cold on 2 cores)"
  (cd "$here/k8s" && go build -trimpath -buildvcs=false -tags="$K8S_TAGS" -ldflags="$(k8s_ldflags)" -o "$OUT/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)

  [ "$("$OUT/kube-apiserver" --version)" = "Kubernetes $K8S_VERSION" ] || { log "kube-apiserver reports the wrong version"; exit 1; }
  echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
  touch "$OUT/.complete"
  log "built in $(( $(date +%s) - start ))s: $OUT"
  echo "$OUT"
}

# heavy CMD...: run CMD holding the machine-wide heavy-build lock, when there is one.
heavy() {
  local lock=${HEAVY_LOCK-/tmp/work/heavy.lock}
  if [ -n "$lock" ] && [ -d "$(dirname "$lock")" ]; then
    log "waiting for $lock"
    flock "$lock" "$@"
  else
    "$@"
  fi
}

build_node() {
  local OUT="$CACHE/bin/node-k8s-$K8S_VERSION-coredns-$COREDNS_VERSION"
  if [ -x "$OUT/kubelet" ] && [ -x "$OUT/kube-proxy" ] && [ -x "$OUT/coredns" ] && [ -f "$OUT/.complete" ]; then
    log "cached: $OUT"
    echo "$OUT"
    return 0
  fi
  mkdir -p "$OUT"
  local start
  start=$(date +%s)

  log "kubelet, kube-proxy $K8S_VERSION (~1 min with the control plane's Go build cache warm, ~8 min cold)"
  (cd "$here/k8s" && heavy go build -trimpath -buildvcs=false -tags="$K8S_TAGS" -ldflags="$(k8s_ldflags)" -o "$OUT/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)

  log "coredns $COREDNS_VERSION (slim: bind cache errors health kubernetes log ready reload; ~1.5 min cold)"
  (cd "$here/coredns" && heavy go build -trimpath -buildvcs=false -ldflags="-s -w" -o "$OUT/coredns" .)

  [ "$("$OUT/kubelet" --version)" = "Kubernetes $K8S_VERSION" ] || { log "kubelet reports the wrong version"; exit 1; }
  [[ "$("$OUT/coredns" -version)" == *"CoreDNS-${COREDNS_VERSION#v}"* ]] || { log "coredns reports the wrong version"; exit 1; }
  echo "$(( $(date +%s) - start ))" > "$OUT/.build-seconds"
  touch "$OUT/.complete"
  log "built in $(( $(date +%s) - start ))s: $OUT"
  echo "$OUT"
}

case "${1:-}" in
  "") build_control_plane ;;
  --real) build_node ;;
  *) echo "usage: $0 [--real]" >&2; exit 2 ;;
esac
