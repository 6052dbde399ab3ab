#!/usr/bin/env python3
"""Consistency checks between the alert rules, their tests, the dashboards and the docs. Used by run.sh.

  repo_checks.py split-tests OUTDIR     write one promtool test file per test group; print `file<TAB>group name`
  repo_checks.py dashboard-rules OUT    write every dashboard query as a recording rule (for `promtool check rules`)
  repo_checks.py metrics-doc            docs/metrics.md has the parseable table and covers the metric contract
  repo_checks.py metric-names           every metric used by alerts and dashboards is documented in docs/metrics.md
  repo_checks.py alert-rules            every alert has severity, for, summary, description, runbook_url
  repo_checks.py runbooks               every alert's runbook exists with Meaning/Impact/Diagnosis/Mitigation
  repo_checks.py alerts-doc             docs/alerts.md lists every alert with its severity and for
  repo_checks.py test-coverage          every alert has boundary, flapping and missing-series test groups

Needs PyYAML (Debian: python3-yaml).
"""
import json
import pathlib
import re
import signal
import sys

import yaml

sys.dont_write_bytecode = True  # keep the tree free of __pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from dashboard_lint import panel_targets, substitute  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yaml"
TESTS = ROOT / "tests/prometheus/alerts_test.yaml"
METRICS_DOC = ROOT / "docs/metrics.md"
ALERTS_DOC = ROOT / "docs/alerts.md"
RUNBOOKS = ROOT / "docs/runbooks"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
RUNBOOK_BASE = "https://github.com/mysqlinstance/mysqlinstance-operator/blob/main/docs/runbooks/"

# docs/design architecture "Metrics (contract)" plus the process collector of the Rust prometheus crate.
CONTRACT = {
    "mysqlinstance_instances": ("gauge", ["phase"]),
    "mysqlinstance_reconcile_duration_seconds": ("histogram", ["result"]),
    "mysqlinstance_reconcile_errors_total": ("counter", ["reason"]),
    "mysqlinstance_phase_transitions_total": ("counter", ["from", "to"]),
    "mysqlinstance_api_writes_total": ("counter", ["kind", "operation"]),
    "mysqlinstance_watch_errors_total": ("counter", []),
    "mysqlinstance_leader": ("gauge", []),
    "mysqlinstance_status_condition": ("gauge", ["namespace", "mysqlinstance", "type", "status"]),
    "mysqlinstance_info": ("gauge", ["namespace", "mysqlinstance", "version", "phase"]),
    "mysqlinstance_backup_last_success_timestamp_seconds": ("gauge", ["namespace", "mysqlinstance"]),
    "mysqlinstance_backup_last_duration_seconds": ("gauge", ["namespace", "mysqlinstance"]),
    "mysqlinstance_backup_last_size_bytes": ("gauge", ["namespace", "mysqlinstance"]),
    "mysqlinstance_backup_consecutive_failures": ("gauge", ["namespace", "mysqlinstance"]),
    "process_cpu_seconds_total": ("counter", []),
    "process_open_fds": ("gauge", []),
    "process_max_fds": ("gauge", []),
    "process_virtual_memory_bytes": ("gauge", []),
    "process_resident_memory_bytes": ("gauge", []),
    "process_start_time_seconds": ("gauge", []),
    "process_threads": ("gauge", []),
}
NOT_EXPORTED = {"up", "ALERTS", "ALERTS_FOR_STATE"}  # series Prometheus makes itself


class CheckFailed(Exception):
    pass


def fail_if(problems):
    if problems:
        raise CheckFailed("\n".join(problems))


def alerts():
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_doc():
    return yaml.safe_load(TESTS.read_text())


