#!/usr/bin/env bash
# Benchmark of the backup runner against plain `mysqldump > /dev/null`, on the same server in the same run.
#
# Starts a throw-away MariaDB on a free 127.0.0.1 port, seeds a table of N rows per size (default 1M and 3M:
# the second size shows whether memory stays flat as the dump grows), and for each size runs, alternating,
# REPEAT times each:
#   1. mysqldump with the runner's flags, output to /dev/null               (the floor)
#   2. mysqlinstance-operator backup --destination=file://…                  (dump + zstd + SHA-256 + fsync)
#   3. mysqlinstance-operator backup --destination=s3://… on a local MinIO   (multipart upload), if MinIO is built
# and reports median wall time, the ratio to mysqldump, the runner's own peak RSS (VmHWM, logged by the
# runner), the peak RSS GNU time reports for the process tree (max of runner and mysqldump), and sizes.
#
# Needs: tests/backup/setup.sh (MariaDB, MinIO, GNU time). Builds the release binary. Not a test: it prints
# numbers and never fails on them.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_SIZES:-"1000000 3000000"}
REPEAT=${BENCH_REPEAT:-5}
LEVEL=${BENCH_LEVEL:-1}

log() { printf '[bench] %s\n' "$*" >&2; }
[ -x /usr/bin/time ] || { log "GNU time is missing: run tests/backup/setup.sh"; exit 1; }
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { log "mariadbd is missing: run tests/backup/setup.sh"; exit 1; }
source tests/backup/versions.env
MINIO="${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}/bin/minio-$MINIO_VERSION/minio"

log "building the release binary"
cargo build --release --quiet --bin mysqlinstance-operator
BIN=$PWD/target/release/mysqlinstance-operator

