//! Shared harness of the end-to-end tests: the local control plane's client, a fresh restricted namespace per
//! test, the operator binary as a real process, polling waits, and a state dump when a test fails.
//!
//! With `MYI_IN_CLUSTER=1` (tests/cluster/in-cluster.sh, real-node suite only) no operator process is started: the
//! tests use the operator that the Helm chart installed in the cluster (cluster-wide, namespace
//! `MYI_OPERATOR_NAMESPACE`, default mysqlinstance-system), whose chart also installed the CRD.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, Resource, ResourceExt};
use mysqlinstance_operator::api::{MySQLInstance, MySQLInstanceSpec, Phase};
use serde_json::json;

pub const POLL: Duration = Duration::from_millis(250);

/// The namespace of the in-cluster operator (`MYI_IN_CLUSTER=1`).
const OPERATOR_NAMESPACE: &str = "mysqlinstance-system";

/// Whether the tests use the operator installed in the cluster (`MYI_IN_CLUSTER=1`) instead of a local process.
pub fn in_cluster() -> bool {
    std::env::var("MYI_IN_CLUSTER").is_ok_and(|v| v == "1")
}

fn operator_namespace() -> String {
    std::env::var("MYI_OPERATOR_NAMESPACE").unwrap_or_else(|_| OPERATOR_NAMESPACE.to_owned())
}

/// A client of the local control plane named by `KUBECONFIG`, with the CRD installed.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "the end-to-end tests need the local control plane: run `make test` (it starts one), or \
         `eval $(tests/cluster/cluster.sh env)` after `tests/cluster/cluster.sh up`"
    );
    let client = Client::try_default().await.expect("kubeconfig loads");
    install_crd(&client).await;
    client
}

/// Applies the CRD of this build and waits until it is established; in-cluster, only waits for the chart's.
async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if !in_cluster() {
        let crd = MySQLInstance::crd();
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("e2e-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("CRD applies");
    }
    wait_for("CRD established", Duration::from_secs(30), || async {
        let crd = crds.get(MySQLInstance::crd_name()).await.ok()?;
        let established = crd
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        established.then_some(())
    })
    .await;
}

/// A kubeconfig for the operator that authenticates as the ServiceAccount of deploy/operator.yaml, so the
/// tests prove its least-privilege RBAC is enough.
fn operator_kubeconfig(dir: &std::path::Path) -> PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/operator.yaml");
    let rbac_only = std::fs::read_to_string(manifest).expect("deploy/operator.yaml");
    let documents: Vec<&str> = rbac_only
        .split("\n---\n")
        .filter(|d| !d.contains("kind: Deployment"))
        .collect();
    let rbac = dir.join("rbac.yaml");
    std::fs::write(&rbac, documents.join("\n---\n")).expect("rbac written");
    kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        rbac.to_str().expect("utf-8 path"),
    ]);
    let token = kubectl_in(
        "mysqlinstance-system",
        &["create", "token", "mysqlinstance-operator", "--duration=2h"],
    );
    let server = kubectl_in(
        "default",
        &[
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    let ca = kubectl_in(
        "default",
        &[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority}",
        ],
    );
    let path = dir.join("operator.kubeconfig");
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", certificate-authority: \"{ca}\"}}}}]\n\
         users: [{{name: operator, user: {{token: \"{}\"}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: operator}}}}]\ncurrent-context: c\n",
        token.trim()
    );
    std::fs::write(&path, config).expect("kubeconfig written");
    path
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One test's world: its namespace and its own operator watching only that namespace. On a panic it dumps
/// the namespace's state and the operator's log; otherwise it deletes the namespace.
pub struct TestEnv {
    pub client: Client,
    pub namespace: String,
    pub metrics_port: u16,
    operator: Option<Child>,
    log_path: PathBuf,
    kubeconfig: PathBuf,
    /// Extra environment of the operator process (e.g. OTEL_EXPORTER_OTLP_ENDPOINT), kept across restarts.
    extra_env: Vec<(String, String)>,
}

