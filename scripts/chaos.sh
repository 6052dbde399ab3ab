#!/usr/bin/env bash
# The full chaos suite (tests/chaos, docs/chaos.md) on a kwok cluster of its own: 100 instances, 25 operator
# kills, the apiserver restarted and etcd paused for 20 s, two operators without leader election. Prints one
# line per scenario and writes them to ${MYI_CHAOS_REPORT:-target/chaos-report.txt}. Sizes and the seed can be
# overridden: MYI_CHAOS_INSTANCES, MYI_CHAOS_KILLS, MYI_CHAOS_ETCD_PAUSE_SECONDS, MYI_CHAOS_SEED (replay),
# MYI_CHAOS_SCENARIOS (kills,control-plane,twins).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }

export MYI_CHAOS_INSTANCES=${MYI_CHAOS_INSTANCES:-100}
export MYI_CHAOS_KILLS=${MYI_CHAOS_KILLS:-25}
export MYI_CHAOS_ETCD_PAUSE_SECONDS=${MYI_CHAOS_ETCD_PAUSE_SECONDS:-20}
export MYI_CHAOS_REPORT=${MYI_CHAOS_REPORT:-$PWD/target/chaos-report.txt}
# Heavy builds wait for each other on machines shared with other builds (tests/cluster/README.md).
lock=()
if [ -d /tmp/work ] && command -v flock >/dev/null; then lock=(flock -o "${HEAVY_LOCK:-/tmp/work/heavy.lock}"); fi

step "Building the local control plane (cached) and the chaos suite"
tests/cluster/build.sh >/dev/null
"${lock[@]}" cargo test --test chaos --no-run

base=/tmp
[ -d /tmp/work ] && base=/tmp/work
dir=$(mktemp -u -d "$base/chaos-XXXXXX")
trap 'tests/cluster/cluster.sh down "$dir" >/dev/null 2>&1 || true' EXIT
step "Starting a kwok cluster with 4 fake nodes in $dir"
MYI_FAKE_NODES=${MYI_FAKE_NODES:-4} tests/cluster/cluster.sh up "$dir"

mkdir -p "$(dirname "$MYI_CHAOS_REPORT")"
: >"$MYI_CHAOS_REPORT"
step "cargo test --test chaos ($MYI_CHAOS_INSTANCES instances, $MYI_CHAOS_KILLS kills; report: $MYI_CHAOS_REPORT)"
start=$SECONDS
status=0
(eval "$(tests/cluster/cluster.sh env "$dir")" && cargo test --test chaos -- --nocapture --test-threads=1) || status=$?
echo "chaos suite: $((SECONDS - start)) s, exit status $status"
cat "$MYI_CHAOS_REPORT"
exit "$status"
