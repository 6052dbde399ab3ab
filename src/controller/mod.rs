//! The thin shell around the pure core: watches instances and their children, and runs observe -> decide
//! -> apply -> status for each instance that changed. See docs/reconcile.md for the flow.

mod apply;
mod cache;
mod kept;
pub mod leader;
mod observe;
mod reconcile;
#[cfg(test)]
mod scenarios;
mod secrets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

pub use cache::Caches;
use secrets::KnownSecrets;

use crate::api::MySQLInstance;
use crate::error::{Error, backoff};
use crate::resources::OperatorSettings;
use crate::telemetry::health::Progress;
use crate::telemetry::metrics::Metrics;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "mysqlinstance-operator";
/// How often an unchanged instance is looked at again, as a safety net behind the watches (controller-runtime's
/// default too): every change of the instance or a child triggers a reconcile by itself, and each resync
/// costs one Secret read per instance.
const RESYNC: Duration = Duration::from_secs(10 * 60 * 60);
/// The longest wait between retries of a failing reconcile.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// Publishes Warnings: its cache turns a Warning repeated by every retry into one Event with a count.
    pub recorder: Recorder,
    /// Who publishes the Events. Normal Events (one per phase edge) do not repeat back to back, and are
    /// published without the recorder's cache, which would hold about 5 KiB per Event for six minutes.
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// Reconciles running and their last step, behind `/healthz`.
    pub progress: Arc<Progress>,
    pub settings: OperatorSettings,
    pub caches: Caches,
    /// The credentials Secrets as last read.
    secrets: KnownSecrets,
    failures: Mutex<HashMap<ObjectRef<MySQLInstance>, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        progress: Arc<Progress>,
        settings: OperatorSettings,
        caches: Caches,
        instances: Store<MySQLInstance>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            reporter,
            client,
            metrics,
            progress,
            settings,
            caches,
            secrets: KnownSecrets::new(instances),
            failures: Mutex::default(),
        }
    }

    /// Per-object exponential backoff: 1s, 2s, 4s ... capped at 5 minutes; reset by a successful reconcile.
    fn backoff(&self, instance: &MySQLInstance) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(ObjectRef::from(instance)).or_insert(0);
        *count = count.saturating_add(1);
        backoff(*count, MAX_BACKOFF)
    }

    fn forget_failures(&self, instance: &MySQLInstance) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&ObjectRef::from(instance));
    }
}

/// Where the controller looks and how hard it works.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch only this namespace; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Instances reconciled at the same time.
    pub concurrency: u16,
    /// List through watches (Kubernetes 1.32+): objects arrive one at a time instead of in one response
    /// held whole in memory. Off: plain lists from the API server's watch cache.
    pub streaming_lists: bool,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Maps a Job, pod or volume (owned by a CronJob, a Job or a StatefulSet, not by the instance) to its
/// instance through its label.
fn instance_of<K: ResourceExt>(child: K) -> Option<ObjectRef<MySQLInstance>> {
    let name = child.labels().get("app.kubernetes.io/instance")?;
    Some(ObjectRef::new(name).within(&child.namespace()?))
}

/// Builds the controller: the store of instances (read by the metrics) and the future that runs it until
/// SIGTERM or Ctrl-C.
pub fn controller(
    client: Client,
    metrics: Arc<Metrics>,
    progress: Arc<Progress>,
    settings: OperatorSettings,
    run: &RunConfig,
) -> (Store<MySQLInstance>, impl futures::Future<Output = ()>) {
    let ns = run.namespace.as_deref();
    let lists = if run.streaming_lists {
        watcher::Config::default().streaming_lists()
    } else {
        watcher::Config::default().any_semantic()
    };
    let errors = metrics.watch_errors.clone();
    let managed = || lists.clone().labels(cache::MANAGED_BY);
    let of_an_instance = || lists.clone().labels(cache::OF_AN_INSTANCE);
    let (statefulsets, statefulset_events) = cache::watch(api(&client, ns), managed(), errors.clone());
    let (services, service_events) = cache::watch(api(&client, ns), managed(), errors.clone());
    let (config_maps, config_map_events) = cache::watch(api(&client, ns), managed(), errors.clone());
    let (cronjobs, cronjob_events) = cache::watch(api(&client, ns), managed(), errors.clone());
    let (jobs, job_events) = cache::watch(api(&client, ns), managed(), errors.clone());
    let (pods, pod_events) = cache::watch(api(&client, ns), of_an_instance(), errors.clone());
    let (claims, claim_events) = cache::watch(api(&client, ns), of_an_instance(), errors.clone());
    let (instances, writer) = reflector::store();
    let instance_events = watcher(api::<MySQLInstance>(&client, ns), lists.clone())
        .default_backoff()
        .modify(|instance| instance.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects();
    let instance_events = cache::errors_dropped(instance_events, errors);
    let caches = Caches {
        statefulsets,
        services,
        config_maps,
        cronjobs,
        jobs,
        pods,
        claims,
    };
    let controller = Controller::for_stream(instance_events, instances)
        .with_config(ControllerConfig::default().concurrency(run.concurrency))
        .owns_stream(statefulset_events)
        .owns_stream(service_events)
        .owns_stream(config_map_events)
        .owns_stream(cronjob_events)
        .watches_stream(job_events, instance_of)
        .watches_stream(pod_events, instance_of)
        .watches_stream(claim_events, instance_of);
    let store = controller.store();
    let ctx = Arc::new(Context::new(client, metrics, progress, settings, caches, store.clone()));
    let ctx_for_errors = ctx.clone();
    let fut = controller
        .shutdown_on_signal()
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(move |result| {
            let ctx = ctx_for_errors.clone();
            async move {
                match result {
                    Ok((object, _)) => tracing::debug!(instance = %object, "reconciled"),
                    // Logged with its trace by the reconcile itself.
                    Err(kube::runtime::controller::Error::ReconcilerFailed(_, object)) => {
                        tracing::debug!(instance = %object, "reconcile failed")
                    }
                    Err(error) => {
                        ctx.metrics.watch_errors.inc();
                        warn!(%error, "controller stream error");
                    }
                }
            }
        });
    info!(
        namespace = ns.unwrap_or("<all>"),
        concurrency = run.concurrency,
        "controller configured"
    );
    (store, fut)
}

/// A terminal error waits for a change of the instance or a child; any other retries with backoff.
fn error_policy(instance: Arc<MySQLInstance>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_terminal() {
        Action::await_change()
    } else {
        Action::requeue(ctx.backoff(&instance))
    }
}
