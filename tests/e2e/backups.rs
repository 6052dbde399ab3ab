//! Backup and restore orchestration on kwok: the Jobs' pods run nothing (tests/cluster/stages: they complete or
//! fail after 8 s, a completed backup pod leaving a fabricated result line). These tests prove what the operator
//! makes of the Jobs: phases, conditions, status and metrics. Real dumps and restores are proven by tests/backup
//! (the runner against MariaDB and S3) and tests/node (a backup restored into a new instance on a real node).

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::lifecycle::set_pod_unready;
use crate::support::{TestEnv, run_backup_job, wait_for};

fn condition(instance: &MySQLInstance, type_: &str) -> Option<(String, String)> {
    let c = instance.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

#[tokio::test]
async fn a_cronjob_backup_job_shows_backing_up_and_its_reported_result_fills_last_backup() {
    let env = TestEnv::new("backup").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "* * * * *", "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;
    let cronjob = env.api::<CronJob>().get("db-backup").await.expect("CronJob");
    let spec = &cronjob.spec;
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let pod = spec
        .job_template
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    assert_eq!(pod.containers[0].args.as_ref().expect("args")[0], "backup");

    // The CronJob controller fires at the next minute; kwok runs the Job's pod for 8 s.
    let backing_up = env.wait_phase("db", Phase::BackingUp, Duration::from_secs(75)).await;
    assert_eq!(
        condition(&backing_up, "Ready").map(|c| c.0).as_deref(),
        Some("True"),
        "BackingUp keeps Ready=True"
    );
    assert_eq!(
        condition(&backing_up, "BackingUp").map(|c| c.0).as_deref(),
        Some("True")
    );

    let done = env.wait_phase("db", Phase::Ready, Duration::from_secs(30)).await;
    let status = done.status.clone().expect("status");
    let last = status.last_backup.expect("lastBackup set");
    // These come from the result line the backup container left in its termination message, never from
    // CronJob timestamps.
    assert!(
        last.name.starts_with("db-") && last.name.ends_with(".sql.zst"),
        "{}",
        last.name
    );
    assert_eq!(last.location, Some(format!("file:///backups/{}", last.name)));
    assert_eq!(last.size_bytes, Some(1_048_576));
    assert!(last.sha256.as_ref().is_some_and(|h| h.len() == 64), "{:?}", last.sha256);
    assert_eq!(last.duration_seconds, Some(8.0));
    assert!(last.started_at.is_some(), "lastBackup.startedAt not set");
    let completed_at = last.completed_at.expect("lastBackup.completedAt set");
    assert_eq!(
        condition(&done, "BackupSucceeded"),
        Some(("True".into(), "BackupCompleted".into()))
    );
    let completed_seconds = completed_at.0.as_millisecond() as f64 / 1000.0;
    env.wait_metric(
        "mysqlinstance_backup_last_success_timestamp_seconds",
        &[("mysqlinstance", "db")],
        &format!("status.lastBackup.completedAt ({completed_seconds})"),
        |v| v == completed_seconds,
    )
    .await;
    env.wait_metric(
        "mysqlinstance_backup_consecutive_failures",
        &[("mysqlinstance", "db")],
        "== 0",
        |v| v == 0.0,
    )
    .await;
}

#[tokio::test]
async fn a_failed_backup_job_sets_backup_succeeded_false_and_degraded_wins_over_backing_up() {
    let env = TestEnv::new("backupfail").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "suspend": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;
    let api = env.api::<MySQLInstance>();
    assert_eq!(
        condition(&api.get("db").await.expect("instance"), "BackupSucceeded")
            .map(|c| c.0)
            .as_deref(),
        Some("Unknown")
    );

    run_backup_job(&env, "db", "db-backup-manual-1", true).await;
    let failed = wait_for("BackupSucceeded=False", Duration::from_secs(30), || async {
        let instance = api.get("db").await.ok()?;
        (condition(&instance, "BackupSucceeded")?.0 == "False").then_some(instance)
    })
    .await;
    let message = failed
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "BackupSucceeded"))
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("db-backup-manual-1: cannot connect to db."),
        "the runner's error is not in the condition: {message}"
    );
    let status = failed.status.expect("status");
    assert_eq!(status.consecutive_backup_failures, 1);
    assert_eq!(
        status.phase,
        Some(Phase::Ready),
        "one failed backup of a healthy database is not Degraded"
    );

    // A backup running while the database is unhealthy: Degraded wins over BackingUp.
    set_pod_unready(&env, "db-0", true).await;
    run_backup_job(&env, "db", "db-backup-manual-2", true).await;
    // The Job's pod runs for 8 s: within that time the instance shows the backup running and is still Degraded.
    let degraded = wait_for(
        "phase Degraded while BackingUp=True",
        Duration::from_secs(30),
        || async {
            let instance = api.get("db").await.ok()?;
            let running = condition(&instance, "BackingUp")?.0 == "True";
            (running && instance.status.as_ref()?.phase? == Phase::Degraded).then_some(instance)
        },
    )
    .await;
    assert_eq!(
        condition(&degraded, "Degraded"),
        Some(("True".into(), "ReplicasNotReady".into()))
    );
    wait_for("second failure counted", Duration::from_secs(30), || async {
        let instance = api.get("db").await.ok()?;
        (instance.status?.consecutive_backup_failures == 2).then_some(())
    })
    .await;
    env.wait_metric(
        "mysqlinstance_backup_consecutive_failures",
        &[("mysqlinstance", "db")],
        "== 2",
        |v| v == 2.0,
    )
    .await;
}

