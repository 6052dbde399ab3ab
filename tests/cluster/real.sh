# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # sourced by cluster.sh, which defines `here` and reads CURRENT, UP_OK, ...
# Real-node mode of tests/cluster/cluster.sh (sourced by it; uses its helpers: log, die, start, wait_until, ...).
#
# One network namespace per cluster (myi-<8 hex of sha256(DIR)>) holds everything: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd (+ shims, runc, the pods), kubelet, kube-proxy and CoreDNS.
# The node's IP sits on a veth pair whose both ends are inside that namespace. The only host-side pieces are the
# namespace file /run/netns/NAME, /etc/netns/NAME/resolv.conf, the cgroup directories /<NAME> in each hierarchy
# (cgroupRoot of the kubelet), a TCP forwarder on host 127.0.0.1:API_PORT to the apiserver, and DIR.

NODE_NAME=myi-node
NODE_IP=10.250.0.1
NODE_PREFIX=24
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
CLUSTER_DOMAIN=cluster.local
PAUSE_IMAGE=localhost/pause:3.10
NODE_UID=999 # the controller-manager runs as the MySQL uid/gid so hostPath volumes belong to it

NETNS='' NETNS_INODE='' MNTNS='' CGROUP_ROOT='' NODEBIN='' ANCHOR_PID=''

real_netns_name() { echo "myi-$(printf '%s' "$DIR" | sha256sum | cut -c1-8)"; }
containerd_sock() { echo "$DIR/containerd/containerd.sock"; }

# in_netns CMD...: CMD in the cluster's network namespace only (health checks; the host's mounts).
in_netns() { nsenter --net="/run/netns/$NETNS" -- "$@"; }

# start_node NAME CMD...: start NAME in the anchor's network and mount namespaces, in its own session (so a
# Ctrl-C to the caller's process group does not kill it half way; `down` stops it).
start_node() {
  local name=$1; shift
  start "$name" setsid nsenter -t "$ANCHOR_PID" -n -m -- "$@"
}

ctr_() { ctr --address "$(containerd_sock)" --namespace k8s.io "$@"; }

env_add() { echo "$1=$2" >>"$DIR/env"; }

# cgroup_mounts: "FSTYPE MOUNTPOINT SUPEROPTIONS" of the host's cgroup mounts (and the tmpfs holding v1 ones).
cgroup_mounts() {
  awk '{
    for (i = 7; $i != "-"; i++) {}
    fstype = $(i + 1); opts = $(i + 3); mp = $5
    if (mp == "/sys/fs/cgroup" && fstype == "tmpfs") print fstype, mp, opts
    else if ((fstype == "cgroup" || fstype == "cgroup2") && (mp == "/sys/fs/cgroup" || index(mp, "/sys/fs/cgroup/") == 1)) print fstype, mp, opts
  }' /proc/self/mountinfo
}

# ---------------------------------------------------------------------------------------------------------------
# up --real

