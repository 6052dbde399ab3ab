//! Invalid specs are refused by the real kube-apiserver with the CRD's messages.

use kube::api::{Patch, PatchParams, PostParams};
use mysqlinstance_operator::api::MySQLInstance;
use serde_json::{Value, json};

use crate::support::TestEnv;

fn instance(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance", "metadata": {"name": name}, "spec": spec})
}

fn with(base: &Value, pointer: &str, value: Value) -> Value {
    let mut spec = base.clone();
    let mut target = &mut spec;
    let parts: Vec<&str> = pointer.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            target[*part] = value.clone();
        } else {
            target = &mut target[*part];
        }
    }
    spec
}

#[tokio::test]
async fn invalid_specs_and_forbidden_edits_are_refused_by_the_apiserver_with_their_messages() {
    let env = TestEnv::new("invalid").await;
    let api = env.api::<MySQLInstance>();
    let valid = json!({
        "storage": {"size": "1Gi"},
        "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}},
    });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "replicas",
            with(&valid, "/replicas", json!(3)),
            "only replicas: 1 is supported",
        ),
        (
            "size-not-quantity",
            with(&valid, "/storage/size", json!("lots")),
            "storage.size must be a positive Kubernetes quantity",
        ),
        (
            "size-zero",
            with(&valid, "/storage/size", json!("0")),
            "storage.size must be a positive Kubernetes quantity",
        ),
        (
            "bad-cron",
            with(&valid, "/backup/schedule", json!("every day")),
            "backup.schedule must be a 5-field cron expression",
        ),
        (
            "six-field-cron",
            with(&valid, "/backup/schedule", json!("0 0 3 * * *")),
            "backup.schedule must be a 5-field cron expression",
        ),
        (
            "two-destinations",
            with(
                &valid,
                "/backup/destination/s3",
                json!({"bucket": "backups", "credentialsSecret": "s3"}),
            ),
            "exactly one of pvc or s3",
        ),
        (
            "no-destination",
            with(&valid, "/backup/destination", json!({})),
            "exactly one of pvc or s3",
        ),
        (
            "version",
            with(&valid, "/version", json!("5.7")),
            "supported values: \"8.0\", \"8.4\"",
        ),
        (
            "deletion-policy",
            with(&valid, "/deletionPolicy", json!("Shred")),
            "supported values: \"Retain\", \"Delete\"",
        ),
        (
            "user-root",
            with(&valid, "/user", json!("root")),
            "user must be 1-32 letters",
        ),
        (
            "database-name",
            with(&valid, "/database", json!("my-db")),
            "database must be 1-64 letters",
        ),
        (
            "config-key",
            with(&valid, "/config", json!({"bad key": "1"})),
            "config keys must be my.cnf option names",
        ),
        (
            "config-newline",
            with(&valid, "/config", json!({"sql_mode": "A\nB"})),
            "config values must be a single line",
        ),
        (
            "keep-last",
            with(&valid, "/backup/retention", json!({"keepLast": 0})),
            "retention.keepLast must be at least 1",
        ),
        (
            "max-age",
            with(&valid, "/backup/retention", json!({"maxAge": "a week"})),
            "retention.maxAge must be a number followed by m, h or d",
        ),
        (
            "empty-image",
            with(&valid, "/image", json!("")),
            "image must not be empty",
        ),
        (
            "bucket",
            with(
                &with(&valid, "/backup/destination/pvc", Value::Null),
                "/backup/destination/s3",
                json!({"bucket": "A_B", "credentialsSecret": "s3"}),
            ),
            "must be a valid bucket name",
        ),
        (
            "engine-version",
            with(&valid, "/engine", json!("MariaDB")),
            "version does not belong to the engine: MySQL runs 8.0 or 8.4, MariaDB runs 10.11 or 11.4",
        ),
        (
            "mysql-on-mariadb-version",
            with(&valid, "/version", json!("11.4")),
            "version does not belong to the engine",
        ),
        (
            // 46 characters: one more than the children's names allow.
            "name-456789-123456789-123456789-123456789-1234",
            valid.clone(),
            "metadata.name must be at most 45 characters",
        ),
        (
            "db.prod",
            valid.clone(),
            "metadata.name must be at most 45 characters of lowercase letters, digits and '-'",
        ),
        ("1db", valid.clone(), "starting with a letter"),
        (
            "reserved-config",
            with(&valid, "/config", json!({"datadir": "/elsewhere"})),
            "config may not set datadir, socket, port or pid-file",
        ),
    ];
    assert!(cases.len() >= 10);
    let pp = PostParams::default();
    for (name, spec, expected) in &cases {
        let object: MySQLInstance = match serde_json::from_value(instance(name, spec.clone())) {
            Ok(object) => object,
            // Enum values the Rust types cannot even hold are sent as raw JSON through server-side apply.
            Err(_) => {
                let error = api
                    .patch(
                        name,
                        &PatchParams::apply("e2e-tests"),
                        &Patch::Apply(instance(name, spec.clone())),
                    )
                    .await
                    .expect_err(&format!("{name}: the apiserver accepted an invalid spec"));
                assert!(
                    error.to_string().contains(expected),
                    "{name}: message {error} lacks {expected:?}"
                );
                continue;
            }
        };
        let error = api
            .create(&pp, &object)
            .await
            .expect_err(&format!("{name}: the apiserver accepted an invalid spec"));
        assert!(
            error.to_string().contains(expected),
            "{name}: message {error} lacks {expected:?}"
        );
    }

    // Transition rules: storage may grow but never shrink, and its class is immutable.
    let object: MySQLInstance = serde_json::from_value(instance("grow-only", valid.clone())).expect("valid");
    api.create(&pp, &object).await.expect("valid spec accepted");
    let shrink = json!({"spec": {"storage": {"size": "512Mi"}}});
    let error = api
        .patch("grow-only", &PatchParams::default(), &Patch::Merge(&shrink))
        .await
        .expect_err("shrink refused");
    assert!(
        error.to_string().contains("storage.size can grow but never shrink"),
        "{error}"
    );
    let class = json!({"spec": {"storage": {"storageClassName": "other"}}});
    let error = api
        .patch("grow-only", &PatchParams::default(), &Patch::Merge(&class))
        .await
        .expect_err("class change refused");
    assert!(
        error.to_string().contains("storage.storageClassName is immutable"),
        "{error}"
    );
    // `kubectl explain` shows the doc comments of the Rust types.
    // kubectl wraps long lines, so compare with whitespace collapsed.
    let explain = |field: &str| {
        env.kubectl(&["explain", field])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let explained = explain("mysqlinstances.spec.storage");
    assert!(explained.contains("Can grow, never shrink"), "{explained}");
    let explained = explain("mysqlinstances.spec.backup.schedule");
    assert!(explained.contains("5-field cron expression in UTC"), "{explained}");

    let grow = json!({"spec": {"storage": {"size": "2Gi"}}});
    api.patch("grow-only", &PatchParams::default(), &Patch::Merge(&grow))
        .await
        .expect("growth accepted");

    // Versions upgrade and never downgrade; the engine never changes.
    let mariadb = with(&with(&valid, "/engine", json!("MariaDB")), "/version", json!("10.11"));
    let object: MySQLInstance = serde_json::from_value(instance("upgrade", mariadb)).expect("valid");
    api.create(&pp, &object).await.expect("MariaDB 10.11 accepted");
    let set = |patch: Value| {
        let api = api.clone();
        async move {
            api.patch("upgrade", &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
    };
    set(json!({"spec": {"version": "11.4"}}))
        .await
        .expect("upgrade accepted");
    let error = set(json!({"spec": {"version": "10.11"}}))
        .await
        .expect_err("downgrade refused");
    assert!(error.to_string().contains("version downgrades are refused"), "{error}");
    let error = set(json!({"spec": {"engine": "MySQL", "version": "8.4"}}))
        .await
        .expect_err("engine change refused");
    assert!(error.to_string().contains("engine is immutable"), "{error}");
}

/// The operator's ServiceAccount can do its job (every other e2e test runs the operator with it) and is denied the
/// listed verbs it must never have: in particular it can never list or watch Secrets, which would expose every
/// Secret in the cluster, nor delete data volumes or create Roles.
#[tokio::test]
async fn the_operator_service_account_cannot_list_secrets_delete_data_or_grant_roles() {
    let env = TestEnv::new("rbac").await;
    let sa = "--as=system:serviceaccount:mysqlinstance-system:mysqlinstance-operator";
    let can = |verb: &str, resource: &str| {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let output = std::process::Command::new("kubectl")
            .args(["auth", "can-i", verb, resource, "-n", &env.namespace, sa])
            .arg(format!("--subresource={subresource}"))
            .output()
            .expect("kubectl runs");
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    for (verb, resource) in [
        ("list", "secrets"),
        ("watch", "secrets"),
        ("update", "secrets"),
        ("delete", "secrets"),
        ("delete", "persistentvolumeclaims"),
        ("delete", "statefulsets"),
        ("delete", "jobs"),
        ("create", "pods"),
        ("update", "mysqlinstances"),
        ("create", "roles"),
    ] {
        assert!(!can(verb, resource), "the operator may {verb} {resource}");
    }
    for (verb, resource) in [
        ("get", "secrets"),
        ("create", "secrets"),
        ("patch", "statefulsets"),
        ("patch", "mysqlinstances/status"),
        ("create", "events.events.k8s.io"),
    ] {
        assert!(can(verb, resource), "the operator may not {verb} {resource}");
    }
}
