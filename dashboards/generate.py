#!/usr/bin/env python3
"""Generate the Grafana dashboards in this directory (the JSON files are generated: edit this script instead).

  python3 dashboards/generate.py           rewrite dashboards/*.json
  python3 dashboards/generate.py --check   exit 1 if a committed JSON file differs from the generated one

Conventions (checked by tests/prometheus/dashboard_lint.py): a stable uid, one `datasource` variable that every
panel and target uses, `namespace`/`mysqlinstance` query variables used only as `=~"$var"`, a unit and a description
on every panel, `$__rate_interval` in every range selector, metric names exactly as in docs/metrics.md. Process
metrics are selected with `and on (job, instance) mysqlinstance_instances` so that only the operator's own process
is shown without hard-coding a job name.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
RUNBOOKS = "https://github.com/mysqlinstance/mysqlinstance-operator/blob/main/docs/alerts.md"
PHASES = [  # (phase, code in the phase timeline, colour)
    ("Pending", 1, "blue"),
    ("Provisioning", 2, "yellow"),
    ("Ready", 3, "green"),
    ("BackingUp", 4, "purple"),
    ("Degraded", 5, "red"),
]
SEL = 'namespace=~"$namespace", mysqlinstance=~"$mysqlinstance"'
OPERATOR = "and on (job, instance) mysqlinstance_instances"


# ----------------------------------------------------------------------------------------------------- building blocks
def target(expr, legend="__auto", ref="A", instant=False, table=False):
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps):
    """steps: (value or None, colour) pairs; the first value is the base (None)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


GREEN = thresholds((None, "green"))


def panel(kind, title, description, unit, targets, grid, *, defaults=None, options=None, overrides=None,
          custom=None, transformations=None):
    fd = {
        "unit": unit,
        "color": {"mode": "thresholds" if kind in ("stat", "table") else "palette-classic"},
        "thresholds": GREEN,
        "mappings": [],
    }
    if custom is not None:
        fd["custom"] = custom
    fd.update(defaults or {})
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": dict(zip(("x", "y", "w", "h"), grid)),
        "fieldConfig": {"defaults": fd, "overrides": overrides or []},
        "options": options or {},
        "targets": targets,
    }
    if transformations:
        p["transformations"] = transformations
    return p


def timeseries(title, description, unit, targets, grid, *, stack=False, defaults=None, overrides=None, legend_calcs=None,
               threshold_line=False):
    custom = {
        "drawStyle": "line",
        "lineWidth": 1,
        "fillOpacity": 30 if stack else 10,
        "gradientMode": "none",
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        "thresholdsStyle": {"mode": "dashed" if threshold_line else "off"},
    }
    options = {
        "legend": {"showLegend": True, "displayMode": "table" if legend_calcs else "list", "placement": "bottom",
                   "calcs": legend_calcs or []},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, description, unit, targets, grid, defaults=defaults, options=options,
                 overrides=overrides, custom=custom)


def stat(title, description, unit, targets, grid, *, defaults=None, overrides=None, text_mode="auto",
         color_mode="value"):
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": color_mode,
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": text_mode,
        "wideLayout": True,
        "showPercentChange": False,
    }
    return panel("stat", title, description, unit, targets, grid, defaults=defaults, options=options,
                 overrides=overrides)


def state_timeline(title, description, targets, grid, mappings, overrides=None):
    options = {
        "mergeValues": True,
        "showValue": "auto",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel("state-timeline", title, description, "none", targets, grid,
                 defaults={"mappings": mappings, "color": {"mode": "thresholds"}},
                 options=options, overrides=overrides, custom={"fillOpacity": 80, "lineWidth": 0})


def value_map(pairs):
    """pairs: (value, text, colour) -> one Grafana value mapping."""
    return {"type": "value", "options": {
        str(v): {"text": text, "color": colour, "index": i} for i, (v, text, colour) in enumerate(pairs)}}


def color_override(name, colour):
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}


PHASE_OVERRIDES = [color_override(p, c) for p, _, c in PHASES]
PHASE_MAPPING = value_map([(code, p, c) for p, code, c in PHASES])


def phase_code(sel):
    """One series per instance whose value encodes the phase (see PHASES) - for timelines and stats."""
    parts = [f'(mysqlinstance_info{{{sel}, phase="{p}"}} * {code})' for p, code, _ in PHASES]
    return "max by (namespace, mysqlinstance) (" + " or ".join(parts) + ")"


