//! Children are recreated when deleted, config and storage edits reach them, an unchanged instance and its
//! children are not rewritten, and a child the API refuses is named on the instance while the rest is applied.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, ResourceQuota, Secret, Service};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::lifecycle::plain_spec;
use crate::support::{
    TestEnv, assert_no_series, delete_and_wait, forbid, metric_value, try_metric_value, wait_event, wait_for,
};

const READY_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn deleted_children_are_recreated_and_config_and_storage_edits_reach_them() {
    let env = TestEnv::new("children").await;
    env.create_instance("db", plain_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;

    let services = env.api::<Service>();
    let old_uid = services.get("db").await.expect("service").uid();
    delete_and_wait(&services, "db", Duration::from_secs(10)).await;
    wait_for("Service recreated", Duration::from_secs(15), || async {
        let service = services.get_opt("db").await.ok()??;
        (service.uid() != old_uid).then_some(())
    })
    .await;

    let statefulsets = env.api::<StatefulSet>();
    let old_uid = statefulsets.get("db").await.expect("sts").uid();
    let _ = statefulsets.delete("db", &kube::api::DeleteParams::foreground()).await;
    wait_for("StatefulSet recreated", Duration::from_secs(30), || async {
        let sts = statefulsets.get_opt("db").await.ok()??;
        (sts.uid() != old_uid).then_some(())
    })
    .await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;

    // A config edit rewrites my.cnf and rolls the pod template; a storage edit grows the data volume.
    let api = env.api::<MySQLInstance>();
    let template_hash = |sts: StatefulSet| {
        sts.spec
            .template
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default()
    };
    let before = template_hash(statefulsets.get("db").await.expect("sts"));
    let edit = json!({"spec": {"config": {"max_connections": "777"}, "storage": {"size": "3Gi"}}});
    api.patch("db", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .expect("edited");
    wait_for("my.cnf carries the new setting", Duration::from_secs(20), || async {
        let cm = env.api::<ConfigMap>().get("db-config").await.ok()?;
        cm.data?.get("my.cnf")?.contains("max_connections = 777").then_some(())
    })
    .await;
    let after = template_hash(statefulsets.get("db").await.expect("sts"));
    assert_ne!(
        before, after,
        "the pod template did not change, so the server would not restart with the new config"
    );
    wait_for("data volume grown to 3Gi", Duration::from_secs(20), || async {
        let pvc = env.api::<PersistentVolumeClaim>().get("data-db-0").await.ok()?;
        let requested = pvc.spec?.resources?.requests?.get("storage")?.0.clone();
        (requested == "3Gi").then_some(())
    })
    .await;
    let ready = env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    assert_eq!(
        ready.status.and_then(|s| s.observed_generation),
        ready.metadata.generation
    );
}

/// resourceVersions of the instance and every child.
async fn versions(env: &TestEnv) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let rv = |kind: &str, name: String, rv: Option<String>| (format!("{kind}/{name}"), rv.unwrap_or_default());
    let i = env.api::<MySQLInstance>().get("db").await.expect("instance");
    out.extend([rv("MySQLInstance", i.name_any(), i.resource_version())]);
    for s in env.api::<Service>().list(&Default::default()).await.expect("services") {
        out.extend([rv("Service", s.name_any(), s.resource_version())]);
    }
    for s in env.api::<StatefulSet>().list(&Default::default()).await.expect("sts") {
        out.extend([rv("StatefulSet", s.name_any(), s.resource_version())]);
    }
    for c in env
        .api::<ConfigMap>()
        .list(&Default::default())
        .await
        .expect("configmaps")
    {
        if c.name_any() != "kube-root-ca.crt" {
            out.extend([rv("ConfigMap", c.name_any(), c.resource_version())]);
        }
    }
    for s in env.api::<Secret>().list(&Default::default()).await.expect("secrets") {
        out.extend([rv("Secret", s.name_any(), s.resource_version())]);
    }
    for p in env
        .api::<PersistentVolumeClaim>()
        .list(&Default::default())
        .await
        .expect("pvcs")
    {
        out.extend([rv("PersistentVolumeClaim", p.name_any(), p.resource_version())]);
    }
    out
}

const RECONCILES: &str = "mysqlinstance_reconcile_duration_seconds_count";

/// Everything that still moves after an instance turns Ready has settled: the instance's status is for its
/// generation, the StatefulSet controller has recorded a finished rollout, and the data volume is bound.
async fn settled(env: &TestEnv) -> Option<()> {
    let instance = env.api::<MySQLInstance>().get("db").await.ok()?;
    let status = instance.status?;
    if status.phase? != Phase::Ready || status.observed_generation != instance.metadata.generation {
        return None;
    }
    let sts = env.api::<StatefulSet>().get("db").await.ok()?;
    let want = sts.spec.replicas?;
    let sts_status = sts.status?;
    let rolled_out = sts_status.observed_generation == sts.metadata.generation
        && sts_status.ready_replicas == Some(want)
        && sts_status.available_replicas == Some(want)
        && sts_status.updated_replicas == Some(want)
        && sts_status.current_revision.is_some()
        && sts_status.current_revision == sts_status.update_revision;
    let pvc = env.api::<PersistentVolumeClaim>().get("data-db-0").await.ok()?;
    let bound = pvc.status?.phase.as_deref() == Some("Bound");
    (rolled_out && bound).then_some(())
}

#[tokio::test]
async fn an_unchanged_instance_and_its_children_are_not_rewritten_across_operator_restarts() {
    let mut env = TestEnv::new("zerowrites").await;
    env.create_instance("db", plain_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    wait_for(
        "the instance's status, the StatefulSet's rollout and the data volume settled",
        Duration::from_secs(30),
        || settled(&env),
    )
    .await;
    let before = versions(&env).await;
    assert!(before.len() >= 6, "{before:?}");

    // Two restarts: each start reconciles every instance from scratch.
    for round in 0..2 {
        env.kill_operator();
        env.start_operator();
        wait_for(
            &format!("a successful reconcile after restart {round}"),
            Duration::from_secs(30),
            || async {
                let metrics = env.try_metrics().await?;
                try_metric_value(&metrics, RECONCILES, &[("result", "success")])
                    .is_some_and(|count| count >= 1.0)
                    .then_some(())
            },
        )
        .await;
    }
    // An observation window, not a wait for a condition: nothing is meant to happen, so there is nothing to await.
    // A write that triggers its own reconcile (a loop through the watches) or any rewrite by the operator would
    // change a resourceVersion within it. The periodic resync (every 5 minutes) is not in the window; the
    // reconciles at each start above are the full ones.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = versions(&env).await;
    assert_eq!(before, after, "resourceVersions changed on an unchanged instance");
    let metrics = env.metrics().await;
    assert!(
        metric_value(&metrics, RECONCILES, &[("result", "success")]) >= 1.0,
        "the operator did not reconcile at all"
    );
    // Error series appear with the first error: none may exist.
    assert_no_series(&metrics, "mysqlinstance_reconcile_errors_total", &[]);
    // An apply that changes nothing keeps the resourceVersion, so the versions alone cannot see it: the
    // operator's own count of writes must have no series at all since its last start.
    assert_no_series(&metrics, "mysqlinstance_api_writes_total", &[]);
}

#[tokio::test]
async fn a_child_refused_by_a_quota_is_named_on_the_instance_while_the_rest_reaches_ready() {
    let env = TestEnv::new("quota").await;
    forbid(&env, "no-cronjobs", "count/cronjobs.batch").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    // The CronJob is refused; the StatefulSet, Services and volumes are not held back by it.
    let instance = env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    let synced = wait_for("Synced=False naming the CronJob", Duration::from_secs(30), || async {
        let instance = env.api::<MySQLInstance>().get("db").await.ok()?;
        let conditions = instance.status?.conditions;
        conditions
            .into_iter()
            .find(|c| c.type_ == "Synced" && c.status == "False" && c.message.starts_with("CronJob db-backup: "))
    })
    .await;
    assert_eq!(synced.reason, "ApiForbidden", "{}", synced.message);
    assert!(synced.message.contains("exceeded quota"), "{}", synced.message);
    assert!(instance.status.is_some());
    wait_event(&env, "db", "Warning", "ApiForbidden").await;

    env.api::<ResourceQuota>()
        .delete("no-cronjobs", &DeleteParams::default())
        .await
        .expect("quota deleted");
    // The retry creates it, and Synced turns True. Nothing watched changes when a quota goes away, so the
    // retry comes on its backoff: every failed reconcile doubles it, also those the pods' and the
    // StatefulSet's events triggered while the instance started, so under load it may have reached its cap
    // of 5 minutes (docs/reconcile.md).
    wait_for(
        "the CronJob once the quota is gone",
        Duration::from_secs(330),
        || async { env.api::<CronJob>().get_opt("db-backup").await.ok()? },
    )
    .await;
    wait_for("Synced=True", Duration::from_secs(30), || async {
        let instance = env.api::<MySQLInstance>().get("db").await.ok()?;
        instance
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Synced" && c.status == "True")
    })
    .await;
}

#[tokio::test]
async fn a_spec_the_api_refuses_stops_progressing_with_the_reason_until_it_is_fixed() {
    let env = TestEnv::new("unapplicable").await;
    // Valid for the CRD, refused by the apiserver in the StatefulSet: a request above its limit.
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}),
    )
    .await;
    let stalled = wait_for("Progressing=False", Duration::from_secs(30), || async {
        let instance = env.api::<MySQLInstance>().get("db").await.ok()?;
        instance
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Progressing" && c.status == "False")
    })
    .await;
    assert_eq!(stalled.reason, "ApiRejected", "{}", stalled.message);
    assert!(stalled.message.starts_with("StatefulSet db: "), "{}", stalled.message);
    wait_event(&env, "db", "Warning", "ApiRejected").await;
    // Not retried in a loop: once the watch events of the children it did write have been handled, the
    // refusal waits for a change (the retry policy itself is pinned by the controller scenarios). Absence of
    // retries can only be shown over a window of time.
    let errors = |scrape: &str| {
        try_metric_value(
            scrape,
            "mysqlinstance_reconcile_errors_total",
            &[("reason", "ApiRejected")],
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut settled = errors(&env.metrics().await).expect("the refusal is counted");
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = errors(&env.metrics().await).expect("still counted");
        if now == settled {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the refusals never settle: {now}");
        settled = now;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(errors(&env.metrics().await), Some(settled), "no retry without a change");

    env.api::<MySQLInstance>()
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"resources": {"requests": {"cpu": "500m"}}}})),
        )
        .await
        .expect("spec fixed");
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
}