impl TestEnv {
    /// A fresh namespace labelled for Pod Security "restricted", and a running operator.
    pub async fn new(test: &str) -> Self {
        Self::with_env(test, Vec::new()).await
    }

    /// Like [`TestEnv::new`], with extra environment variables for the operator process.
    pub async fn with_env(test: &str, extra_env: Vec<(String, String)>) -> Self {
        let client = client().await;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let suffix = format!("{:08x}", nanos ^ std::process::id().rotate_left(16));
        let namespace = format!("e2e-{test}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": namespace, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}
        }))
        .expect("namespace");
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace created");
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-logs");
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let kubeconfig_dir = log_dir.join(&namespace);
        std::fs::create_dir_all(&kubeconfig_dir).expect("kubeconfig dir");
        // In-cluster, the chart's ServiceAccount and RBAC are the operator's; nothing here is applied.
        let kubeconfig = if in_cluster() {
            PathBuf::new()
        } else {
            operator_kubeconfig(&kubeconfig_dir)
        };
        let mut env = Self {
            client,
            log_path: log_dir.join(format!("{namespace}.log")),
            namespace,
            metrics_port: free_port(),
            operator: None,
            kubeconfig,
            extra_env,
        };
        if !in_cluster() {
            env.start_operator();
        }
        env
    }

    /// Starts the operator binary, watching only this test's namespace, logging to a file.
    pub fn start_operator(&mut self) {
        assert!(
            !in_cluster(),
            "MYI_IN_CLUSTER=1: the operator runs in the cluster, not here"
        );
        assert!(self.operator.is_none(), "operator already running");
        self.operator = Some(self.spawn_operator(self.metrics_port, &self.log_path, &[]));
    }

    /// Starts one more operator process for this namespace (a second replica), with its own metrics port,
    /// log file and extra environment; it is killed when dropped.
    pub fn start_replica(&self, name: &str, extra_env: &[(String, String)]) -> Replica {
        let metrics_port = free_port();
        let log_path = self.log_path.with_extension(format!("{name}.log"));
        let child = self.spawn_operator(metrics_port, &log_path, extra_env);
        Replica { child, metrics_port }
    }

    fn spawn_operator(&self, metrics_port: u16, log_path: &std::path::Path, extra_env: &[(String, String)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .expect("log file");
        Command::new(env!("CARGO_BIN_EXE_mysqlinstance-operator"))
            .args(["run", "--namespace", &self.namespace, "--concurrency", "2"])
            .arg(format!("--metrics-address=127.0.0.1:{metrics_port}"))
            .env("RUST_LOG", "info,mysqlinstance_operator=debug,kube=warn")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("OPERATOR_IMAGE", "example.invalid/mysqlinstance-operator:e2e")
            .envs(self.extra_env.iter().chain(extra_env).map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("operator starts")
    }

    /// The file the operator's stdout and stderr (its JSON log lines) go to.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log_path
    }

    /// Kills the operator at once (SIGKILL), as a crash would.
    pub fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates an instance from a JSON spec.
    pub async fn create_instance(&self, name: &str, spec: serde_json::Value) -> MySQLInstance {
        let spec: MySQLInstanceSpec = serde_json::from_value(spec).expect("spec parses");
        self.api::<MySQLInstance>()
            .create(&PostParams::default(), &MySQLInstance::new(name, spec))
            .await
            .expect("instance created")
    }

    /// Waits until `name` is in `phase` and returns it.
    pub async fn wait_phase(&self, name: &str, phase: Phase, timeout: Duration) -> MySQLInstance {
        let api = self.api::<MySQLInstance>();
        wait_for(&format!("{name} in phase {phase}"), timeout, || async {
            let instance = api.get(name).await.ok()?;
            (instance.status.as_ref()?.phase? == phase).then_some(instance)
        })
        .await
    }

    /// One scrape of the operator's /metrics; panics when the operator does not answer, so an empty scrape is
    /// never mistaken for a metric that is absent.
    pub async fn metrics(&self) -> String {
        self.try_metrics().await.unwrap_or_else(|| {
            panic!(
                "GET http://127.0.0.1:{}/metrics failed: the operator is not serving its metrics",
                self.metrics_port
            )
        })
    }

    /// One scrape of the operator's /metrics, `None` while it does not answer (for polls across a restart).
    pub async fn try_metrics(&self) -> Option<String> {
        assert!(
            !in_cluster(),
            "MYI_IN_CLUSTER=1: no local operator serves metrics; leave this test out of the in-cluster set"
        );
        http_get(self.metrics_port, "/metrics").await
    }

    /// Waits until the value of `name{labels}` satisfies `holds` (described by `expected`, e.g. "== 1"). The
    /// per-instance metrics are rebuilt from the operator's watch cache at each scrape, which may trail what a
    /// test just read from the API by a moment. On timeout, panics with the last value seen, or says the series
    /// was absent.
    pub async fn wait_metric(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        expected: &str,
        holds: impl Fn(f64) -> bool,
    ) -> f64 {
        let timeout = Duration::from_secs(15);
        let deadline = Instant::now() + timeout;
        loop {
            let scrape = self.metrics().await;
            let value = try_metric_value(&scrape, name, labels);
            if let Some(value) = value.filter(|v| holds(*v)) {
                return value;
            }
            if Instant::now() >= deadline {
                let seen = value.map_or_else(|| "the series is absent".to_owned(), |v| format!("it is {v}"));
                panic!(
                    "after {timeout:?}, {} is not {expected}: {seen}\n{}",
                    series_name(name, labels),
                    samples_of(&scrape, name)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs kubectl against the test cluster in this namespace; returns stdout, panics on failure.
    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl_in(&self.namespace, args)
    }
}

pub fn kubectl_in(namespace: &str, args: &[&str]) -> String {
    kubectl(&[&["-n", namespace], args].concat())
}

/// Runs kubectl against the test cluster; returns stdout, panics on failure.
pub fn kubectl(args: &[&str]) -> String {
    let output = Command::new("kubectl").args(args).output().expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A second operator process of a test (see [`TestEnv::start_replica`]).
pub struct Replica {
    child: Child,
    pub metrics_port: u16,
}

impl Replica {
    /// One scrape of this replica's /metrics, `None` while it does not answer.
    pub async fn try_metrics(&self) -> Option<String> {
        http_get(self.metrics_port, "/metrics").await
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_operator();
        if std::thread::panicking() {
            let dump = Command::new("kubectl")
                .args([
                    "-n",
                    &self.namespace,
                    "get",
                    "mysqlinstances,statefulsets,services,configmaps,secrets,cronjobs,jobs,pods,pvc,events",
                    "-o",
                    "wide",
                ])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
                .unwrap_or_else(|e| format!("kubectl failed: {e}"));
            let status = Command::new("kubectl")
                .args(["-n", &self.namespace, "get", "mysqlinstances", "-o", "yaml"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let (source, log) = if in_cluster() {
                let namespace = operator_namespace();
                let log = Command::new("kubectl")
                    .args(["-n", &namespace, "logs", "--prefix", "--tail=200", "--all-containers"])
                    .args(["-l", "app.kubernetes.io/name=mysqlinstance-operator"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
                    .unwrap_or_else(|e| format!("kubectl failed: {e}"));
                // Every namespace's lines: the operator in the cluster serves all the tests at once.
                (format!("the in-cluster operator's pods in {namespace}"), log)
            } else {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                (self.log_path.display().to_string(), log)
            };
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "==== state of namespace {} ====\n{dump}\n{status}\n==== operator log tail ({source}) ====\n{}",
                self.namespace,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            return;
        }
        if in_cluster() {
            // tests/cluster/in-cluster.sh deletes it after checking that helm uninstall left the instances.
            return;
        }
        let _ = Command::new("kubectl")
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .output();
    }
}

/// Creates a ResourceQuota `name` allowing `resource` zero times in the test's namespace; delete it by name.
pub async fn forbid(env: &TestEnv, name: &str, resource: &str) {
    let quota: ResourceQuota =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"hard": {resource: "0"}}})).expect("quota");
    env.api::<ResourceQuota>()
        .create(&PostParams::default(), &quota)
        .await
        .expect("quota created");
}

/// Polls `probe` until it yields a value, panicking with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for an Event of `type_` ("Normal" or "Warning") with `reason` on the object `name`.
pub async fn wait_event(env: &TestEnv, name: &str, type_: &str, reason: &str) {
    let events: Api<k8s_openapi::api::core::v1::Event> = env.api();
    let selector = kube::api::ListParams::default().fields(&format!("involvedObject.name={name}"));
    wait_for(
        &format!("a {type_} {reason} event on {name}"),
        Duration::from_secs(15),
        || async {
            let list = events.list(&selector).await.ok()?;
            list.items
                .iter()
                .any(|e| e.type_.as_deref() == Some(type_) && e.reason.as_deref() == Some(reason))
                .then_some(())
        },
    )
    .await;
}

/// A plain HTTP/1.1 GET on 127.0.0.1, enough for /metrics and health probes.
pub async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// One sample line of the Prometheus text format.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses `name{a="x",b="y"} value`, honouring the `\\`, `\"` and `\n` escapes of label values; panics on a
/// malformed line.
pub fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let end = loop {
            let mut key = String::new();
            let mut closed = None;
            for (i, c) in chars.by_ref() {
                match c {
                    '=' => break,
                    '}' => {
                        closed = Some(i + 1);
                        break;
                    }
                    ',' | ' ' => {}
                    c => key.push(c),
                }
            }
            if let Some(end) = closed {
                break end;
            }
            assert!(
                matches!(chars.next(), Some((_, '"'))),
                "label {key:?} not followed by a quoted value in: {line}"
            );
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => panic!("escape at the end of: {line}"),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => panic!("unterminated label value in: {line}"),
                }
            }
            labels.insert(key, value);
        };
        rest = &inner[end..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no numeric value in sample: {line}"));
    Sample { name, labels, value }
}

/// Every sample of a text exposition (comments and blank lines skipped).
pub fn samples(metrics: &str) -> impl Iterator<Item = Sample> + '_ {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(parse_sample)
}

/// The samples named `name` whose labels include every `label="value"` pair given.
fn matching<'a>(metrics: &'a str, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = Sample> + 'a {
    samples(metrics).filter(move |s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|actual| actual == v))
    })
}

