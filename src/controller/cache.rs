//! Watch caches of an instance's children. The reconcile reads them instead of the API, so looking at an
//! unchanged instance costs no request; the same watches trigger the reconciles.

use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use prometheus::IntCounter;
use tracing::warn;

use super::kept::{Keep, Kept};
use crate::error::{Error, Result};

/// How long a reconcile waits for the caches to list their objects after the operator starts.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Children the operator creates carry this label.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=mysqlinstance-operator";
/// Pods and data volumes are created by the StatefulSet and Job controllers from templates that carry the
/// selector labels of an instance, not the managed-by label.
pub const OF_AN_INSTANCE: &str = "app.kubernetes.io/name=mysql,app.kubernetes.io/instance";

/// One cache per kind of child.
#[derive(Clone)]
pub struct Caches {
    pub statefulsets: Store<Kept<StatefulSet>>,
    pub services: Store<Kept<Service>>,
    pub config_maps: Store<Kept<ConfigMap>>,
    pub cronjobs: Store<Kept<CronJob>>,
    pub jobs: Store<Kept<Job>>,
    pub pods: Store<Kept<Pod>>,
    pub claims: Store<Kept<PersistentVolumeClaim>>,
}

impl Caches {
    /// Waits until every cache has listed its objects once.
    pub async fn synced(&self) -> Result<()> {
        let wait = async {
            ready(&self.statefulsets, "StatefulSets").await?;
            ready(&self.services, "Services").await?;
            ready(&self.config_maps, "ConfigMaps").await?;
            ready(&self.cronjobs, "CronJobs").await?;
            ready(&self.jobs, "Jobs").await?;
            ready(&self.pods, "Pods").await?;
            ready(&self.claims, "PersistentVolumeClaims").await
        };
        tokio::time::timeout(SYNC_TIMEOUT, wait)
            .await
            .map_err(|_| Error::CacheNotSynced("the children"))?
    }
}

async fn ready<K>(store: &Store<K>, kind: &'static str) -> Result<()>
where
    K: Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store.wait_until_ready().await.map_err(|_| Error::CacheNotSynced(kind))
}

/// The object named `name` in `namespace`, from `store`.
pub fn get<K: Keep>(store: &Store<Kept<K>>, namespace: &str, name: &str) -> Result<Option<K>> {
    let kept = store.get(&ObjectRef::new(name).within(namespace));
    Ok(kept.map(|kept| kept.object()).transpose()?)
}

/// The objects in `namespace` of `store` that carry every label of `labels` (of the labels a kept object's
/// metadata has).
pub fn select<K: Keep>(store: &Store<Kept<K>>, namespace: &str, labels: &[(&str, &str)]) -> Result<Vec<K>> {
    let selected = store.state().into_iter().filter(|kept| {
        kept.namespace().as_deref() == Some(namespace)
            && labels
                .iter()
                .all(|(key, value)| kept.labels().get(*key).map(String::as_str) == Some(*value))
    });
    Ok(selected.map(|kept| kept.object()).collect::<Result<_, _>>()?)
}

/// A cache of the objects of `api` listed and watched with `config`, kept in their compact form, and the
/// stream of their changes that drives it and triggers reconciles. Watch errors are counted in `errors` and
/// dropped (see [`errors_dropped`]).
pub fn watch<K: Keep>(
    api: Api<Kept<K>>,
    config: watcher::Config,
    errors: IntCounter,
) -> (
    Store<Kept<K>>,
    impl Stream<Item = Result<Kept<K>, watcher::Error>> + Send,
) {
    let (store, writer) = reflector::store();
    let stream = watcher(api, config).default_backoff().reflect(writer);
    (store, errors_dropped(stream.touched_objects(), errors).boxed())
}

/// `stream` without its errors, each counted in `errors` and logged. The watcher behind it retries on its own
/// backoff; an error passed on would also pause the controller's trigger stream, and with it every other
/// watch (after an API server restart each of them reports one `410 Gone`, which kept new instances and edits
/// waiting for minutes).
pub fn errors_dropped<K: Send>(
    stream: impl Stream<Item = Result<K, watcher::Error>> + Send,
    errors: IntCounter,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send {
    stream.filter_map(move |event| {
        let kept = match event {
            Ok(object) => Some(Ok(object)),
            Err(error) => {
                errors.inc();
                warn!(%error, "watch error; the watch resumes on its own");
                None
            }
        };
        std::future::ready(kept)
    })
}