def condition_code(sel, by):
    """1 = True, 0 = False, -1 = Unknown, whichever status series currently has the value 1."""
    m = "mysqlinstance_status_condition"
    return (f'max by ({by}) (({m}{{{sel}, status="True"}} == 1)'
            f' or ({m}{{{sel}, status="False"}} == 1) - 1'
            f' or ({m}{{{sel}, status="Unknown"}} == 1) - 2)')


def variables(multi):
    q_ns = "label_values(mysqlinstance_info, namespace)"
    q_myi = 'label_values(mysqlinstance_info{namespace=~"$namespace"}, mysqlinstance)'

    def query_var(name, label, query, description):
        v = {
            "name": name,
            "label": label,
            "description": description,
            "type": "query",
            "datasource": DS,
            "definition": query,
            "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "hide": 0,
            "multi": multi,
            "includeAll": multi,
            "current": {},
            "options": [],
        }
        if multi:
            v["allValue"] = ".+"
        return v

    return {"list": [
        {
            "name": "datasource",
            "label": "Data Source",
            "description": "Prometheus that scrapes the mysqlinstance operator.",
            "type": "datasource",
            "query": "prometheus",
            "regex": "",
            "refresh": 1,
            "hide": 0,
            "current": {},
            "options": [],
        },
        query_var("namespace", "Namespace", q_ns, "Namespace of the MySQLInstances."),
        query_var("mysqlinstance", "MySQLInstance", q_myi, "Name of the MySQLInstance."),
    ]}


