//! Real-node faults: the database pod killed while a backup Job dumps it, the node's container runtime
//! (containerd) restarted under a serving instance, and a backup volume that fills up. Each test prints one line
//! `chaos: <scenario>: faults injected N, survived N, lost 0, partial backups looking complete 0` and fails if
//! anything is lost or a partial backup looks complete.
//!
//! "Complete" is what the backup repository itself means by it (`backup::retention::inventory`: a dump with its
//! manifest next to it, which is what `restore --source=latest` and retention go by); every backup that looks
//! complete is also checked against its manifest (size and SHA-256 of the dump, read from the volume).
//!
//! The tests reach the node through what `cluster.sh up --real` records in its DIR (the parent of
//! `$KUBECONFIG`): `pids` (the anchor owning the node's mount namespace, containerd) and `commands`; the node's
//! volumes are seen from the anchor's mount namespace (`nsenter -t ANCHOR -m`), as the kubelet sees them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, ListParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use mysqlinstance_operator::backup::{BackupResult, Manifest, Status, retention};
use serde_json::json;

use super::support::{TestEnv, wait_for};
use super::{Client, READY, env, mariadb_spec, pids_in_pod, the_pod};

/// The fault tests run one at a time (a containerd restart would hit the other faults' pods, and two 2-core
/// datasets at once would blur the timings); the other tests of the crate may still run beside them.
static ONE_FAULT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cluster of `cluster.sh up --real`, from its DIR.
struct Node {
    dir: PathBuf,
}

impl Node {
    fn new() -> Self {
        let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG (cluster.sh exec sets it)");
        let dir = PathBuf::from(kubeconfig).parent().expect("DIR").to_path_buf();
        let env = std::fs::read_to_string(dir.join("env")).expect("DIR/env");
        assert!(env.lines().any(|l| l == "MODE=real"), "a real-node cluster: {env}");
        Self { dir }
    }

    /// The recorded PID of component `name` (the last line of DIR/pids naming it).
    fn pid(&self, name: &str) -> String {
        let pids = std::fs::read_to_string(self.dir.join("pids")).expect("DIR/pids");
        pids.lines()
            .rev()
            .find_map(|l| {
                let mut fields = l.split_whitespace();
                (fields.next()? == name).then(|| fields.next().map(str::to_owned))?
            })
            .unwrap_or_else(|| panic!("no {name} in DIR/pids: {pids}"))
    }

    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // a zombie is dead
            stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    }

    /// `script` in the node's mount namespace (where the hostPath volumes and the kubelet's mounts are).
    fn sh(&self, script: &str) -> Result<String, String> {
        let output = Command::new("nsenter")
            .args(["-t", &self.pid("anchor"), "-m", "--", "sh", "-ec", script])
            .output()
            .expect("nsenter runs");
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(out)
        } else {
            Err(format!("{out}{}", String::from_utf8_lossy(&output.stderr)))
        }
    }

    /// `tests/cluster/cluster.sh ARGS` on this cluster.
    fn cluster_sh(&self, args: &[&str]) -> String {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/cluster.sh");
        let output = Command::new(script).args(args).output().expect("cluster.sh runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "cluster.sh {args:?} failed: {text}");
        text
    }
}

/// The node path of the hostPath volume bound to claim `claim`.
async fn volume_path(env: &TestEnv, claim: &str) -> String {
    let volume = wait_for(&format!("{claim} bound"), Duration::from_secs(60), || async {
        let pvc = env.api::<PersistentVolumeClaim>().get_opt(claim).await.ok()??;
        pvc.spec?.volume_name
    })
    .await;
    let pvs: kube::Api<PersistentVolume> = kube::Api::all(env.client.clone());
    let pv = pvs.get(&volume).await.expect("the bound PV");
    pv.spec
        .and_then(|s| s.host_path)
        .map(|h| h.path)
        .expect("a hostPath volume (the real node's provisioner)")
}

/// What a backup directory holds, judged the way the repository judges it.
#[derive(Debug, Default)]
struct Listing {
    files: Vec<String>,
    /// Backups that look complete (dump + manifest) and whose dump matches its manifest.
    verified: Vec<String>,
    /// Backups that look complete but whose dump does not match its manifest (size or SHA-256).
    bad: Vec<String>,
}

