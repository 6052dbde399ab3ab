#!/usr/bin/env python3
"""`make bench`: the operator at scale on the local kwok cluster, side by side with the null-operator floor.

Each run starts a fresh cluster whose kube-apiserver writes an audit log of the operator's (and the load
tool's) requests, so every request and write is counted by the apiserver, not by the operator. Runs:
  floor      the same children created by one raw client (benches/scale.rs), no operator: what any operator
             would wait for;
  operator   N MySQLInstances created at once under the release build of this checkout; then idle, one spec
             edit, and an operator restart with N instances present;
  baseline   (--baseline REV) the same for a build of REV.
Writes docs/performance.md with a table and PNG plots (docs/performance/), and the raw numbers as JSON.
"""

import argparse
import collections
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MYI_CACHE", Path.home() / ".cache" / "mysqlinstance-operator"))
CLUSTER = ROOT / "tests" / "cluster" / "cluster.sh"
OPERATOR_USER = "system:serviceaccount:mysqlinstance-system:mysqlinstance-operator"
LOADER_USER = "myi-admin"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
MATPLOTLIB = "matplotlib==3.10.7"
# docs/performance.md below this line is not generated.
KEPT = "<!-- written by hand below: kept when make bench rewrites the page -->"
# Fake nodes take 110 pods each; one spare.
PODS_PER_NODE = 100

AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  users: ["{OPERATOR_USER}", "{LOADER_USER}"]
- level: None
"""


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(*args, env=None, capture=True, cwd=ROOT):
    result = subprocess.run(args, env=env, cwd=cwd, check=True, text=True,
                            stdout=subprocess.PIPE if capture else None)
    return result.stdout if capture else None


# --------------------------------------------------------------------------------------------------------------
# Builds


def cargo_build(source, target_dir, *targets):
    """Release binaries of the checkout at `source`: the operator and `targets` (such as the load tool)."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    log(f"building the release binaries of {source}")
    lines = run("cargo", "build", "--release", "--bin", "mysqlinstance-operator", *targets,
                "--message-format=json", env=env, cwd=source)
    binaries = {}
    for line in lines.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            binaries[message["target"]["name"]] = message["executable"]
    return binaries


def baseline_build(rev, work):
    """A build of `rev` (its own worktree, the cached target dir of baselines)."""
    tree = work / f"baseline-{rev}"
    run("git", "worktree", "add", "--detach", str(tree), rev)
    try:
        operator = cargo_build(tree, CACHE / "bench-baseline-target")["mysqlinstance-operator"]
        kept = work / "baseline-operator"
        shutil.copy(operator, kept)
        return str(kept), run("git", "rev-parse", "--short", rev).strip()
    finally:
        run("git", "worktree", "remove", "--force", str(tree))


