#!/usr/bin/env bash
# Installs what the backup tests run against: MariaDB server and client from Debian's packages (the tests
# start their own mariadbd; the system service is stopped and kept from starting) and GNU time for the
# benchmark, then builds the pinned MinIO from the Go module proxy (cached by version). Idempotent: a second
# run installs and builds nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[backup-setup] %s\n' "$*" >&2; }

need=()
for pair in mariadbd:mariadb-server mariadb-install-db:mariadb-server mysql:mariadb-client mysqldump:mariadb-client; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair#*:}")
done
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${need[*]} from Debian"
  # policy-rc.d 101: the package must not start a system mariadbd (tests start their own on free ports).
  policy=/usr/sbin/policy-rc.d
  created_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && created_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
  [ -z "$created_policy" ] || $sudo rm -f "$policy"
fi
# A system mariadbd left running by an earlier install would only cost memory: stop it.
if [ -f /run/mysqld/mysqld.pid ] && kill -0 "$(cat /run/mysqld/mysqld.pid)" 2>/dev/null; then
  log "stopping the system mariadbd (pid $(cat /run/mysqld/mysqld.pid))"
  kill "$(cat /run/mysqld/mysqld.pid)" || true
fi
log "MariaDB: $(mariadbd --version 2>/dev/null || /usr/sbin/mariadbd --version)"
"$here/build-minio.sh" >/dev/null
log "MinIO: $("$here/build-minio.sh" 2>/dev/null)"
