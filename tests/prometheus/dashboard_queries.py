#!/usr/bin/env python3
"""Print every panel query of the Grafana dashboards, ready to send to Prometheus, one per line.

  dashboard_queries.py [--tsv] [--set NAME=VALUE]... [DASHBOARD.json...]

Default files: dashboards/*.json. Grafana variables are substituted so that each line is a plain PromQL expression:
$namespace and $mysqlinstance -> .+ (they are only ever used as `=~` matchers), $__rate_interval -> 5m,
$__interval -> 1m, $__range -> 1h. Override with --set, e.g. --set namespace=db --set __rate_interval=2m.
With --tsv each line is `dashboard-uid<TAB>panel title<TAB>refId<TAB>expr` instead.

An end-to-end test evaluates every line against a real Prometheus and fails on an error or an empty result.
"""
import argparse
import json
import pathlib
import signal
import sys

sys.dont_write_bytecode = True  # keep the tree free of __pycache__
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from dashboard_lint import panel_targets, substitute  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def queries(paths, values=None):
    """[(uid, panel title, refId, expr)] for every panel target of the given dashboards."""
    out = []
    for path in paths:
        dashboard = json.loads(pathlib.Path(path).read_text())
        for panel, target in panel_targets(dashboard):
            out.append((dashboard.get("uid"), panel.get("title"), target.get("refId"),
                        substitute(target["expr"], values)))
    return out


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is fine
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tsv", action="store_true", help="print uid, panel title, refId and expr")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="variable value")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    values = dict(kv.split("=", 1) for kv in args.set)
    paths = args.paths or sorted(str(p) for p in (ROOT / "dashboards").glob("*.json"))
    for uid, title, ref, expr in queries(paths, values):
        print(f"{uid}\t{title}\t{ref}\t{expr}" if args.tsv else expr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
