//! End-to-end tests on the real node: kubelet, containerd and runc run the pods the operator builds, with
//! the operator image and the MariaDB image built here (tests/images), in namespaces enforcing Pod Security
//! "restricted". Each test reaches the database the way an application does: through the instance's Service,
//! with the credentials from its Secret. They run inside the cluster's network namespace
//! (`tests/cluster/cluster.sh exec DIR -- cargo test --test node`; scripts/test.sh does it). With
//! `MYI_IN_CLUSTER=1` they use the operator that the Helm chart installed in the cluster instead of starting one
//! (tests/cluster/in-cluster.sh DIR runs its set of these tests that way).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed expectation is a failed test.

#[allow(dead_code)] // shared with tests/e2e, which uses other parts of it
#[path = "../e2e/support.rs"]
mod support;

mod faults;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::{DeleteParams, ListParams, PostParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use mysqlinstance_operator::resources::client_option_file;
use serde_json::json;
use support::{TestEnv, wait_for};

/// A real server starts in seconds, but its image is imported and the volume provisioned first.
const READY: Duration = Duration::from_secs(240);

fn image(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// The images built by tests/images/build.sh, as the operator is told about them.
fn operator_env() -> Vec<(String, String)> {
    let operator = image("MYI_OPERATOR_IMAGE", "localhost/mysqlinstance-operator:0.1.0");
    let mariadb = image("MYI_MARIADB_IMAGE", "localhost/mariadb:10.11");
    vec![
        ("OPERATOR_IMAGE".into(), operator),
        ("SERVER_IMAGES".into(), format!("10.11={mariadb}")),
    ]
}

async fn env(test: &str) -> TestEnv {
    assert!(
        std::env::var_os("MYI_NETNS").is_some(),
        "the real-node tests run inside the cluster's network namespace: \
         tests/cluster/cluster.sh exec DIR -- cargo test --test node (scripts/test.sh does it)"
    );
    TestEnv::with_env(test, operator_env()).await
}

/// A MariaDB 10.11 instance spec with a database and user, plus `extra` fields.
fn mariadb_spec(extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "engine": "MariaDB",
        "version": "10.11",
        "storage": {"size": "1Gi"},
        "database": "shop",
        "user": "app",
        "config": {"innodb_buffer_pool_size": "64M"},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

/// A key of the instance's application Secret, or of its root Secret for the root password.
async fn secret_key(env: &TestEnv, name: &str, key: &str) -> String {
    let secret_name = if key == "root-password" {
        format!("{name}-root-credentials")
    } else {
        format!("{name}-credentials")
    };
    let secret = env.api::<Secret>().get(&secret_name).await.expect("credentials Secret");
    let bytes = secret
        .data
        .and_then(|d| d.get(key).cloned())
        .unwrap_or_else(|| panic!("no key {key}"));
    String::from_utf8(bytes.0).expect("utf-8")
}

/// An application's view of an instance: only the Secret's keys.
struct Client {
    host: String,
    port: String,
    option_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Client {
    /// As the application user, from `username`, `password`, `host` and `port`.
    async fn app(env: &TestEnv, name: &str) -> Self {
        let user = secret_key(env, name, "username").await;
        let password = secret_key(env, name, "password").await;
        Self::new(env, name, &user, &password).await
    }

    /// As root, with the Secret's `root-password`.
    async fn root(env: &TestEnv, name: &str) -> Self {
        let password = secret_key(env, name, "root-password").await;
        Self::new(env, name, "root", &password).await
    }

    async fn new(env: &TestEnv, name: &str, user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let option_file = dir.path().join("client.cnf");
        std::fs::write(&option_file, client_option_file(user, password)).expect("option file");
        Self {
            host: secret_key(env, name, "host").await,
            port: secret_key(env, name, "port").await,
            option_file,
            _dir: dir,
        }
    }

    /// Runs SQL through the Service (the name resolves through the cluster's DNS); output or error.
    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let output = Command::new("mariadb")
            .arg(format!("--defaults-file={}", self.option_file.display()))
            .args([
                &format!("--host={}", self.host),
                &format!("--port={}", self.port),
                "--protocol=TCP",
            ])
            .args([
                "--batch",
                "--skip-column-names",
                "--connect-timeout=5",
                "--default-character-set=utf8mb4",
                "-e",
                sql,
            ])
            .output()
            .expect("the mariadb client runs (tests/backup/setup.sh installs it)");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("SQL failed on {}: {e}\n{sql}", self.host))
    }

    /// Waits until SQL goes through (the Service's endpoints follow readiness within a second or two).
    async fn wait_sql(&self, sql: &str) -> String {
        wait_for(
            &format!("{sql} through {}", self.host),
            Duration::from_secs(60),
            || async { self.try_sql(sql).ok() },
        )
        .await
    }
}

/// `CHECKSUM TABLE` of every table of `database`, as `table checksum` lines.
fn checksums(client: &Client, database: &str) -> String {
    let tables = client.sql(&format!(
        "SELECT GROUP_CONCAT(CONCAT('`', table_name, '`') ORDER BY table_name) FROM information_schema.tables \
         WHERE table_schema = '{database}'"
    ));
    client.sql(&format!("USE {database}; CHECKSUM TABLE {tables}"))
}

fn seed(client: &Client) {
    client.sql(
        "USE shop; CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(40), price DECIMAL(10,2), at DATETIME); \
         INSERT INTO shop.orders SELECT seq, CONCAT('item-', seq), seq * 1.25, '2026-12-01 10:00:00' + INTERVAL seq MINUTE \
         FROM seq_1_to_5000; \
         CREATE TABLE shop.notes (id INT AUTO_INCREMENT PRIMARY KEY, body MEDIUMTEXT); \
         INSERT INTO shop.notes (body) VALUES ('it''s \"quoted\" \\\\ and utf-8: déjà vu'), (REPEAT('x', 70000))",
    );
}

async fn the_pod(env: &TestEnv, name: &str) -> Pod {
    env.api::<Pod>().get(&format!("{name}-0")).await.expect("server pod")
}

/// A restricted pod in the server image that runs `script` with the volume claim `claim` at /v, and its log.
async fn run_in_volume(env: &TestEnv, claim: &str, script: &str) -> String {
    let name = format!("shell-{:x}", std::process::id() ^ script.len() as u32);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999,
                                 "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "shell",
                "image": image("MYI_MARIADB_IMAGE", "localhost/mariadb:10.11"),
                "command": ["sh", "-ec", script],
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "v", "mountPath": "/v"}],
            }],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}],
        }
    }))
    .expect("pod");
    let pods = env.api::<Pod>();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("shell pod created");
    let phase = wait_for(&format!("pod {name} finished"), Duration::from_secs(120), || async {
        let phase = pods.get(&name).await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let log = env.kubectl(&["logs", &name]);
    assert_eq!(phase, "Succeeded", "{script} failed: {log}");
    support::delete_and_wait(&pods, &name, Duration::from_secs(60)).await;
    log
}

#[tokio::test]
async fn an_instance_serves_its_app_through_the_service_and_keeps_its_data() {
    let env = env("serve").await;
    let created = std::time::Instant::now();
    env.create_instance("shop", mariadb_spec(json!({}))).await;
    env.wait_phase("shop", Phase::Ready, READY).await;
    eprintln!("instance Ready {:?} after create", created.elapsed());

    let app = Client::app(&env, "shop").await;
    assert_eq!(app.wait_sql("SELECT CURRENT_USER()").await, "app@%");
    assert_eq!(secret_key(&env, "shop", "database").await, "shop");
    let grants = app.sql("SHOW GRANTS");
    assert!(
        grants.contains("GRANT ALL PRIVILEGES ON `shop`.* TO `app`@`%`"),
        "{grants}"
    );
    assert!(
        app.try_sql("SELECT COUNT(*) FROM mysql.user").is_err(),
        "the app is not root"
    );
    assert!(app.sql("SELECT VERSION()").starts_with("10.11."));
    seed(&app);
    let before = checksums(&app, "shop");

    // `kubectl myi connect`: the engine's client in the pod, logged in from an option file.
    let connect = |root: bool| {
        let mut args = vec!["kubectl-myi", "connect", "shop", "-n", env.namespace.as_str()];
        if root {
            args.push("--root");
        }
        args.extend(["--", "-N", "-e", "SELECT CURRENT_USER(), DATABASE()"]);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mysqlinstance-operator"))
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the plugin runs");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
        assert!(output.status.success(), "connect failed: {}", text(&output.stderr));
        text(&output.stdout)
    };
    assert_eq!(
        connect(false),
        "app@%\tshop",
        "as the application user, in its database"
    );
    assert_eq!(connect(true), "root@localhost\tNULL", "as root, over the socket");

    let pod = the_pod(&env, "shop").await;
    let uid = pod.metadata.uid.clone();
    env.api::<Pod>()
        .delete("shop-0", &DeleteParams::default())
        .await
        .expect("pod deleted");
    wait_for("a new server pod", Duration::from_secs(120), || async {
        let pod = env.api::<Pod>().get_opt("shop-0").await.ok()??;
        (pod.metadata.uid != uid).then_some(())
    })
    .await;
    env.wait_phase("shop", Phase::Ready, READY).await;
    assert_eq!(app.wait_sql("SELECT COUNT(*) FROM shop.orders").await, "5000");
    assert_eq!(checksums(&app, "shop"), before, "the data survived the pod");
}

#[tokio::test]
async fn a_volume_with_lost_found_and_a_password_of_quotes_and_spaces_work() {
    let env = env("lostfound").await;
    // The claim the StatefulSet will adopt, with what an ext4 cloud disk has at its root.
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "data-odd-0"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .expect("pvc");
    env.api::<PersistentVolumeClaim>()
        .create(&PostParams::default(), &claim)
        .await
        .expect("claim created");
    run_in_volume(&env, "data-odd-0", "mkdir /v/lost+found && ls -la /v").await;
    let password = r#"it's a "root" \ pass word "#;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "odd-root"},
        "stringData": {"password": password},
    }))
    .expect("secret");
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    env.create_instance(
        "odd",
        mariadb_spec(json!({"rootPasswordSecretRef": {"name": "odd-root", "key": "password"}})),
    )
    .await;
    env.wait_phase("odd", Phase::Ready, READY).await;
    assert_eq!(secret_key(&env, "odd", "root-password").await, password);
    let root = Client::root(&env, "odd").await;
    assert_eq!(root.wait_sql("SELECT CURRENT_USER()").await, "root@%");
    let listing = env.kubectl(&["exec", "odd-0", "-c", "mysql", "--", "ls", "-a", "/var/lib/mysql"]);
    assert!(listing.contains("lost+found") && listing.contains("data"), "{listing}");
}

