#!/usr/bin/env python3
"""Lint the Grafana dashboards and extract their queries.

  dashboard_lint.py DASHBOARD.json...   lint each file; exit 1 on any problem

Rules (a subset of grafana/dashboard-linter, plus project conventions):
- valid JSON, a stable `uid`, a title, schemaVersion >= 36;
- exactly one variable of type `datasource` named `datasource` with query `prometheus`;
- query variables `namespace` and `mysqlinstance` using that datasource;
- every panel: a title, a non-empty description, fieldConfig.defaults.unit, datasource `${datasource}`, at least
  one target; every target: datasource `${datasource}` and a non-empty expr; unique panel ids and refIds;
- every range selector in every expr is `[$__rate_interval]` (so every rate() uses it);
- template variables are only used as regex matchers (`=~"$namespace"`), so `All` (`.+`) works;
- no hard-coded `job` / `instance` label values.

Library use (dashboard_queries.py, repo_checks.py): iter_panels(), panel_targets(), substitute().
"""
import json
import re
import sys

RANGE = re.compile(r"\[([^\]]*)\]")
VAR_USE = re.compile(r"(=~|!~|=|!=)?\s*\"?\$\{?(namespace|mysqlinstance)\}?")

DEFAULT_SUBSTITUTIONS = {
    "namespace": ".+",
    "mysqlinstance": ".+",
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
}


def iter_panels(panels):
    """Every panel, including panels nested in (collapsed) rows."""
    for p in panels or []:
        yield p
        yield from iter_panels(p.get("panels"))


def panel_targets(dashboard):
    """(panel, target) for every target with an expr, in dashboard order."""
    for p in iter_panels(dashboard.get("panels")):
        for t in p.get("targets") or []:
            if t.get("expr"):
                yield p, t


def substitute(expr, values=None):
    """Replace Grafana variables ($x, ${x}, ${x:fmt}) by concrete values and collapse whitespace."""
    values = {**DEFAULT_SUBSTITUTIONS, **(values or {})}

    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"no substitution for ${name} in {expr!r}")
        return values[name]

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)
    return " ".join(out.split())


def lint(dashboard):
    problems = []
    err = problems.append
    if not isinstance(dashboard.get("uid"), str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"]):
        err("uid missing or not a stable slug")
    if not dashboard.get("title"):
        err("title missing")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        err("schemaVersion missing or < 36")

    variables = {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list", [])}
    ds_vars = [v for v in variables.values() if v.get("type") == "datasource"]
    if len(ds_vars) != 1 or ds_vars[0].get("name") != "datasource" or ds_vars[0].get("query") != "prometheus":
        err("need exactly one datasource variable named 'datasource' with query 'prometheus'")
    for name in ("namespace", "mysqlinstance"):
        v = variables.get(name)
        if not v or v.get("type") != "query":
            err(f"query variable {name!r} missing")
        elif (v.get("datasource") or {}).get("uid") != "${datasource}":
            err(f"variable {name!r} does not use ${{datasource}}")

    ids, seen_panels = set(), 0
    for p in iter_panels(dashboard.get("panels")):
        seen_panels += 1
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if p.get("type") == "row":
            continue
        if p.get("id") in ids:
            err(f"{where}: duplicate id")
        ids.add(p.get("id"))
        if not p.get("title"):
            err(f"{where}: no title")
        if not (p.get("description") or "").strip():
            err(f"{where}: no description")
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            err(f"{where}: no fieldConfig.defaults.unit")
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            err(f"{where}: panel datasource is not ${{datasource}}")
        if "gridPos" not in p:
            err(f"{where}: no gridPos")
        targets = p.get("targets") or []
        if not targets:
            err(f"{where}: no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            err(f"{where}: duplicate refId")
        for t in targets:
            expr = t.get("expr") or ""
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                err(f"{where} {t.get('refId')}: target datasource is not ${{datasource}}")
            if not expr.strip():
                err(f"{where} {t.get('refId')}: empty expr")
            lint_expr(expr, f"{where} {t.get('refId')}", err)
    if not seen_panels:
        err("no panels")
    return problems


def lint_expr(expr, where, err):
    for rng in RANGE.findall(expr):
        if rng != "$__rate_interval":
            err(f"{where}: range [{rng}] must be [$__rate_interval]")
    if re.search(r"\b(i?rate|increase)\s*\(", expr) and "[$__rate_interval]" not in expr:
        err(f"{where}: rate()/increase() without [$__rate_interval]")
    for m in VAR_USE.finditer(expr):
        if m.group(1) != "=~":
            err(f"{where}: ${m.group(2)} must be used as {m.group(2)}=~\"${m.group(2)}\"")
    if re.search(r"\b(job|instance)\s*(=|!=|=~|!~)\s*\"", expr):
        err(f"{where}: hard-coded job/instance matcher")
    try:
        substitute(expr)
    except KeyError as e:
        err(f"{where}: {e}")


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for path in paths:
        try:
            with open(path) as f:
                dashboard = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: invalid JSON: {e}")
            failed = True
            continue
        problems = lint(dashboard)
        exprs = [t["expr"] for _, t in panel_targets(dashboard)]
        for problem in problems:
            print(f"{path}: {problem}")
        panels = sum(1 for p in iter_panels(dashboard.get("panels")) if p.get("type") != "row")
        print(f"{path}: uid={dashboard.get('uid')} panels={panels} queries={len(exprs)} "
              f"problems={len(problems)}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