gen_pki_real() {
  local pki=$DIR/pki
  PKI_NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  PKI_EXTRA_SAN=",IP:$NODE_IP" gen_pki
  cat >>"$pki/openssl.cnf" <<EOF
[kubelet_serving_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:$NODE_IP,DNS:$NODE_NAME
authorityKeyIdentifier = keyid
EOF
  client_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"        # Node authorizer + NodeRestriction
  client_cert kubelet-serving "/CN=$NODE_NAME" kubelet_serving_ext
  client_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  client_cert kube-proxy "/CN=system:kube-proxy"                        # bound to system:node-proxier
  client_cert coredns "/CN=myi:coredns"                                 # bound to system:coredns below
  local server="https://$NODE_IP:$API_PORT"
  mkdir -p "$DIR/kubelet" "$DIR/kube-proxy" "$DIR/coredns"
  write_kubeconfig "$DIR/kubelet/kubeconfig" "$server" kubelet
  write_kubeconfig "$DIR/kube-proxy/kubeconfig" "$server" kube-proxy
  write_kubeconfig "$DIR/coredns/kubeconfig" "$server" coredns
}

setup_netns() {
  CURRENT=netns
  log "network namespace $NETNS: $NODE_IP/$NODE_PREFIX on veth myi0 (peer myi1, both inside), default route dev myi0"
  # resolv.conf first: `ip netns exec` bind-mounts /etc/netns/NAME/* when it starts the anchor
  mkdir -p "/etc/netns/$NETNS"
  cat >"/etc/netns/$NETNS/resolv.conf" <<EOF
# cluster DNS (CoreDNS of $DIR); written by tests/cluster/cluster.sh up --real
nameserver $NODE_IP
search svc.$CLUSTER_DOMAIN $CLUSTER_DOMAIN
options ndots:5
EOF
  ip netns add "$NETNS"
  NETNS_INODE=$(stat -L -c %i "/run/netns/$NETNS")
  env_add NETNS_INODE "$NETNS_INODE"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" link add myi0 type veth peer name myi1
  ip -n "$NETNS" addr add "$NODE_IP/$NODE_PREFIX" dev myi0
  ip -n "$NETNS" link set myi0 up
  ip -n "$NETNS" link set myi1 up
  # Service IPs need a route before kube-proxy's DNAT; nothing is behind it (myi1 does not forward).
  ip -n "$NETNS" route add default dev myi0
  # per-namespace sysctls (this namespace's /proc/sys/net), never the host's
  in_netns sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.myi1.forwarding=0
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    [ "$(in_netns cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 1 ] ||
      in_netns sysctl -qw net.bridge.bridge-nf-call-iptables=1
  else
    log "WARNING: br_netfilter is not loaded (no /proc/sys/net/bridge): a pod reaching a Service backed by another" \
      "pod gets no reply. Loading it is a host change this script does not make."
  fi
}

setup_cgroups() {
  CURRENT=cgroups
  local fstype mp opts c n=0
  cgroup_mounts >"$DIR/node/cgroup-mounts"
  grep -q . "$DIR/node/cgroup-mounts" || die "no cgroup hierarchy is mounted under /sys/fs/cgroup"
  while read -r fstype mp opts; do
    [ "$fstype" = tmpfs ] && continue
    mkdir "$mp$CGROUP_ROOT"
    n=$((n + 1))
    # cpuset (v1): a new cgroup starts with no CPUs and no memory nodes; tasks cannot join it like that
    if [ -f "$mp/cpuset.cpus" ] && [ -f "$mp$CGROUP_ROOT/cpuset.cpus" ]; then
      cat "$mp/cpuset.cpus" >"$mp$CGROUP_ROOT/cpuset.cpus"
      cat "$mp/cpuset.mems" >"$mp$CGROUP_ROOT/cpuset.mems"
    fi
    # cgroup v2 only (untested here): let the kubelet's children use the controllers the root delegates
    if [ "$fstype" = cgroup2 ] && [ "$mp" = /sys/fs/cgroup ]; then
      for c in $(cat "$mp/cgroup.subtree_control"); do echo "+$c" >"$mp$CGROUP_ROOT/cgroup.subtree_control" || true; done
    fi
  done <"$DIR/node/cgroup-mounts"
  log "cgroup $CGROUP_ROOT created in $n hierarchies"
}

write_node_files() {
  local node=$DIR/node p top
  mkdir -p "$node/sysctl" "$node/var-log-containers" "$node/run-containerd" "$node/hostpath" "$node/var-lib-cni"
  # the values the kubelet wants (pkg/kubelet/cm setupKernelTunables); see node-anchor.sh
  echo 1 >"$node/sysctl/vm.overcommit_memory"
  echo 0 >"$node/sysctl/vm.panic_on_oom"
  echo 10 >"$node/sysctl/kernel.panic"
  echo 1 >"$node/sysctl/kernel.panic_on_oops"
  echo 1000000 >"$node/sysctl/kernel.keys.root_maxkeys"
  echo 25000000 >"$node/sysctl/kernel.keys.root_maxbytes"
  # hard-coded host paths: kubelet's container log symlinks, containerd's shim sockets and runc state, the
  # controller-manager's hostPath provisioner, the CNI result cache
  cat >"$node/binds" <<EOF
$node/var-log-containers /var/log/containers
$node/run-containerd /run/containerd
$node/hostpath /tmp/hostpath_pv
$node/var-lib-cni /var/lib/cni
EOF
  chown "$NODE_UID:$NODE_UID" "$node/hostpath"
  # what must stay visible under /tmp if it gets shadowed: DIR and the binaries
  for p in "$DIR" "$BIN" "$NODEBIN"; do
    case "$p" in /tmp/*) top=${p#/tmp/}; echo "${top%%/*}" ;; esac
  done | sort -u >"$node/tmp-keep"
  : >"$node/resolv.conf" # the kubelet's resolvConf: no upstream DNS in the namespace, only cluster names
}

write_containerd_config() {
  mkdir -p "$DIR/containerd/root" "$DIR/containerd/state" "$DIR/containerd/opt" "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat >"$DIR/containerd/config.toml" <<EOF
# containerd 1.6 for the real node of $DIR (tests/cluster/cluster.sh)
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$(containerd_sock)"

[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # this machine has no CAP_SYS_RESOURCE: without it runc fails to lower oom_score_adj and no sandbox starts
  restrict_oom_score_adj = true
  # pod network namespaces under the state dir, not in the host's /run/netns
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
EOF
  cat >"$DIR/cni/net.d/10-myi.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "myi",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "myi-br0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

write_kubelet_config() {
  local pki=$DIR/pki
  mkdir -p "$DIR/kubelet/root" "$DIR/kubelet/pod-logs" "$DIR/kubelet/volume-plugins"
  cat >"$DIR/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 (this machine): kubelet 1.37 refuses it unless told, then only warns
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
containerRuntimeEndpoint: unix://$(containerd_sock)
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
rotateCertificates: false
authentication:
  x509: {clientCAFile: $pki/ca.crt}
  webhook: {enabled: false}
  anonymous: {enabled: false}
authorization: {mode: AlwaysAllow}
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $DIR/node/resolv.conf
podLogsDir: $DIR/kubelet/pod-logs
volumePluginDir: $DIR/kubelet/volume-plugins
# never write host sysctls (node-anchor.sh shows it the values it wants); never lower its own OOM score
protectKernelDefaults: false
oomScoreAdj: 0
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%, imagefs.inodesFree: 1%}
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
serializeImagePulls: false
maxPods: 110
EOF
}

write_kube_proxy_config() {
  cat >"$DIR/kube-proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $DIR/kube-proxy/kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# 0 = leave the conntrack sysctls alone: nf_conntrack_max is host-wide (read-only outside the init namespace)
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false, syncPeriod: 30s, minSyncPeriod: 0s}
nodePortAddresses: [primary]
EOF
}

write_coredns_config() {
  cat >"$DIR/coredns/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $DIR/coredns/kubeconfig myi
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    reload
}
EOF
}

cluster_manifests() {
  cat <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "myi:coredns"}
EOF
}

node_ready() {
  local out
  out=$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.taints}') || return 1
  [ "$out" = "True " ]
}

# import_images TAR...: ctr import into the node's containerd (k8s.io namespace, seen by the CRI).
import_images() {
  local tar
  for tar in "$@"; do
    [ -f "$tar" ] || die "image archive not found: $tar"
    log "importing image $tar"
    ctr_ images import "$tar" >>"$DIR/logs/images.log" 2>&1 || { CURRENT=images; die "ctr images import $tar failed"; }
  done
}

do_up_real() {
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || die "the real-node mode needs root (network namespace, mounts, cgroups)"
  prepare_dir
  "$here/setup-real.sh"
  BIN=$("$here/build.sh" | tail -n 1)
  [ -x "$BIN/kube-apiserver" ] || die "build.sh did not print a binary directory (got '$BIN')"
  NODEBIN=$("$here/build.sh" --real | tail -n 1)
  [ -x "$NODEBIN/kubelet" ] || die "build.sh --real did not print a binary directory (got '$NODEBIN')"
  mkdir -p "$DIR/logs" "$DIR/node"
  touch "$DIR/$MARKER"
  MODE=real
  NETNS=$(real_netns_name)
  CGROUP_ROOT=/$NETNS
  [ ! -e "/run/netns/$NETNS" ] || die "network namespace $NETNS already exists"
  # unix socket paths are limited to 108 bytes
  [ ${#DIR} -le 60 ] || die "DIR is too long for containerd's socket paths (${#DIR} > 60 characters): $DIR"

  UP_OK=0 CURRENT=
  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  API_PORT=$(free_ports 1)
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then ETCD_DATA=$(mktemp -d /dev/shm/myi-etcd.XXXXXX); else ETCD_DATA=$DIR/etcd; fi
  cat >"$DIR/env" <<EOF
MODE=real
BIN=$BIN
NODEBIN=$NODEBIN
KUBECONFIG=$DIR/kubeconfig
ETCD_DATA=$ETCD_DATA
API_PORT=$API_PORT
NETNS=$NETNS
CGROUP_ROOT=$CGROUP_ROOT
NODE_IP=$NODE_IP
CONTAINERD_SOCK=$(containerd_sock)
EOF
  log "dir $DIR, binaries $BIN and $NODEBIN"
  log "netns $NETNS, node $NODE_NAME $NODE_IP, pods $POD_CIDR, services $SERVICE_CIDR, apiserver 127.0.0.1:$API_PORT (host, forwarded) and $NODE_IP:$API_PORT"

  gen_pki_real
  local pki=$DIR/pki
  write_node_files
  write_containerd_config
  write_kubelet_config
  write_kube_proxy_config
  write_coredns_config

  setup_netns
  setup_cgroups

  # The anchor owns the node's mount namespace; every component joins it (node-anchor.sh).
  start anchor setsid ip netns exec "$NETNS" bash "$here/node-anchor.sh" "$DIR/node"
  wait_until anchor 30 "anchor (mount namespace) ready" test -e "$DIR/node/anchor.ready"
  ANCHOR_PID=$(pid_of anchor | cut -d' ' -f1)
  MNTNS=$(readlink "/proc/$ANCHOR_PID/ns/mnt")
  env_add MNTNS "$MNTNS"

  # containerd does not need the control plane: it starts first, so the images can be imported meanwhile
  start_node containerd containerd --config "$DIR/containerd/config.toml"
  start_node etcd "$BIN/etcd" --name=myi --data-dir="$ETCD_DATA" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=myi=http://127.0.0.1:2380 --initial-cluster-state=new \
    --unsafe-no-fsync --quota-backend-bytes=2147483648 --auto-compaction-retention=1 --log-level=warn

  wait_until containerd 30 "containerd answers on $(containerd_sock)" ctr_ version
  # The sandbox image first (every pod needs it), then MYI_IMAGES in the background (waited for at the end of
  # up). Without tests/images/build.sh, MYI_IMAGES must hold the pause image and is imported at once.
  # shellcheck disable=SC2206 # MYI_IMAGES is a space-separated list of paths
  local images=(${MYI_IMAGES:-})
  if [ -x "$here/../images/build.sh" ]; then
    CURRENT=images
    import_images "$("$here/../images/build.sh" pause 2>>"$DIR/logs/images.log" | tail -n 1)"
  elif [ ${#images[@]} -gt 0 ]; then
    import_images "${images[@]}"
    images=()
  fi
  # (grep without -q: with pipefail, grep -q exiting early can fail the pipeline through SIGPIPE)
  ctr_ images ls -q 2>/dev/null | grep -Fx "$PAUSE_IMAGE" >/dev/null ||
    die "the sandbox image $PAUSE_IMAGE is not in containerd (tests/images/build.sh pause, or MYI_IMAGES=PAUSE.tar)"
  [ ${#images[@]} -eq 0 ] || start image-import "$here/cluster.sh" load "$DIR" "${images[@]}"
  wait_until etcd 30 "etcd /health" in_netns sh -c 'curl -fsS http://127.0.0.1:2379/health | grep -q true'

  # 0.0.0.0 is this namespace's addresses only. The normal (lease) endpoint reconciler publishes
  # $NODE_IP:$API_PORT as the `kubernetes` Service's endpoint, for in-cluster clients.
  start_node kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port="$API_PORT" --advertise-address="$NODE_IP" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --cert-dir="$pki/apiserver-generated" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
    --enable-priority-and-fairness=false --max-requests-inflight=0 --max-mutating-requests-inflight=0 \
    --profiling=false
  # the host reaches the apiserver through this forwarder on its loopback (same port number as inside)
  start api-forward setsid "$(command -v /usr/bin/python3 || command -v python3)" "$here/netns-forward.py" "$API_PORT" "/run/netns/$NETNS" 127.0.0.1 "$API_PORT"
  wait_until kube-apiserver 120 "kube-apiserver /readyz (from the host, through the forwarder)" \
    curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz"
  CURRENT=kube-apiserver
  cluster_manifests | kc apply -f - >/dev/null

  # shellcheck disable=SC2054 # the commas belong to a flag value
  local common=(--kubeconfig="$DIR/kubeconfig" --authentication-kubeconfig="$DIR/kubeconfig"
    --authorization-kubeconfig="$DIR/kubeconfig" --bind-address=127.0.0.1 --leader-elect=false
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics --kube-api-qps=200 --kube-api-burst=400
    --profiling=false)
  # uid/gid 999 (with CAP_DAC_READ_SEARCH to read DIR/pki): the hostPath provisioner's directories then belong
  # to the MySQL user, since hostPath volumes get no fsGroup ownership change.
  install -d -o "$NODE_UID" -g "$NODE_UID" "$DIR/kcm"
  start_node kube-controller-manager setpriv --reuid="$NODE_UID" --regid="$NODE_UID" --clear-groups \
    --inh-caps=+dac_read_search --ambient-caps=+dac_read_search \
    "$BIN/kube-controller-manager" "${common[@]}" --secure-port=10257 --cert-dir="$DIR/kcm" \
    --controllers='*' --enable-hostpath-provisioner=true --flex-volume-plugin-dir="$DIR/kcm/flexvolume" \
    --allocate-node-cidrs=true --cluster-cidr="$POD_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --cluster-name=myi
  start_node kube-scheduler "$BIN/kube-scheduler" "${common[@]}" --secure-port=10259

  local t_kubelet=$SECONDS
  start_node kubelet "$NODEBIN/kubelet" --config="$DIR/kubelet/config.yaml" \
    --kubeconfig="$DIR/kubelet/kubeconfig" --root-dir="$DIR/kubelet/root" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  start_node kube-proxy "$NODEBIN/kube-proxy" --config="$DIR/kube-proxy/config.yaml"
  start_node coredns "$NODEBIN/coredns" -conf "$DIR/coredns/Corefile"

  wait_until kube-controller-manager 60 "kube-controller-manager /healthz" \
    in_netns curl -fsSk https://127.0.0.1:10257/healthz
  wait_until kube-scheduler 60 "kube-scheduler /healthz" in_netns curl -fsSk https://127.0.0.1:10259/healthz
  wait_until kubelet 90 "node $NODE_NAME Ready and untainted" node_ready
  log "node Ready $((SECONDS - t_kubelet))s after the kubelet started"
  wait_until kube-proxy 60 "kube-proxy /healthz" in_netns curl -fsS http://127.0.0.1:10256/healthz
  wait_until coredns 60 "CoreDNS /ready" in_netns curl -fsS http://127.0.0.1:8181/ready
  wait_until kube-controller-manager 60 "ServiceAccount default/default" kc -n default get serviceaccount default
  if [ ${#images[@]} -gt 0 ]; then
    CURRENT=image-import
    log "waiting for the image import (${#images[@]} archives)"
    wait "$(pid_of image-import | cut -d' ' -f1)" || die "importing MYI_IMAGES failed"
    log "ok: images imported: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
  fi

  UP_OK=1
  trap - EXIT INT TERM
  log "real-node cluster up in $((SECONDS - t0))s: KUBECONFIG=$DIR/kubeconfig, netns $NETNS"
  log "use: eval \"\$($0 env $DIR)\"   or   $0 exec $DIR -- CMD..."
}

do_load() {
  [ -f "$DIR/env" ] || die "no cluster in $DIR (run: $0 up --real $DIR)"
  load_env
  [ "$MODE" = real ] || die "load needs a real-node cluster (kwok pods run no images)"
  [ $# -gt 0 ] || usage
  import_images "$@"
  log "images in the node's containerd: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------------------------
# down

# our_ancestors: this shell and its ancestors, never to be killed (down may run under `cluster.sh exec`).
our_ancestors() {
  local p=$$ stat
  while [ "$p" -gt 1 ] 2>/dev/null; do
    echo "$p"
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || break
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    p=$2
  done
}

# cgroup_dirs: the cluster's cgroup directories, one per hierarchy (kubelet's cgroupRoot).
cgroup_dirs() {
  local fstype mp
  cgroup_mounts | while read -r fstype mp _; do
    if [ "$fstype" != tmpfs ] && [ -d "$mp$CGROUP_ROOT" ]; then echo "$mp$CGROUP_ROOT"; fi
  done
}

# cluster_pids [anchor]: every process of the cluster: in its network namespace, holding it open (the host-side
# forwarder), in the anchor's mount namespace (containerd's shims) or in its cgroups (the containers, which have
# namespaces of their own). Without "anchor", the anchor itself is left out.
cluster_pids() {
  local keep d p pats=()
  keep=" $(our_ancestors | tr '\n' ' ') "
  [ "${1:-}" = anchor ] || keep+="$(pid_of anchor | cut -d' ' -f1) "
  # find -lname takes a glob: the brackets of "net:[INODE]" must be escaped
  [ -z "$NETNS_INODE" ] || pats+=(-lname "net:\[$NETNS_INODE\]")
  [ -z "$MNTNS" ] || pats+=(${pats[0]:+-o} -lname "mnt:\[$(echo "$MNTNS" | tr -dc 0-9)\]")
  {
    if [ ${#pats[@]} -gt 0 ]; then
      find /proc/[0-9]*/ns/net /proc/[0-9]*/ns/mnt -maxdepth 0 \( "${pats[@]}" \) 2>/dev/null | cut -d/ -f3
    fi
    [ -z "$NETNS" ] || find /proc/[0-9]*/fd -maxdepth 1 \( -lname "/run/netns/$NETNS" -o -lname "/run/netns/$NETNS *" \
      ${NETNS_INODE:+-o -lname "net:\[$NETNS_INODE\]"} \) 2>/dev/null | cut -d/ -f3
    for d in $(cgroup_dirs); do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done
  } | sort -un | while read -r p; do [[ "$keep" == *" $p "* ]] || echo "$p"; done
}

# kill_cluster_pids [anchor]: SIGKILL cluster_pids until there are none (10s at most).
kill_cluster_pids() {
  local pids deadline=$((SECONDS + 10))
  while pids=$(cluster_pids "$@") && [ -n "$pids" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { log "still running after SIGKILL: $(echo $pids)"; return 1; }
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
}

down_real() {
  local keep=${1:-} t0=$SECONDS n d
  NETNS=${NETNS:-$(real_netns_name)}
  CGROUP_ROOT=${CGROUP_ROOT:-/$NETNS}
  [ -n "$NETNS_INODE" ] || NETNS_INODE=$(stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true)
  log "stopping real-node cluster (netns $NETNS)"

  # 1. the kubelet first, so that it restarts nothing, then every container process (SIGKILL: a test cluster)
  stop_all coredns kube-proxy kubelet
  kill_cluster_pids_in_cgroups
  # 2. the other components in reverse start order, all but the anchor
  local names
  names=$(awk '$1 != "anchor" {print $1}' "$DIR/pids" 2>/dev/null || true)
  # shellcheck disable=SC2086 # one word per name
  [ -z "$names" ] || stop_all $names
  # 3. whatever else is in the namespaces (containerd shims, `cluster.sh exec` commands), then the mounts the
  # kubelet and containerd made (they would go with the mount namespace anyway), then the anchor
  kill_cluster_pids || true
  ANCHOR_PID=$(pid_of anchor | cut -d' ' -f1)
  # shellcheck disable=SC2046
  if [ -n "$ANCHOR_PID" ] && pid_is_ours $(pid_of anchor); then
    local mounts
    mounts=$(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' "/proc/$ANCHOR_PID/mountinfo" | sort -r)
    if [ -n "$mounts" ]; then
      printf '%s\n' "$mounts" | nsenter -t "$ANCHOR_PID" -m -- xargs -r -d '\n' -n 1 umount -l 2>/dev/null || true
      log "unmounted the node's $(grep -c . <<<"$mounts") mounts under $DIR (pod volumes, rootfs, pod netns)"
    fi
  fi
  stop_all anchor
  kill_cluster_pids anchor || die "processes of the cluster are still running"
  rm -f "$DIR/pids"

  # 4. cgroups (deepest first), the network namespace, its resolv.conf
  for d in $(cgroup_dirs); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; done
  if [ -e "/run/netns/$NETNS" ]; then ip netns del "$NETNS" || die "ip netns del $NETNS failed"; fi
  rm -rf "/etc/netns/$NETNS"
  rmdir /etc/netns 2>/dev/null || true
  case "$ETCD_DATA" in /dev/shm/myi-etcd.*) [ -n "$keep" ] || rm -rf "$ETCD_DATA" ;; esac
  # nothing of the node is mounted on the host; should something be, do not delete through it
  awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n 1 umount -l
  if [ -n "$keep" ]; then
    log "MYI_KEEP_FAILED=1: leaving $DIR (logs) in place"
  else
    rm -rf "$DIR"
  fi
  verify_down "$keep"
  if [ -n "$keep" ]; then log "down in $((SECONDS - t0))s, $DIR kept"; else log "down in $((SECONDS - t0))s: $DIR removed"; fi
}

# kill_cluster_pids_in_cgroups: SIGKILL the processes in the cluster's cgroups (the containers) until none.
kill_cluster_pids_in_cgroups() {
  local d pids deadline=$((SECONDS + 10))
  while pids=$(for d in $(cgroup_dirs); do find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u) &&
    [ -n "$pids" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
}

# verify_down [keep]: fail unless nothing of the cluster is left.
verify_down() {
  local left=() pids p
  pids=$(cluster_pids anchor)
  [ -z "$pids" ] || left+=("processes: $(echo $pids)")
  # also any process still running our binaries for this DIR (e.g. started outside the namespaces)
  local exes=(-lname "*/containerd*" -o -lname "*/runc")
  [ -z "$BIN" ] || exes+=(-o -lname "$BIN/*")
  [ -z "$NODEBIN" ] || exes+=(-o -lname "$NODEBIN/*")
  for p in $(find /proc/[0-9]*/exe -maxdepth 0 \( "${exes[@]}" \) 2>/dev/null | cut -d/ -f3); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -F -- "$DIR/" >/dev/null && left+=("process $p: $(readlink "/proc/$p/exe")")
  done
  [ ! -e "/run/netns/$NETNS" ] || left+=("netns $NETNS")
  [ ! -e "/etc/netns/$NETNS" ] || left+=("/etc/netns/$NETNS")
  [ -z "$(cgroup_dirs)" ] || left+=("cgroups: $(cgroup_dirs | tr '\n' ' ')")
  [ -z "$(awk -v d="$DIR" '$5 == d || index($5, d "/") == 1' /proc/self/mountinfo)" ] || left+=("mounts under $DIR")
  [ -n "${1:-}" ] || [ ! -e "$DIR" ] || left+=("$DIR")
  if [ ${#left[@]} -gt 0 ]; then
    printf '[cluster] left behind: %s\n' "${left[@]}" >&2
    die "down did not clean up everything"
  fi
  log "verified: no process, mount, cgroup or network namespace of the cluster is left"
}