# ------------------------------------------------------------------------------------------------------------ metrics
def parse_metrics_table(text):
    """[(name, type, [labels], meaning, example)] from the `| name | type | labels | meaning | example |` table."""
    lines = text.splitlines()
    header = [i for i, l in enumerate(lines)
              if [c.strip() for c in l.strip().strip("|").split("|")] == ["name", "type", "labels", "meaning", "example"]]
    if len(header) != 1:
        raise CheckFailed(f"{METRICS_DOC.name}: expected exactly one table with header "
                          "| name | type | labels | meaning | example |")
    rows = []
    for line in lines[header[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5:
            raise CheckFailed(f"{METRICS_DOC.name}: row does not have 5 cells: {line}")
        name, typ, labels, meaning, example = cells
        m = re.fullmatch(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", name)
        if not m:
            raise CheckFailed(f"{METRICS_DOC.name}: name not in backticks: {name}")
        if labels == "-":
            label_list = []
        else:
            label_list = [l.strip().strip("`").strip() for l in labels.replace("`", "`").split(",")]
            if not all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", l) for l in label_list) or "`" not in labels:
                raise CheckFailed(f"{METRICS_DOC.name}: labels must be `-` or backticked and comma separated: {labels}")
        rows.append((m.group(1), typ, label_list, meaning, example))
    return rows


def documented_series():
    """Series names a query may use: family names, plus _bucket/_sum/_count for histograms."""
    names = set()
    for name, typ, *_ in parse_metrics_table(METRICS_DOC.read_text()):
        names.add(name)
        if typ in ("histogram", "summary"):
            names |= {name + "_sum", name + "_count"} | ({name + "_bucket"} if typ == "histogram" else set())
    return names


def check_metrics_doc():
    rows = parse_metrics_table(METRICS_DOC.read_text())
    problems = []
    seen = {}
    for name, typ, labels, meaning, example in rows:
        if name in seen:
            problems.append(f"duplicate row for {name}")
        seen[name] = (typ, labels)
        if typ not in ("counter", "gauge", "histogram", "summary", "info", "stateset", "unknown"):
            problems.append(f"{name}: unknown type {typ!r}")
        if set(labels) & {"job", "instance"}:
            problems.append(f"{name}: labels `job`/`instance` are reserved for Prometheus")
        if typ == "counter" and not name.endswith("_total"):
            problems.append(f"{name}: counter family names end in _total")
        if not meaning:
            problems.append(f"{name}: no meaning")
        if not re.fullmatch(r"`[^`]+`", example) or name not in example:
            problems.append(f"{name}: example must be one backticked PromQL expression using the metric")
    for name, (typ, labels) in CONTRACT.items():
        if name not in seen:
            problems.append(f"contract metric {name} missing from the table")
        elif seen[name] != (typ, labels):
            problems.append(f"{name}: table says {seen[name]}, contract says {(typ, labels)}")
    for name in seen.keys() - CONTRACT.keys():
        problems.append(f"{name}: documented but not in the contract list of repo_checks.py")
    fail_if(problems)
    print(f"{len(rows)} metrics documented, contract covered")


def used_metric_names(text):
    # Identifiers followed by `{`, `[`, `)` / `,` / whitespace, excluding label names (followed by =, =~, !=, !~)
    # and function names (followed by `(`), keywords and label lists of by/on/without/ignoring/group_left.
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # drop string literals
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text):
        token, rest = m.group(1), text[m.end():].lstrip()
        if rest[:1] in ("=", "!") or rest.startswith("=~"):
            continue  # label matcher
        if token in ("and", "or", "unless", "offset", "bool", "inf", "nan", "Inf", "NaN") or token.startswith("__"):
            continue
        if "_" in token or token in NOT_EXPORTED:
            names.add(token)
    return names


def check_metric_names():
    documented = documented_series() | NOT_EXPORTED
    problems, used = [], {}
    for rule in alerts():
        for text in [rule["expr"], *rule.get("annotations", {}).values()]:
            for q in ([rule["expr"]] if text is rule["expr"] else re.findall(r'query\s+"((?:[^"\\]|\\.)*)"', text)):
                for n in used_metric_names(q):
                    used.setdefault(n, set()).add(f"alert {rule['alert']}")
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for p, t in panel_targets(d):
            for n in used_metric_names(substitute(t["expr"])):
                used.setdefault(n, set()).add(f"{path.name} panel {p.get('title')!r}")
        for v in d.get("templating", {}).get("list", []):
            q = v.get("definition") or ""
            inner = re.match(r"label_values\((.*),\s*\w+\)$", q)
            if inner:
                for n in used_metric_names(substitute(inner.group(1))):
                    used.setdefault(n, set()).add(f"{path.name} variable {v['name']}")
        for a in d.get("annotations", {}).get("list", []):
            if a.get("expr"):
                for n in used_metric_names(substitute(a["expr"])):
                    used.setdefault(n, set()).add(f"{path.name} annotation {a.get('name')!r}")
    for name, where in sorted(used.items()):
        if name not in documented:
            problems.append(f"{name} (used by {', '.join(sorted(where))}) is not in docs/metrics.md")
    fail_if(problems)
    print(f"{len(used)} metric names used by alerts and dashboards, all documented: {', '.join(sorted(used))}")


# ------------------------------------------------------------------------------------------------------------- alerts
def check_alert_rules():
    problems = []
    names = [r["alert"] for r in alerts()]
    if len(set(names)) != len(names):
        problems.append("duplicate alert names")
    for r in alerts():
        a = r["alert"]
        if not re.fullmatch(r"MySQLInstance[A-Z][A-Za-z]+", a):
            problems.append(f"{a}: name must be CamelCase with the MySQLInstance prefix")
        if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{a}: severity must be critical, warning or info")
        if not re.fullmatch(r"\d+[smh]", str(r.get("for", ""))):
            problems.append(f"{a}: needs a for: duration")
        ann = r.get("annotations", {})
        if not str(ann.get("summary", "")).endswith("."):
            problems.append(f"{a}: summary missing or not a sentence ending in a full stop")
        if not ann.get("description"):
            problems.append(f"{a}: description missing")
        if ann.get("runbook_url") != RUNBOOK_BASE + a + ".md":
            problems.append(f"{a}: runbook_url must be {RUNBOOK_BASE}{a}.md")
        if re.search(r"\b(job|instance)\s*=", r["expr"]) and a != "MySQLInstanceOperatorDown":
            problems.append(f"{a}: only the operator-down rule may select on job/instance")
    fail_if(problems)
    print(f"{len(names)} alerts: {', '.join(names)}")


def check_runbooks():
    problems = []
    for r in alerts():
        path = RUNBOOKS / (r["alert"] + ".md")
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)} missing")
            continue
        text = path.read_text()
        heads = re.findall(r"^## (.+)$", text, re.M)
        if heads[:4] != ["Meaning", "Impact", "Diagnosis", "Mitigation"]:
            problems.append(f"{path.name}: sections must be Meaning, Impact, Diagnosis, Mitigation (got {heads})")
        if not text.startswith("# " + r["alert"] + "\n"):
            problems.append(f"{path.name}: title must be '# {r['alert']}'")
        if "kubectl" not in text:
            problems.append(f"{path.name}: no kubectl commands")
        sev = r["labels"]["severity"]
        if f"Severity: {sev}." not in text:
            problems.append(f"{path.name}: must state 'Severity: {sev}.'")
        for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if not link.startswith("http") and not (path.parent / link).exists():
                problems.append(f"{path.name}: broken link {link}")
    extra = {p.stem for p in RUNBOOKS.glob("*.md")} - {r["alert"] for r in alerts()}
    if extra:
        problems.append(f"runbooks without an alert: {sorted(extra)}")
    fail_if(problems)
    print(f"{len(alerts())} runbooks")


def check_alerts_doc():
    text = ALERTS_DOC.read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(MySQLInstance\w+)`\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    problems = []
    for r in alerts():
        want = (r["labels"]["severity"], str(r["for"]))
        if rows.get(r["alert"]) != want:
            problems.append(f"docs/alerts.md: {r['alert']} should be listed as severity {want[0]}, for {want[1]} "
                            f"(found {rows.get(r['alert'])})")
    for extra in rows.keys() - {r["alert"] for r in alerts()}:
        problems.append(f"docs/alerts.md lists {extra}, which is not a rule")
    fail_if(problems)
    print(f"docs/alerts.md matches {len(rows)} rules")


# -------------------------------------------------------------------------------------------------------------- tests
def check_test_coverage():
    groups = test_doc()["tests"]
    problems = []
    for r in alerts():
        a = r["alert"]
        mine = [g for g in groups if any(t["alertname"] == a for t in g.get("alert_rule_test", []))]
        names = " | ".join(g["name"] for g in mine)
        for keyword in ("boundary", "flapping", "missing series"):
            if not any(keyword in g["name"] and g["name"].startswith(a) for g in mine):
                problems.append(f"{a}: no test group named '{a} ... {keyword} ...' (have: {names})")
        fired = [e for g in mine for t in g["alert_rule_test"] if t["alertname"] == a for e in t.get("exp_alerts") or []]
        if not fired:
            problems.append(f"{a}: no test expects it to fire")
        for e in fired:
            if set(e.get("exp_annotations", {})) != {"summary", "description", "runbook_url"}:
                problems.append(f"{a}: expected alerts must check summary, description and runbook_url")
            if e.get("exp_labels", {}).get("severity") != r["labels"]["severity"]:
                problems.append(f"{a}: expected alerts must check the severity label")
        silent = [t for g in mine for t in g["alert_rule_test"] if t["alertname"] == a and not t.get("exp_alerts")]
        if not silent:
            problems.append(f"{a}: no test expects it to stay silent")
    fail_if(problems)
    print(f"{len(groups)} test groups cover {len(alerts())} alerts")


def split_tests(outdir):
    doc = test_doc()
    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    rule_files = [str((TESTS.parent / f).resolve()) for f in doc["rule_files"]]
    names = [g["name"] for g in doc["tests"]]
    if len(set(names)) != len(names):
        raise CheckFailed("test group names must be unique")
    for i, group in enumerate(doc["tests"], start=1):
        single = {k: v for k, v in doc.items() if k != "tests"}
        single["rule_files"] = rule_files
        single["tests"] = [group]
        path = out / f"group{i:02d}.yaml"
        path.write_text(yaml.safe_dump(single, sort_keys=False, width=1000))
        print(f"{path}\t{group['name']}")


def dashboard_rules(out):
    rules = []
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for i, (p, t) in enumerate(panel_targets(d), start=1):
            rules.append({"record": f"dashboard:{d['uid'].replace('-', '_')}:q{i:02d}", "expr": substitute(t["expr"]),
                          "labels": {"panel": p.get("title", ""), "ref": t.get("refId", "")}})
    pathlib.Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]},
                                                sort_keys=False, width=1000))
    print(f"{len(rules)} dashboard queries written to {out}")


COMMANDS = {
    "metrics-doc": check_metrics_doc,
    "metric-names": check_metric_names,
    "alert-rules": check_alert_rules,
    "runbooks": check_runbooks,
    "alerts-doc": check_alerts_doc,
    "test-coverage": check_test_coverage,
}


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        if len(argv) == 3 and argv[1] == "split-tests":
            split_tests(argv[2])
        elif len(argv) == 3 and argv[1] == "dashboard-rules":
            dashboard_rules(argv[2])
        elif len(argv) == 2 and argv[1] in COMMANDS:
            COMMANDS[argv[1]]()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except CheckFailed as e:
        print(e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
