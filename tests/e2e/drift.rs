//! Drift: a managed field of a child changed by someone else is put back by the operator, while fields it
//! does not manage stay as the user set them.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Patch, PatchParams};
use mysqlinstance_operator::api::Phase;
use serde_json::json;

use crate::lifecycle::plain_spec;
use crate::support::{TestEnv, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(90);
const RESTORED_WITHIN: Duration = Duration::from_secs(20);

/// Another client's edit, as `kubectl edit` or another controller would make it.
fn by_someone_else() -> PatchParams {
    PatchParams {
        field_manager: Some("someone-else".to_owned()),
        ..PatchParams::default()
    }
}

#[tokio::test]
async fn managed_fields_edited_by_others_are_restored_and_their_own_fields_are_kept() {
    let env = TestEnv::new("drift").await;
    env.create_instance("db", plain_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;

    let statefulsets = env.api::<StatefulSet>();
    let scale = json!({"spec": {"replicas": 3}});
    statefulsets
        .patch("db", &by_someone_else(), &Patch::Merge(&scale))
        .await
        .expect("scaled by hand");
    wait_for("StatefulSet replicas put back to 1", RESTORED_WITHIN, || async {
        let sts = statefulsets.get("db").await.ok()?;
        (sts.spec.replicas == Some(1)).then_some(())
    })
    .await;

    let services = env.api::<Service>();
    let relabel = json!({"metadata": {
        "labels": {"mysqlinstance.io/instance": null, "team": "payments"},
        "annotations": {"note": "kept"},
    }});
    services
        .patch("db", &by_someone_else(), &Patch::Merge(&relabel))
        .await
        .expect("label removed by hand");
    let restored = wait_for("Service label put back", RESTORED_WITHIN, || async {
        let service = services.get("db").await.ok()?;
        let labels = service.metadata.labels.clone()?;
        (labels.get("mysqlinstance.io/instance").map(String::as_str) == Some("db")).then_some(service)
    })
    .await;
    assert_eq!(
        restored
            .metadata
            .labels
            .unwrap_or_default()
            .get("team")
            .map(String::as_str),
        Some("payments"),
        "a label the operator does not set is the user's"
    );
    assert_eq!(
        restored
            .metadata
            .annotations
            .unwrap_or_default()
            .get("note")
            .map(String::as_str),
        Some("kept")
    );

    let config_maps = env.api::<ConfigMap>();
    let original = config_maps
        .get("db-config")
        .await
        .expect("config")
        .data
        .unwrap_or_default();
    let overwrite = json!({"data": {"my.cnf": "[mysqld]\nmax_connections = 1\n"}});
    config_maps
        .patch("db-config", &by_someone_else(), &Patch::Merge(&overwrite))
        .await
        .expect("my.cnf edited by hand");
    wait_for("my.cnf put back", RESTORED_WITHIN, || async {
        let data = config_maps.get("db-config").await.ok()?.data?;
        (data == original).then_some(())
    })
    .await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
}
