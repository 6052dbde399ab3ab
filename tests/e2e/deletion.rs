//! deletionPolicy Retain keeps the data volume and the credentials, and a recreated instance reuses them;
//! Delete leaves nothing behind.

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use kube::Api;
use kube::api::{ListParams, PostParams};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use serde_json::json;

use crate::support::{TestEnv, delete_and_wait, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(90);

fn spec(policy: &str) -> serde_json::Value {
    json!({
        "storage": {"size": "1Gi"},
        "deletionPolicy": policy,
        "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}},
    })
}

async fn names<K>(api: &Api<K>) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api
        .list(&ListParams::default().labels("mysqlinstance.io/instance=db"))
        .await
        .expect("list");
    list.items.iter().filter_map(|o| o.meta().name.clone()).collect()
}

async fn root_password(secrets: &Api<Secret>) -> k8s_openapi::ByteString {
    let secret = secrets.get("db-root-credentials").await.expect("root Secret");
    secret.data.expect("data")["root-password"].clone()
}

#[tokio::test]
async fn retain_keeps_volumes_and_credentials_and_a_recreated_instance_reuses_them() {
    let env = TestEnv::new("retain").await;
    env.create_instance("db", spec("Retain")).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    let secrets = env.api::<Secret>();
    let password = root_password(&secrets).await;
    let pvcs = env.api::<PersistentVolumeClaim>();
    let data_uid = pvcs.get("data-db-0").await.expect("data PVC").metadata.uid;

    delete_and_wait(&env.api::<MySQLInstance>(), "db", Duration::from_secs(30)).await;
    wait_for("StatefulSet garbage-collected", Duration::from_secs(30), || async {
        env.api::<StatefulSet>()
            .get_opt("db")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    for secret in ["db-credentials", "db-root-credentials"] {
        assert!(
            secrets.get_opt(secret).await.expect("get").is_some(),
            "Retain deleted the Secret {secret}"
        );
    }
    assert_eq!(
        pvcs.get("data-db-0").await.expect("data PVC kept").metadata.uid,
        data_uid
    );
    assert!(
        pvcs.get_opt("db-backups").await.expect("get").is_some(),
        "Retain deleted the backup volume"
    );

    env.create_instance("db", spec("Retain")).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    let reused = root_password(&secrets).await;
    assert_eq!(
        password, reused,
        "the recreated instance got new credentials and would be locked out of its data"
    );
    assert_eq!(
        pvcs.get("data-db-0").await.expect("data PVC").metadata.uid,
        data_uid,
        "the data volume was replaced"
    );
}

/// What is left of the instance `db` in the namespace, by kind: its labelled children, and every PVC (the data
/// volume comes from the StatefulSet's claim template, the backup volume from the operator).
async fn children(env: &TestEnv) -> Vec<(&'static str, Vec<String>)> {
    let pvcs = env
        .api::<PersistentVolumeClaim>()
        .list(&ListParams::default())
        .await
        .expect("list PVCs")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    vec![
        ("StatefulSet", names(&env.api::<StatefulSet>()).await),
        ("Service", names(&env.api::<Service>()).await),
        ("ConfigMap", names(&env.api::<ConfigMap>()).await),
        ("Secret", names(&env.api::<Secret>()).await),
        ("CronJob", names(&env.api::<CronJob>()).await),
        ("PersistentVolumeClaim", pvcs),
    ]
}

#[tokio::test]
async fn delete_policy_removes_every_child_and_volume() {
    let env = TestEnv::new("delete").await;
    env.create_instance("db", spec("Delete")).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    // Every kind checked below exists first, so "gone" means deleted.
    let present = children(&env).await;
    for (kind, names) in &present {
        assert!(!names.is_empty(), "no {kind} of db before the deletion: {present:?}");
    }

    delete_and_wait(&env.api::<MySQLInstance>(), "db", Duration::from_secs(30)).await;
    wait_for("every child gone", Duration::from_secs(60), || async {
        children(&env)
            .await
            .iter()
            .all(|(_, names)| names.is_empty())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_secret_from_before_the_root_split_keeps_its_passwords_and_loses_only_the_root_keys() {
    let env = TestEnv::new("split").await;
    let secrets = env.api::<Secret>();
    // What the operator wrote before NAME-root-credentials existed, retained from an earlier instance.
    let legacy: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db-credentials", "labels": {"mysqlinstance.io/instance": "db"}},
        "stringData": {
            "root-password": "legacy-root-password-0123456789",
            "client.cnf": "[client]\nuser = root\npassword = \"legacy-root-password-0123456789\"\n",
            "username": "app", "password": "legacy-user-password-0123456789",
            "database": "shop", "host": "db.x.svc", "port": "3306",
        },
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &legacy)
        .await
        .expect("legacy Secret created");
    let mut instance_spec = spec("Retain");
    instance_spec["user"] = json!("app");
    instance_spec["database"] = json!("shop");
    env.create_instance("db", instance_spec).await;
    env.wait_phase("db", Phase::Ready, READY_TIMEOUT).await;
    let text = |secret: &Secret, key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let root = secrets.get("db-root-credentials").await.expect("root Secret");
    assert_eq!(
        text(&root, "root-password").as_deref(),
        Some("legacy-root-password-0123456789")
    );
    let app = wait_for(
        "the root keys leave the application Secret",
        Duration::from_secs(30),
        || async {
            let app = secrets.get("db-credentials").await.ok()?;
            text(&app, "root-password").is_none().then_some(app)
        },
    )
    .await;
    assert_eq!(text(&app, "client.cnf"), None);
    assert_eq!(
        text(&app, "password").as_deref(),
        Some("legacy-user-password-0123456789")
    );
    let uri = text(&app, "uri").expect("uri");
    assert!(
        uri.starts_with("mysql://app:legacy%2Duser%2Dpassword%2D0123456789@db."),
        "{uri}"
    );
    assert!(text(&app, "jdbc-uri").is_some_and(|u| u.starts_with("jdbc:mysql://db.")));
}