/// The host PIDs of the processes named `name` in pod `uid` (the test shares the node's PID namespace).
fn pids_in_pod(uid: &str, name: &str) -> Vec<String> {
    let uid_in_cgroup = uid.replace('-', "_");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok())
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            pid.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).ok()?;
            (comm.trim() == name && (cgroup.contains(uid) || cgroup.contains(&uid_in_cgroup))).then_some(pid)
        })
        .collect()
}

#[tokio::test]
async fn a_killed_server_degrades_and_recovers_and_a_deleted_pod_comes_back() {
    let env = env("kill").await;
    env.create_instance("kill", mariadb_spec(json!({}))).await;
    env.wait_phase("kill", Phase::Ready, READY).await;
    let app = Client::app(&env, "kill").await;
    app.wait_sql("CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1), (2), (3)")
        .await;

    let uid = the_pod(&env, "kill").await.metadata.uid.expect("uid");
    let pids = pids_in_pod(&uid, "mariadbd");
    assert_eq!(pids.len(), 1, "one server process in the pod: {pids:?}");
    let killed = Command::new("kill").args(["-KILL", &pids[0]]).status().expect("kill");
    assert!(killed.success());
    env.wait_phase("kill", Phase::Degraded, Duration::from_secs(60)).await;
    support::wait_event(&env, "kill", "Warning", "ReplicasNotReady").await;
    env.wait_phase("kill", Phase::Ready, READY).await;
    let restarts = the_pod(&env, "kill")
        .await
        .status
        .and_then(|s| s.container_statuses)
        .expect("statuses")[0]
        .restart_count;
    assert!(restarts >= 1, "the kubelet restarted the server");
    assert_eq!(
        app.wait_sql("SELECT COUNT(*) FROM shop.t").await,
        "3",
        "crash recovery kept the rows"
    );
}

