#!/usr/bin/env bash
# Installs what the Prometheus checks need, if missing: prometheus and promtool (Debian package `prometheus`) and
# python3 with PyYAML (`python3-yaml`). tests/prometheus/run.sh uses promtool; the end-to-end test
# tests/e2e/observability.rs starts a real Prometheus server, so scripts/test.sh runs this before `cargo test`.
#
# Installs only as root with apt-get, and not when MYI_NO_INSTALL=1; otherwise it only reports what is missing.
# Exits non-zero if a tool is still missing afterwards.
set -uo pipefail

have_tools() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 &&
    python3 -c 'import yaml' >/dev/null 2>&1
}

have_tools && exit 0
if [ "${MYI_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing prometheus and promtool (package prometheus) and python3-yaml with apt-get" >&2
  log=$(mktemp)
  had_service=$(systemctl is-active prometheus 2>/dev/null || true)
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus python3-yaml; } >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
  # Only the binaries are needed: the tests start their own server; do not leave the packaged service running.
  if [ "$had_service" != active ] && command -v systemctl >/dev/null 2>&1; then
    systemctl stop prometheus >/dev/null 2>&1 || true
    systemctl disable prometheus >/dev/null 2>&1 || true
  fi
fi
if ! have_tools; then
  echo "FAIL: need prometheus, promtool and python3 PyYAML: apt-get install prometheus python3-yaml" >&2
  exit 1
fi