/// `name{a="x",b="y"}`, for messages.
fn series_name(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// The sample lines of `name` in a scrape, for messages.
fn samples_of(metrics: &str, name: &str) -> String {
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .collect();
    if lines.is_empty() {
        format!("/metrics has no sample named {name} at all")
    } else {
        format!("samples of {name} served:\n{}", lines.join("\n"))
    }
}

/// Sum of the samples of `name` whose label set contains every `label="value"` pair given, or `None` when no
/// sample matches. For polls where a series appears later; assertions use [`metric_value`].
pub fn try_metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    matching(metrics, name, labels)
        .map(|s| s.value)
        .reduce(|sum, v| sum + v)
}

/// Sum of the samples of `name` whose label set contains every `label="value"` pair given. Panics, naming the
/// metric and labels, when no sample matches: a missing series is not a zero. A test that means "absent" says so
/// with [`assert_no_series`].
pub fn metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    try_metric_value(metrics, name, labels).unwrap_or_else(|| {
        panic!(
            "no sample of {} on /metrics; {}",
            series_name(name, labels),
            samples_of(metrics, name)
        )
    })
}

/// Panics unless no sample of `name` matches `labels`: for what must never have been counted, such as a counter
/// whose series appear with their first increment.
pub fn assert_no_series(metrics: &str, name: &str, labels: &[(&str, &str)]) {
    let found: Vec<Sample> = matching(metrics, name, labels).collect();
    assert!(
        found.is_empty(),
        "expected no sample of {}, found: {found:?}",
        series_name(name, labels)
    );
}

