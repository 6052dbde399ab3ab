//! The kubectl plugin (`mysqlinstance-operator kubectl-myi`, and `kubectl myi` through a link named kubectl-myi) run
//! as a process against instances an operator manages on kwok. The backup and restore Jobs' pods run nothing:
//! the kwok stages complete them after 8 s, a backup pod leaving a fabricated result line (tests/cluster/stages).

use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::ResourceExt;
use kube::api::ListParams;
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::support::{TestEnv, wait_for};

const BINARY: &str = env!("CARGO_BIN_EXE_mysqlinstance-operator");

/// `mysqlinstance-operator kubectl-myi -n NS args...`, with KUBECONFIG from the environment.
fn myi(env: &TestEnv, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(["kubectl-myi", "-n", &env.namespace])
        .args(args)
        .output()
        .expect("the plugin runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the plugin and returns its stdout, failing the test with its stderr when it fails.
fn myi_ok(env: &TestEnv, args: &[&str]) -> String {
    let output = myi(env, args);
    assert!(
        output.status.success(),
        "kubectl-myi {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs the plugin expecting it to fail; returns its stderr.
fn myi_err(env: &TestEnv, args: &[&str]) -> String {
    let output = myi(env, args);
    assert!(
        !output.status.success(),
        "kubectl-myi {args:?} succeeded:\n{}",
        stdout(&output)
    );
    stderr(&output)
}

fn condition_status(instance: &MySQLInstance, type_: &str) -> Option<String> {
    let status = instance.status.as_ref()?;
    Some(status.conditions.iter().find(|c| c.type_ == type_)?.status.clone())
}

#[tokio::test]
async fn plugin_status_through_kubectl_credentials_and_pause_resume() {
    let env = TestEnv::new("plugin").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "user": "app", "database": "shop"}),
    )
    .await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;
    let events = env.api::<Event>();
    let reasons = wait_for("the Ready Event on db", Duration::from_secs(30), || async {
        let list = events
            .list(&ListParams::default().fields("involvedObject.kind=MySQLInstance,involvedObject.name=db"))
            .await
            .ok()?;
        let reasons: Vec<String> = list.items.iter().filter_map(|e| e.reason.clone()).collect();
        reasons.iter().any(|r| r == "AllReplicasReady").then_some(reasons)
    })
    .await;

    // `kubectl myi` finds the binary through a link named kubectl-myi on PATH: argv[0] selects the plugin.
    let bin = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(BINARY, bin.path().join("kubectl-myi")).expect("symlink");
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("kubectl")
        .args(["myi", "-n", &env.namespace, "status", "db"])
        .env("PATH", &path)
        .output()
        .expect("kubectl runs");
    let status = stdout(&output);
    assert!(
        output.status.success(),
        "kubectl myi status failed: {}",
        stderr(&output)
    );
    assert!(status.contains("Phase:                Ready\n"), "{status}");
    assert!(status.contains("Ready replicas:       1/1\n"), "{status}");
    assert!(
        status.contains(&format!("Endpoint:             db.{}.svc:3306\n", env.namespace)),
        "{status}"
    );
    assert!(status.contains("\nConditions:\n  TYPE "), "{status}");
    let ready_row = status.lines().find(|l| l.starts_with("  Ready ")).unwrap_or_default();
    assert!(ready_row.contains(" True "), "the Ready condition is True: {status}");
    assert!(status.contains("\nEvents (newest 10):\n  TYPE "), "{status}");
    for reason in &reasons {
        assert!(status.contains(reason.as_str()), "Event {reason} not shown:\n{status}");
    }
    // The link itself, without kubectl, is the plugin too.
    let direct = Command::new(bin.path().join("kubectl-myi"))
        .args(["-n", &env.namespace, "status", "db"])
        .output()
        .expect("the link runs");
    assert!(
        stdout(&direct).contains("Phase:                Ready"),
        "{}",
        stderr(&direct)
    );

    // Credentials: the password only with --show, and exactly the Secret's.
    let secret = env.api::<Secret>().get("db-credentials").await.expect("Secret");
    let data = secret.data.expect("data");
    let password = String::from_utf8(data["password"].0.clone()).expect("utf-8");
    let root = env
        .api::<Secret>()
        .get("db-root-credentials")
        .await
        .expect("root Secret");
    let root_data = root.data.expect("data");
    let root_password = String::from_utf8(root_data["root-password"].0.clone()).expect("utf-8");
    let hidden = myi_ok(&env, &["credentials", "db"]);
    assert!(hidden.contains("username: app\n"), "{hidden}");
    assert!(hidden.contains("password: <hidden: use --show>\n"), "{hidden}");
    assert!(hidden.contains("database: shop\n"), "{hidden}");
    assert!(
        hidden.contains(&format!("host:     db.{}.svc\n", env.namespace)) && hidden.contains("port:     3306\n"),
        "{hidden}"
    );
    assert!(
        !hidden.contains(&password) && !hidden.contains(&root_password),
        "{hidden}"
    );
    assert!(
        !status.contains(&password) && !status.contains(&root_password),
        "status shows a password"
    );
    let shown = myi_ok(&env, &["credentials", "db", "--show"]);
    assert!(shown.contains(&format!("password: {password}\n")), "{shown}");
    assert!(
        !shown.contains(&root_password),
        "root's password without --root: {shown}"
    );
    let root = myi_ok(&env, &["credentials", "db", "--root", "--show"]);
    assert!(
        root.contains(&format!("username: root\npassword: {root_password}\n")),
        "{root}"
    );

    // Pause, then resume: spec.paused flips and the plugin shows the Paused condition the operator set.
    let api = env.api::<MySQLInstance>();
    let paused = myi_ok(&env, &["pause", "db"]);
    assert!(paused.contains("condition Paused=True (Paused: "), "{paused}");
    let instance = api.get("db").await.expect("instance");
    assert!(instance.spec.paused);
    assert_eq!(condition_status(&instance, "Paused").as_deref(), Some("True"));
    assert!(
        instance
            .managed_fields()
            .iter()
            .any(|f| f.manager.as_deref() == Some("kubectl-myi")),
        "written with field manager kubectl-myi"
    );
    let resumed = myi_ok(&env, &["resume", "db"]);
    assert!(resumed.contains("condition Paused: absent"), "{resumed}");
    let instance = api.get("db").await.expect("instance");
    assert!(!instance.spec.paused);
    assert_eq!(condition_status(&instance, "Paused"), None);
}

#[tokio::test]
async fn plugin_backup_runs_a_job_from_the_cronjob_and_reports_the_runners_result() {
    let env = TestEnv::new("pluginbackup").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "suspend": true, "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.create_instance("plain", json!({"storage": {"size": "1Gi"}})).await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;

    let started = std::time::Instant::now();
    let out = myi_ok(&env, &["backup", "db", "--timeout", "2m"]);
    let job_name = out
        .lines()
        .find_map(|l| l.strip_prefix("job/")?.split_whitespace().next())
        .expect("the Job is named")
        .to_owned();
    assert!(
        job_name.starts_with("db-manual-") && out.contains("created from cronjob/db-backup"),
        "{out}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "it waited for the Job (the kwok pod runs 8 s)"
    );
    assert!(out.contains("backup succeeded\n"), "{out}");
    assert!(out.contains("  Size:     1.0 MiB (1048576 bytes)\n"), "{out}");
    assert!(out.contains("  Duration: 8s\n"), "{out}");
    let backup = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Backup:"))
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    assert!(backup.starts_with("db-") && backup.ends_with(".sql.zst"), "{out}");
    assert!(
        out.contains(&format!("  Location: file:///backups/{backup}\n")),
        "{out}"
    );
    let sha = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256:"))
        .map(str::trim)
        .unwrap_or_default();
    assert_eq!(sha.len(), 12, "{out}");

    let job = env.api::<Job>().get(&job_name).await.expect("the Job");
    assert_eq!(job.annotations()["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eq!(job.labels()["mysqlinstance.io/instance"], "db");
    let owner = &job.owner_references()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("CronJob", "db-backup"));
    assert_eq!(owner.controller, Some(true));

    // The operator reads the same result into the status, and the plugin's status shows it.
    let api = env.api::<MySQLInstance>();
    wait_for("lastBackup from the manual Job", Duration::from_secs(30), || async {
        let last = api.get("db").await.ok()?.status?.last_backup?;
        (last.name == backup).then_some(())
    })
    .await;
    let status = myi_ok(&env, &["status", "db"]);
    assert!(
        status.contains(&format!("Last backup:           {backup}\n")),
        "{status}"
    );
    assert!(status.contains(&format!("SHA-256:               {sha}\n")), "{status}");

    let no_wait = myi_ok(&env, &["backup", "db", "--no-wait"]);
    assert!(
        no_wait.contains("created from cronjob/db-backup") && !no_wait.contains("succeeded"),
        "{no_wait}"
    );

    let error = myi_err(&env, &["backup", "plain"]);
    assert!(
        error.contains("backups are not enabled on plain") && error.contains("set spec.backup"),
        "{error}"
    );
}

#[tokio::test]
async fn plugin_restore_creates_a_copy_from_the_source_backups_and_follows_it_to_ready() {
    let env = TestEnv::new("pluginrestore").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "user": "app", "database": "shop", "config": {"max_connections": "200"},
               "backup": {"enabled": true, "suspend": true, "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;

    let out = myi_ok(&env, &["restore", "db", "--to", "copy", "--timeout", "3m"]);
    assert!(
        out.contains("mysqlinstance/copy created, restoring backup latest of db"),
        "{out}"
    );
    assert!(
        out.contains(" phase Provisioning ("),
        "the phases are printed as they change: {out}"
    );
    assert!(out.ends_with("copy is Ready\n"), "{out}");

    let api = env.api::<MySQLInstance>();
    let copy = api.get("copy").await.expect("the copy");
    let source = api.get("db").await.expect("the source");
    let restore = copy.spec.restore_from.clone().expect("restoreFrom");
    assert_eq!(restore.instance, "db");
    assert_eq!(restore.backup, "latest");
    assert_eq!(restore.pvc.map(|p| p.claim_name).as_deref(), Some("db-backups"));
    assert_eq!(copy.spec.user.as_deref(), Some("app"));
    assert_eq!(copy.spec.database.as_deref(), Some("shop"));
    assert_eq!(copy.spec.config, source.spec.config);
    assert_eq!(
        copy.spec.backup, source.spec.backup,
        "the copy keeps the backup settings"
    );
    assert!(copy.status.and_then(|s| s.restored_at).is_some(), "restoredAt recorded");
    let job = env.api::<Job>().get("copy-restore").await.expect("the restore Job ran");
    assert_eq!(job.labels()["mysqlinstance.io/instance"], "copy");

    let again = myi_err(&env, &["restore", "db", "--to", "copy"]);
    assert!(
        again.contains("MySQLInstance copy already exists") && again.contains("choose another --to name"),
        "{again}"
    );
    let backupless = myi_err(&env, &["restore", "copy-of-nothing", "--to", "x"]);
    assert!(backupless.contains("no MySQLInstance copy-of-nothing"), "{backupless}");
}

#[tokio::test]
async fn plugin_connect_and_status_of_a_missing_instance_say_how_to_list_instances() {
    let env = TestEnv::new("pluginmissing").await;
    let hint = format!(
        "no MySQLInstance nope in namespace {ns}; list them with kubectl get myi -n {ns}",
        ns = env.namespace
    );
    for command in [
        &["connect", "nope"][..],
        &["connect", "nope", "--root"],
        &["status", "nope"],
    ] {
        let error = myi_err(&env, command);
        assert!(error.contains(&hint), "{command:?}: {error}");
    }
    // Without -n the namespace comes from the kubeconfig context (default here).
    let output = Command::new(BINARY)
        .args(["kubectl-myi", "credentials", "nope"])
        .output()
        .expect("runs");
    assert!(
        stderr(&output).contains("no MySQLInstance nope in namespace default"),
        "{}",
        stderr(&output)
    );
}