/// Runs a backup now from the CronJob, as a user would, and waits until the instance reports it.
async fn back_up_now(env: &TestEnv, instance: &str, job: &str) -> mysqlinstance_operator::api::LastBackup {
    env.kubectl(&["create", "job", &format!("--from=cronjob/{instance}-backup"), job]);
    let api = env.api::<MySQLInstance>();
    wait_for(
        &format!("{instance} reports backup {job}"),
        Duration::from_secs(180),
        || async {
            let last = api.get(instance).await.ok()?.status?.last_backup?;
            last.sha256.is_some().then_some(last)
        },
    )
    .await
}

#[tokio::test]
async fn a_backup_from_the_cronjob_restores_into_a_new_instance_and_a_corrupted_one_fails_once() {
    let env = env("backup").await;
    let backups =
        json!({"backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}});
    env.create_instance("src", mariadb_spec(backups)).await;
    env.wait_phase("src", Phase::Ready, READY).await;
    let source = Client::app(&env, "src").await;
    source.wait_sql("SELECT 1").await;
    seed(&source);
    let expected = checksums(&source, "shop");

    let last = back_up_now(&env, "src", "src-now").await;
    let size = last.size_bytes.expect("size");
    let sha256 = last.sha256.expect("sha256");
    assert!(size > 1000, "a real dump: {size} bytes");
    eprintln!("backup: {size} bytes in {:?} s", last.duration_seconds);
    let listing = run_in_volume(
        &env,
        "src-backups",
        "cd /v && sha256sum *.sql.zst && stat -c '%n %s' *.sql.zst",
    )
    .await;
    assert!(
        listing.contains(&sha256),
        "status.lastBackup.sha256 is the file's: {listing}"
    );
    assert!(
        listing.contains(&format!(" {size}")),
        "status.lastBackup.sizeBytes is the file's: {listing}"
    );

    let from_latest = || {
        mariadb_spec(
            json!({"restoreFrom": {"instance": "src", "backup": "latest", "pvc": {"claimName": "src-backups"}}}),
        )
    };
    let restore_started = std::time::Instant::now();
    env.create_instance("copy", from_latest()).await;
    let copy = env.wait_phase("copy", Phase::Ready, READY).await;
    eprintln!(
        "restore: new instance Ready {:?} after create",
        restore_started.elapsed()
    );
    assert!(copy.status.and_then(|s| s.restored_at).is_some(), "restoredAt is set");
    let restored = Client::root(&env, "copy").await;
    assert_eq!(
        checksums(&restored, "shop"),
        expected,
        "every table's checksum equals the source's"
    );

    // Flip one byte in the middle of the dump: the checksum must catch it before anything is written.
    run_in_volume(
        &env,
        "src-backups",
        "f=$(ls /v/*.sql.zst | head -1); printf 'XYZ' | dd of=\"$f\" bs=1 seek=200 conv=notrunc 2>/dev/null",
    )
    .await;
    env.create_instance("broken", from_latest()).await;
    let api = env.api::<MySQLInstance>();
    let message = wait_for("broken reports RestoreFailed", READY, || async {
        let status = api.get("broken").await.ok()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "RestoreFailed").then(|| ready.message.clone())
    })
    .await;
    assert!(
        message.contains("broken-restore"),
        "the condition names the Job: {message}"
    );
    let log = env.kubectl(&["logs", "job/broken-restore"]);
    assert!(
        log.contains("checksum") || log.contains("SHA-256"),
        "the runner says why: {log}"
    );
    // Nothing retries it on its own: one Job, one failed pod, still after a while.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let jobs = env
        .api::<Job>()
        .list(&ListParams::default().labels("app.kubernetes.io/instance=broken"))
        .await
        .expect("jobs");
    assert_eq!(jobs.items.len(), 1, "exactly one restore Job");
    let pods = env
        .api::<Pod>()
        .list(&ListParams::default().labels("batch.kubernetes.io/job-name=broken-restore"))
        .await
        .expect("pods");
    assert_eq!(pods.items.len(), 1, "exactly one restore attempt");
    let phase = api.get("broken").await.expect("broken").status.and_then(|s| s.phase);
    assert_eq!(phase, Some(Phase::Provisioning));
}

#[tokio::test]
async fn retain_gives_a_recreated_instance_its_old_data_and_password() {
    let env = env("retain").await;
    env.create_instance("keep", mariadb_spec(json!({}))).await;
    env.wait_phase("keep", Phase::Ready, READY).await;
    let app = Client::app(&env, "keep").await;
    app.wait_sql("CREATE TABLE shop.kept (v VARCHAR(20)); INSERT INTO shop.kept VALUES ('still here')")
        .await;
    let password = secret_key(&env, "keep", "password").await;
    let root_password = secret_key(&env, "keep", "root-password").await;

    let instances = env.api::<MySQLInstance>();
    support::delete_and_wait(&instances, "keep", Duration::from_secs(60)).await;
    wait_for("the server pod gone", Duration::from_secs(120), || async {
        env.api::<Pod>().get_opt("keep-0").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        env.api::<PersistentVolumeClaim>()
            .get_opt("data-keep-0")
            .await
            .expect("get")
            .is_some(),
        "Retain keeps the data volume"
    );

    env.create_instance("keep", mariadb_spec(json!({}))).await;
    env.wait_phase("keep", Phase::Ready, READY).await;
    assert_eq!(
        secret_key(&env, "keep", "password").await,
        password,
        "never regenerated"
    );
    assert_eq!(secret_key(&env, "keep", "root-password").await, root_password);
    assert_eq!(app.wait_sql("SELECT v FROM shop.kept").await, "still here");
    let init_log = env.kubectl(&["logs", "keep-0", "-c", "initialize"]);
    assert!(
        init_log.contains("nothing to do"),
        "the retained data directory was reused: {init_log}"
    );
}