def dashboard(uid, title, description, panels, multi, annotations=()):
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "annotations": {"list": [{
            "builtIn": 1,
            "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True,
            "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }, *annotations]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {"title": "MySQLInstance dashboards", "type": "dashboards", "tags": ["mysqlinstance"], "asDropdown": False,
             "includeVars": True, "keepTime": True, "icon": "external link", "targetBlank": False, "tooltip": "",
             "url": ""},
            {"title": "Alerts and runbooks", "type": "link", "url": RUNBOOKS, "icon": "doc", "targetBlank": True,
             "tags": [], "asDropdown": False, "includeVars": False, "keepTime": False, "tooltip": ""},
        ],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["mysqlinstance", "mysql", "kubernetes-operator"],
        "templating": variables(multi),
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# ----------------------------------------------------------------------------------------------------------- overview
def overview():
    instance_link = {
        "title": "Open MySQLInstance ${__data.fields.namespace}/${__data.fields.mysqlinstance}",
        "url": "/d/mysqlinstance-instance/mysqlinstance-instance?${datasource:queryparam}"
               "&var-namespace=${__data.fields.namespace}&var-mysqlinstance=${__data.fields.mysqlinstance}"
               "&${__url_time_range}",
    }
    phase_text = value_map([(p, p, c) for p, _, c in PHASES])
    table_overrides = [
        {"matcher": {"id": "byName", "options": "mysqlinstance"}, "properties": [{"id": "links", "value": [instance_link]}]},
        {"matcher": {"id": "byName", "options": "phase"}, "properties": [
            {"id": "mappings", "value": [phase_text]},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}}]},
        {"matcher": {"id": "byName", "options": "Value #B"}, "properties": [
            {"id": "displayName", "value": "last successful backup (age)"},
            {"id": "unit", "value": "s"},
            {"id": "noValue", "value": "never"},
            {"id": "thresholds", "value": thresholds((None, "green"), (90000, "orange"), (93600, "red"))},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}}]},
        {"matcher": {"id": "byName", "options": "Value #C"}, "properties": [
            {"id": "displayName", "value": "consecutive backup failures"},
            {"id": "unit", "value": "short"},
            {"id": "thresholds", "value": thresholds((None, "green"), (1, "red"))},
            {"id": "custom.cellOptions", "value": {"type": "color-text"}}]},
    ]
    table = panel(
        "table", "MySQLInstances",
        "Every MySQLInstance matching the Namespace and MySQLInstance variables, with its phase, MySQL version, the "
        "age of its last successful backup (empty when none succeeded yet or backups are disabled) and its "
        "consecutive backup failures. Click a name to open the per-instance dashboard.",
        "short",
        [
            target(f"max by (namespace, mysqlinstance, phase, version) (mysqlinstance_info{{{SEL}}})", ref="A",
                   instant=True, table=True),
            target(f"time() - max by (namespace, mysqlinstance) (mysqlinstance_backup_last_success_timestamp_seconds{{{SEL}}} > 0)",
                   ref="B", instant=True, table=True),
            target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_consecutive_failures{{{SEL}}})",
                   ref="C", instant=True, table=True),
        ],
        (0, 4, 24, 8),
        defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False, "filterable": True}},
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""},
                 "sortBy": [{"displayName": "namespace", "desc": False}]},
        overrides=table_overrides,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True, "Value #A": True},
                "indexByName": {"namespace": 0, "mysqlinstance": 1, "phase": 2, "version": 3, "Value #B": 4,
                                "Value #C": 5},
                "renameByName": {}}},
        ],
    )

    rate = "$__rate_interval"
    panels = [
        stat("MySQLInstances", "Number of MySQLInstances the operator manages (all namespaces).", "short",
             [target("sum(mysqlinstance_instances)", legend="instances")], (0, 0, 4, 4)),
        stat("Instances per phase", "Number of MySQLInstances in each phase right now (all namespaces). Pending: "
             "being validated; Provisioning: children applied, waiting for MySQL; Ready: serving; BackingUp: "
             "serving while a backup runs; Degraded: was serving, now is not (or backups keep failing).", "short",
             [target("sum by (phase) (mysqlinstance_instances)", legend="{{phase}}")], (4, 0, 10, 4),
             overrides=PHASE_OVERRIDES, text_mode="value_and_name"),
        stat("Not Ready", "MySQLInstances (matching the variables) whose Ready condition is not True. Paused "
             "instances are included here, unlike in the MySQLInstanceNotReady alert.", "short",
             [target("count(max by (namespace, mysqlinstance) (mysqlinstance_status_condition{"
                     f'{SEL}, type="Ready", status!="True"}}) == 1) or vector(0)', legend="not ready")],
             (14, 0, 5, 4), defaults={"thresholds": thresholds((None, "green"), (1, "red"))}, color_mode="background"),
        stat("Backups failing", "MySQLInstances (matching the variables) whose last backup failed, i.e. with at "
             "least one consecutive backup failure.", "short",
             [target("count(max by (namespace, mysqlinstance) (mysqlinstance_backup_consecutive_failures{"
                     f"{SEL}}}) > 0) or vector(0)", legend="failing")],
             (19, 0, 5, 4), defaults={"thresholds": thresholds((None, "green"), (1, "orange"))},
             color_mode="background"),
        table,
        timeseries("Instances per phase over time", "Number of MySQLInstances in each phase (all namespaces), "
                   "stacked.", "short",
                   [target("sum by (phase) (mysqlinstance_instances)", legend="{{phase}}")], (0, 12, 12, 8),
                   stack=True, overrides=PHASE_OVERRIDES, legend_calcs=["lastNotNull", "max"]),
        timeseries("Phase transitions", "Phase changes per minute, by from and to phase (all instances). Frequent "
                   "Ready <-> Degraded transitions mean an unstable database.", "opm",
                   [target(f"60 * sum by (from, to) (rate(mysqlinstance_phase_transitions_total[{rate}]))",
                           legend="{{from}} -> {{to}}")], (12, 12, 12, 8), legend_calcs=["mean", "max"]),
        timeseries("Reconcile rate", "Reconciles per minute by result (success or error).", "opm",
                   [target(f"60 * sum by (result) (rate(mysqlinstance_reconcile_duration_seconds_count[{rate}]))",
                           legend="{{result}}")], (0, 20, 8, 8),
                   overrides=[color_override("success", "green"), color_override("error", "red")]),
        timeseries("Reconcile latency", "Reconcile duration percentiles (p50, p95, p99) over all results, from the "
                   "reconcile duration histogram.", "s",
                   [target(f"histogram_quantile({q}, sum by (le) (rate(mysqlinstance_reconcile_duration_seconds_bucket[{rate}])))",
                           legend=f"p{int(q * 100)}", ref=r)
                    for q, r in ((0.5, "A"), (0.95, "B"), (0.99, "C"))], (8, 20, 8, 8),
                   legend_calcs=["mean", "max"]),
        timeseries("Reconcile errors by reason", "Failed reconciles per minute by error category (the reasons are "
                   "listed in the MySQLInstanceReconcileErrors runbook). The same category is the reason of the "
                   "Warning Event on the instance; the operator log carries the details.",
                   "opm",
                   [target(f"60 * sum by (reason) (rate(mysqlinstance_reconcile_errors_total[{rate}]))",
                           legend="{{reason}}")], (16, 20, 8, 8), defaults={"noValue": "0"},
                   legend_calcs=["mean", "max"]),
        timeseries("Reconcile error ratio", "Share of reconciles that failed. The MySQLInstanceReconcileErrors "
                   "alert fires above 10% (over 10m, for 15m); the dashed line marks it.", "percentunit",
                   [target(f"sum(rate(mysqlinstance_reconcile_errors_total[{rate}])) / "
                           f"sum(rate(mysqlinstance_reconcile_duration_seconds_count[{rate}]))", legend="error ratio")],
                   (0, 28, 8, 8), defaults={"thresholds": thresholds((None, "green"), (0.1, "red")), "max": 1},
                   threshold_line=True),
        timeseries("Operator CPU", "CPU used by the operator process, in cores (1 = 100% of one core).",
                   "percentunit",
                   [target(f"rate(process_cpu_seconds_total[{rate}]) {OPERATOR}", legend="{{instance}}")],
                   (8, 28, 8, 8), legend_calcs=["mean", "max"]),
        timeseries("Operator memory", "Resident memory (RSS) of the operator process.", "bytes",
                   [target(f"process_resident_memory_bytes {OPERATOR}", legend="{{instance}}")],
                   (16, 28, 8, 8), legend_calcs=["lastNotNull", "max"]),
        timeseries("Operator threads and file descriptors", "Open file descriptors and OS threads of the operator "
                   "process. Steady growth suggests a leak (watches, connections).", "short",
                   [target(f"process_open_fds {OPERATOR}", legend="open fds {{instance}}", ref="A"),
                    target(f"process_threads {OPERATOR}", legend="threads {{instance}}", ref="B")],
                   (0, 36, 16, 6), legend_calcs=["lastNotNull", "max"]),
        stat("Operator uptime", "Time since the operator process started. A small value that keeps resetting "
             "means the operator is crash-looping.", "s",
             [target(f"time() - process_start_time_seconds {OPERATOR}", legend="{{instance}}")], (16, 36, 8, 6),
             defaults={"thresholds": thresholds((None, "red"), (600, "green"))}),
    ]
    return dashboard(
        "mysqlinstance-overview", "MySQLInstance / Overview",
        "Fleet view of the mysqlinstance operator: instances per phase, reconcile health and the operator process.",
        panels, multi=True)


