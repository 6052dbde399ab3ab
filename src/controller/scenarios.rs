//! Controller scenarios against a mocked API server: the whole shell (observe, decide, apply, status,
//! Events, metrics, error policy) without a cluster. The watch caches are filled by hand, and every request
//! the operator makes is recorded and answered by a rule of the scenario.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::kept::{Keep, Kept};
use super::{Caches, Context, RESYNC, error_policy, reconcile::reconcile};
use crate::api::MySQLInstance;
use crate::decide::tests::{plain, settings};
use crate::decide::{self, World};
use crate::error::{Error, ErrorCategory};
use crate::resources::{self, Credentials};
use crate::telemetry::metrics::Metrics;

/// One request the operator made.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    body: Value,
}

impl Recorded {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

type Rule = dyn Fn(&Recorded) -> (StatusCode, Value) + Send + Sync;

/// The default answers: nothing exists yet, and every write succeeds and echoes its object.
fn accept_everything(request: &Recorded) -> (StatusCode, Value) {
    match request.method.as_str() {
        "GET" => (StatusCode::NOT_FOUND, status_body(404, "NotFound")),
        "POST" => (StatusCode::CREATED, request.body.clone()),
        // A status patch carries no metadata or spec; the API server answers with the whole object.
        _ if request.path.ends_with("/status") => {
            let mut stored = serde_json::to_value(plain()).expect("instance");
            stored["status"] = request.body["status"].clone();
            (StatusCode::OK, stored)
        }
        _ => (StatusCode::OK, request.body.clone()),
    }
}

fn status_body(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
        "message": format!("the mock API server answered {code}")})
}

struct Scenario {
    ctx: Arc<Context>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// The writers of the caches; kept so the caches stay ready.
    _writers: Box<dyn Send>,
}

impl Scenario {
    fn new(world: &World, rule: impl Fn(&Recorded) -> (StatusCode, Value) + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let recorded = requests.clone();
        let service = tower::service_fn(move |request: Request<kube::client::Body>| {
            let (recorded, rule) = (recorded.clone(), rule.clone());
            async move {
                let (parts, body) = request.into_parts();
                let bytes = body.collect().await?.to_bytes();
                let request = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                let (status, answer) = rule(&request);
                recorded.lock().expect("not poisoned").push(request);
                let body = Full::new(bytes::Bytes::from(serde_json::to_vec(&answer)?));
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::builder().status(status).body(body)?)
            }
        });
        let client = Client::new(service, "default");
        let (caches, writers) = caches(world);
        let settings = settings();
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        Self {
            ctx: Arc::new(Context::new(
                client,
                metrics,
                Arc::default(),
                settings,
                caches,
                kube::runtime::reflector::store().0,
            )),
            requests,
            _writers: writers,
        }
    }

    async fn reconcile(&self, instance: &MySQLInstance) -> crate::error::Result<Action> {
        reconcile(Arc::new(instance.clone()), self.ctx.clone()).await
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("not poisoned").clone()
    }

    fn lines(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::line).collect()
    }

    fn metric(&self, text: &str) -> bool {
        let rendered = self.ctx.metrics.render(&[]).expect("metrics render");
        rendered.lines().any(|line| line == text)
    }
}

/// Ready caches holding the children of `world`.
fn caches(world: &World) -> (Caches, Box<dyn Send>) {
    fn filled<K: Keep>(objects: Vec<K>) -> (Store<Kept<K>>, reflector::store::Writer<Kept<K>>) {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Init);
        for object in objects {
            let kept = Kept::new(object).expect("packs");
            writer.apply_watcher_event(&watcher::Event::InitApply(kept));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        (store, writer)
    }
    let (statefulsets, w1) = filled(world.statefulset.clone().into_iter().collect());
    let services = [world.service.clone(), world.headless_service.clone()];
    let (services, w2) = filled(services.into_iter().flatten().collect());
    let (config_maps, w3) = filled(world.config_map.clone().into_iter().collect());
    let (cronjobs, w4) = filled(world.cronjob.clone().into_iter().collect());
    let (jobs, w5) = filled(world.backup_jobs.clone());
    let (pods, w6) = filled(world.pods.clone());
    let (claims, w7) = filled(world.data_pvcs.clone());
    let caches = Caches {
        statefulsets,
        services,
        config_maps,
        cronjobs,
        jobs,
        pods,
        claims,
    };
    (caches, Box::new((w1, w2, w3, w4, w5, w6, w7)))
}

