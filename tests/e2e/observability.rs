//! Observability proven against real components: the metrics the operator serves match the contract in
//! docs/metrics.md; a real Prometheus scraping the operator evaluates every dashboard panel query and every alert
//! expression, and MySQLInstanceDegraded reaches `firing`; a real OTLP receiver (an OpenTelemetry Collector built
//! by tests/otel/build.sh) receives one trace per reconcile with its steps as child spans, and the operator's log
//! lines carry the trace id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::{Value, json};

use crate::lifecycle::set_pod_unready;
use crate::support::{
    POLL, Sample, TestEnv, delete_and_wait, free_port, metric_value, parse_sample, run_backup_job, samples,
    try_metric_value, wait_for,
};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Backups enabled but never scheduled: backups run only when a test creates a Job from the CronJob.
fn suspended_backup_spec() -> Value {
    json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "suspend": true, "schedule": "0 3 * * *",
        "destination": {"pvc": {"size": "1Gi"}}}})
}

/// An instance whose root password Secret does not exist: every reconcile fails with RootPasswordUnavailable.
fn missing_root_secret_spec() -> Value {
    json!({"storage": {"size": "1Gi"}, "rootPasswordSecretRef": {"name": "does-not-exist", "key": "password"}})
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Metrics contract

/// One metric family of a text exposition.
#[derive(Debug, Default)]
struct Family {
    type_: String,
    /// Label names of each sample (the histogram's `le` left out), with the sample name.
    samples: Vec<(String, BTreeMap<String, String>)>,
}

/// Parses the Prometheus text format: `# TYPE` lines and samples, grouped by family.
fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let (Some(name), Some(type_)) = (words.next(), words.next()) else {
                panic!("malformed TYPE line: {line}");
            };
            families.entry(name.to_owned()).or_default().type_ = type_.to_owned();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Sample { name, labels, .. } = parse_sample(line);
        let family = families
            .keys()
            .filter(|f| {
                name == **f
                    || ["_bucket", "_sum", "_count", "_total", "_created"]
                        .iter()
                        .any(|suffix| name.strip_suffix(suffix) == Some(f.as_str()))
            })
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_else(|| panic!("sample without a # TYPE line: {line}"));
        families.entry(family).or_default().samples.push((name, labels));
    }
    families
}

/// One row of the table in docs/metrics.md.
#[derive(Debug)]
struct Documented {
    type_: String,
    labels: BTreeSet<String>,
}

/// The metric table of docs/metrics.md: `| name | type | labels | meaning | example |`, names and labels in
/// backticks, `-` for no labels.
fn documented_metrics() -> BTreeMap<String, Documented> {
    let doc = std::fs::read_to_string(format!("{ROOT}/docs/metrics.md")).expect("docs/metrics.md");
    let backticked = |cell: &str| -> Vec<String> { cell.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let table: BTreeMap<String, Documented> = doc
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = backticked(cells[1]).into_iter().next().expect("name in backticks");
            let labels = if cells[3] == "-" {
                BTreeSet::new()
            } else {
                backticked(cells[3]).into_iter().collect()
            };
            (
                name,
                Documented {
                    type_: cells[2].to_owned(),
                    labels,
                },
            )
        })
        .collect();
    assert!(
        table.len() >= 10,
        "docs/metrics.md table not found or too short: {table:?}"
    );
    table
}

/// Waits until the instance records a completed successful backup.
async fn wait_backup_completed(env: &TestEnv, instance: &str, timeout: Duration) {
    let api = env.api::<MySQLInstance>();
    wait_for(
        &format!("a completed backup recorded in {instance}'s status.lastBackup"),
        timeout,
        || async {
            let status = api.get(instance).await.ok()?.status?;
            status.last_backup?.completed_at.map(|_| ())
        },
    )
    .await;
}

