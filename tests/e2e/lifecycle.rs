//! An instance goes Pending -> Provisioning -> Ready with every child present and owned correctly, is visible in
//! `kubectl get myi` and `kubectl wait`, turns Degraded when its pod stops being ready and recovers.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::support::{TestEnv, wait_event, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub fn plain_spec() -> serde_json::Value {
    json!({"version": "8.4", "storage": {"size": "1Gi"}, "database": "app", "user": "app"})
}

#[tokio::test]
async fn create_goes_pending_provisioning_ready_with_owned_children() {
    let env = TestEnv::new("lifecycle").await;
    let api = env.api::<MySQLInstance>();
    let phases = {
        let stream = watcher(api.clone(), watcher::Config::default().fields("metadata.name=db")).applied_objects();
        tokio::spawn(async move {
            let mut seen: Vec<Phase> = Vec::new();
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(instance)) = stream.next().await {
                if let Some(phase) = instance.status.and_then(|s| s.phase) {
                    if seen.last() != Some(&phase) {
                        seen.push(phase);
                    }
                    if phase == Phase::Ready {
                        break;
                    }
                }
            }
            seen
        })
    };
    let created = env.create_instance("db", plain_spec()).await;
    let phases = tokio::time::timeout(READY_TIMEOUT, phases)
        .await
        .expect("reached Ready in time")
        .expect("watch task");
    // The first status is already Provisioning: the reconcile that creates the credentials and the
    // StatefulSet writes the phase they lead to (Pending shows only while credentials cannot be made).
    assert_eq!(
        phases,
        vec![Phase::Provisioning, Phase::Ready],
        "phases seen by a watch"
    );

    let ready = api.get("db").await.expect("instance");
    let status = ready.status.clone().expect("status");
    assert_eq!(status.ready.as_deref(), Some("1/1"));
    assert_eq!(status.observed_generation, ready.metadata.generation);
    assert_eq!(status.secret_name.as_deref(), Some("db-credentials"));
    assert_eq!(status.endpoint, Some(format!("db.{}.svc:3306", env.namespace)));
    let condition = |t: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| c.status.clone())
    };
    assert_eq!(condition("Ready").as_deref(), Some("True"));
    assert_eq!(condition("Progressing").as_deref(), Some("False"));
    assert_eq!(condition("Degraded").as_deref(), Some("False"));

    let uid = created.uid().expect("uid");
    let owned_by_instance = |meta: &kube::api::ObjectMeta| {
        meta.owner_references
            .as_ref()
            .is_some_and(|o| o.iter().any(|r| r.uid == uid && r.controller == Some(true)))
    };
    let sts = env.api::<StatefulSet>().get("db").await.expect("StatefulSet");
    assert!(owned_by_instance(sts.meta()));
    for name in ["db", "db-headless"] {
        assert!(
            owned_by_instance(env.api::<Service>().get(name).await.expect("Service").meta()),
            "{name}"
        );
    }
    assert!(owned_by_instance(
        env.api::<ConfigMap>().get("db-config").await.expect("ConfigMap").meta()
    ));
    let secrets = env.api::<Secret>();
    let (app, root) = (
        secrets.get("db-credentials").await.expect("application Secret"),
        secrets.get("db-root-credentials").await.expect("root Secret"),
    );
    for secret in [&app, &root] {
        assert!(
            !owned_by_instance(secret.meta()),
            "under deletionPolicy Retain the Secrets outlive the instance"
        );
    }
    let (app, root) = (app.data.expect("data"), root.data.expect("data"));
    for (data, key) in [(&app, "password"), (&root, "root-password"), (&root, "client.cnf")] {
        assert!(data.get(key).is_some_and(|v| v.0.len() >= 16), "{key} present and long");
    }
    for key in ["root-password", "client.cnf"] {
        assert!(!app.contains_key(key), "applications never get {key}");
    }

    // kubectl's own view: the printer columns and `kubectl wait`.
    let table = env.kubectl(&["get", "myi"]);
    let header: Vec<&str> = table.lines().next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "READY", "VERSION", "LAST", "BACKUP", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table.lines().nth(1).expect("row").split_whitespace().collect();
    assert_eq!(&row[..4], ["db", "Ready", "1/1", "8.4"], "{table}");
    env.kubectl(&["wait", "--for=condition=Ready", "myi/db", "--timeout=10s"]);

    env.wait_metric("mysqlinstance_instances", &[("phase", "Ready")], "== 1", |v| v == 1.0)
        .await;
    env.wait_metric(
        "mysqlinstance_phase_transitions_total",
        &[("from", "Provisioning"), ("to", "Ready")],
        ">= 1",
        |v| v >= 1.0,
    )
    .await;
}