const NS: &str = "/api/v1/namespaces/apps";
const APPS: &str = "/apis/apps/v1/namespaces/apps";
const INSTANCES: &str = "/apis/mysqlinstance.io/v1alpha1/namespaces/apps/mysqlinstances";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/apps/events";

/// An instance whose children and status are exactly what the operator would write, and the stored Secret.
fn in_line() -> (MySQLInstance, World, Secret) {
    let mut instance = plain();
    let settings = settings();
    let secret = resources::credentials_secret(&instance, &Credentials::generate(None).expect("random"));
    let world = World {
        secret: Some(secret.clone()),
        config_map: Some(resources::config_map(&instance)),
        service: Some(resources::service(&instance)),
        headless_service: Some(resources::headless_service(&instance)),
        statefulset: Some(resources::statefulset(&instance, &settings, "1Gi").expect("sts")),
        ..World::default()
    };
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    for _ in 0..5 {
        match decide::decide(&instance, &world, &settings, &now).expect("plan").status {
            Some(status) => instance.status = Some(status),
            None => return (instance, world, secret),
        }
    }
    panic!("the status never settled");
}

/// Answers the Secret read with `secret`, and everything else as [`accept_everything`].
fn with_secret(secret: Secret) -> impl Fn(&Recorded) -> (StatusCode, Value) + Send + Sync + 'static {
    let body = serde_json::to_value(secret).expect("secret");
    move |request| match (request.method.as_str(), request.path.as_str()) {
        ("GET", path) if path == format!("{NS}/secrets/shop-credentials") => (StatusCode::OK, body.clone()),
        _ => accept_everything(request),
    }
}

#[tokio::test]
async fn the_first_reconcile_creates_exactly_the_children_in_order() {
    let scenario = Scenario::new(&World::default(), accept_everything);
    let action = scenario.reconcile(&plain()).await.expect("reconciled");
    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(
        scenario.lines(),
        [
            format!("GET {NS}/secrets/shop-credentials"),
            format!("POST {NS}/secrets"),
            format!("POST {NS}/secrets"),
            format!("PATCH {NS}/configmaps/shop-config"),
            format!("PATCH {NS}/services/shop-headless"),
            format!("PATCH {NS}/services/shop"),
            format!("PATCH {APPS}/statefulsets/shop"),
            format!("PATCH {INSTANCES}/shop/status"),
            // Pending -> Provisioning, in the status write that follows the children.
            "POST /apis/events.k8s.io/v1/namespaces/apps/events".to_owned(),
        ]
    );
    let requests = scenario.requests();
    let (root, app) = (&requests[1].body, &requests[2].body);
    assert_eq!(
        root["metadata"]["name"], "shop-root-credentials",
        "the root Secret first"
    );
    assert_eq!(app["metadata"]["name"], "shop-credentials");
    for secret in [root, app] {
        assert_eq!(
            secret["metadata"]["ownerReferences"],
            Value::Null,
            "Retain: the Secrets outlive the instance"
        );
    }
    assert_eq!(
        app["data"]["root-password"],
        Value::Null,
        "applications never get the root password"
    );
    assert_eq!(
        requests[7].body["status"]["phase"], "Provisioning",
        "the first status counts the children just created"
    );
    assert!(scenario.metric("mysqlinstance_api_writes_total{kind=\"StatefulSet\",operation=\"apply\"} 1"));
}

#[tokio::test]
async fn an_unchanged_instance_makes_no_write() {
    let (instance, world, secret) = in_line();
    let scenario = Scenario::new(&world, with_secret(secret));
    scenario.reconcile(&instance).await.expect("reconciled");
    assert_eq!(
        scenario.lines(),
        [format!("GET {NS}/secrets/shop-credentials")],
        "only the Secret, which may not be watched, is read"
    );
    let rendered = scenario.ctx.metrics.render(&[]).expect("render");
    assert!(
        !rendered.contains("mysqlinstance_api_writes_total{"),
        "no write was counted"
    );

    scenario.reconcile(&instance).await.expect("reconciled again");
    assert_eq!(scenario.lines().len(), 1, "the Secret is remembered: no request at all");
    let mut edited = instance.clone();
    edited.metadata.generation = edited.metadata.generation.map(|g| g + 1);
    scenario.reconcile(&edited).await.ok();
    assert_eq!(
        scenario.lines().first(),
        Some(&format!("GET {NS}/secrets/shop-credentials")),
    );
    assert_eq!(
        scenario.lines().get(1),
        Some(&format!("GET {NS}/secrets/shop-credentials")),
        "a spec change reads the Secret again"
    );
}