#[tokio::test]
async fn served_metrics_match_docs_and_deleted_instances_leave_no_series() {
    let env = TestEnv::new("metrics").await;
    env.create_instance("db", suspended_backup_spec()).await;
    env.create_instance("broken", missing_root_secret_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    // A completed backup, so the backup gauges that need status.lastBackup are served.
    run_backup_job(&env, "db", "db-backup-manual-1", false).await;
    wait_backup_completed(&env, "db", Duration::from_secs(60)).await;

    // The metrics are rebuilt from the controller's store at each scrape: wait until it has caught up.
    let exposition = wait_for(
        "/metrics shows db's backup and broken's error",
        Duration::from_secs(30),
        || async {
            let text = env.try_metrics().await?;
            let has_backup = try_metric_value(
                &text,
                "mysqlinstance_backup_last_duration_seconds",
                &[("mysqlinstance", "db")],
            )
            .is_some();
            let has_error = try_metric_value(
                &text,
                "mysqlinstance_reconcile_errors_total",
                &[("reason", "RootPasswordUnavailable")],
            )
            .is_some_and(|errors| errors > 0.0);
            (has_backup && has_error).then_some(text)
        },
    )
    .await;
    let served = parse_exposition(&exposition);
    let documented = documented_metrics();
    let mut problems = Vec::new();
    for (name, doc) in &documented {
        let Some(family) = served.get(name) else {
            problems.push(format!("{name}: documented but not served"));
            continue;
        };
        if family.type_ != doc.type_ {
            problems.push(format!(
                "{name}: served as {}, documented as {}",
                family.type_, doc.type_
            ));
        }
        if family.samples.is_empty() {
            problems.push(format!("{name}: TYPE line but no sample"));
        }
        for (sample, labels) in &family.samples {
            let names: BTreeSet<String> = labels
                .keys()
                .filter(|k| !(sample.ends_with("_bucket") && *k == "le"))
                .cloned()
                .collect();
            if names != doc.labels {
                problems.push(format!("{sample}: labels {names:?}, documented {:?}", doc.labels));
            }
        }
    }
    for name in served.keys() {
        if !documented.contains_key(name) {
            problems.push(format!("{name}: served but not in docs/metrics.md"));
        }
    }
    for (name, family) in &served {
        for (sample, labels) in &family.samples {
            for reserved in ["instance", "job"] {
                if labels.contains_key(reserved) {
                    problems.push(format!("{name}: sample {sample} has a label named {reserved:?}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "metrics contract broken:\n{}\n\nserved:\n{exposition}",
        problems.join("\n")
    );
    println!(
        "metrics contract: {} documented families checked against {} served",
        documented.len(),
        served.len()
    );

    // Deleting an instance removes its per-instance series; the other instance's stay.
    delete_and_wait(&env.api::<MySQLInstance>(), "db", Duration::from_secs(60)).await;
    let after = wait_for("db's series gone from /metrics", Duration::from_secs(30), || async {
        let text = env.try_metrics().await?;
        let has_db = samples(&text).any(|s| s.labels.get("mysqlinstance").is_some_and(|name| name == "db"));
        (!has_db).then_some(text)
    })
    .await;
    // A real scrape, not an empty one: the other instance's series are there.
    assert_eq!(
        metric_value(&after, "mysqlinstance_info", &[("mysqlinstance", "broken")]),
        1.0,
        "the remaining instance keeps its series:\n{after}"
    );
    assert_eq!(
        metric_value(&after, "mysqlinstance_instances", &[]),
        1.0,
        "one instance left:\n{after}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Real processes started by the tests

/// A child process killed (SIGKILL) when dropped; its output goes to a log file that is shown on failure.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, command: &mut Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("daemon log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} could not start: {e}"));
        Self { name, child, log }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Panics with the log tail if the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}); log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "==== {} log tail ({}) ====\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

/// An HTTP/1.0 GET on 127.0.0.1 (no chunked encoding, the server closes): (status code, body).
async fn http_get(port: u16, path_and_query: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no header end")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status code")?;
    Ok((code, body.to_owned()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Fails the test, naming the script that installs the missing tool.
fn require_executable(path: &Path, what: &str, installer: &str) {
    let executable = std::fs::metadata(path).is_ok_and(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    });
    assert!(
        executable,
        "{what} not found at {}: run {installer} (scripts/test.sh does)",
        path.display()
    );
}

/// `name` on PATH, or panics naming the installer.
fn on_path(name: &str, installer: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: run {installer} (scripts/test.sh does)"))
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Dashboards and alerts against a real Prometheus

/// An alerting rule of deploy/prometheus/alerts.yaml.
struct Alert {
    name: String,
    expr: String,
}

/// Reads deploy/prometheus/alerts.yaml and writes the same rules with every `for:` set to `for_`, so alerts can
/// reach `firing` within a test. Only the durations change: expressions, labels and annotations are the shipped
/// ones, re-serialised.
fn shortened_rules(out: &Path, for_: &str) -> Vec<Alert> {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/alerts.yaml")).expect("alerts.yaml");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("alerts.yaml parses");
    let mut alerts = Vec::new();
    let groups = doc.get_mut("groups").and_then(|g| g.as_sequence_mut()).expect("groups");
    for group in groups {
        let rules = group.get_mut("rules").and_then(|r| r.as_sequence_mut()).expect("rules");
        for rule in rules {
            let rule = rule.as_mapping_mut().expect("rule mapping");
            if let Some(duration) = rule.get_mut("for") {
                *duration = serde_yaml::Value::String(for_.to_owned());
            }
            if let (Some(name), Some(expr)) = (rule.get("alert"), rule.get("expr")) {
                alerts.push(Alert {
                    name: name.as_str().expect("alert name").to_owned(),
                    expr: expr.as_str().expect("alert expr").to_owned(),
                });
            }
        }
    }
    std::fs::write(out, serde_yaml::to_string(&doc).expect("rules serialise")).expect("rules written");
    assert!(alerts.len() >= 6, "alerts.yaml has {} alerts", alerts.len());
    alerts
}

/// A Prometheus server from Debian's package, on a free 127.0.0.1 port, scraping the operator every second as the
/// job `mysqlinstance-operator` and evaluating `rules` every second.
struct Prometheus {
    port: u16,
    daemon: Daemon,
    /// Queries sent, for the summary.
    evaluations: std::cell::Cell<usize>,
}

impl Prometheus {
    async fn start(dir: &Path, operator_port: u16, rules: &Path) -> Self {
        let binary = on_path("prometheus", "tests/prometheus/install.sh");
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: mysqlinstance-operator\n    static_configs:\n\
                 \x20     - targets: ['127.0.0.1:{operator_port}']\n",
                rules = rules.display()
            ),
        )
        .expect("prometheus.yml written");
        let mut daemon = Daemon::start(
            "prometheus",
            Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn"),
            dir.join("prometheus.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http_get(port, "/-/ready").await, Ok((200, _))) {
            daemon.assert_running();
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready after 30 s:\n{}",
                daemon.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
        Self {
            port,
            daemon,
            evaluations: std::cell::Cell::new(0),
        }
    }

    /// Evaluates `expr` now: the number of series (1 for a scalar or string), or Prometheus' error.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        self.evaluations.set(self.evaluations.get() + 1);
        let (code, body) = http_get(self.port, &format!("/api/v1/query?query={}", url_encode(expr)))
            .await
            .map_err(|e| format!("Prometheus unreachable ({e}); its log:\n{}", self.daemon.log_tail()))?;
        let response: Value = serde_json::from_str(&body).map_err(|e| format!("HTTP {code}, {e}: {body}"))?;
        if response["status"] != "success" {
            return Err(format!("HTTP {code}: {} {}", response["errorType"], response["error"]));
        }
        let data = &response["data"];
        // A response without a result is an error, never an empty result.
        match (data["resultType"].as_str(), &data["result"]) {
            (Some("vector" | "matrix"), Value::Array(series)) => Ok(series.clone()),
            (Some("scalar" | "string"), result) if !result.is_null() => Ok(vec![result.clone()]),
            _ => Err(format!("HTTP {code}: no result in {body}")),
        }
    }

    /// Active alerts (pending or firing) from /api/v1/alerts.
    async fn alerts(&self) -> Vec<Value> {
        let (code, body) = http_get(self.port, "/api/v1/alerts").await.expect("GET /api/v1/alerts");
        let response: Value = serde_json::from_str(&body).expect("alerts JSON");
        // An answer without the list must not read as "no alert".
        response["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("/api/v1/alerts (HTTP {code}) has no data.alerts: {body}"))
    }

    /// Number of alerting rules loaded.
    async fn alerting_rules(&self) -> usize {
        let (code, body) = http_get(self.port, "/api/v1/rules?type=alert")
            .await
            .expect("GET /api/v1/rules");
        let response: Value = serde_json::from_str(&body).expect("rules JSON");
        let groups = response["data"]["groups"]
            .as_array()
            .unwrap_or_else(|| panic!("/api/v1/rules (HTTP {code}) has no data.groups: {body}"));
        groups
            .iter()
            .map(|g| {
                g["rules"]
                    .as_array()
                    .unwrap_or_else(|| panic!("rule group without rules: {g}"))
                    .len()
            })
            .sum()
    }
}

/// One query to evaluate: where it comes from and its PromQL.
struct Query {
    source: String,
    expr: String,
}

/// Every panel query of dashboards/*.json, as tests/prometheus/dashboard_queries.py prints them (Grafana
/// variables substituted).
fn dashboard_queries() -> Vec<Query> {
    let python = on_path("python3", "apt-get install python3");
    let output = Command::new(python)
        .arg(format!("{ROOT}/tests/prometheus/dashboard_queries.py"))
        .arg("--tsv")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("dashboard_queries.py runs");
    assert!(
        output.status.success(),
        "dashboard_queries.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let queries: Vec<Query> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.splitn(4, '\t').collect();
            assert_eq!(cells.len(), 4, "dashboard_queries.py --tsv line: {line}");
            Query {
                source: format!("dashboard {} / {} / {}", cells[0], cells[1], cells[2]),
                expr: cells[3].to_owned(),
            }
        })
        .collect();
    assert!(queries.len() >= 20, "only {} dashboard queries", queries.len());
    queries
}

/// Queries that legitimately return no series in this setup, matched on their source, with the reason. They
/// must be empty (not erroring): a result makes the test fail so the entry is removed.
const NO_SERIES_IN_THIS_SETUP: &[(&str, &str)] = &[
    (
        "alert MySQLInstanceBackupTooOld",
        "needs a last success older than 26 h, or backup series that already existed 26 h ago (its grace period); \
         a test's Prometheus has minutes of history. Its branches are evaluated separately below",
    ),
    (
        "alert MySQLInstanceOperatorDown",
        "returns series only while no operator is scraped: checked below by killing the operator",
    ),
];

fn no_series_reason(query: &Query) -> Option<&'static str> {
    NO_SERIES_IN_THIS_SETUP
        .iter()
        .find(|(pattern, _)| query.source.contains(pattern))
        .map(|(_, reason)| *reason)
}

/// Evaluates every query; fails on any error, on an empty result (after `timeout`, for data still being
/// scraped), and on a result for a query listed in NO_SERIES_IN_THIS_SETUP.
async fn evaluate_all(prometheus: &Prometheus, queries: &[Query], timeout: Duration) {
    let mut failures = Vec::new();
    let deadline = Instant::now() + timeout;
    // Expected-empty queries last: by then every other query has shown its data is scraped.
    let (expected_empty, expected_data): (Vec<&Query>, Vec<&Query>) =
        queries.iter().partition(|q| no_series_reason(q).is_some());
    for query in expected_data {
        loop {
            match prometheus.query(&query.expr).await {
                Err(error) => failures.push(format!("ERROR  {}: {error}\n       {}", query.source, query.expr)),
                Ok(series) if !series.is_empty() => println!("ok     {} series  {}", series.len(), query.source),
                Ok(_) if Instant::now() >= deadline => {
                    failures.push(format!("EMPTY  {}: no series\n       {}", query.source, query.expr))
                }
                Ok(_) => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            }
            break;
        }
    }
    for query in expected_empty {
        let reason = no_series_reason(query).unwrap_or_default();
        match prometheus.query(&query.expr).await {
            Err(error) => failures.push(format!("ERROR  {}: {error}\n       {}", query.source, query.expr)),
            Ok(series) if series.is_empty() => println!("empty  {} (expected: {reason})", query.source),
            Ok(series) => failures.push(format!(
                "DATA   {} returned {} series although listed in NO_SERIES_IN_THIS_SETUP ({reason}): remove it",
                query.source,
                series.len()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "queries against the real Prometheus failed:\n{}",
        failures.join("\n")
    );
}

/// The active alert `name` for `instance`, if any, with its state.
async fn alert_state(prometheus: &Prometheus, name: &str, instance: &str) -> Option<String> {
    prometheus
        .alerts()
        .await
        .into_iter()
        .find(|a| a["labels"]["alertname"] == name && a["labels"]["mysqlinstance"] == instance)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

/// Makes the instance reconcile (every metadata change does), without changing its spec.
async fn touch(env: &TestEnv, instance: &str, value: usize) {
    let patch = json!({"metadata": {"annotations": {"e2e.mysqlinstance.io/touch": value.to_string()}}});
    env.api::<MySQLInstance>()
        .patch(instance, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("touched");
}

#[tokio::test]
async fn prometheus_evaluates_every_dashboard_query_and_alert_and_degraded_fires() {
    let started = Instant::now();
    let mut env = TestEnv::new("prometheus").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("alerts-short-for.yaml");
    let alerts = shortened_rules(&rules, "5s");
    let prometheus = Prometheus::start(dir.path(), env.metrics_port, &rules).await;
    assert_eq!(
        prometheus.alerting_rules().await,
        alerts.len(),
        "Prometheus loaded every alerting rule"
    );

    // The data every panel and alert needs, made the way users' clusters make it:
    // - `scheduled` backs up every minute: last success, duration, BackingUp phases;
    // - `failing` has one failed backup (consecutive failures) and is later made Degraded (not Ready);
    // - `broken` names a missing root password Secret: reconcile errors (RootPasswordUnavailable).
    env.create_instance(
        "scheduled",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "* * * * *",
            "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.create_instance("failing", suspended_backup_spec()).await;
    env.create_instance("broken", missing_root_secret_spec()).await;
    env.wait_phase("failing", Phase::Ready, READY_TIMEOUT).await;
    env.wait_phase("scheduled", Phase::Ready, READY_TIMEOUT).await;
    run_backup_job(&env, "failing", "failing-backup-manual-1", true).await;
    let api = env.api::<MySQLInstance>();
    wait_for(
        "failing: one failed backup counted",
        Duration::from_secs(60),
        || async { (api.get("failing").await.ok()?.status?.consecutive_backup_failures == 1).then_some(()) },
    )
    .await;
    // The CronJob fires at the next full minute and kwok runs the Job's pod for 8 s.
    wait_backup_completed(&env, "scheduled", Duration::from_secs(100)).await;

    // Degraded: before, no MySQLInstanceDegraded alert for `failing`; after, it goes pending then firing.
    wait_for(
        "Prometheus has scraped the operator",
        Duration::from_secs(30),
        || async {
            let up = prometheus.query("up{job=\"mysqlinstance-operator\"} == 1").await.ok()?;
            (!up.is_empty()).then_some(())
        },
    )
    .await;
    assert_eq!(
        alert_state(&prometheus, "MySQLInstanceDegraded", "failing").await,
        None,
        "not degraded yet"
    );
    set_pod_unready(&env, "failing-0", true).await;
    env.wait_phase("failing", Phase::Degraded, Duration::from_secs(30))
        .await;

    // Reconcile errors well above MySQLInstanceReconcileErrors' 10% threshold, so its expression still returns a
    // series when evaluated below although the other instances keep reconciling successfully: each change of
    // `broken` is one more failed reconcile. The ratio is the alert's expression without its threshold.
    let error_ratio = "sum(rate(mysqlinstance_reconcile_errors_total[10m])) \
        / sum(rate(mysqlinstance_reconcile_duration_seconds_count[10m]))";
    let mut touches = 0;
    wait_for("reconcile error ratio above 30%", Duration::from_secs(90), || {
        touches += 1;
        let touches = touches;
        let (env, prometheus) = (&env, &prometheus);
        async move {
            // No result yet (no error scraped) is not a ratio of 0: it is "not there yet", and another touch.
            let ratio = prometheus
                .query(error_ratio)
                .await
                .ok()
                .and_then(|result| result.first()?["value"][1].as_str()?.parse::<f64>().ok());
            if ratio.is_some_and(|r| r >= 0.3) {
                return Some(());
            }
            touch(env, "broken", touches).await;
            None
        }
    })
    .await;

    // Every panel query and every alert expression.
    let mut queries = dashboard_queries();
    let panels = queries.len();
    queries.extend(alerts.iter().map(|a| Query {
        source: format!("alert {}", a.name),
        expr: a.expr.clone(),
    }));
    evaluate_all(&prometheus, &queries, Duration::from_secs(60)).await;

    // MySQLInstanceBackupTooOld cannot return series here; its first branch alone (no success for 26 h, ignoring
    // the grace period) must select exactly the instance whose backups never succeeded.
    let never_succeeded = "time() - max by (namespace, mysqlinstance) \
        (mysqlinstance_backup_last_success_timestamp_seconds) > 26 * 3600";
    let selected = prometheus
        .query(never_succeeded)
        .await
        .expect("BackupTooOld's first branch evaluates");
    let names: Vec<&str> = selected
        .iter()
        .filter_map(|s| s["metric"]["mysqlinstance"].as_str())
        .collect();
    assert_eq!(names, ["failing"], "BackupTooOld's first branch: {selected:?}");
    let grace = "group by (namespace, mysqlinstance) \
        (present_over_time(mysqlinstance_backup_last_success_timestamp_seconds[1h] offset 26h))";
    assert!(
        prometheus
            .query(grace)
            .await
            .expect("grace branch evaluates")
            .is_empty(),
        "no history 26 h ago"
    );

    let firing = wait_for(
        "MySQLInstanceDegraded firing for `failing`",
        Duration::from_secs(60),
        || async {
            let state = alert_state(&prometheus, "MySQLInstanceDegraded", "failing").await?;
            (state == "firing").then_some(state)
        },
    )
    .await;
    let active: Vec<String> = prometheus
        .alerts()
        .await
        .iter()
        .map(|a| {
            let label = |k: &str| a["labels"][k].as_str().unwrap_or("-").to_owned();
            format!(
                "{}{{mysqlinstance={}}} {}",
                label("alertname"),
                label("mysqlinstance"),
                a["state"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!("MySQLInstanceDegraded for failing: {firing}; active alerts: {active:?}");

    // MySQLInstanceOperatorDown: no series while the operator is scraped (checked above); series once it is down.
    let down = alerts
        .iter()
        .find(|a| a.name == "MySQLInstanceOperatorDown")
        .expect("OperatorDown alert");
    env.kill_operator();
    wait_for(
        "MySQLInstanceOperatorDown's expression returns a series",
        Duration::from_secs(30),
        || async { (!prometheus.query(&down.expr).await.ok()?.is_empty()).then_some(()) },
    )
    .await;
    env.start_operator();
    wait_for(
        "MySQLInstanceOperatorDown's expression empty again",
        Duration::from_secs(30),
        || async { prometheus.query(&down.expr).await.ok()?.is_empty().then_some(()) },
    )
    .await;

    println!(
        "real Prometheus: {} queries checked ({panels} dashboard panel queries + {} alert expressions), {} \
         listed as returning no series in this setup, {} HTTP evaluations in all; {:.0} s",
        queries.len(),
        alerts.len(),
        NO_SERIES_IN_THIS_SETUP.len(),
        prometheus.evaluations.get(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Traces through a real OTLP receiver

/// The OTLP receiver built by tests/otel/build.sh (MYI_OTEL_RECEIVER overrides the path).
fn otel_receiver() -> PathBuf {
    let path = match std::env::var_os("MYI_OTEL_RECEIVER") {
        Some(path) => PathBuf::from(path),
        None => {
            let output = Command::new("bash")
                .arg(format!("{ROOT}/tests/otel/build.sh"))
                .arg("--path")
                .output()
                .expect("tests/otel/build.sh --path runs");
            assert!(
                output.status.success(),
                "tests/otel/build.sh --path: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
    };
    require_executable(
        &path,
        "the OTLP receiver (OpenTelemetry Collector)",
        "tests/otel/build.sh",
    );
    path
}

/// One exported span.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    service: String,
}

/// Every span in the file exporter's output: one OTLP/JSON `TracesData` per line.
fn exported_spans(path: &Path) -> Vec<Span> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut spans = Vec::new();
    // A line still being written is incomplete JSON: skip it, the next poll reads it whole.
    for batch in text.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()) {
        for resource in batch["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let field = |k: &str| span[k].as_str().unwrap_or_default().to_owned();
                    spans.push(Span {
                        trace_id: field("traceId"),
                        span_id: field("spanId"),
                        parent: field("parentSpanId"),
                        name: field("name"),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    spans
}

const STEPS: [&str; 4] = ["observe", "decide", "apply", "status"];

/// A `reconcile` root span whose children include every step, with its trace id and its children's names.
fn complete_reconcile_trace(spans: &[Span]) -> Option<(String, Vec<String>)> {
    spans
        .iter()
        .filter(|s| s.name == "reconcile" && s.parent.is_empty())
        .find_map(|root| {
            let children: Vec<String> = spans
                .iter()
                .filter(|s| s.trace_id == root.trace_id && s.parent == root.span_id)
                .map(|s| s.name.clone())
                .collect();
            STEPS
                .iter()
                .all(|step| children.iter().any(|c| c == step))
                .then(|| (root.trace_id.clone(), children))
        })
}

#[tokio::test]
async fn a_reconcile_is_one_trace_with_a_span_per_step_and_logs_carry_its_id() {
    let receiver = otel_receiver();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let spans_file = dir.path().join("spans.jsonl");
    let config = dir.path().join("collector.yaml");
    // Only the OTLP/HTTP protocol (what the operator speaks) on 127.0.0.1, and the collector's own telemetry off
    // so it opens no other port.
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
             exporters:\n  file:\n    path: {spans}\n    flush_interval: 100ms\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n\
             \x20 pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
            spans = spans_file.display()
        ),
    )
    .expect("collector config written");
    let mut collector = Daemon::start(
        "otel-receiver",
        Command::new(&receiver).arg(format!("--config={}", config.display())),
        dir.path().join("collector.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        collector.assert_running();
        assert!(
            Instant::now() < deadline,
            "OTLP receiver not listening after 30 s:\n{}",
            collector.log_tail()
        );
        tokio::time::sleep(POLL).await;
    }

    let env = TestEnv::with_env(
        "traces",
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://127.0.0.1:{port}")),
            // Export batches every 200 ms instead of 5 s, so the test does not wait on the batch timer.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
        ],
    )
    .await;
    env.create_instance("db", json!({"storage": {"size": "1Gi"}})).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;

    let (trace_id, children) = wait_for(
        "a reconcile trace with observe, decide, apply and status",
        Duration::from_secs(30),
        || async { complete_reconcile_trace(&exported_spans(&spans_file)) },
    )
    .await;
    let spans = exported_spans(&spans_file);
    let trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    assert!(
        trace.iter().all(|s| s.service == "mysqlinstance-operator"),
        "service.name of the trace's spans: {trace:?}"
    );
    assert_eq!(
        trace.iter().filter(|s| s.parent.is_empty()).count(),
        1,
        "one root span in the trace: {trace:?}"
    );
    let trace_ids: BTreeSet<&str> = spans.iter().map(|s| s.trace_id.as_str()).collect();
    println!(
        "traces: {} spans in {} traces received; trace {trace_id}: reconcile -> {children:?}",
        spans.len(),
        trace_ids.len()
    );

    // The JSON log lines of a reconcile carry its trace id (field `trace_id` of the `reconcile` span).
    let log = std::fs::read_to_string(env.log_path()).expect("operator log");
    let logged: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["span"]["trace_id"]
                .as_str()
                .is_some_and(|id| trace_ids.contains(id))
        })
        .collect();
    assert!(
        !logged.is_empty(),
        "no operator log line carries the trace id of an exported trace ({} traces); log {}:\n{}",
        trace_ids.len(),
        env.log_path().display(),
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    println!(
        "log lines with an exported trace id: {} (e.g. {})",
        logged.len(),
        logged[0]
    );
}
