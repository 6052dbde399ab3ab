//! The load side of `make bench` (scripts/bench.py drives it): creates N instances at once, or, for the floor,
//! the same child objects with one raw client and no operator, and waits until every one is Ready; times one
//! spec edit reaching the pod template. Prints its measurements as one JSON line on stdout.
//!
//! ```text
//! scale floor     --namespace NS --count N [--concurrency C]
//! scale instances --namespace NS --count N [--concurrency C]
//! scale edit      --namespace NS --name NAME
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use mysqlinstance_operator::resources::{self, Credentials, OperatorSettings};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// The field manager of the floor's writes.
const FLOOR_MANAGER: &str = "bench-floor";
/// How long to wait for everything to be Ready before giving up.
const DEADLINE: Duration = Duration::from_secs(3600);

/// What `make bench` creates: examples/basic.yaml under another name.
fn instance(namespace: &str, index: usize) -> MySQLInstance {
    let mut instance: MySQLInstance =
        serde_yaml::from_str(include_str!("../examples/basic.yaml")).expect("examples/basic.yaml parses");
    instance.metadata.name = Some(format!("bench-{index}"));
    instance.metadata.namespace = Some(namespace.to_owned());
    instance
}

#[derive(Serialize)]
struct Report {
    /// Seconds from the first create until the last object was created.
    created_s: f64,
    /// Seconds from the first create until each object was Ready, sorted.
    ready_s: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let namespace = flag("--namespace").expect("--namespace");
    let count: usize = flag("--count").map_or(1, |c| c.parse().expect("--count is a number"));
    let concurrency: usize = flag("--concurrency").map_or(32, |c| c.parse().expect("--concurrency is a number"));
    let client = Client::try_default().await.expect("KUBECONFIG loads");
    let line = match args.first().map(String::as_str) {
        Some("floor") => serde_json::to_string(&floor(&client, &namespace, count, concurrency).await),
        Some("instances") => serde_json::to_string(&instances(&client, &namespace, count, concurrency).await),
        Some("edit") => {
            let name = flag("--name").expect("--name");
            serde_json::to_string(&json!({ "edit_s": edit(&client, &namespace, &name).await }))
        }
        other => panic!("unknown command {other:?}: floor, instances or edit"),
    };
    println!("{}", line.expect("report serializes"));
}

async fn create_namespace(client: &Client, namespace: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object: Namespace = serde_json::from_value(json!({ "metadata": { "name": namespace } })).unwrap();
    namespaces
        .patch(namespace, &PatchParams::apply(FLOOR_MANAGER), &Patch::Apply(&object))
        .await
        .expect("namespace applies");
}

/// The floor: every child the operator would write for `count` instances, applied by one raw client with
/// no reads and no status, then the wait until every StatefulSet has its pod Ready.
async fn floor(client: &Client, namespace: &str, count: usize, concurrency: usize) -> Report {
    create_namespace(client, namespace).await;
    let settings = OperatorSettings {
        operator_image: resources::DEFAULT_OPERATOR_IMAGE.to_owned(),
        ..OperatorSettings::default()
    };
    let started = Instant::now();
    let ready = tokio::spawn(wait_ready::<StatefulSet>(
        client.clone(),
        namespace.to_owned(),
        count,
        started,
        |s| s.status.as_ref().and_then(|s| s.ready_replicas) == Some(1),
    ));
    stream::iter(0..count)
        .for_each_concurrent(concurrency, |index| {
            let settings = &settings;
            async move {
                let instance = instance(namespace, index);
                let credentials = Credentials::generate(None).expect("random passwords");
                create(client, namespace, resources::root_secret(&instance, &credentials)).await;
                create(
                    client,
                    namespace,
                    resources::credentials_secret(&instance, &credentials),
                )
                .await;
                apply(client, namespace, resources::config_map(&instance)).await;
                apply(client, namespace, resources::headless_service(&instance)).await;
                apply(client, namespace, resources::service(&instance)).await;
                let size = instance.spec.storage.size.clone();
                let statefulset = resources::statefulset(&instance, settings, &size).expect("builds");
                apply(client, namespace, statefulset).await;
            }
        })
        .await;
    let created_s = started.elapsed().as_secs_f64();
    Report {
        created_s,
        ready_s: ready.await.expect("watch task"),
    }
}