/// Orchestration only: the restore Job's pod restores nothing here. The instance waits in Provisioning for the
/// server, starts the restore Job with the right arguments, stays not Ready until the Job completes, then records
/// restoredAt; restoreFrom cannot be added to an existing instance.
#[tokio::test]
async fn restore_from_holds_a_new_instance_in_provisioning_until_its_restore_job_completes() {
    let env = TestEnv::new("restore").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "suspend": true, "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;

    let api = env.api::<MySQLInstance>();
    env.create_instance(
        "copy",
        json!({"storage": {"size": "1Gi"}, "restoreFrom": {"instance": "db", "pvc": {"claimName": "db-backups"}}}),
    )
    .await;
    // The server comes up first, then the restore runs while the instance stays Provisioning.
    let restoring = wait_for(
        "Provisioning with reason Restoring",
        Duration::from_secs(60),
        || async {
            let instance = api.get("copy").await.ok()?;
            (condition(&instance, "Progressing")? == ("True".into(), "Restoring".into())).then_some(instance)
        },
    )
    .await;
    assert_eq!(
        restoring.status.as_ref().and_then(|s| s.phase),
        Some(Phase::Provisioning)
    );
    assert_eq!(
        condition(&restoring, "Ready").map(|c| c.0).as_deref(),
        Some("False"),
        "not Ready before the restore"
    );
    let job = env.api::<Job>().get("copy-restore").await.expect("restore Job");
    let args = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers[0].args.clone());
    let args = args.flatten().expect("args");
    assert_eq!(
        &args[..4],
        [
            "restore",
            "--source=latest",
            "--repository=file:///backups",
            "--instance=db"
        ]
    );

    let ready = env.wait_phase("copy", Phase::Ready, Duration::from_secs(60)).await;
    assert!(
        ready.status.and_then(|s| s.restored_at).is_some(),
        "restoredAt not recorded"
    );

    // A restore only ever seeds a new instance.
    let late = json!({"spec": {"restoreFrom": {"instance": "copy", "pvc": {"claimName": "db-backups"}}}});
    let error = api
        .patch(
            "db",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&late),
        )
        .await
        .expect_err("restoreFrom added to an existing instance");
    assert!(
        error
            .to_string()
            .contains("restoreFrom can only be set when the instance is created"),
        "{error}"
    );
}
