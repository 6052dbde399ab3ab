//! The operator killed mid-provisioning converges after a restart, with no duplicate or missing child.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota, Secret, Service};
use kube::api::{DeleteParams, ListParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::support::{TestEnv, forbid, wait_for};

#[tokio::test]
async fn an_operator_killed_mid_provisioning_converges_to_one_of_each_child_after_restart() {
    let mut env = TestEnv::new("restart").await;
    // A fake pod is Ready within milliseconds, so the kill could land after Ready. A quota of zero pods holds the
    // StatefulSet's pod back: the instance stays Provisioning for as long as the quota exists.
    forbid(&env, "no-pods", "pods").await;
    env.create_instance(
        "db",
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}}),
    )
    .await;
    // Kill as soon as the first write landed: the Secret exists, the other children may or may not.
    wait_for("credentials created", Duration::from_secs(30), || async {
        env.api::<Secret>().get_opt("db-credentials").await.ok()?.map(|_| ())
    })
    .await;
    env.kill_operator();
    let phase = env
        .api::<MySQLInstance>()
        .get("db")
        .await
        .expect("instance")
        .status
        .and_then(|s| s.phase);
    assert_ne!(
        phase,
        Some(Phase::Ready),
        "the quota should have kept the instance from Ready"
    );

    env.api::<ResourceQuota>()
        .delete("no-pods", &DeleteParams::default())
        .await
        .expect("quota deleted");
    env.start_operator();
    env.wait_phase("db", Phase::Ready, Duration::from_secs(90)).await;
    let selector = ListParams::default().labels("mysqlinstance.io/instance=db");
    let counts = [
        env.api::<StatefulSet>()
            .list(&selector)
            .await
            .expect("list")
            .items
            .len(),
        env.api::<Service>().list(&selector).await.expect("list").items.len(),
        env.api::<ConfigMap>().list(&selector).await.expect("list").items.len(),
        env.api::<Secret>().list(&selector).await.expect("list").items.len(),
        env.api::<CronJob>().list(&selector).await.expect("list").items.len(),
    ];
    assert_eq!(
        counts,
        [1, 2, 1, 2, 1],
        "StatefulSet, Services, ConfigMap, Secrets (application and root), CronJob"
    );
}