/// A namespaced child object the floor writes.
trait Child:
    Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + Serialize
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Child for K where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug
{
}

/// Without an instance object there is nothing to own the children.
fn unowned<K: Resource>(mut object: K) -> K {
    object.meta_mut().owner_references = None;
    object
}

async fn create<K: Child>(client: &Client, namespace: &str, object: K) {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(FLOOR_MANAGER.to_owned()),
        ..PostParams::default()
    };
    api.create(&params, &unowned(object)).await.expect("create");
}

async fn apply<K: Child>(client: &Client, namespace: &str, object: K) {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let object = unowned(object);
    api.patch(
        &object.name_any(),
        &PatchParams::apply(FLOOR_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .expect("apply");
}

/// Creates `count` instances and waits until every one is in phase Ready.
async fn instances(client: &Client, namespace: &str, count: usize, concurrency: usize) -> Report {
    create_namespace(client, namespace).await;
    let api: Api<MySQLInstance> = Api::namespaced(client.clone(), namespace);
    let started = Instant::now();
    let ready = tokio::spawn(wait_ready::<MySQLInstance>(
        client.clone(),
        namespace.to_owned(),
        count,
        started,
        |i| i.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready),
    ));
    stream::iter(0..count)
        .for_each_concurrent(concurrency, |index| {
            let api = &api;
            async move {
                api.create(&PostParams::default(), &instance(namespace, index))
                    .await
                    .expect("instance created");
            }
        })
        .await;
    let created_s = started.elapsed().as_secs_f64();
    Report {
        created_s,
        ready_s: ready.await.expect("watch task"),
    }
}

/// Watches the objects of `K` in `namespace` until `count` of them have been `ready`; the seconds since
/// `started` at which each first was, sorted.
async fn wait_ready<K>(
    client: Client,
    namespace: String,
    count: usize,
    started: Instant,
    ready: impl Fn(&K) -> bool,
) -> Vec<f64>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::namespaced(client, &namespace);
    let mut seen: HashMap<String, f64> = HashMap::with_capacity(count);
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
    let wait = async {
        while seen.len() < count {
            let Some(object) = events.try_next().await.expect("watch") else {
                break;
            };
            if ready(&object) {
                seen.entry(object.name_any())
                    .or_insert_with(|| started.elapsed().as_secs_f64());
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("everything Ready in time");
    let mut times: Vec<f64> = seen.into_values().collect();
    times.sort_by(f64::total_cmp);
    times
}

/// Changes one instance's server configuration and times how long until its StatefulSet's pod template
/// carries the change.
async fn edit(client: &Client, namespace: &str, name: &str) -> f64 {
    let instances: Api<MySQLInstance> = Api::namespaced(client.clone(), namespace);
    let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let before = template_of(&statefulsets.get(name).await.expect("StatefulSet exists"));
    let started = Instant::now();
    let patch = json!({ "spec": { "config": { "max_connections": "321" } } });
    instances
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("spec edited");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut events = std::pin::pin!(
        watcher(
            statefulsets,
            watcher::Config::default().fields(&format!("metadata.name={name}"))
        )
        .applied_objects()
    );
    let wait = async {
        while let Some(statefulset) = events.try_next().await.expect("watch") {
            if template_of(&statefulset) != before {
                return started.elapsed().as_secs_f64();
            }
        }
        panic!("the StatefulSet watch ended");
    };
    let seconds = tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("the edit reached the pod template");
    let config = config_maps
        .get(&resources::config_map_name(&instances.get(name).await.unwrap()))
        .await;
    assert!(
        config.is_ok_and(|c| c.data.unwrap_or_default().values().any(|v| v.contains("321"))),
        "the ConfigMap carries the new max_connections"
    );
    seconds
}

fn template_of(statefulset: &StatefulSet) -> serde_json::Value {
    serde_json::to_value(&statefulset.spec.template).unwrap()
}
