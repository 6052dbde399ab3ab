//! The thin shell around the pure core: watches instances and their children, and runs
//! observe -> decide -> build -> apply -> status for each instance that changed.

mod apply;
mod observe;
mod reconcile;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

use crate::api::MySQLInstance;
use crate::error::Error;
use crate::resources::OperatorSettings;
use crate::telemetry::metrics::Metrics;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "mysqlinstance-operator";
/// How often an unchanged instance is looked at again, as a safety net behind the watches.
const RESYNC: Duration = Duration::from_secs(300);
const MANAGED_BY: &str = "app.kubernetes.io/managed-by=mysqlinstance-operator";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: OperatorSettings,
    failures: Mutex<HashMap<ObjectRef<MySQLInstance>, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, settings: OperatorSettings) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
            failures: Mutex::default(),
        }
    }

    /// Per-object exponential backoff: 1s, 2s, 4s ... capped at 5 minutes; reset by a successful reconcile.
    fn backoff(&self, instance: &MySQLInstance) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(ObjectRef::from(instance)).or_insert(0);
        *count = count.saturating_add(1);
        Duration::from_secs(1u64 << (*count - 1).min(9)).min(RESYNC)
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

/// Maps a Job (owned by a CronJob, not by the instance) to its instance through its label.
fn instance_of<K: ResourceExt>(child: K) -> Option<ObjectRef<MySQLInstance>> {
    let name = child.labels().get(crate::resources::INSTANCE_LABEL)?;
    Some(ObjectRef::new(name).within(&child.namespace()?))
}

/// Builds the controller: the store of instances (read by the metrics) and the future that runs it until
/// SIGTERM or Ctrl-C.
pub fn controller(ctx: Arc<Context>, run: &RunConfig) -> (Store<MySQLInstance>, impl futures::Future<Output = ()>) {
    let client = &ctx.client;
    let ns = run.namespace.as_deref();
    let owned = || watcher::Config::default().labels(MANAGED_BY);
    let controller = Controller::new(
        api::<MySQLInstance>(client, ns),
        watcher::Config::default().any_semantic(),
    )
    .with_config(ControllerConfig::default().concurrency(run.concurrency))
    .owns(api::<StatefulSet>(client, ns), owned())
    .owns(api::<Service>(client, ns), owned())
    .owns(api::<ConfigMap>(client, ns), owned())
    .owns(api::<CronJob>(client, ns), owned())
    .watches(api::<Job>(client, ns), owned(), instance_of);
    let store = controller.store();
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
                        ctx.metrics.reconcile_errors.with_label_values(&["WatchError"]).inc();
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

fn error_policy(instance: Arc<MySQLInstance>, _error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.backoff(&instance))
}