def plotting_python():
    venv = CACHE / "bench-venv"
    python = venv / "bin" / "python"
    if not (venv / f".{MATPLOTLIB}").exists():
        log(f"installing {MATPLOTLIB} into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        run(sys.executable, "-m", "venv", str(venv))
        run(str(venv / "bin" / "pip"), "install", "-q", MATPLOTLIB)
        (venv / f".{MATPLOTLIB}").touch()
    return str(python)


# --------------------------------------------------------------------------------------------------------------
# The cluster and its audit log


class Cluster:
    def __init__(self, work, name, instances):
        self.dir = work / f"cluster-{name}"
        self.audit = work / f"audit-{name}.log"
        policy = work / "audit-policy.yaml"
        policy.write_text(AUDIT_POLICY)
        nodes = math.ceil(instances / PODS_PER_NODE) + 1
        env = dict(os.environ, MYI_FAKE_NODES=str(nodes), MYI_APISERVER_ARGS=" ".join([
            f"--audit-policy-file={policy}", f"--audit-log-path={self.audit}", "--audit-log-format=json",
            "--audit-log-maxsize=0", "--audit-log-maxbackup=0"]))
        log(f"starting a cluster with {nodes} fake nodes in {self.dir}")
        run("bash", str(CLUSTER), "up", str(self.dir), env=env, capture=False)
        # `cluster.sh env` prints `export KUBECONFIG=DIR/kubeconfig` and `export PATH=BIN:"$PATH"`.
        exports = dict(line.removeprefix("export ").split("=", 1)
                       for line in run("bash", str(CLUSTER), "env", str(self.dir)).splitlines())
        self.env = dict(os.environ, KUBECONFIG=exports["KUBECONFIG"],
                        PATH=exports["PATH"].removesuffix(':"$PATH"') + ":" + os.environ["PATH"])

    def kubectl(self, *args, stdin=None):
        return subprocess.run(["kubectl", *args], env=self.env, input=stdin, text=True, check=True,
                              stdout=subprocess.PIPE).stdout

    def down(self):
        run("bash", str(CLUSTER), "down", str(self.dir), capture=False)

    def requests(self, user, since, until=math.inf):
        """The audited requests of `user` completed in [since, until) (epoch seconds)."""
        found = []
        with open(self.audit) as audit:
            for line in audit:
                entry = json.loads(line)
                if entry.get("user", {}).get("username") != user:
                    continue
                at = datetime.datetime.fromisoformat(entry["stageTimestamp"].replace("Z", "+00:00")).timestamp()
                if since <= at < until:
                    resource = entry.get("objectRef", {}).get("resource", "")
                    if entry.get("objectRef", {}).get("subresource"):
                        resource += "/" + entry["objectRef"]["subresource"]
                    found.append((at, entry["verb"], resource, entry.get("responseStatus", {}).get("code")))
        return found


def counts(requests):
    writes = [r for r in requests if r[1] in WRITE_VERBS]
    return {
        "requests": len(requests),
        "non_watch_requests": sum(1 for r in requests if r[1] != "watch"),
        "writes": len(writes),
        "writes_by_kind": dict(collections.Counter(f"{verb} {resource}" for _, verb, resource, _ in writes)),
        # Refused by the apiserver's priority and fairness (or its max-inflight limit).
        "throttled": sum(1 for r in requests if r[3] == 429),
    }


def rate_per_second(requests, start):
    per_second = collections.Counter(int(at - start) for at, *_ in requests)
    return [per_second.get(s, 0) for s in range(max(per_second, default=-1) + 1)]


# --------------------------------------------------------------------------------------------------------------
# The operator process


class Sampler(threading.Thread):
    """RSS and CPU seconds of one process, every half second."""

    def __init__(self, pid, start):
        super().__init__(daemon=True)
        self.pid, self.start_time, self.samples, self.stopped = pid, start, [], threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    def read(self):
        with open(f"/proc/{self.pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return rss / 1024, (int(fields[11]) + int(fields[12])) / self.tick

    def run(self):
        while not self.stopped.is_set():
            try:
                rss, cpu = self.read()
            except (FileNotFoundError, ProcessLookupError, StopIteration):
                return
            self.samples.append((time.time() - self.start_time, rss, cpu))
            self.stopped.wait(0.5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Operator:
    def __init__(self, cluster, binary, work, name):
        self.cluster, self.binary, self.work, self.name = cluster, binary, work, name
        manifest = (ROOT / "deploy" / "operator.yaml").read_text().split("\n---\n")
        rbac = work / "rbac.yaml"
        rbac.write_text("\n---\n".join(d for d in manifest if "kind: Deployment" not in d))
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.kubectl("apply", "--server-side", "-f", str(rbac))
        cluster.kubectl("wait", "--for=condition=Established", "crd/mysqlinstances.mysqlinstance.io")
        token = cluster.kubectl("-n", "mysqlinstance-system", "create", "token", "mysqlinstance-operator",
                                "--duration=4h").strip()
        server = cluster.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
        ca = cluster.kubectl("config", "view", "--raw", "--minify", "-o",
                             "jsonpath={.clusters[0].cluster.certificate-authority}")
        self.kubeconfig = work / f"operator-{name}.kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority": ca}}],
            "users": [{"name": "operator", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "operator"}}]}))
        self.process, self.sampler = None, None

    def start(self, t0):
        self.port = free_port()
        env = dict(self.cluster.env, KUBECONFIG=str(self.kubeconfig), RUST_LOG="warn",
                   METRICS_ADDRESS=f"127.0.0.1:{self.port}", LEADER_ELECTION="false")
        self.log_file = open(self.work / f"operator-{self.name}.log", "a")
        self.process = subprocess.Popen([self.binary, "run"], env=env, stdout=self.log_file,
                                        stderr=subprocess.STDOUT)
        self.sampler = Sampler(self.process.pid, t0)
        self.sampler.start()
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
                return
            except OSError:
                if time.time() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the operator did not become ready: see {self.log_file.name}")
                time.sleep(0.2)

    def stop(self):
        self.sampler.stopped.set()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.sampler.join()
        self.log_file.close()

    def metrics(self):
        return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()


