#!/usr/bin/env bash
# Checks the Helm chart charts/mysqlinstance-operator:
#   1. helm lint --strict with each values file of tests/chart/values/ (the defaults, single namespace, monitoring,
#      one replica);
#   2. drift: the chart's CRD and alert rules are the repository's, deploy/operator.yaml is rendered from the chart
#      (so its RBAC is the chart's), docs/install.md documents every value, and the chart's version is the crate's;
#   3. values.schema.json refuses bad values, with a message naming the value;
#   4. every mode's objects pass `kubectl apply --dry-run=server` against the cluster of $KUBECONFIG (a local kwok
#      cluster: tests/cluster/cluster.sh), Pod Security "restricted" included. The ServiceMonitor and
#      PrometheusRule CRDs (prometheus-operator, Go module cache) are installed for that and removed after, as are
#      the two namespaces it creates;
#   5. helm install (two replicas Ready on the kwok nodes) and helm uninstall, which leaves the CRD and a
#      MySQLInstance in place. Needs a cluster without the MySQLInstance CRD; removes it at the end;
#   6. the operator binary (target/debug, or MYI_OPERATOR_BIN), run here with the token of the single-namespace
#      ServiceAccount and the Deployment's environment, brings examples/basic.yaml to Ready: that RBAC is enough.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/chart/versions.env
CHART=charts/mysqlinstance-operator
RELEASE_NS=myi-chart-check
WATCHED_NS=$(sed -n 's/^watchNamespace: //p' tests/chart/values/single-namespace.yaml)
MODES=(tests/chart/values/default.yaml tests/chart/values/single-namespace.yaml tests/chart/values/monitoring.yaml
  tests/chart/values/one-replica.yaml)
start=$(date +%s)

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; exit 1; }
# quiet CMD...: run CMD, show its output only when it fails (helm --wait also logs watch noise on stderr).
quiet() { local out; out=$("$@" 2>&1) || { echo "$out"; fail "$*"; }; }

# shellcheck disable=SC2016 # the command to run, not to expand
[ -n "${KUBECONFIG:-}" ] || fail 'KUBECONFIG is not set: start a cluster and eval "$(tests/cluster/cluster.sh env DIR)"'
helm=$(tests/chart/install-helm.sh | tail -1)

# template MODE [ARGS...]: the chart rendered with the values file MODE.
template() {
  local mode=$1
  shift
  "$helm" template myi "$CHART" --namespace "$RELEASE_NS" --values "$mode" "$@"
}

step "helm lint --strict ($("$helm" version --short))"
for mode in "${MODES[@]}"; do
  quiet "$helm" lint --strict "$CHART" --namespace "$RELEASE_NS" --values "$mode"
  ok "lint: $mode"
done

step "drift"
tests/chart/generate.sh --check || fail "the chart and deploy/ differ (run make deploy)"
ok "chart crds/ == crds/, chart files/alerts.yaml == deploy/prometheus/alerts.yaml, deploy/operator.yaml == chart"
# The PrometheusRule carries the rules unchanged, {{ $labels.x }} of the annotations included.
template tests/chart/values/monitoring.yaml --show-only templates/prometheusrule.yaml | python3 -c '
import sys, yaml
rule = yaml.safe_load(sys.stdin)
sys.exit(rule["spec"] != yaml.safe_load(open("deploy/prometheus/alerts.yaml")))' ||
  fail "the chart's PrometheusRule does not parse to the rules of deploy/prometheus/alerts.yaml (needs python3-yaml)"
ok "the chart's PrometheusRule spec parses to the rules of deploy/prometheus/alerts.yaml"
python3 - "$CHART/values.yaml" docs/install.md <<'PY' || fail "docs/install.md does not document every value"
import re, sys, yaml
values, doc = yaml.safe_load(open(sys.argv[1])), open(sys.argv[2]).read()
documented = set(re.findall(r"`([A-Za-z][\w.]*)`", doc))
def undocumented(tree, prefix=""):
    for key, value in tree.items():
        path = prefix + key
        if path in documented:
            continue
        if isinstance(value, dict) and value:
            yield from undocumented(value, path + ".")
        else:
            yield path
missing = list(undocumented(values))
for path in missing:
    print(f"      {path}: in values.yaml, not in the values table of docs/install.md")
sys.exit(bool(missing))
PY
ok "docs/install.md documents every value of values.yaml"
crate=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
for field in version appVersion; do
  value=$(sed -n "s/^$field: \"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" "$CHART/Chart.yaml")
  [ "$value" = "$crate" ] || fail "Chart.yaml $field is $value, Cargo.toml says $crate"
done
ok "Chart.yaml version and appVersion == Cargo.toml version ($crate)"

step "values.schema.json refuses bad values"
# refuse 'WHAT THE MESSAGE MUST NAME' HELM-ARGS...: helm template fails and its message names the value.
refuse() {
  local names=$1 out
  shift
  if out=$(template "${MODES[0]}" "$@" 2>&1); then
    fail "helm template $* succeeded"
  fi
  grep -qF -- "$names" <<<"$out" || { echo "$out"; fail "helm template $*: the message does not name $names"; }
  ok "refused $* ($(grep -F -- "$names" <<<"$out" | head -1 | sed 's/^[- ]*//'))"
}
refuse /replicas --set replicas=0
refuse /replicas --set replicas=2 --set leaderElection.enabled=false
refuse /image/tag --set image.tag=5
refuse /image/repository --set image.repository=
refuse /image/pullPolicy --set image.pullPolicy=Sometimes
refuse /watchNamespace --set watchNamespace=Not_A_Namespace
refuse /serverImages --set serverImages.9\\.0=mysql:9.0
refuse /metrics/port --set metrics.port=70000
refuse /networkPolicy/apiServer/cidrs --set-json 'networkPolicy.apiServer.cidrs=[]'
refuse replica --set replica=2