/// Deletes `name` in the background and waits until it is gone.
pub async fn delete_and_wait<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let _ = api.delete(name, &DeleteParams::background()).await;
    wait_for(&format!("{name} deleted"), timeout, || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
}

/// Creates a backup Job from the instance's CronJob template, as the CronJob controller would; with `fail`, its
/// pod carries the kwok label that makes it fail (tests/cluster/stages/pod-test-job-fail.yaml).
pub async fn run_backup_job(env: &TestEnv, instance: &str, job: &str, fail: bool) {
    let cronjob = env
        .api::<CronJob>()
        .get(&format!("{instance}-backup"))
        .await
        .expect("backup CronJob");
    let mut template = cronjob.spec.job_template.clone();
    if fail {
        let pod = template
            .spec
            .as_mut()
            .expect("job spec")
            .template
            .metadata
            .get_or_insert_with(Default::default);
        pod.labels
            .get_or_insert_with(Default::default)
            .insert("mysqlinstance.io/test-backup-fail".into(), "true".into());
    }
    let mut metadata = template.metadata.clone().unwrap_or_default();
    metadata.name = Some(job.to_owned());
    metadata.owner_references = Some(vec![cronjob.controller_owner_ref(&()).expect("owner ref")]);
    let job = Job {
        metadata,
        spec: template.spec,
        status: None,
    };
    env.api::<Job>()
        .create(&PostParams::default(), &job)
        .await
        .expect("backup Job created");
}

