#!/usr/bin/env bash
# tests/cluster/in-cluster.sh DIR [TEST...]: the operator running in the real-node cluster at DIR (cluster.sh up
# --real, with the operator and MariaDB images loaded: MYI_IMAGES), installed with the Helm chart as a user would,
# under the chart's ServiceAccount and RBAC, then named real-node tests (tests/node/main.rs) against it instead of a
# local operator process (MYI_IN_CLUSTER=1: TestEnv starts no operator), then helm uninstall.
#
#   1. helm install into mysqlinstance-system with tests/chart/values/in-cluster.yaml (the local images, never
#      pulled; one replica, leader election on; cluster-wide); waits for `kubectl rollout status`;
#   2. checks the pod runs the local image under the chart's ServiceAccount and holds the Lease;
#   3. runs each named test in its own `cargo test --test node -- --exact NAME`, at the same time, inside the
#      cluster's network namespace; prints each one's output and duration, and the operator's log on a failure;
#   4. helm uninstall: the Deployment goes, the CRD and the tests' MySQLInstances stay (the tests leave their
#      namespaces in this mode); then the namespaces are deleted.
#
# Without TEST arguments it runs IN_CLUSTER_TESTS below: tests that need nothing of a local operator process
# (its log file, its metrics port). Meant to run after the real-node suite, on the same cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:?usage: tests/cluster/in-cluster.sh DIR [TEST...]}
shift
IN_CLUSTER_TESTS=(
  an_instance_serves_its_app_through_the_service_and_keeps_its_data
  a_backup_from_the_cronjob_restores_into_a_new_instance_and_a_corrupted_one_fails_once
  retain_gives_a_recreated_instance_its_old_data_and_password
  a_killed_server_degrades_and_recovers_and_a_deleted_pod_comes_back
)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("${IN_CLUSTER_TESTS[@]}")

NS=mysqlinstance-system
RELEASE=mysqlinstance-operator # the chart's name: the objects are named mysqlinstance-operator
log() { printf '[in-cluster] %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
in_ns() { tests/cluster/cluster.sh exec "$DIR" -- "$@"; }
kc() { in_ns kubectl "$@"; }
operator_log() {
  log "operator log (last 100 lines):"
  kc -n "$NS" logs --tail=100 --prefix --all-containers -l app.kubernetes.io/name=mysqlinstance-operator >&2 || true
  kc -n "$NS" get pods,events -o wide >&2 || true
}

helm=$(tests/chart/install-helm.sh)
out=$(mktemp -d /tmp/myi-in-cluster.XXXXXX)
trap 'rm -rf "$out"' EXIT

# The tests binary first, so that the tests' durations are theirs (cargo builds it once for all of them).
in_ns cargo test --test node --no-run >/dev/null 2>"$out/build.log" || { cat "$out/build.log" >&2; fail "cargo test --no-run"; }

# The local-process suite before this one applied deploy/operator.yaml's RBAC for its operator; Helm adopts
# nothing it did not install, so those objects go first (the namespace stays).
rbac="$out/rbac.yaml"
python3 - "$rbac" <<'PY'
import sys
docs = open("deploy/operator.yaml").read().split("\n---\n")
kept = [d for d in docs if "kind: Namespace" not in d]
open(sys.argv[1], "w").write("\n---\n".join(kept))
PY
kc delete --ignore-not-found --wait -f "$rbac" >/dev/null

t0=$SECONDS
in_ns "$helm" install "$RELEASE" charts/mysqlinstance-operator --namespace "$NS" --create-namespace \
  --values tests/chart/values/in-cluster.yaml >/dev/null
if ! kc -n "$NS" rollout status deployment/"$RELEASE" --timeout=180s >&2; then
  operator_log
  fail "the operator Deployment did not become Available"
fi
log "helm install to Available: $((SECONDS - t0)) s"

pod=$(kc -n "$NS" get pods -l app.kubernetes.io/name=mysqlinstance-operator -o jsonpath='{.items[0].metadata.name}')
sa=$(kc -n "$NS" get pod "$pod" -o jsonpath='{.spec.serviceAccountName}')
image=$(kc -n "$NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].image}')
[ "$sa" = "$RELEASE" ] || fail "pod $pod runs as ServiceAccount $sa, not the chart's $RELEASE"
case $image in *localhost/mysqlinstance-operator:0.1.0) ;; *) fail "pod $pod runs image $image" ;; esac
holder=""
for _ in $(seq 1 60); do
  holder=$(kc -n "$NS" get lease mysqlinstance-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  [ "$holder" = "$pod" ] && break
  sleep 1
done
[ "$holder" = "$pod" ] || { operator_log; fail "Lease $NS/mysqlinstance-operator is held by '$holder', not $pod"; }
log "pod $pod: image $image, ServiceAccount $sa, leader (Lease $NS/mysqlinstance-operator)"

# Each test in its own process, all at once (as `cargo test` would run them on parallel threads).
declare -A pids
for name in "${tests[@]}"; do
  (
    start=$SECONDS
    rc=0
    in_ns env MYI_IN_CLUSTER=1 cargo test --test node -- --exact "$name" >"$out/$name.log" 2>&1 || rc=$?
    echo "$((SECONDS - start))" >"$out/$name.seconds"
    exit "$rc"
  ) &
  pids[$name]=$!
done
failed=()
summary=()
for name in "${tests[@]}"; do
  if wait "${pids[$name]}"; then result=ok; else result=FAILED; fi
  # A name that matches no test runs nothing and passes: count only a test that ran and passed.
  [ "$result" = ok ] && ! grep -q "^test $name \.\.\. ok$" "$out/$name.log" && result="FAILED (no such test)"
  [ "$result" = ok ] || failed+=("$name")
  summary+=("$(printf '%-90s %s in %s s' "$name" "$result" "$(cat "$out/$name.seconds")")")
done
for name in "${tests[@]}"; do
  printf '\n---- %s ----\n' "$name" >&2
  grep -v '^\s*Finished\|^\s*Running\|^\s*Compiling\|^$' "$out/$name.log" >&2 || true
done
printf '\n' >&2
printf '%s\n' "${summary[@]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  operator_log
  in_ns "$helm" uninstall "$RELEASE" --namespace "$NS" >/dev/null || true
  fail "${#failed[@]} of ${#tests[@]} in-cluster tests failed: ${failed[*]}"
fi

# Uninstall: the operator goes; the CRD (the chart's crds/, which helm never deletes) and the instances stay.
namespaces=$(kc get namespaces -o name | sed -n 's|^namespace/\(e2e-.*\)|\1|p')
before=$(kc get mysqlinstances -A --no-headers | wc -l)
in_ns "$helm" uninstall "$RELEASE" --namespace "$NS" --wait >/dev/null
kc -n "$NS" get deployment "$RELEASE" >/dev/null 2>&1 && fail "the Deployment survived helm uninstall"
kc get crd mysqlinstances.mysqlinstance.io >/dev/null || fail "helm uninstall took the CRD"
after=$(kc get mysqlinstances -A --no-headers | wc -l)
{ [ "$before" -gt 0 ] && [ "$after" = "$before" ]; } || fail "MySQLInstances before helm uninstall: $before, after: $after"
log "helm uninstall: the operator is gone; the CRD and the $after MySQLInstances stay"
# shellcheck disable=SC2086 # one name a word
[ -z "$namespaces" ] || kc delete namespace $namespaces --timeout=180s >/dev/null
log "the tests' namespaces deleted; $(kc get mysqlinstances -A --no-headers 2>/dev/null | wc -l) MySQLInstances left"
