#!/usr/bin/env bash
# Checks the Helm chart charts/mysqlinstance-operator:
#   1. helm lint --strict with the default values and with each mode of tests/chart/values/;
#   2. drift: the chart's CRD and alert rules are the repository's, deploy/operator.yaml is rendered from the chart
#      (so its RBAC is the chart's), and the chart's version is the crate's;
#   3. values.schema.json refuses bad values, with a message naming the value;
#   4. every mode's objects pass `kubectl apply --dry-run=server` against the cluster of $KUBECONFIG (a local kwok
#      cluster: tests/cluster/cluster.sh), Pod Security "restricted" included. The ServiceMonitor and
#      PrometheusRule CRDs (prometheus-operator, Go module cache) are installed for that and removed after, as are
#      the two namespaces it creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/chart/versions.env
CHART=charts/mysqlinstance-operator
RELEASE_NS=myi-chart-check
MODES=(default tests/chart/values/single-namespace.yaml tests/chart/values/monitoring.yaml)
start=$(date +%s)

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; exit 1; }

[ -n "${KUBECONFIG:-}" ] || fail 'KUBECONFIG is not set: start a cluster and eval "$(tests/cluster/cluster.sh env DIR)"'
helm=$(tests/chart/install-helm.sh 2>/dev/null | tail -1)

# values_args MODE: the helm arguments selecting MODE's values.
values_args() { if [ "$1" != default ]; then echo "--values $1"; fi; }
# template MODE [ARGS...]: the chart rendered in MODE.
template() {
  local mode=$1
  shift
  # shellcheck disable=SC2046 # values_args is zero or two words
  "$helm" template myi "$CHART" --namespace "$RELEASE_NS" $(values_args "$mode") "$@"
}

step "helm lint --strict ($("$helm" version --short))"
for mode in "${MODES[@]}"; do
  # shellcheck disable=SC2046
  out=$("$helm" lint --strict "$CHART" --namespace "$RELEASE_NS" $(values_args "$mode") 2>&1) || { echo "$out"; fail "lint: $mode"; }
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
  fail "the chart's PrometheusRule does not parse to the rules of deploy/prometheus/alerts.yaml"
ok "the chart's PrometheusRule spec parses to the rules of deploy/prometheus/alerts.yaml"
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
  if out=$(template default "$@" 2>&1); then
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
crd_dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
  sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/example/prometheus-operator-crd"
monitoring_crds=("$crd_dir/monitoring.coreos.com_servicemonitors.yaml" "$crd_dir/monitoring.coreos.com_prometheusrules.yaml")
cleanup() {
  kubectl delete --ignore-not-found --wait=false namespace "$RELEASE_NS" myi-chart-apps >/dev/null 2>&1 || true
  kubectl delete --ignore-not-found -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null 2>&1 || true
}
trap cleanup EXIT
kubectl apply --server-side -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f "${monitoring_crds[0]}" -f "${monitoring_crds[1]}" >/dev/null
ok "installed the ServiceMonitor and PrometheusRule CRDs of prometheus-operator $PROMETHEUS_OPERATOR_VERSION"
for ns in "$RELEASE_NS" myi-chart-apps; do
  kubectl create namespace "$ns" --dry-run=client -o yaml |
    kubectl label --local -f - pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted -o yaml |
    kubectl apply -f - >/dev/null
done
for mode in "${MODES[@]}"; do
  args=()
  [ "$mode" = default ] && args=(--include-crds)
  if ! out=$(template "$mode" "${args[@]}" | kubectl apply --dry-run=server -f - 2>&1); then
    echo "$out"
    fail "dry run: $mode"
  fi
  if grep 'PodSecurity' <<<"$out"; then fail "dry run: $mode: not Pod Security restricted"; fi
  grep '^Warning' <<<"$out" | sed 's/^/      /' || true
  ok "dry run: $mode ($(grep -c 'server dry run' <<<"$out") objects)"
done

printf '\nchart checks passed in %ss\n' "$(( $(date +%s) - start ))"