#[tokio::test]
async fn an_application_secret_from_before_the_split_moves_its_root_password_without_changing_any() {
    let (instance, world, mut secret) = in_line();
    let credentials = Credentials {
        root_password: "old-root".into(),
        user_password: "old-user".into(),
    };
    let data = secret.data.get_or_insert_default();
    data.insert("root-password".into(), k8s_openapi::ByteString(b"old-root".to_vec()));
    data.insert("client.cnf".into(), k8s_openapi::ByteString(b"[client]".to_vec()));
    data.insert("password".into(), k8s_openapi::ByteString(b"old-user".to_vec()));
    data.remove("uri");
    let scenario = Scenario::new(&world, with_secret(secret));
    scenario.reconcile(&instance).await.expect("reconciled");
    assert_eq!(
        scenario.lines(),
        [
            format!("GET {NS}/secrets/shop-credentials"),
            format!("POST {NS}/secrets"),
            format!("PATCH {NS}/secrets/shop-credentials"),
        ]
    );
    let requests = scenario.requests();
    let root = serde_json::from_value::<Secret>(requests[1].body.clone()).expect("a Secret");
    assert_eq!(
        root,
        resources::root_secret(&instance, &credentials),
        "the old root password, moved"
    );
    let patch = &requests[2].body;
    assert_eq!(
        patch["metadata"]["annotations"]["mysqlinstance.io/root-secret"],
        "shop-root-credentials"
    );
    let data = patch["data"].as_object().expect("data");
    assert!(
        !data.contains_key("root-password") && !data.contains_key("client.cnf"),
        "the root keys stay until the pod mounts the root Secret"
    );
    let app = resources::credentials_secret(&instance, &credentials);
    let expected = serde_json::to_value(app.data.expect("data")).expect("json");
    for key in ["password", "uri", "jdbc-uri"] {
        assert_eq!(
            data.get(key),
            expected.get(key),
            "{key}: the old user password, in the new keys"
        );
    }
}

#[tokio::test]
async fn the_root_keys_leave_the_application_secret_once_the_pod_mounts_the_root_secret() {
    let (instance, mut world, mut secret) = in_line();
    decide::tests::rolled_out(&mut world, 1);
    let data = secret.data.get_or_insert_default();
    data.insert("root-password".into(), k8s_openapi::ByteString(b"old-root".to_vec()));
    data.insert("client.cnf".into(), k8s_openapi::ByteString(b"[client]".to_vec()));
    secret
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("mysqlinstance.io/root-secret".into(), "shop-root-credentials".into());
    let scenario = Scenario::new(&world, with_secret(secret));
    scenario.reconcile(&instance).await.expect("reconciled");
    // (The replica now being ready also moves the phase: a status write and an Event follow.)
    assert_eq!(
        scenario.lines()[..2],
        [
            format!("GET {NS}/secrets/shop-credentials"),
            format!("PATCH {NS}/secrets/shop-credentials"),
        ]
    );
    assert_eq!(scenario.lines().iter().filter(|l| l.contains("/secrets")).count(), 2);
    let data = scenario.requests()[1].body["data"].clone();
    let data = data.as_object().expect("data");
    for key in ["root-password", "client.cnf"] {
        assert_eq!(data.get(key), Some(&Value::Null), "{key} is removed");
    }
    assert_eq!(data.len(), 2, "nothing else changes");
}

#[tokio::test]
async fn a_drifted_statefulset_is_applied_again_and_nothing_else() {
    let (instance, mut world, secret) = in_line();
    let sts: &mut StatefulSet = world.statefulset.as_mut().expect("sts");
    sts.spec.replicas = Some(5);
    let scenario = Scenario::new(&world, with_secret(secret));
    scenario.reconcile(&instance).await.expect("reconciled");
    assert_eq!(
        scenario.lines(),
        [
            format!("GET {NS}/secrets/shop-credentials"),
            format!("PATCH {APPS}/statefulsets/shop"),
        ]
    );
    assert_eq!(scenario.requests()[1].body["spec"]["replicas"], 1);
}