/// The metric helpers on a fixed exposition (no cluster needed): a zero is a zero, an absent series is an error.
#[test]
fn metric_helpers_tell_an_absent_series_from_a_zero() {
    let scrape = "# TYPE m gauge\n\
        m{mysqlinstance=\"db\",phase=\"Ready\"} 0\n\
        m{mysqlinstance=\"db2\",phase=\"Ready\"} 2\n\
        m{mysqlinstance=\"a \\\"quoted\\\" name\",phase=\"Degraded\"} 1.5\n\
        other 7\n";
    assert_eq!(metric_value(scrape, "m", &[("mysqlinstance", "db")]), 0.0);
    assert_eq!(metric_value(scrape, "m", &[("phase", "Ready")]), 2.0);
    assert_eq!(
        metric_value(scrape, "m", &[("mysqlinstance", "a \"quoted\" name")]),
        1.5
    );
    assert_eq!(metric_value(scrape, "other", &[]), 7.0);
    // Labels match exactly, not as substrings of another value.
    assert_eq!(try_metric_value(scrape, "m", &[("mysqlinstance", "d")]), None);
    assert_eq!(try_metric_value(scrape, "m", &[("phase", "Pending")]), None);
    assert_eq!(try_metric_value(scrape, "missing", &[]), None);
    assert_no_series(scrape, "m", &[("phase", "Pending")]);
    assert_no_series(scrape, "missing", &[]);

    let absent = std::panic::catch_unwind(|| metric_value(scrape, "m", &[("phase", "Pending")]));
    let message = absent.expect_err("an absent series must not read as a value");
    let message = message.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("m{phase=\"Pending\"}") && message.contains("samples of m served"),
        "the panic names the series and shows what is served: {message}"
    );
    let present = std::panic::catch_unwind(|| assert_no_series(scrape, "m", &[("mysqlinstance", "db")]));
    assert!(present.is_err(), "a zero-valued series is a series");
}
