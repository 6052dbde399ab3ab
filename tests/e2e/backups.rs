//! A backup CronJob firing puts the instance in BackingUp while its Job runs and records lastBackup when it
//! completes; a failed Job sets BackupSucceeded=False, and Degraded wins when the database is also unhealthy.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::ResourceExt;
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::lifecycle::set_pod_unready;
use crate::support::{TestEnv, metric_value, run_backup_job, wait_for};

fn condition(instance: &MySQLInstance, type_: &str) -> Option<(String, String)> {
    let c = instance.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.reason.clone()))
}

#[tokio::test]
async fn a_scheduled_backup_runs_through_backing_up_and_records_last_backup() {
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
    assert!(last.completed_at.is_some() && last.started_at.is_some());
    assert_eq!(
        condition(&done, "BackupSucceeded"),
        Some(("True".into(), "BackupCompleted".into()))
    );
    let metrics = env.metrics().await;
    assert!(
        metric_value(
            &metrics,
            "mysqlinstance_backup_last_success_timestamp_seconds",
            &[("mysqlinstance", "db")]
        ) > 0.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "mysqlinstance_backup_consecutive_failures",
            &[("mysqlinstance", "db")]
        ),
        0.0
    );
}

#[tokio::test]
async fn a_failed_backup_is_reported_and_degraded_wins_when_the_database_is_unhealthy() {
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
    let degraded = env.wait_phase("db", Phase::Degraded, Duration::from_secs(30)).await;
    assert_eq!(
        condition(&degraded, "Degraded"),
        Some(("True".into(), "ReplicasNotReady".into()))
    );
    wait_for("second failure counted", Duration::from_secs(30), || async {
        let instance = api.get("db").await.ok()?;
        (instance.status?.consecutive_backup_failures == 2).then_some(())
    })
    .await;
    let metrics = env.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            "mysqlinstance_backup_consecutive_failures",
            &[("mysqlinstance", "db")]
        ),
        2.0
    );
    let _ = degraded.name_any();
}

#[tokio::test]
async fn a_new_instance_restores_a_backup_before_it_is_ready() {
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
