//! Shared harness of the end-to-end tests: the local control plane's client, a fresh restricted namespace per
//! test, the operator binary as a real process, polling waits, and a state dump when a test fails.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt, Resource, ResourceExt};
use mysqlinstance_operator::api::{MySQLInstance, MySQLInstanceSpec, Phase};
use serde_json::json;

pub const POLL: Duration = Duration::from_millis(250);

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

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = MySQLInstance::crd();
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("e2e-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("CRD applies");
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
        let kubeconfig = operator_kubeconfig(&kubeconfig_dir);
        let mut env = Self {
            client,
            log_path: log_dir.join(format!("{namespace}.log")),
            namespace,
            metrics_port: free_port(),
            operator: None,
            kubeconfig,
            extra_env,
        };
        env.start_operator();
        env
    }

    /// Starts the operator binary, watching only this test's namespace, logging to a file.
    pub fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "operator already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_mysqlinstance-operator"))
            .args(["run", "--namespace", &self.namespace, "--concurrency", "2"])
            .arg(format!("--metrics-address=127.0.0.1:{}", self.metrics_port))
            .env("RUST_LOG", "info,mysqlinstance_operator=debug,kube=warn")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("OPERATOR_IMAGE", "example.invalid/mysqlinstance-operator:e2e")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("operator starts");
        self.operator = Some(child);
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

    /// The operator's reconcile count from its /metrics.
    pub async fn metrics(&self) -> String {
        http_get(self.metrics_port, "/metrics").await.unwrap_or_default()
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
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "==== state of namespace {} ====\n{dump}\n{status}\n==== operator log tail ({}) ====\n{}",
                self.namespace,
                self.log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            return;
        }
        let _ = Command::new("kubectl")
            .args(["delete", "namespace", &self.namespace, "--wait=false"])
            .output();
    }
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

/// Sum of a metric's samples whose label set contains every `label="value"` pair given.
pub fn metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .filter(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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
