#!/usr/bin/env python3
"""Render deploy/prometheus/prometheusrule.yaml from deploy/prometheus/alerts.yaml (the single source of truth).

The plain rules file's `groups:` document becomes `spec:` of a monitoring.coreos.com/v1 PrometheusRule. The
rendering is textual (every line indented by two spaces), so comments and block scalars survive unchanged and
no YAML library is needed; when PyYAML is installed the result is also parsed back and compared.

Usage:
  render_prometheusrule.py                 print the PrometheusRule on stdout
  render_prometheusrule.py --write         rewrite deploy/prometheus/prometheusrule.yaml
  render_prometheusrule.py --check         exit 1 (with a diff) if the committed file differs from the rendering
"""
import difflib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy/prometheus/alerts.yaml"
TARGET = ROOT / "deploy/prometheus/prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/alerts.yaml by tests/prometheus/render_prometheusrule.py. Do not edit by hand:
#   python3 tests/prometheus/render_prometheusrule.py --write
# kube-prometheus-stack selects PrometheusRules by label (ruleSelector, often `release: <helm release>`);
# add that label when applying if your Prometheus needs it.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: mysqlinstance-operator
  labels:
    app.kubernetes.io/name: mysqlinstance-operator
    app.kubernetes.io/component: monitoring
    app.kubernetes.io/part-of: mysqlinstance-operator
spec:
"""


def render(source_text: str) -> str:
    lines = source_text.splitlines()
    # Drop the leading comment block (it describes the plain file, not the generated one).
    start = 0
    while start < len(lines) and (lines[start].startswith("#") or not lines[start].strip()):
        start += 1
    if start == len(lines) or not lines[start].startswith("groups:"):
        raise SystemExit(f"{SOURCE}: expected the first non-comment line to be 'groups:'")
    body = ["  " + line if line.strip() else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


def verify_semantics(rendered: str, source_text: str) -> None:
    try:
        import yaml  # type: ignore
    except ImportError:
        return
    doc = yaml.safe_load(rendered)
    if doc["spec"] != yaml.safe_load(source_text):
        raise SystemExit("rendered spec does not parse to the same rules as alerts.yaml")
    if doc["apiVersion"] != "monitoring.coreos.com/v1" or doc["kind"] != "PrometheusRule":
        raise SystemExit("rendered document is not a PrometheusRule")


def main(argv: list) -> int:
    source_text = SOURCE.read_text()
    rendered = render(source_text)
    verify_semantics(rendered, source_text)
    if argv[1:] == ["--write"]:
        TARGET.write_text(rendered)
        return 0
    if argv[1:] == ["--check"]:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current == rendered:
            print(f"{TARGET.relative_to(ROOT)} is up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), rendered.splitlines(True),
            str(TARGET.relative_to(ROOT)) + " (committed)", "rendered from alerts.yaml"))
        print(f"\n{TARGET.relative_to(ROOT)} is stale: run python3 tests/prometheus/render_prometheusrule.py --write")
        return 1
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