# ----------------------------------------------------------------------------------------------------------- instance
def instance():
    cond_mapping = value_map([(1, "True", "green"), (0, "False", "red"), (-1, "Unknown", "text")])

    def cond_override(name, true_colour, false_colour):
        return {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "mappings", "value": [
            value_map([(1, "True", true_colour), (0, "False", false_colour), (-1, "Unknown", "text")])]}]}

    backup_age = ("time() - max by (namespace, mysqlinstance) "
                  f"(mysqlinstance_backup_last_success_timestamp_seconds{{{SEL}}} > 0)")
    age_thresholds = thresholds((None, "green"), (90000, "orange"), (93600, "red"))
    alerts_annotation = {
        "name": "MySQLInstance alerts",
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "expr": f'ALERTS{{alertname=~"MySQLInstance.+", alertstate="firing", {SEL}}}',
        "step": "60s",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{alertname}} is firing",
        "useValueForTime": False,
    }
    panels = [
        stat("Phase", "Current phase of the MySQLInstance (status.phase).", "none",
             [target(phase_code(SEL), legend="{{mysqlinstance}}")], (0, 0, 4, 4),
             defaults={"mappings": [PHASE_MAPPING]}, color_mode="background"),
        stat("Version", "MySQL version of the MySQLInstance (spec.version).", "none",
             [target(f"max by (version) (mysqlinstance_info{{{SEL}}})", legend="{{version}}")], (4, 0, 4, 4),
             text_mode="name"),
        stat("Ready", "Status of the Ready condition: True when every replica is ready and the endpoint serves.",
             "none", [target(condition_code(SEL + ', type="Ready"', "namespace, mysqlinstance"),
                             legend="{{mysqlinstance}}")], (8, 0, 4, 4),
             defaults={"mappings": [cond_mapping]}, color_mode="background"),
        stat("Last successful backup", "Time since the last successful backup completed. Orange after 25h, red "
             "after 26h (the MySQLInstanceBackupTooOld threshold). Empty when no backup has succeeded yet.", "s",
             [target(backup_age, legend="{{mysqlinstance}}")], (12, 0, 4, 4),
             defaults={"thresholds": age_thresholds, "noValue": "never"}, color_mode="background"),
        stat("Consecutive backup failures", "Backups that failed since the last successful one; 0 when the last "
             "backup succeeded.", "short",
             [target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_consecutive_failures{{{SEL}}})",
                     legend="{{mysqlinstance}}")], (16, 0, 4, 4),
             defaults={"thresholds": thresholds((None, "green"), (1, "red")), "noValue": "backups disabled"},
             color_mode="background"),
        stat("Last backup size", "Size of the last successful backup.", "bytes",
             [target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_last_size_bytes{{{SEL}}})",
                     legend="{{mysqlinstance}}")], (20, 0, 4, 4)),
        state_timeline("Phase timeline", "Phase of the MySQLInstance over time, from mysqlinstance_info. Gaps mean "
                       "no data (the operator was down or the instance did not exist).",
                       [target(phase_code(SEL), legend="{{mysqlinstance}}")], (0, 4, 24, 5),
                       [PHASE_MAPPING]),
        state_timeline("Conditions", "Status of each condition over time (status.conditions). Green is healthy: "
                       "Ready/BackupSucceeded True, Degraded False. Blue marks activity (Progressing, BackingUp), "
                       "orange a paused instance.",
                       [target(condition_code(SEL, "type"), legend="{{type}}")], (0, 9, 24, 8), [cond_mapping],
                       overrides=[cond_override("Degraded", "red", "green"),
                                  cond_override("Progressing", "blue", "green"),
                                  cond_override("BackingUp", "blue", "green"),
                                  cond_override("Paused", "orange", "green")]),
        timeseries("Backup freshness", "Age of the last successful backup (time() - last success). It grows "
                   "linearly and drops at each successful backup; the dashed line is the 26h "
                   "MySQLInstanceBackupTooOld threshold.", "s",
                   [target(backup_age, legend="{{mysqlinstance}}")], (0, 17, 12, 8),
                   defaults={"thresholds": thresholds((None, "green"), (93600, "red"))}, threshold_line=True),
        timeseries("Consecutive backup failures over time", "Backups that failed since the last successful one. "
                   "MySQLInstanceBackupFailed fires when it stays above 0 for 5m.", "short",
                   [target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_consecutive_failures{{{SEL}}})",
                           legend="{{mysqlinstance}}")], (12, 17, 12, 8),
                   defaults={"thresholds": thresholds((None, "green"), (1, "red")), "decimals": 0},
                   threshold_line=True),
        timeseries("Backup size", "Size of the last successful backup over time; a sudden drop can mean an "
                   "incomplete dump.", "bytes",
                   [target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_last_size_bytes{{{SEL}}})",
                           legend="{{mysqlinstance}}")], (0, 25, 12, 8), legend_calcs=["lastNotNull", "min", "max"]),
        timeseries("Backup duration", "Duration of the last successful backup over time.", "s",
                   [target(f"max by (namespace, mysqlinstance) (mysqlinstance_backup_last_duration_seconds{{{SEL}}})",
                           legend="{{mysqlinstance}}")], (12, 25, 12, 8), legend_calcs=["lastNotNull", "max"]),
    ]
    return dashboard(
        "mysqlinstance-instance", "MySQLInstance / Instance",
        "One MySQLInstance: phase and conditions over time, backup freshness, size, duration and failures.",
        panels, multi=False, annotations=[alerts_annotation])


DASHBOARDS = {"mysqlinstance-overview.json": overview, "mysqlinstance-instance.json": instance}


def render(build):
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale: " + ", ".join(stale) + " (run python3 dashboards/generate.py)")
        return 1
    if check:
        print("dashboards are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