/// A StatefulSet write answered with `code`.
async fn failing_statefulset_write(code: u16) -> (Scenario, MySQLInstance, crate::error::Error) {
    let rule = move |request: &Recorded| {
        if request.method == "PATCH" && request.path.ends_with("/statefulsets/shop") {
            let status = StatusCode::from_u16(code).expect("status code");
            (status, status_body(code, "Refused"))
        } else {
            accept_everything(request)
        }
    };
    let scenario = Scenario::new(&World::default(), rule);
    let instance = plain();
    let error = scenario.reconcile(&instance).await.expect_err("the write fails");
    (scenario, instance, error)
}

#[tokio::test]
async fn api_errors_give_their_condition_event_metric_and_requeue() {
    let cases = [
        (409, ErrorCategory::ApiConflict, Action::requeue(Duration::from_secs(1))),
        (422, ErrorCategory::ApiRejected, Action::await_change()),
        (
            500,
            ErrorCategory::ApiUnavailable,
            Action::requeue(Duration::from_secs(1)),
        ),
    ];
    for (code, category, requeue) in cases {
        let (scenario, instance, error) = failing_statefulset_write(code).await;
        let reason = category.as_str();
        assert_eq!(error.category(), category, "HTTP {code}");
        assert!(
            scenario.metric(&format!(
                "mysqlinstance_reconcile_errors_total{{reason=\"{reason}\"}} 1"
            )),
            "HTTP {code}: the error is counted under its reason"
        );
        let requests = scenario.requests();
        let status = requests
            .iter()
            .find(|r| r.path.ends_with("/shop/status"))
            .expect("the failure is shown in the status");
        let conditions = status.body["status"]["conditions"].as_array().expect("conditions");
        let synced = conditions.iter().find(|c| c["type"] == "Synced").expect("Synced");
        assert_eq!(
            (synced["status"].as_str(), synced["reason"].as_str()),
            (Some("False"), Some(reason))
        );
        let event = requests
            .iter()
            .find(|r| r.path == EVENTS && r.body["type"] == "Warning")
            .expect("a Warning Event");
        assert_eq!(event.body["reason"], reason, "HTTP {code}");
        assert_eq!(
            error_policy(Arc::new(instance), &error, scenario.ctx.clone()),
            requeue,
            "HTTP {code}"
        );
    }
}

/// The first reconcile of a plain instance, with the writes of the children named in `refused` answered by
/// their status code.
async fn with_refused_children(refused: &'static [(&'static str, u16)]) -> (Scenario, MySQLInstance, Error) {
    let rule = move |request: &Recorded| {
        let refusal = refused
            .iter()
            .find(|(path, _)| request.method == "PATCH" && request.path.ends_with(path));
        match refusal {
            Some((_, code)) => {
                let status = StatusCode::from_u16(*code).expect("status code");
                (status, status_body(*code, "Refused"))
            }
            None => accept_everything(request),
        }
    };
    let scenario = Scenario::new(&World::default(), rule);
    let instance = plain();
    let error = scenario.reconcile(&instance).await.expect_err("a child fails");
    (scenario, instance, error)
}

fn condition(status_write: &Recorded, type_: &str) -> (String, String, String) {
    let conditions = status_write.body["status"]["conditions"]
        .as_array()
        .expect("conditions");
    let found = conditions.iter().find(|c| c["type"] == type_).expect("condition");
    let text = |key: &str| found[key].as_str().unwrap_or_default().to_owned();
    (text("status"), text("reason"), text("message"))
}