/// Sets or removes the kwok label that makes a fake pod not ready.
pub async fn set_pod_unready(env: &TestEnv, pod: &str, unready: bool) {
    let value = if unready {
        json!("true")
    } else {
        serde_json::Value::Null
    };
    let patch = json!({"metadata": {"labels": {"mysqlinstance.io/test-unready": value}}});
    env.api::<Pod>()
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("pod labelled");
}

#[tokio::test]
async fn an_unready_pod_degrades_the_instance_until_it_recovers() {
    let env = TestEnv::new("degraded").await;
    env.create_instance("db", plain_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;

    set_pod_unready(&env, "db-0", true).await;
    let degraded = env.wait_phase("db", Phase::Degraded, Duration::from_secs(30)).await;
    let conditions = degraded.status.expect("status").conditions;
    let degraded_condition = conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("Degraded condition");
    assert_eq!(
        (degraded_condition.status.as_str(), degraded_condition.reason.as_str()),
        ("True", "ReplicasNotReady")
    );
    assert!(
        degraded_condition.message.contains("0/1"),
        "{}",
        degraded_condition.message
    );
    let ready = conditions.iter().find(|c| c.type_ == "Ready").expect("Ready condition");
    assert_eq!(ready.status, "False");

    wait_event(&env, "db", "Warning", "ReplicasNotReady").await;
    env.wait_metric("mysqlinstance_instances", &[("phase", "Degraded")], "== 1", |v| {
        v == 1.0
    })
    .await;
    env.wait_metric(
        "mysqlinstance_status_condition",
        &[("mysqlinstance", "db"), ("type", "Degraded"), ("status", "True")],
        "== 1",
        |v| v == 1.0,
    )
    .await;

    set_pod_unready(&env, "db-0", false).await;
    let recovered = env.wait_phase("db", Phase::Ready, Duration::from_secs(30)).await;
    let ready = recovered
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "True");
    wait_event(&env, "db", "Normal", "Recovered").await;
}

#[tokio::test]
async fn a_paused_instance_reports_paused_and_applies_spec_edits_only_after_resume() {
    let env = TestEnv::new("paused").await;
    env.create_instance("db", plain_spec()).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    let api = env.api::<MySQLInstance>();
    let pause = json!({"spec": {"paused": true, "config": {"max_connections": "321"}}});
    api.patch("db", &PatchParams::default(), &Patch::Merge(&pause))
        .await
        .expect("paused");
    wait_for("Paused condition", Duration::from_secs(20), || async {
        let instance = api.get("db").await.ok()?;
        let status = instance.status?;
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Paused" && c.status == "True")
            .then_some(())
    })
    .await;
    let cnf = env
        .api::<ConfigMap>()
        .get("db-config")
        .await
        .expect("config")
        .data
        .expect("data")["my.cnf"]
        .clone();
    assert!(!cnf.contains("321"), "a paused instance's config was changed");

    let resume = json!({"spec": {"paused": false}});
    api.patch("db", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .expect("resumed");
    wait_for("config applied after resume", Duration::from_secs(30), || async {
        let cm = env.api::<ConfigMap>().get("db-config").await.ok()?;
        cm.data?.get("my.cnf")?.contains("max_connections = 321").then_some(())
    })
    .await;
}
