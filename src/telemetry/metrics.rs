//! Prometheus metrics. Names and labels are a contract (docs/metrics.md); never a label named `instance`
//! or `job`, which Prometheus owns.
//!
//! Per-instance gauges are rebuilt from the controller's store at every scrape and cleared after it: the
//! series of a deleted instance disappear with it, and between scrapes they take no memory (16 series of
//! about 300 bytes per instance, more than the instance itself).

use std::sync::Mutex;

use kube::ResourceExt;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use strum::IntoEnumIterator;

use crate::api::{MySQLInstance, Phase};

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    pub reconcile_duration: HistogramVec,
    pub reconcile_errors: IntCounterVec,
    pub phase_transitions: IntCounterVec,
    pub api_writes: IntCounterVec,
    pub watch_errors: IntCounter,
    /// 1 while this replica reconciles (holds the lease, or runs without leader election); 0 on a standby.
    pub leader: IntGauge,
    instances: IntGaugeVec,
    status_condition: IntGaugeVec,
    info: IntGaugeVec,
    backup_last_success: GaugeVec,
    backup_last_duration: GaugeVec,
    backup_last_size: GaugeVec,
    backup_consecutive_failures: IntGaugeVec,
    /// Serialises scrapes, which reset and refill the per-instance gauges.
    scrape: Mutex<()>,
}

const INSTANCE_LABELS: &[&str] = &["namespace", "mysqlinstance"];
/// Every value a condition's status can take: the gauge is 1 for the current one and 0 for the others.
const CONDITION_STATUSES: [&str; 3] = ["True", "False", "Unknown"];

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    /// Creates and registers every metric, plus the process collector.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new(
                "mysqlinstance_reconcile_duration_seconds",
                "Time one reconcile of one instance took.",
            )
            .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["result"],
        )?;
        let reconcile_errors = IntCounterVec::new(
            opts(
                "mysqlinstance_reconcile_errors_total",
                "Reconciles that failed, by error category.",
            ),
            &["reason"],
        )?;
        let phase_transitions = IntCounterVec::new(
            opts(
                "mysqlinstance_phase_transitions_total",
                "Phase transitions taken, by source and target phase.",
            ),
            &["from", "to"],
        )?;
        let api_writes = IntCounterVec::new(
            opts(
                "mysqlinstance_api_writes_total",
                "Writes the operator made to the Kubernetes API, by kind and operation (apply, create, patch, \
                 delete, status).",
            ),
            &["kind", "operation"],
        )?;
        let watch_errors = IntCounter::with_opts(opts(
            "mysqlinstance_watch_errors_total",
            "Errors of the watches of instances and children; each is retried with backoff.",
        ))?;
        let leader = IntGauge::with_opts(opts(
            "mysqlinstance_leader",
            "1 while this replica reconciles (it holds the lease, or runs without leader election); 0 while it \
             waits as a standby.",
        ))?;
        let instances = IntGaugeVec::new(opts("mysqlinstance_instances", "Instances in each phase."), &["phase"])?;
        let status_condition = IntGaugeVec::new(
            opts(
                "mysqlinstance_status_condition",
                "1 for the current status of each condition of each instance.",
            ),
            &["namespace", "mysqlinstance", "type", "status"],
        )?;
        let info = IntGaugeVec::new(
            opts(
                "mysqlinstance_info",
                "Always 1; carries the version and phase of each instance.",
            ),
            &["namespace", "mysqlinstance", "version", "phase"],
        )?;
        let backup_last_success = GaugeVec::new(
            opts(
                "mysqlinstance_backup_last_success_timestamp_seconds",
                "Unix time the newest successful backup completed.",
            ),
            INSTANCE_LABELS,
        )?;
        let backup_last_duration = GaugeVec::new(
            opts(
                "mysqlinstance_backup_last_duration_seconds",
                "How long the newest successful backup took.",
            ),
            INSTANCE_LABELS,
        )?;
        let backup_last_size = GaugeVec::new(
            opts(
                "mysqlinstance_backup_last_size_bytes",
                "Compressed size of the newest successful backup.",
            ),
            INSTANCE_LABELS,
        )?;
        let backup_consecutive_failures = IntGaugeVec::new(
            opts(
                "mysqlinstance_backup_consecutive_failures",
                "Backups that failed in a row since the last success.",
            ),
            INSTANCE_LABELS,
        )?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(phase_transitions.clone()))?;
        registry.register(Box::new(api_writes.clone()))?;
        registry.register(Box::new(watch_errors.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        registry.register(Box::new(instances.clone()))?;
        registry.register(Box::new(status_condition.clone()))?;
        registry.register(Box::new(info.clone()))?;
        registry.register(Box::new(backup_last_success.clone()))?;
        registry.register(Box::new(backup_last_duration.clone()))?;
        registry.register(Box::new(backup_last_size.clone()))?;
        registry.register(Box::new(backup_consecutive_failures.clone()))?;
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            registry,
            reconcile_duration,
            reconcile_errors,
            phase_transitions,
            api_writes,
            watch_errors,
            leader,
            instances,
            status_condition,
            info,
            backup_last_success,
            backup_last_duration,
            backup_last_size,
            backup_consecutive_failures,
            scrape: Mutex::new(()),
        })
    }

    /// The text exposition of every metric, with per-instance gauges rebuilt from `instances`.
    pub fn render(&self, instances: &[std::sync::Arc<MySQLInstance>]) -> Result<String, prometheus::Error> {
        let _guard = self.scrape.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.refresh(instances);
        let mut buffer = Vec::new();
        let encoded = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        self.clear_per_instance();
        encoded?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }

    fn clear_per_instance(&self) {
        for family in [&self.status_condition, &self.info, &self.backup_consecutive_failures] {
            family.reset();
        }
        for family in [
            &self.backup_last_success,
            &self.backup_last_duration,
            &self.backup_last_size,
        ] {
            family.reset();
        }
    }

    fn refresh(&self, instances: &[std::sync::Arc<MySQLInstance>]) {
        for phase in Phase::iter() {
            let phase: &'static str = phase.into();
            self.instances.with_label_values(&[phase]).set(0);
        }
        for instance in instances {
            let namespace = instance.namespace().unwrap_or_default();
            let name = instance.name_any();
            let ids = [namespace.as_str(), name.as_str()];
            let status = instance.status.clone().unwrap_or_default();
            let phase: &'static str = status.phase.unwrap_or_default().into();
            self.instances.with_label_values(&[phase]).inc();
            let version = instance.spec.version.to_string();
            self.info
                .with_label_values(&[ids[0], ids[1], version.as_str(), phase])
                .set(1);
            for condition in &status.conditions {
                for value in CONDITION_STATUSES {
                    self.status_condition
                        .with_label_values(&[ids[0], ids[1], condition.type_.as_str(), value])
                        .set(i64::from(condition.status == value));
                }
            }
            if !instance.spec.backup.as_ref().is_some_and(|b| b.enabled) {
                continue;
            }
            self.backup_consecutive_failures
                .with_label_values(&ids)
                .set(i64::from(status.consecutive_backup_failures));
            let completed = status.last_backup.as_ref().and_then(|b| b.completed_at.as_ref());
            self.backup_last_success
                .with_label_values(&ids)
                .set(completed.map_or(0.0, |t| t.0.as_millisecond() as f64 / 1000.0));
            if let Some(last) = &status.last_backup {
                if let Some(duration) = last.duration_seconds {
                    self.backup_last_duration.with_label_values(&ids).set(duration);
                }
                if let Some(size) = last.size_bytes {
                    self.backup_last_size.with_label_values(&ids).set(size as f64);
                }
            }
        }
    }
}