work=$(mktemp -d /tmp/myi-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
user_flag=()
[ "$(id -u)" -ne 0 ] || user_flag=(--user=root)

log "starting MariaDB"
mariadb-install-db --no-defaults --datadir="$work/data" --auth-root-authentication-method=normal --skip-test-db \
  --innodb-log-file-size=64M "${user_flag[@]}" >"$work/install.log" 2>&1
port=$(free_port)
mariadbd --no-defaults --datadir="$work/data" --socket="$work/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
  --pid-file="$work/mysqld.pid" --log-error="$work/mysqld.log" --skip-name-resolve --skip-log-bin \
  --innodb-buffer-pool-size=1G --innodb-log-file-size=64M --innodb-flush-log-at-trx-commit=2 \
  --performance-schema=OFF --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "${user_flag[@]}" \
  >>"$work/mysqld.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  mysql --no-defaults -uroot -S "$work/mysqld.sock" -e 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.2
done
password="bench-$RANDOM-$RANDOM"
mysql --no-defaults -uroot -S "$work/mysqld.sock" <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
SQL
cnf="$work/client.cnf"
printf '[client]\nuser = root\npassword = "%s"\n' "$password" >"$cnf"
chmod 600 "$cnf"
conn=(--host=127.0.0.1 --port="$port")

s3=()
if [ -x "$MINIO" ]; then
  log "starting MinIO"
  mkdir -p "$work/minio/bench"
  mport=$(free_port)
  MINIO_ROOT_USER=benchuser MINIO_ROOT_PASSWORD=benchsecret MINIO_BROWSER=off MINIO_UPDATE=off HOME="$work" \
    "$MINIO" server --quiet --address "127.0.0.1:$mport" --console-address "127.0.0.1:$(free_port)" "$work/minio" \
    >"$work/minio.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$mport/minio/health/live" >/dev/null 2>&1 && break
    sleep 0.2
  done
  s3=(--s3-endpoint="http://127.0.0.1:$mport" --s3-path-style)
else
  log "MinIO not built ($MINIO): skipping the S3 row (tests/backup/build-minio.sh builds it)"
fi

# field NAME FILE: a value from GNU time -v output.
field() { grep -F "$1" "$2" | sed 's/.*: //'; }
# seconds from GNU time's h:mm:ss or m:ss.ss
seconds() { awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }'; }
calc() { awk "BEGIN { print $1 }"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

dump_flags=(--single-transaction --routines --events --triggers --hex-blob --default-character-set=utf8mb4 --max-allowed-packet=1G)

printf '\n%-9s %-9s %9s %9s %7s %14s %14s %11s %11s\n' rows target wall_s dump_s ratio runner_rss_MiB tree_rss_MiB size_MiB raw_MiB
seeded=0
for rows in $SIZES; do
  log "seeding $rows rows"
  mysql --defaults-file="$cnf" "${conn[@]}" --protocol=TCP --default-character-set=utf8mb4 <<SQL
DROP DATABASE IF EXISTS big;
CREATE DATABASE big;
USE big;
CREATE TABLE events (id BIGINT PRIMARY KEY, account INT NOT NULL, kind VARCHAR(16) NOT NULL, amount DECIMAL(12,2),
  note VARCHAR(64), at DATETIME NOT NULL, KEY by_account (account)) ENGINE=InnoDB;
INSERT INTO events SELECT seq, seq % 1000, ELT(1 + seq % 4, 'buy', 'sell', 'refund', 'fee'), (seq % 100000) / 100,
  IF(seq % 7 = 0, NULL, CONCAT('note ', seq, ' ✓')), '2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_$rows;
SQL
  seeded=$rows
  # Let InnoDB finish flushing the insert before timing anything, then warm the buffer pool with one dump.
  for _ in $(seq 120); do
    dirty=$(mysql --defaults-file="$cnf" "${conn[@]}" --protocol=TCP -N -B \
      -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'")
    [ "$dirty" -gt 0 ] || break
    sleep 0.5
  done
  mysqldump --defaults-file="$cnf" "${conn[@]}" --protocol=TCP "${dump_flags[@]}" --databases big >/dev/null
  declare -A walls=() rss=() tree=() size=() raw=()
  targets=(mysqldump file)
  [ ${#s3[@]} -eq 0 ] || targets+=(s3)
  for i in $(seq "$REPEAT"); do
    for target in "${targets[@]}"; do
      out="$work/$target-$i"
      case $target in
        mysqldump)
          /usr/bin/time -v -o "$out.time" mysqldump --defaults-file="$cnf" "${conn[@]}" --protocol=TCP "${dump_flags[@]}" \
            --databases big >/dev/null 2>"$out.err" ;;
        file)
          rm -rf "$work/backups" && mkdir -p "$work/backups"
          /usr/bin/time -v -o "$out.time" "$BIN" backup --instance=bench "${conn[@]}" --defaults-file="$cnf" \
            --destination="file://$work/backups" --compression-level="$LEVEL" --termination-log="$out.term" \
            >"$out.json" 2>"$out.err"
          sleep 1 ;;  # backups are named by the second
        s3)
          /usr/bin/time -v -o "$out.time" env AWS_ACCESS_KEY_ID=benchuser AWS_SECRET_ACCESS_KEY=benchsecret \
            "$BIN" backup --instance=bench "${conn[@]}" --defaults-file="$cnf" --destination="s3://bench/run$i" \
            "${s3[@]}" --compression-level="$LEVEL" --termination-log="$out.term" >"$out.json" 2>"$out.err"
          sleep 1 ;;
      esac
      walls[$target]+="$(field 'Elapsed (wall clock)' "$out.time" | seconds) "
      tree[$target]+="$(field 'Maximum resident set size' "$out.time") "
      if [ "$target" != mysqldump ]; then
        grep -q '"status":"success"' "$out.json" || { log "backup failed:"; cat "$out.json" "$out.err" >&2; exit 1; }
        rss[$target]+="$(grep -o 'peak_rss_bytes=[0-9]*' "$out.err" | cut -d= -f2) "
        size[$target]=$(grep -o '"sizeBytes":[0-9]*' "$out.json" | cut -d: -f2)
        raw[$target]=$(grep -o '"rawBytes":[0-9]*' "$out.json" | cut -d: -f2)
      fi
    done
  done
  dump_wall=$(echo "${walls[mysqldump]}" | tr ' ' '\n' | grep . | median)
  for target in "${targets[@]}"; do
    wall=$(echo "${walls[$target]}" | tr ' ' '\n' | grep . | median)
    tree_kib=$(echo "${tree[$target]}" | tr ' ' '\n' | grep . | sort -n | tail -1)
    if [ "$target" = mysqldump ]; then
      printf '%-9s %-9s %9.2f %9.2f %7s %14s %14.1f %11s %11s\n' "$rows" "$target" "$wall" "$dump_wall" "1.00" "-" \
        "$(calc "$tree_kib / 1024")" "-" "-"
    else
      runner=$(echo "${rss[$target]}" | tr ' ' '\n' | grep . | sort -n | tail -1)
      printf '%-9s %-9s %9.2f %9.2f %7.2f %14.1f %14.1f %11.1f %11.1f\n' "$rows" "$target" "$wall" "$dump_wall" \
        "$(calc "$wall / $dump_wall")" "$(calc "$runner / 1048576")" "$(calc "$tree_kib / 1024")" \
        "$(calc "${size[$target]} / 1048576")" "$(calc "${raw[$target]} / 1048576")"
    fi
  done
  unset walls rss tree size raw
done
printf '\nmedian of %s runs each; zstd level %s; runner_rss = the runner'"'"'s own VmHWM; tree_rss = GNU time (max of runner and mysqldump)\n' "$REPEAT" "$LEVEL"
log "last seeded size: $seeded rows"
