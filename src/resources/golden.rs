//! Golden tests: each builder's output for sample instances, compared with YAML files under tests/golden/.
//! `UPDATE_GOLDEN=1 cargo test golden` rewrites them after an intended change.

use kube::api::ObjectMeta;
use serde::Serialize;

use super::*;
use crate::api::{MySQLInstance, MySQLInstanceSpec};

fn instance(spec: serde_json::Value) -> MySQLInstance {
    let mut instance = MySQLInstance::new(
        "shop",
        serde_json::from_value::<MySQLInstanceSpec>(spec).expect("valid spec"),
    );
    instance.metadata = ObjectMeta {
        name: Some("shop".into()),
        namespace: Some("team-a".into()),
        uid: Some("3f1c2b9e-0000-4000-8000-000000000001".into()),
        ..ObjectMeta::default()
    };
    instance
}

fn plain() -> MySQLInstance {
    instance(serde_json::json!({
        "version": "8.4",
        "storage": {"size": "10Gi", "storageClassName": "fast"},
        "config": {"max_connections": "500"},
        "database": "shop",
        "user": "app",
    }))
}

fn with_backups(destination: serde_json::Value, policy: &str) -> MySQLInstance {
    instance(serde_json::json!({
        "storage": {"size": "10Gi"},
        "deletionPolicy": policy,
        "backup": {"enabled": true, "schedule": "*/5 * * * *", "retention": {"keepLast": 7, "maxAge": "14d"}, "destination": destination},
    }))
}

fn settings() -> OperatorSettings {
    OperatorSettings {
        operator_image: "example.invalid/mysqlinstance-operator:test".into(),
        server_images: Default::default(),
    }
}

fn check<T: Serialize>(name: &str, object: &T) {
    let path = format!("{}/tests/golden/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let rendered = serde_yaml::to_string(object).expect("renders");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).expect("writes golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == rendered,
        "{name} differs from {path}; if intended run UPDATE_GOLDEN=1 cargo test golden\n--- got:\n{rendered}"
    );
}

#[test]
fn golden_children_of_a_plain_instance() {
    let i = plain();
    check("plain-configmap", &config_map(&i));
    check("plain-service", &service(&i));
    check("plain-headless-service", &headless_service(&i));
    check(
        "plain-statefulset",
        &statefulset(&i, &settings(), "10Gi").expect("builds"),
    );
    assert!(backup_cronjob(&i, &settings()).is_none());
    assert!(backup_pvc(&i).is_none());
}

#[test]
fn golden_server_pod_of_a_mariadb_instance() {
    let i = instance(serde_json::json!({
        "engine": "MariaDB",
        "version": "11.4",
        "storage": {"size": "1Gi"},
        "database": "shop",
        "user": "app",
    }));
    check("mariadb-configmap", &config_map(&i));
    check(
        "mariadb-statefulset",
        &statefulset(&i, &settings(), "1Gi").expect("builds"),
    );
}

#[test]
fn server_images_come_from_the_spec_then_the_operator_then_the_pinned_default() {
    let mut i = instance(serde_json::json!({"engine": "MariaDB", "version": "10.11", "storage": {"size": "1Gi"}}));
    let mut settings = settings();
    assert_eq!(server_image(&i, &settings), "docker.io/library/mariadb:10.11.14");
    settings
        .server_images
        .insert(crate::api::ServerVersion::V10_11, "localhost/mariadb:10.11".into());
    assert_eq!(server_image(&i, &settings), "localhost/mariadb:10.11");
    i.spec.image = Some("registry.example/mariadb:custom".into());
    assert_eq!(server_image(&i, &settings), "registry.example/mariadb:custom");
    let sts = statefulset(&i, &settings, "1Gi").expect("builds");
    let pod = sts.spec.template.spec.expect("pod");
    let init = pod.init_containers.expect("init containers");
    assert_eq!(
        init[0].image.as_deref(),
        Some("example.invalid/mysqlinstance-operator:test")
    );
    assert_eq!(init[1].image.as_deref(), Some("registry.example/mariadb:custom"));
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.example/mariadb:custom")
    );
    assert_eq!(pod.containers[0].command.as_deref(), Some(&["mariadbd".to_owned()][..]));
}