def histogram_quantiles(text, name, quantiles):
    """Quantiles of a Prometheus histogram (summed over its label sets), linear within a bucket."""
    buckets = collections.defaultdict(float)
    for match in re.finditer(rf'^{name}_bucket{{.*?le="([^"]+)".*?}} (\S+)$', text, re.M):
        buckets[float(match.group(1))] += float(match.group(2))
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        raise RuntimeError(f"no observations of {name}")
    total = buckets[bounds[-1]]
    values = {}
    for q in quantiles:
        rank, lower, below = q * total, 0.0, 0.0
        for bound in bounds:
            if buckets[bound] >= rank:
                upper = bound if bound != math.inf else lower
                share = (rank - below) / (buckets[bound] - below) if buckets[bound] > below else 1
                values[q] = lower + (upper - lower) * share
                break
            lower, below = bound, buckets[bound]
    return values, total


# --------------------------------------------------------------------------------------------------------------
# The runs


def scale(cluster, loader, *args):
    return json.loads(subprocess.run([loader, *args], env=cluster.env, check=True, text=True,
                                     stdout=subprocess.PIPE).stdout)


def floor_run(work, loader, instances):
    cluster = Cluster(work, "floor", instances)
    try:
        start = time.time()
        report = scale(cluster, loader, "floor", "--namespace", "bench", "--count", str(instances))
        time.sleep(2)  # the audit log's batch
        report["loader"] = counts(cluster.requests(LOADER_USER, start))
        return report
    finally:
        cluster.down()


def operator_run(work, binary, loader, instances, idle, name):
    cluster = Cluster(work, name, instances)
    operator = Operator(cluster, binary, work, name)
    try:
        t0 = time.time()
        operator.start(t0)
        time.sleep(10)
        rss_idle = operator.sampler.samples[-1][1]
        cpu_before = operator.sampler.samples[-1][2]
        log(f"{name}: creating {instances} instances")
        load_start = time.time()
        report = scale(cluster, loader, "instances", "--namespace", "bench", "--count", str(instances))
        load_end = time.time()
        cpu_loaded = operator.sampler.samples[-1][2] - cpu_before
        rss_peak = max(rss for at, rss, _ in operator.sampler.samples if at >= load_start - t0)
        time.sleep(5)  # writes after the last Ready (the last status writes, Events)
        metrics = operator.metrics()
        quantiles, reconciles = histogram_quantiles(metrics, "mysqlinstance_reconcile_duration_seconds",
                                                    [0.5, 0.99])
        load = counts(cluster.requests(OPERATOR_USER, load_start, time.time()))

        log(f"{name}: idle for {idle} s")
        idle_start = time.time()
        time.sleep(idle)
        idle_end = time.time()
        quiet = counts(cluster.requests(OPERATOR_USER, idle_start, idle_end))
        rss_loaded = operator.sampler.samples[-1][1]
        idle_cpu = (operator.sampler.samples[-1][2] - [s for s in operator.sampler.samples
                                                      if s[0] >= idle_start - t0][0][2]) / idle

        log(f"{name}: one spec edit")
        edit = scale(cluster, loader, "edit", "--namespace", "bench", "--name", "bench-0")["edit_s"]

        log(f"{name}: restart with {instances} instances present")
        first_life = operator.sampler.samples
        operator.stop()
        restart_start = time.time()
        operator.start(t0)
        time.sleep(30)
        time.sleep(2)
        restart_requests = cluster.requests(OPERATOR_USER, restart_start, time.time())
        restart = counts(restart_requests)
        restart["peak_per_second"] = max(rate_per_second(restart_requests, restart_start), default=0)
        # One line through both lives of the operator: the restarted process counts its CPU from zero.
        samples = first_life + [(at, rss, cpu + first_life[-1][2]) for at, rss, cpu in operator.sampler.samples]
        operator.stop()
        all_requests = cluster.requests(OPERATOR_USER, load_start, math.inf)
        return {
            **report,
            "rss_idle_mib": rss_idle, "rss_peak_mib": rss_peak, "rss_loaded_mib": rss_loaded,
            "kib_per_instance": (rss_loaded - rss_idle) * 1024 / instances,
            "cpu_loaded_s": cpu_loaded, "cpu_idle_millicores": idle_cpu * 1000,
            "reconcile_p50_ms": quantiles[0.5] * 1000, "reconcile_p99_ms": quantiles[0.99] * 1000,
            "reconciles": reconciles,
            "load": load, "writes_per_create": load["writes"] / instances,
            "requests_per_reconcile": load["non_watch_requests"] / reconciles,
            "idle_s": idle, "idle": quiet, "edit_s": edit, "restart": restart,
            "samples": [(at - (load_start - t0), rss, cpu) for at, rss, cpu in samples],
            "rate": rate_per_second(all_requests, load_start),
            "restart_offset_s": restart_start - load_start,
        }
    finally:
        if operator.process and operator.process.poll() is None:
            operator.process.kill()
        cluster.down()