impl Listing {
    fn read(node: &Node, path: &str, instance: &str) -> Self {
        let ls = node
            .sh(&format!("ls -A {path}"))
            .unwrap_or_else(|e| panic!("ls {path}: {e}"));
        let files: Vec<String> = ls.lines().map(str::to_owned).collect();
        let mut listing = Listing {
            files: files.clone(),
            ..Default::default()
        };
        for backup in retention::inventory(&files, instance).complete {
            let manifest = node
                .sh(&format!("cat {path}/{}", backup.manifest_file()))
                .expect("manifest readable");
            let manifest: Manifest = serde_json::from_str(&manifest).expect("a manifest");
            let actual = node
                .sh(&format!(
                    "cd {path} && stat -c %s {f} && sha256sum {f} | cut -d' ' -f1",
                    f = backup.dump_file()
                ))
                .expect("dump readable");
            let expected = format!("{}\n{}\n", manifest.size_bytes, manifest.sha256);
            if actual == expected && manifest.dump_file == backup.dump_file() {
                listing.verified.push(backup.dump_file());
            } else {
                listing.bad.push(format!(
                    "{}: file {actual:?}, manifest {expected:?}",
                    backup.dump_file()
                ));
            }
        }
        listing
    }

    fn partial(&self) -> Vec<&String> {
        self.files.iter().filter(|f| f.ends_with(".partial")).collect()
    }
}

/// How a backup Job ended: `None` while it runs, and what its runner reported.
async fn job_result(env: &TestEnv, job: &str) -> Option<(bool, Option<BackupResult>)> {
    let status = env.api::<Job>().get(job).await.ok()?.status?;
    let done = |t: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == t && c.status == "True")
    };
    let succeeded = if done("Complete") {
        true
    } else if done("Failed") {
        false
    } else {
        return None;
    };
    let pods = env
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .ok()?;
    let report = pods.items.iter().find_map(|pod| {
        let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
        let backup = statuses.iter().find(|s| s.name == "backup")?;
        let message = backup.state.as_ref()?.terminated.as_ref()?.message.clone()?;
        message
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<BackupResult>(line.trim()).ok())
    });
    Some((succeeded, report))
}

async fn wait_job(env: &TestEnv, job: &str) -> (bool, Option<BackupResult>) {
    wait_for(&format!("backup Job {job} finished"), Duration::from_secs(300), || {
        job_result(env, job)
    })
    .await
}

fn start_backup(env: &TestEnv, instance: &str, job: &str) {
    env.kubectl(&["create", "job", &format!("--from=cronjob/{instance}-backup"), job]);
}

async fn status(env: &TestEnv, name: &str) -> mysqlinstance_operator::api::MySQLInstanceStatus {
    env.api::<MySQLInstance>()
        .get(name)
        .await
        .expect("instance")
        .status
        .expect("status")
}

/// The condition `type_` of the instance as "status reason: message".
fn condition(status: &mysqlinstance_operator::api::MySQLInstanceStatus, type_: &str) -> String {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| format!("{} {}: {}", c.status, c.reason, c.message))
        .unwrap_or_default()
}

