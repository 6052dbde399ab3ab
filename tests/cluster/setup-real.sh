#!/usr/bin/env bash
# Installs what the real-node mode of tests/cluster/cluster.sh needs from Debian, when missing: containerd (1.6),
# runc, the CNI plugins (bridge, host-local, portmap, loopback in /usr/lib/cni) and iptables. The cluster runs its
# own containerd: a system containerd service is never started by the install (policy-rc.d) and is stopped and
# disabled if systemd runs one. Idempotent: a second run installs nothing.
set -euo pipefail
log() { printf '[setup-real] %s\n' "$*" >&2; }

need=()
command -v containerd >/dev/null && command -v containerd-shim-runc-v2 >/dev/null && command -v ctr >/dev/null ||
  need+=(containerd)
command -v runc >/dev/null || need+=(runc)
for p in bridge host-local portmap loopback; do [ -x "/usr/lib/cni/$p" ] || need+=(containernetworking-plugins); done
command -v iptables >/dev/null || need+=(iptables)
for tool in ip:iproute2 nsenter:util-linux setpriv:util-linux curl:curl openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done

if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "ERROR: run as root to install: ${need[*]}"; exit 1; }
  pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
  log "installing from Debian: $pkgs"
  # policy-rc.d exit 101: the packages' services (containerd) must not start
  policy=/usr/sbin/policy-rc.d created_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  [ -z "$created_policy" ] || rm -f "$policy"
fi

# Under systemd, the package enables containerd.service; policy-rc.d kept it from starting during the install,
# but it would start at the next boot and take /run/containerd. Stop and disable it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  if systemctl is-enabled --quiet containerd.service 2>/dev/null || systemctl is-active --quiet containerd.service 2>/dev/null; then
    log "stopping and disabling the system containerd.service"
    systemctl disable --now containerd.service >/dev/null 2>&1 || true
  fi
fi
log "containerd $(containerd --version | awk '{print $3}'), $(runc --version | head -n1)"