#[test]
fn golden_children_with_backups() {
    let pvc = with_backups(serde_json::json!({"pvc": {"size": "20Gi"}}), "Delete");
    check(
        "pvc-backup-cronjob",
        &backup_cronjob(&pvc, &settings()).expect("enabled"),
    );
    check("pvc-backup-pvc", &backup_pvc(&pvc).expect("pvc destination"));
    let s3 = with_backups(
        serde_json::json!({"s3": {"bucket": "backups", "endpoint": "http://127.0.0.1:9000", "forcePathStyle": true, "credentialsSecret": "s3-creds"}}),
        "Retain",
    );
    check("s3-backup-cronjob", &backup_cronjob(&s3, &settings()).expect("enabled"));
    assert!(backup_pvc(&s3).is_none());
}

#[test]
fn golden_credentials_with_fixed_passwords() {
    let credentials = Credentials {
        root_password: "root-pw".into(),
        user_password: "user-pw".into(),
    };
    check("plain-secret", &credentials_secret(&plain(), &credentials));
    check("plain-root-secret", &root_secret(&plain(), &credentials));
}

#[test]
fn ownership_follows_the_deletion_policy() {
    let retain = with_backups(serde_json::json!({"pvc": {"size": "1Gi"}}), "Retain");
    let delete = with_backups(serde_json::json!({"pvc": {"size": "1Gi"}}), "Delete");
    let creds = Credentials {
        root_password: "r".into(),
        user_password: "u".into(),
    };
    assert!(
        credentials_secret(&retain, &creds).metadata.owner_references.is_none(),
        "Retain keeps the Secret alive"
    );
    assert!(backup_pvc(&retain).expect("pvc").metadata.owner_references.is_none());
    assert_eq!(
        credentials_secret(&delete, &creds)
            .metadata
            .owner_references
            .map(|o| o.len()),
        Some(1)
    );
    let retention = |i: &MySQLInstance| {
        statefulset(i, &settings(), "1Gi")
            .expect("builds")
            .spec
            .persistent_volume_claim_retention_policy
            .and_then(|p| p.when_deleted)
    };
    assert_eq!(retention(&retain).as_deref(), Some("Retain"));
    assert_eq!(retention(&delete).as_deref(), Some("Delete"));
    for owned in [
        config_map(&retain).metadata,
        service(&retain).metadata,
        statefulset(&retain, &settings(), "1Gi").expect("builds").metadata,
    ] {
        assert_eq!(owned.owner_references.expect("owned")[0].controller, Some(true));
    }
}

/// Every string in a `command` or `args` array anywhere in `value`.
fn argv_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("command" | "args", serde_json::Value::Array(items)) => {
                        out.extend(items.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                    }
                    _ => argv_strings(child, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| argv_strings(i, out)),
        _ => {}
    }
}

#[test]
fn no_password_reaches_a_command_line() {
    let i = with_backups(serde_json::json!({"pvc": {"size": "1Gi"}}), "Retain");
    let sts = serde_json::to_value(statefulset(&i, &settings(), "1Gi").expect("builds")).expect("json");
    let cron = serde_json::to_value(backup_cronjob(&i, &settings()).expect("enabled")).expect("json");
    for rendered in [sts, cron] {
        let mut argv = Vec::new();
        argv_strings(&rendered, &mut argv);
        assert!(
            argv.iter().any(|a| a.starts_with("--defaults-")),
            "credentials come from an option file: {argv:?}"
        );
        for arg in &argv {
            assert!(
                !arg.starts_with("-p") && !arg.starts_with("--password"),
                "a password flag on argv: {arg}"
            );
        }
    }
}

#[test]
fn config_changes_roll_the_pods_and_spec_hash_tracks_content() {
    let a = plain();
    let mut b = plain();
    b.spec.config.insert("max_connections".into(), "900".into());
    let template_annotations = |i: &MySQLInstance| {
        statefulset(i, &settings(), "10Gi")
            .expect("builds")
            .spec
            .template
            .metadata
            .and_then(|m| m.annotations)
    };
    assert_ne!(template_annotations(&a), template_annotations(&b));
    let hash = |i: &MySQLInstance| {
        with_spec_hash(config_map(i))
            .expect("hash")
            .metadata
            .annotations
            .expect("stamped")[SPEC_HASH_ANNOTATION]
            .clone()
    };
    assert_eq!(hash(&a), hash(&plain()), "same spec, same hash");
    assert_ne!(hash(&a), hash(&b));
}

#[test]
fn golden_restore_job() {
    let from_pvc = instance(serde_json::json!({
        "storage": {"size": "10Gi"},
        "restoreFrom": {"instance": "shop-old", "backup": "latest", "pvc": {"claimName": "shop-old-backups"}},
    }));
    check(
        "restore-job",
        &restore_job(&from_pvc, &settings()).expect("restoreFrom set"),
    );
    assert!(restore_job(&plain(), &settings()).is_none());
}