# --------------------------------------------------------------------------------------------------------------
# The report


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal:"))
    return f"{os.cpu_count()} cores ({cpu}), {memory / 1024 / 1024:.0f} GiB RAM, Linux {platform.release()}"


def plot(python, results, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "bench.json"
    script = r'''
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
results = json.load(open(sys.argv[1])); out = sys.argv[2]
runs = [(name, r) for name, r in results["runs"].items()]
fig, ax = plt.subplots(figsize=(7, 4))
for name, r in runs:
    times = r["ready_s"]
    ax.plot(times, [i + 1 for i in range(len(times))], label=name)
ax.set_xlabel("seconds since the first create"); ax.set_ylabel("Ready"); ax.grid(alpha=.3); ax.legend()
ax.set_title(f'{results["instances"]} created at once: Ready over time')
fig.tight_layout(); fig.savefig(f"{out}/ready.png", dpi=110)
fig, (rss, cpu) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
for name, r in runs:
    if "samples" not in r: continue
    at = [s[0] for s in r["samples"]]
    rss.plot(at, [s[1] for s in r["samples"]], label=name)
    cores = [0] + [(b[2] - a[2]) / max(b[0] - a[0], 1e-9) for a, b in zip(r["samples"], r["samples"][1:])]
    cpu.plot(at, cores, label=name, linewidth=.8)
rss.set_ylabel("operator RSS, MiB"); cpu.set_ylabel("operator CPU, cores"); cpu.set_xlabel("seconds since the first create")
rss.grid(alpha=.3); cpu.grid(alpha=.3); rss.legend()
fig.tight_layout(); fig.savefig(f"{out}/resources.png", dpi=110)
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, r in runs:
    if "rate" not in r: continue
    ax.plot(range(len(r["rate"])), r["rate"], label=name, linewidth=.8)
    ax.axvline(r["restart_offset_s"], color="grey", linestyle=":", linewidth=1)
ax.set_xlabel("seconds since the first create (dotted: operator restart)"); ax.set_ylabel("operator requests/s")
ax.grid(alpha=.3); ax.legend(); fig.tight_layout(); fig.savefig(f"{out}/requests.png", dpi=110)
'''
    data.write_text(json.dumps(results, indent=1))
    run(python, "-c", script, str(data), str(out_dir))


def markdown(results):
    floor = results["runs"]["floor"]
    names = [n for n in results["runs"] if n != "floor"]
    runs = [results["runs"][n] for n in names]
    n = results["instances"]

    def row(label, cells):
        return f"| {label} | " + " | ".join(cells) + " |"

    head = ["floor"] + names
    lines = [
        "# Performance",
        "",
        "Generated by `make bench` (scripts/bench.py): rerunning it rewrites this page, its plots and",
        "[performance/bench.json](performance/bench.json). Each column is a fresh local cluster (kube-apiserver, etcd,",
        "controller-manager, scheduler and kwok fake nodes, as in `make test`) on one machine, run one after the other",
        "in one invocation, so the columns compare. Requests and writes are counted by the kube-apiserver's audit log",
        "(the operator's ServiceAccount), not by the operator. The **floor** is the same child objects (two Secrets,",
        "a ConfigMap, two Services, a StatefulSet per instance) created by one raw client with no operator: what",
        "any operator would wait for.",
        "",
        f"- Machine: {results['machine']}",
        f"- Date: {results['date']}, commit {results['commit']}; {n} instances (examples/basic.yaml) created at once,",
        f"  idle window {runs[0]['idle_s']} s",
        "",
        row("", head),
        "|---|" + "---|" * len(head),
        row("time to all Ready, s", [f"{floor['ready_s'][-1]:.1f}"] + [f"{r['ready_s'][-1]:.1f}" for r in runs]),
        row("ratio to the floor", ["1.00"] + [f"{r['ready_s'][-1] / floor['ready_s'][-1]:.2f}x" for r in runs]),
        row("median instance Ready, s", [f"{floor['ready_s'][len(floor['ready_s']) // 2]:.1f}"]
            + [f"{r['ready_s'][len(r['ready_s']) // 2]:.1f}" for r in runs]),
        row("writes per create", [f"{floor['loader']['writes'] / n:.2f} (loader)"]
            + [f"{r['writes_per_create']:.2f}" for r in runs]),
        row("API requests per reconcile (not watches)", ["-"] + [f"{r['requests_per_reconcile']:.3f}" for r in runs]),
        row("reconciles during the load", ["-"] + [f"{r['reconciles']:.0f}" for r in runs]),
        row("reconcile p50 / p99, ms", ["-"] + [f"{r['reconcile_p50_ms']:.1f} / {r['reconcile_p99_ms']:.1f}"
                                                for r in runs]),
        row(f"writes / requests (not watches) in {runs[0]['idle_s']} s idle", ["-"]
            + [f"{r['idle']['writes']} / {r['idle']['non_watch_requests']}" for r in runs]),
        row("operator RSS idle -> peak -> loaded, MiB", ["-"]
            + [f"{r['rss_idle_mib']:.1f} -> {r['rss_peak_mib']:.1f} -> {r['rss_loaded_mib']:.1f}" for r in runs]),
        row("operator memory per instance, KiB", ["-"] + [f"{r['kib_per_instance']:.1f}" for r in runs]),
        row("operator CPU during the load, s", ["-"] + [f"{r['cpu_loaded_s']:.1f}" for r in runs]),
        row("operator CPU idle, millicores", ["-"] + [f"{r['cpu_idle_millicores']:.1f}" for r in runs]),
        row(f"one spec edit to the pod template ({n} present), s", ["-"] + [f"{r['edit_s']:.2f}" for r in runs]),
        row("restart: requests / writes in 30 s, peak/s, throttled (429)", ["-"]
            + [f"{r['restart']['requests']} / {r['restart']['writes']}, {r['restart']['peak_per_second']}, "
               f"{r['restart'].get('throttled', '-')}" for r in runs]),
        "",
        "Writes per create, by kind (operator, during the load):",
        "",
    ]
    for name, r in zip(names, runs):
        kinds = ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(r["load"]["writes_by_kind"].items()))
        lines.append(f"- {name}: {kinds}")
    lines += [
        "",
        "![Ready over time](performance/ready.png)",
        "",
        "![Operator memory and CPU](performance/resources.png)",
        "",
        "![Operator requests per second](performance/requests.png)",
        "",
        "How to read it: `make bench` takes `--instances N` (default 1000), `--idle SECONDS` (default 600) and",
        "`--baseline REV` (adds a column for a build of REV, e.g. `HEAD~1`, so a regression shows). Reconcile latency",
        "comes from the operator's `mysqlinstance_reconcile_duration_seconds` histogram (interpolated within",
        "buckets). Memory per instance is (RSS after the idle window - RSS before the first create) / N.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=600, help="seconds of the idle window")
    parser.add_argument("--baseline", help="also measure a build of this git revision")
    parser.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="myi-bench."))
    log(f"work dir {work}")
    python = plotting_python()
    subprocess.run(["bash", str(ROOT / "tests" / "cluster" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    binaries = cargo_build(ROOT, ROOT / "target", "--bench", "scale")
    operator, loader = binaries["mysqlinstance-operator"], binaries["scale"]
    commit = run("git", "rev-parse", "--short", "HEAD").strip()
    if run("git", "status", "--porcelain", "--untracked-files=no").strip():
        commit += " (with uncommitted changes)"
    builds = [(f"operator {commit.split()[0]}", operator)]
    if args.baseline:
        binary, rev = baseline_build(args.baseline, work)
        builds.append((f"baseline {rev}", binary))

    results = {"instances": args.instances, "machine": machine(), "commit": commit,
               "date": datetime.date.today().isoformat(), "runs": {}}
    log("floor: the children by one raw client")
    results["runs"]["floor"] = floor_run(work, loader, args.instances)
    for index, (name, binary) in enumerate(builds):
        results["runs"][name] = operator_run(work, binary, loader, args.instances, args.idle, f"run{index}")
    out = Path(args.out)
    plot(python, results, out.parent / "performance")
    # What follows the marker is written by hand (what the numbers mean) and kept across runs.
    kept = out.read_text().partition(KEPT)[2] if out.exists() else ""
    out.write_text(markdown(results) + "\n" + KEPT + (kept or "\n"))
    log(f"wrote {out}")
    print(markdown(results))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
