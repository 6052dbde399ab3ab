#!/usr/bin/env bash
# The real node's anchor process (tests/cluster/cluster.sh up --real). cluster.sh runs it as
#   ip netns exec NETNS node-anchor.sh NODE_DIR
# so it owns one mount namespace inside the cluster's network namespace; containerd, the kubelet and every other
# component join both with `nsenter -t <anchor pid> -n -m`, so they (and containerd's shims and runc) see the same
# mounts. It prepares that mount namespace, writes NODE_DIR/anchor.ready and then sleeps until `down` kills it.
#
# Nothing mounted here is visible on the host: `ip netns exec` made / a recursive slave of the host's mounts.
# Inputs, written by cluster.sh into NODE_DIR:
#   cgroup-mounts  "FSTYPE MOUNTPOINT OPTIONS" of the host's cgroup mounts (tmpfs /sys/fs/cgroup first, if any)
#   sysctl/*       files with the values the kubelet would write into host-wide /proc/sys entries
#   binds          "SOURCE TARGET": per-cluster directories to bind over hard-coded host paths
#   tmp-keep       the top-level entries of /tmp that must stay visible (DIR, binaries), if /tmp gets shadowed
set -euo pipefail
node=$1
log() { printf '[anchor] %s\n' "$*"; }

# 1. cgroups. `ip netns exec` mounted a fresh /sys (so that /sys/class/net shows this network namespace, which the
# CNI bridge plugin needs) and so lost the host's cgroup mounts under it. runc and the kubelet need them: mount the
# same hierarchies again. These are the host's hierarchies, not copies.
controllers=" $(awk 'NR > 1 {printf "%s ", $1}' /proc/cgroups)"
while read -r fstype target opts; do
  case $fstype in
    tmpfs) mount -t tmpfs -o "$opts" myi-cgroup "$target" ;;
    cgroup2) mkdir -p "$target" && mount -t cgroup2 -o "$opts" cgroup2 "$target" ;;
    cgroup)
      mkdir -p "$target"
      # a named hierarchy without controllers (name=systemd) must say "none", or the kernel means "all"
      has=0
      for o in ${opts//,/ }; do case "$controllers" in *" $o "*) has=1 ;; esac; done
      [ $has = 1 ] || opts="none,$opts"
      mount -t cgroup -o "$opts" cgroup "$target"
      ;;
  esac
done <"$node/cgroup-mounts"
log "cgroup hierarchies mounted again: $(grep -c . "$node/cgroup-mounts")"

# 2. Host-wide sysctls. The kubelet writes vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops
# and kernel.keys.root_max{keys,bytes} unless they already hold its values. Those are not per-namespace: bind files
# holding its values over them, so it reads them and writes nothing to the host.
for f in "$node"/sysctl/*; do
  target=/proc/sys/$(basename "$f" | tr . /)
  [ -e "$target" ] && mount --bind "$f" "$target"
done

# 3. Hard-coded host paths (/var/log/containers, /run/containerd, /tmp/hostpath_pv, /var/lib/cni) get per-cluster
# directories. A target that does not exist on the host cannot be a mountpoint without creating it there, so its
# parent is "shadowed" first: a tmpfs over the parent in this mount namespace only, with the parent's entries bound
# back (for /tmp only those the cluster needs), in which the mountpoint is then created.
shopt -s dotglob nullglob
shadowed=" "
shadow() {
  local dir=$1 fd src name keep
  case "$shadowed" in *" $dir "*) return 0 ;; esac
  keep=" $(tr '\n' ' ' <"$node/tmp-keep") "
  exec {fd}<"$dir"
  # the original directory stays reachable as /proc/$$/fd/$fd after the tmpfs hides it
  mount -t tmpfs -o "mode=$(stat -c %a "$dir"),uid=$(stat -c %u "$dir"),gid=$(stat -c %g "$dir")" myi-shadow "$dir"
  for src in "/proc/$$/fd/$fd"/*; do
    name=${src##*/}
    if [ "$dir" = /tmp ]; then case "$keep" in *" $name "*) ;; *) continue ;; esac; fi
    # /run/netns holds other network namespaces' mounts: a private copy would keep them alive. /run/mount is
    # libmount's state (utab): this namespace's mounts must not be recorded in the host's.
    case "$dir/$name" in /run/netns | /run/mount) continue ;; esac
    # already created in the tmpfs since (by mount(8) itself)
    [ ! -e "$dir/$name" ] && [ ! -L "$dir/$name" ] || continue
    if [ -L "$src" ]; then
      ln -s "$(readlink "$src")" "$dir/$name"
    elif [ -d "$src" ]; then
      mkdir "$dir/$name" && mount --no-canonicalize --bind "$src" "$dir/$name"
    elif [ -e "$src" ]; then
      : >"$dir/$name" && mount --no-canonicalize --bind "$src" "$dir/$name"
    fi
  done
  exec {fd}<&-
  shadowed+="$dir "
  log "shadowed $dir"
}
while read -r src target; do
  if [ ! -e "$target" ]; then
    shadow "$(dirname "$target")"
    mkdir "$target"
  fi
  mount --bind "$src" "$target"
  log "bound $src over $target"
done <"$node/binds"

touch "$node/anchor.ready"
log "ready"
exec sleep infinity