#[tokio::test]
async fn a_refused_child_is_named_in_the_status_while_the_others_are_still_applied() {
    let (scenario, instance, error) = with_refused_children(&[("/services/shop", 422)]).await;
    let lines = scenario.lines();
    let refused = lines
        .iter()
        .position(|l| l == &format!("PATCH {NS}/services/shop"))
        .expect("the Service was tried");
    let statefulset = lines
        .iter()
        .position(|l| l == &format!("PATCH {APPS}/statefulsets/shop"))
        .expect("the StatefulSet is applied after the refused Service");
    assert!(statefulset > refused);
    let requests = scenario.requests();
    let status = requests
        .iter()
        .find(|r| r.path.ends_with("/shop/status"))
        .expect("the failure is shown in the status");
    let (synced, reason, message) = condition(status, "Synced");
    assert_eq!((synced.as_str(), reason.as_str()), ("False", "ApiRejected"));
    assert!(message.starts_with("Service shop: "), "{message}");
    // Retrying cannot help a refusal: the instance says it is not progressing, and waits for a change.
    let (progressing, reason, _) = condition(status, "Progressing");
    assert_eq!((progressing.as_str(), reason.as_str()), ("False", "ApiRejected"));
    assert_eq!(
        error_policy(Arc::new(instance), &error, scenario.ctx.clone()),
        Action::await_change()
    );
    let warnings: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.path == EVENTS && r.body["type"] == "Warning")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].body["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("Service shop: "))
    );
}

#[tokio::test]
async fn with_a_refused_and_a_failing_child_each_is_reported_and_the_transient_one_is_retried() {
    let (scenario, instance, error) =
        with_refused_children(&[("/services/shop", 422), ("/statefulsets/shop", 500)]).await;
    assert_eq!(
        error.category(),
        ErrorCategory::ApiUnavailable,
        "the one worth retrying"
    );
    let requests = scenario.requests();
    let status = requests
        .iter()
        .find(|r| r.path.ends_with("/shop/status"))
        .expect("status");
    let (_, reason, message) = condition(status, "Synced");
    assert_eq!(reason, "ApiUnavailable");
    assert!(
        message.contains("Service shop: ") && message.contains("StatefulSet shop: "),
        "{message}"
    );
    let (progressing, _, _) = condition(status, "Progressing");
    assert_eq!(progressing, "True", "still provisioning: a retry may help");
    let reasons: Vec<&str> = requests
        .iter()
        .filter(|r| r.path == EVENTS && r.body["type"] == "Warning")
        .filter_map(|r| r.body["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        ["ApiRejected", "ApiUnavailable"],
        "one Warning Event per child"
    );
    assert_eq!(
        error_policy(Arc::new(instance), &error, scenario.ctx.clone()),
        Action::requeue(Duration::from_secs(1))
    );
}

#[tokio::test]
async fn a_paused_instance_writes_only_its_status() {
    let mut paused = plain();
    paused.spec.paused = true;
    let scenario = Scenario::new(&World::default(), accept_everything);
    scenario.reconcile(&paused).await.expect("reconciled");
    assert_eq!(
        scenario.lines(),
        [
            format!("GET {NS}/secrets/shop-credentials"),
            format!("PATCH {INSTANCES}/shop/status"),
        ]
    );
    let conditions = scenario.requests()[1].body["status"]["conditions"].clone();
    let paused_condition = conditions
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Paused").cloned())
        .expect("Paused condition");
    assert_eq!(paused_condition["status"], "True");
}

#[tokio::test]
async fn the_deletion_policy_decides_who_owns_the_credentials() {
    let mut deleting = plain();
    deleting.spec.deletion_policy = crate::api::DeletionPolicy::Delete;
    let scenario = Scenario::new(&World::default(), accept_everything);
    scenario.reconcile(&deleting).await.expect("reconciled");
    let created = scenario.requests()[1].clone();
    assert_eq!(created.line(), format!("POST {NS}/secrets"));
    assert_eq!(created.body["metadata"]["ownerReferences"][0]["uid"], "u-1");

    // Switching an existing instance to Delete only adds the owner; the passwords stay.
    let (instance, world, secret) = in_line();
    let mut switched = instance;
    switched.spec.deletion_policy = crate::api::DeletionPolicy::Delete;
    let scenario = Scenario::new(&world, with_secret(secret));
    scenario.reconcile(&switched).await.expect("reconciled");
    let patch = scenario
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/secrets/shop-credentials") && r.method == "PATCH")
        .expect("owners patched");
    assert_eq!(
        patch.body,
        json!({"metadata": {"ownerReferences": [
        {"apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance", "name": "shop", "uid": "u-1",
         "controller": true}]}})
    );
}