step "kubectl apply --dry-run=server (Kubernetes $(kubectl version | sed -n 's/^Server Version: //p') at $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}'))"
kubectl get crd mysqlinstances.mysqlinstance.io >/dev/null 2>&1 && fail "the cluster already has the MySQLInstance CRD: run this on a fresh cluster"
crd_dir="$(GOFLAGS='' GOWORK=off go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
  sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/example/prometheus-operator-crd"
monitoring_crds=("$crd_dir/monitoring.coreos.com_servicemonitors.yaml" "$crd_dir/monitoring.coreos.com_prometheusrules.yaml")
tmp=$(mktemp -d)
operator_pid=
cleanup() {
  if [ -n "$operator_pid" ]; then kill "$operator_pid" 2>/dev/null || true; fi
  kubectl delete --ignore-not-found --timeout=60s namespace "$RELEASE_NS" "$WATCHED_NS" >/dev/null 2>&1 || true
  kubectl delete --ignore-not-found crd mysqlinstances.mysqlinstance.io >/dev/null 2>&1 || true
  kubectl delete --ignore-not-found -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
kubectl apply --server-side -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null
ok "installed the ServiceMonitor and PrometheusRule CRDs of prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
for ns in "$RELEASE_NS" "$WATCHED_NS"; do
  kubectl create namespace "$ns" --dry-run=client -o yaml |
    kubectl label --local -f - pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted -o yaml |
    kubectl apply -f - >/dev/null
done
for mode in "${MODES[@]}"; do
  if ! out=$(template "$mode" --include-crds | kubectl apply --dry-run=server -f - 2>&1); then
    echo "$out"
    fail "dry run: $mode"
  fi
  if grep 'PodSecurity' <<<"$out"; then fail "dry run: $mode: not Pod Security restricted"; fi
  grep '^Warning' <<<"$out" | sed 's/^/      /' || true
  ok "dry run: $mode ($(grep -c 'server dry run' <<<"$out") objects)"
done

step "helm install and uninstall (default values; kwok runs the pods)"
quiet "$helm" install myi "$CHART" --namespace "$RELEASE_NS" --wait --timeout 120s
ok "installed: $(kubectl -n "$RELEASE_NS" get deployment myi-mysqlinstance-operator -o jsonpath='{.status.readyReplicas}') replicas ready, PodDisruptionBudget allows $(kubectl -n "$RELEASE_NS" get pdb myi-mysqlinstance-operator -o jsonpath='{.status.disruptionsAllowed}') disruption"
kubectl -n "$RELEASE_NS" apply -f examples/basic.yaml >/dev/null
quiet "$helm" uninstall myi --namespace "$RELEASE_NS" --wait
kubectl -n "$RELEASE_NS" get deployment myi-mysqlinstance-operator >/dev/null 2>&1 && fail "the Deployment survived helm uninstall"
kubectl -n "$RELEASE_NS" get myi shop >/dev/null || fail "helm uninstall took the MySQLInstance (and so the CRD) with it"
ok "uninstalled: the operator is gone, the CRD and the MySQLInstance stay"

step "single-namespace RBAC is enough: the operator under that ServiceAccount's token, as the Deployment runs it"
operator=${MYI_OPERATOR_BIN:-target/debug/mysqlinstance-operator}
if [ ! -x "$operator" ]; then
  printf 'SKIP  no operator binary at %s (cargo build, or set MYI_OPERATOR_BIN)\n' "$operator"
else
  quiet "$helm" install myi "$CHART" --namespace "$RELEASE_NS" --values tests/chart/values/single-namespace.yaml \
    --set replicas=1
  kubectl config view --raw --minify -o json | python3 -c '
import json, sys
config = json.load(sys.stdin)
config["users"][0]["user"] = {"token": sys.argv[1]}
json.dump(config, sys.stdout)' "$(kubectl -n "$RELEASE_NS" create token myi-mysqlinstance-operator)" >"$tmp/kubeconfig"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  KUBECONFIG=$tmp/kubeconfig METRICS_ADDRESS=127.0.0.1:$port WATCH_NAMESPACE=$WATCHED_NS LEADER_ELECTION=true \
    LEADER_ELECTION_NAMESPACE=$RELEASE_NS LEADER_ELECTION_LEASE=mysqlinstance-operator POD_NAME=chart-check \
    "$operator" run >"$tmp/operator.log" 2>&1 &
  operator_pid=$!
  kubectl -n "$WATCHED_NS" apply -f examples/basic.yaml >/dev/null
  if ! kubectl -n "$WATCHED_NS" wait --for=jsonpath='{.status.phase}'=Ready --timeout=90s myi/shop >/dev/null; then
    tail -20 "$tmp/operator.log"
    fail "examples/basic.yaml did not become Ready under the single-namespace RBAC"
  fi
  ! grep -i forbidden "$tmp/operator.log" || fail "the operator was refused something (above)"
  ok "examples/basic.yaml is Ready in $WATCHED_NS, reconciled with only the Role there and the Lease Role"
  # Deleted while the operator runs, so that whatever it has to do on deletion is done before it stops.
  kubectl -n "$WATCHED_NS" delete myi shop --timeout=60s >/dev/null
fi

printf '\nchart checks passed in %ss\n' "$(( $(date +%s) - start ))"