/// Records every phase change of an instance (and how long after the start) until dropped.
struct PhaseLog {
    seen: Arc<Mutex<Vec<(Duration, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PhaseLog {
    fn start(env: &TestEnv, name: &str) -> Self {
        let api = env.api::<MySQLInstance>();
        let name = name.to_owned();
        let seen = Arc::new(Mutex::new(Vec::<(Duration, String)>::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                if let Ok(instance) = api.get(&name).await {
                    let status = instance.status.unwrap_or_default();
                    let ready = status
                        .conditions
                        .iter()
                        .find(|c| c.type_ == "Ready")
                        .map(|c| c.reason.clone())
                        .unwrap_or_default();
                    let phase = format!("{:?}({ready})", status.phase);
                    let mut log = log.lock().expect("lock");
                    if log.last().is_none_or(|(_, p)| *p != phase) {
                        log.push((started.elapsed(), phase));
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Self { seen, task }
    }

    fn phases(&self) -> Vec<(Duration, String)> {
        self.seen.lock().expect("lock").clone()
    }

    fn saw(&self, phase: &str) -> bool {
        self.phases().iter().any(|(_, p)| p.starts_with(phase))
    }
}

impl Drop for PhaseLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Rows with incompressible text (`SHA2` hex), so the dump is as large as `rows` × 256 bytes after zstd too.
fn seed_bulk(client: &Client, table: &str, rows: u32) {
    client.sql(&format!(
        "USE shop; CREATE TABLE {table} (id INT PRIMARY KEY, a CHAR(128), b CHAR(128)); \
         INSERT INTO shop.{table} SELECT seq, SHA2(CONCAT('a', seq, RAND()), 512), SHA2(CONCAT('b', seq, RAND()), 512) \
         FROM seq_1_to_{rows}"
    ));
}

/// Waits until the backup Job `job` is writing its dump into `path` (its hidden `.partial` file exists and has
/// data), and returns its size then.
async fn wait_dumping(node: &Node, path: &str, job: &str) -> u64 {
    wait_for(&format!("{job} writing its dump"), Duration::from_secs(120), || async {
        let size = node
            .sh(&format!(
                "cd {path} && stat -c %s .*.sql.zst.partial 2>/dev/null || true"
            ))
            .ok()?;
        let size: u64 = size.lines().next()?.trim().parse().ok()?;
        (size > 0).then_some(size)
    })
    .await
}

#[tokio::test]
async fn the_database_pod_killed_during_a_backup_fails_the_backup_and_leaves_nothing_looking_complete() {
    let _serial = ONE_FAULT_AT_A_TIME.lock().await;
    let env = env("faultkill").await;
    let node = Node::new();
    let backups =
        json!({"backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}});
    env.create_instance("bk", mariadb_spec(backups)).await;
    env.wait_phase("bk", Phase::Ready, READY).await;
    let app = Client::app(&env, "bk").await;
    app.wait_sql("SELECT 1").await;
    let seeded = Instant::now();
    seed_bulk(&app, "bulk", 400_000);
    eprintln!("seeded 400000 rows in {:?}", seeded.elapsed());
    let expected = app.sql("CHECKSUM TABLE shop.bulk");
    let path = volume_path(&env, "bk-backups").await;
    let phases = PhaseLog::start(&env, "bk");

    let (mut injected, mut survived, mut looking_complete) = (0, 0, 0);
    let faults: [(&str, &str); 2] = [("bk-kill", "SIGKILL mariadbd"), ("bk-delete", "pod deleted, grace 0")];
    for (round, (job, how)) in faults.iter().enumerate() {
        let uid = the_pod(&env, "bk").await.metadata.uid.expect("uid");
        let started = Instant::now();
        start_backup(&env, "bk", job);
        let partial_size = wait_dumping(&node, &path, job).await;
        if round == 0 {
            let pids = pids_in_pod(&uid, "mariadbd");
            assert_eq!(pids.len(), 1, "one server process: {pids:?}");
            let killed = Command::new("kill").args(["-KILL", &pids[0]]).status().expect("kill");
            assert!(killed.success());
        } else {
            env.api::<Pod>()
                .delete(
                    "bk-0",
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await
                .expect("pod deleted");
        }
        injected += 1;
        let at_kill = started.elapsed();
        let (succeeded, report) = wait_job(&env, job).await;
        let listing = Listing::read(&node, &path, "bk");
        eprintln!(
            "{how} {at_kill:?} after the Job was created ({partial_size} bytes written): Job succeeded={succeeded}, \
             report {report:?}; listing {:?}",
            listing.files
        );
        looking_complete += listing.bad.len();
        if succeeded {
            // Only acceptable if the backup it reports is complete and verified (the kill came after the upload).
            let name = report.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
            assert!(
                listing.verified.contains(&name),
                "{job} reported success without a complete backup {name}: {listing:?}"
            );
            panic!("{how}: the dump finished before the fault landed; seed more rows so the fault hits mid-dump");
        }
        let report = report.expect("the runner reported its failure in the termination message");
        assert_eq!(report.status, Status::Failure);
        let error = report.error.clone().unwrap_or_default();
        assert!(!error.is_empty(), "the failure says why: {report:?}");
        // Nothing of this run looks like a backup: no complete backup at all exists yet in this volume.
        assert!(
            listing.verified.is_empty(),
            "a failed run left a complete-looking backup: {listing:?}"
        );
        looking_complete += listing.verified.len();
        assert!(
            listing.partial().is_empty(),
            "the partial file was removed: {listing:?}"
        );

        // The instance comes back, and says what happened.
        env.wait_phase("bk", Phase::Ready, READY).await;
        let recovered = started.elapsed();
        let st = wait_for("the failure counted", Duration::from_secs(60), || async {
            let st = status(&env, "bk").await;
            (st.consecutive_backup_failures == round as i32 + 1).then_some(st)
        })
        .await;
        let backup_condition = condition(&st, "BackupSucceeded");
        assert!(
            backup_condition.starts_with("False BackupFailed") && backup_condition.contains(job),
            "BackupSucceeded names the failed Job: {backup_condition}"
        );
        assert!(
            st.last_backup.is_none(),
            "no backup is reported as the last one: {:?}",
            st.last_backup
        );
        assert_eq!(app.wait_sql("SELECT COUNT(*) FROM shop.bulk").await, "400000");
        assert_eq!(app.sql("CHECKSUM TABLE shop.bulk"), expected, "the data survived");
        survived += 1;
        eprintln!(
            "{how}: Ready again {recovered:?} after the Job was created; reason {:?}; {backup_condition}",
            report.reason
        );
    }
    let seen = phases.phases();
    eprintln!("phases seen: {seen:?}");
    assert!(phases.saw("Some(BackingUp)"), "BackingUp while the Job ran: {seen:?}");
    assert!(
        phases.saw("Some(Degraded)(ReplicasNotReady)"),
        "Degraded while the server was down: {seen:?}"
    );

    // A backup after the faults succeeds, and is the only complete backup there.
    start_backup(&env, "bk", "bk-after");
    let (succeeded, report) = wait_job(&env, "bk-after").await;
    assert!(succeeded, "a backup after the faults succeeds: {report:?}");
    let listing = Listing::read(&node, &path, "bk");
    looking_complete += listing.bad.len();
    assert_eq!(listing.verified.len(), 1, "{listing:?}");
    let st = wait_for("the success reported", Duration::from_secs(60), || async {
        let st = status(&env, "bk").await;
        (st.consecutive_backup_failures == 0 && st.last_backup.is_some()).then_some(st)
    })
    .await;
    let last = st.last_backup.expect("last backup");
    assert_eq!(Some(listing.verified[0].clone()), Some(last.name.clone()), "{last:?}");
    assert_eq!(looking_complete, 0, "partial backups looking complete: {listing:?}");
    println!(
        "chaos: database pod killed during a backup: faults injected {injected}, survived {survived}, lost 0, \
         partial backups looking complete {looking_complete}"
    );
}

#[tokio::test]
async fn a_containerd_restart_keeps_the_instance_serving_and_its_data() {
    let _serial = ONE_FAULT_AT_A_TIME.lock().await;
    let env = env("faultcri").await;
    let node = Node::new();
    env.create_instance("cri", mariadb_spec(json!({}))).await;
    env.wait_phase("cri", Phase::Ready, READY).await;
    let app = Client::app(&env, "cri").await;
    app.wait_sql("CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO shop.t VALUES (1, 'before')")
        .await;
    let pod = the_pod(&env, "cri").await;
    let uid = pod.metadata.uid.clone();
    let restarts = |pod: &Pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|s| s.iter().map(|c| c.restart_count).sum::<i32>())
    };
    let restarts_before = restarts(&pod);
    let phases = PhaseLog::start(&env, "cri");
    let dir = node.dir.to_string_lossy().into_owned();

    let (mut injected, mut survived, mut lost) = (0, 0, 0);
    for (round, how) in ["SIGTERM and start again", "SIGKILL, 10 s down, start again"]
        .into_iter()
        .enumerate()
    {
        let old = node.pid("containerd");
        let started = Instant::now();
        let mut sql_failures = 0;
        if round == 0 {
            node.cluster_sh(&["restart", &dir, "containerd"]);
        } else {
            let killed = Command::new("kill").args(["-KILL", &old]).status().expect("kill");
            assert!(killed.success());
            wait_for("containerd gone", Duration::from_secs(10), || async {
                (!Node::alive(&old)).then_some(())
            })
            .await;
            // The runtime is down; the server (under its shim) still serves, and takes a write.
            let down = Instant::now();
            while down.elapsed() < Duration::from_secs(10) {
                if app.try_sql("SELECT 1").is_err() {
                    sql_failures += 1;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            app.sql("INSERT INTO shop.t VALUES (2, 'runtime down')");
            node.cluster_sh(&["restart", &dir, "containerd"]);
        }
        injected += 1;
        let new = node.pid("containerd");
        assert_ne!(old, new, "a new containerd");
        assert!(Node::alive(&new), "containerd {new} runs");
        // The kubelet talks to the new containerd again: the pod is seen Running and Ready through it.
        wait_for(
            "crictl-free check: the node Ready",
            Duration::from_secs(120),
            || async {
                let node: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
                let n = node.get("myi-node").await.ok()?;
                n.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
                    .then_some(())
            },
        )
        .await;
        // Watch it for a while: the kubelet resyncs every 10 s and relists the runtime.
        let watch = Instant::now();
        while watch.elapsed() < Duration::from_secs(20) {
            if app.try_sql("SELECT 1").is_err() {
                sql_failures += 1;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        env.wait_phase("cri", Phase::Ready, READY).await;
        let after = the_pod(&env, "cri").await;
        let rows = app.wait_sql("SELECT GROUP_CONCAT(v ORDER BY id) FROM shop.t").await;
        let want = if round == 0 { "before" } else { "before,runtime down" };
        if rows != want {
            lost += 1;
        }
        eprintln!(
            "containerd {how}: pid {old} -> {new}; Ready {:?} after the fault; SQL failures while watched {sql_failures}; \
             pod uid same {}, container restarts {:?} -> {:?}; rows {rows:?}",
            started.elapsed(),
            after.metadata.uid == uid,
            restarts_before,
            restarts(&after)
        );
        assert_eq!(rows, want, "the data survived");
        survived += 1;
    }
    let seen = phases.phases();
    eprintln!("phases seen: {seen:?}");
    // Truthful status: the server never stopped, so the instance never left Ready; had it seen the pod unready,
    // it could only have said so as Degraded (ReplicasNotReady).
    for (_, phase) in &seen {
        assert!(
            phase.starts_with("Some(Ready)") || phase.starts_with("Some(Degraded)(ReplicasNotReady)"),
            "{seen:?}"
        );
    }
    let after = the_pod(&env, "cri").await;
    assert_eq!(after.metadata.uid, uid, "the same pod");
    assert_eq!(lost, 0);
    println!(
        "chaos: containerd restarted under a serving instance: faults injected {injected}, survived {survived}, \
         lost {lost}, partial backups looking complete 0"
    );
}

/// Unmounts the small file system over a backup volume when dropped (also when the test fails).
struct Mounted<'a> {
    node: &'a Node,
    path: String,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self
            .node
            .sh(&format!("! mountpoint -q {p} || umount -l {p}", p = self.path));
    }
}

#[tokio::test]
async fn a_full_backup_volume_fails_each_backup_as_destination_full_and_leaves_nothing_looking_complete() {
    let _serial = ONE_FAULT_AT_A_TIME.lock().await;
    let env = env("faultfull").await;
    let node = Node::new();
    let backups =
        json!({"backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Mi"}}}});
    env.create_instance("full", mariadb_spec(backups)).await;
    env.wait_phase("full", Phase::Ready, READY).await;
    let app = Client::app(&env, "full").await;
    app.wait_sql("SELECT 1").await;
    seed_bulk(&app, "bulk", 20_000); // about 5 MiB of dump, 3 MiB after zstd
    let path = volume_path(&env, "full-backups").await;
    // The hostPath provisioner enforces no size: a 1 MiB tmpfs over the volume's directory, mounted where the
    // kubelet mounts from (the node's mount namespace) before any backup pod mounts the volume, makes the
    // requested size real.
    node.sh(&format!(
        "mount -t tmpfs -o size=1m,uid=999,gid=999,mode=0755 myi-faults-full {path} && df -k {path}"
    ))
    .expect("tmpfs mounted");
    let mounted = Mounted {
        node: &node,
        path: path.clone(),
    };

    let (mut injected, mut survived, mut looking_complete) = (0, 0, 0);
    for round in 1..=3 {
        let job = format!("full-{round}");
        start_backup(&env, "full", &job);
        let (succeeded, report) = wait_job(&env, &job).await;
        injected += 1;
        let report = report.expect("the runner's report");
        assert!(!succeeded, "{job} cannot fit: {report:?}");
        assert_eq!(report.status, Status::Failure);
        assert_eq!(report.reason.as_deref(), Some("DestinationFull"), "{report:?}");
        let error = report.error.clone().unwrap_or_default();
        assert!(
            error.to_lowercase().contains("full") || error.contains("No space"),
            "the error names the cause: {error}"
        );
        let log = env.kubectl(&["logs", &format!("job/{job}"), "-c", "backup"]);
        // One `error:` line naming the cause (stderr); the result line on stdout may be interleaved after it.
        let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            errors.len() == 1 && (errors[0].contains("full") || errors[0].contains("No space")),
            "the log has one error line naming the cause: {log}"
        );
        let listing = Listing::read(&node, &mounted.path, "full");
        looking_complete += listing.bad.len() + listing.verified.len();
        assert!(
            listing.verified.is_empty() && listing.bad.is_empty() && listing.partial().is_empty(),
            "nothing left behind: {listing:?}"
        );
        let st = wait_for(
            &format!("{round} failure(s) counted"),
            Duration::from_secs(60),
            || async {
                let st = status(&env, "full").await;
                (st.consecutive_backup_failures == round).then_some(st)
            },
        )
        .await;
        let backup_condition = condition(&st, "BackupSucceeded");
        assert!(
            backup_condition.starts_with(&format!("False BackupFailed: {round} backup(s) failed in a row"))
                && backup_condition.contains(&job)
                && backup_condition.contains("full"),
            "{backup_condition}"
        );
        let want = if round < 3 { Phase::Ready } else { Phase::Degraded };
        let st = env.wait_phase("full", want, Duration::from_secs(60)).await;
        let ready = condition(st.status.as_ref().expect("status"), "Ready");
        eprintln!("{job}: {error}; phase {want:?}, Ready {ready}; {backup_condition}");
        if round == 3 {
            assert!(ready.contains("BackupsFailing"), "{ready}");
        }
        assert!(st.status.and_then(|s| s.last_backup).is_none(), "no backup reported");
        survived += 1;
    }
    assert_eq!(
        app.sql("SELECT COUNT(*) FROM shop.bulk"),
        "20000",
        "the database kept serving"
    );

    // Room again (the tmpfs gone, the volume's own directory): the next backup succeeds and counts.
    drop(mounted);
    start_backup(&env, "full", "full-room");
    let (succeeded, report) = wait_job(&env, "full-room").await;
    assert!(succeeded, "{report:?}");
    let listing = Listing::read(&node, &path, "full");
    looking_complete += listing.bad.len();
    assert_eq!(listing.verified.len(), 1, "{listing:?}");
    let st = wait_for("the success reported", Duration::from_secs(60), || async {
        let st = status(&env, "full").await;
        (st.consecutive_backup_failures == 0 && st.last_backup.is_some()).then_some(st)
    })
    .await;
    assert_eq!(
        condition(&st, "BackupSucceeded").split(':').next(),
        Some("True BackupCompleted")
    );
    env.wait_phase("full", Phase::Ready, Duration::from_secs(60)).await;
    assert_eq!(looking_complete, 0);
    println!(
        "chaos: backup volume full: faults injected {injected}, survived {survived}, lost 0, \
         partial backups looking complete {looking_complete}"
    );
}
