//! What the operator read about one instance, as plain objects, and the facts the decisions need from them
//! (which backup succeeded last, why a pod cannot run, when the restore finished). Pure: no client.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::api::{LastBackup, MySQLInstance};
use crate::backup::BackupResult;
use crate::fsm::Observed;
use crate::resources::credential_keys;

/// Everything the operator reads about one instance, as the API (or its watch cache) returned it.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub secret: Option<Secret>,
    /// The Secret named by `spec.rootPasswordSecretRef`, read only while the credentials Secret is absent.
    pub root_password_secret: Option<Secret>,
    pub config_map: Option<ConfigMap>,
    pub service: Option<Service>,
    pub headless_service: Option<Service>,
    pub statefulset: Option<StatefulSet>,
    pub cronjob: Option<CronJob>,
    pub backup_pvc: Option<PersistentVolumeClaim>,
    /// The data volumes of the instance's replicas that exist.
    pub data_pvcs: Vec<PersistentVolumeClaim>,
    /// Backup Jobs of this instance, in any order.
    pub backup_jobs: Vec<Job>,
    /// The Job restoring `spec.restoreFrom`, when there is one.
    pub restore_job: Option<Job>,
    /// The server pods and the backup and restore runner pods of the instance.
    pub pods: Vec<Pod>,
    /// How many other instances' StatefulSets are rolling out a new pod template.
    pub other_rollouts: usize,
}

impl World {
    /// The snapshot the phase machine decides on.
    pub fn observed(&self, instance: &MySQLInstance) -> Observed {
        let sts_status = self.statefulset.as_ref().and_then(|s| s.status.as_ref());
        let backup_jobs = self.backup_jobs_newest_first();
        let finished: Vec<bool> = backup_jobs.iter().filter_map(|j| job_outcome(j)).collect();
        Observed {
            spec_error: instance.spec.validate(),
            paused: instance.spec.paused,
            credentials_ready: self
                .secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .is_some_and(|data| data.contains_key(credential_keys::PASSWORD)),
            statefulset_exists: self.statefulset.is_some(),
            desired_replicas: instance.spec.replicas,
            ready_replicas: sts_status.and_then(|s| s.ready_replicas).unwrap_or(0),
            rollout_in_progress: self.statefulset.as_ref().is_some_and(rollout_in_progress),
            backup_running: backup_jobs.iter().any(|j| job_outcome(j).is_none()),
            last_backup_succeeded: finished.first().copied(),
            last_backup_error: self.last_backup_error(),
            restore_pending: instance.spec.restore_from.is_some()
                && instance.status.as_ref().and_then(|s| s.restored_at.as_ref()).is_none()
                && self.restored_at().is_none(),
            restore_failed: self.restore_failure(),
            pod_problem: self.pods.iter().find_map(pod_problem),
            consecutive_backup_failures: finished
                .iter()
                .take_while(|ok| !**ok)
                .count()
                .try_into()
                .unwrap_or(i32::MAX),
        }
    }

    /// The newest successful backup, if one of the retained Jobs is: what its runner reported, completed
    /// by the Job's own times when the report lacks them.
    pub fn last_successful_backup(&self) -> Option<LastBackup> {
        let job = *self
            .backup_jobs_newest_first()
            .iter()
            .find(|j| job_outcome(j) == Some(true))?;
        let status = job.status.as_ref()?;
        let report = self.backup_result(job);
        let started = report
            .as_ref()
            .map(|r| Time(r.started_at))
            .or_else(|| status.start_time.clone());
        let completed = report
            .as_ref()
            .map(|r| Time(r.completed_at))
            .or_else(|| status.completion_time.clone());
        let duration = report
            .as_ref()
            .map(|r| r.duration_seconds)
            .or(match (&started, &completed) {
                (Some(s), Some(c)) => Some((c.0.as_millisecond() - s.0.as_millisecond()) as f64 / 1000.0),
                _ => None,
            });
        Some(LastBackup {
            name: report
                .as_ref()
                .and_then(|r| r.name.clone())
                .unwrap_or_else(|| job.name_any()),
            started_at: started,
            completed_at: completed,
            duration_seconds: duration,
            size_bytes: report
                .as_ref()
                .and_then(|r| r.size_bytes)
                .and_then(|b| i64::try_from(b).ok()),
            location: report.as_ref().and_then(|r| r.location.clone()),
            sha256: report.and_then(|r| r.sha256),
        })
    }

    /// When the restore Job completed, if it did.
    pub fn restored_at(&self) -> Option<Time> {
        let job = self.restore_job.as_ref().filter(|j| job_outcome(j) == Some(true))?;
        job.status.as_ref()?.completion_time.clone()
    }

    /// Newest first; Jobs created in the same second by name, so the order never depends on the cache.
    fn backup_jobs_newest_first(&self) -> Vec<&Job> {
        let mut jobs: Vec<&Job> = self.backup_jobs.iter().collect();
        jobs.sort_by(|a, b| {
            b.creation_timestamp()
                .cmp(&a.creation_timestamp())
                .then_with(|| b.name_any().cmp(&a.name_any()))
        });
        jobs
    }

    /// What the pod of `job` reported in its backup container's termination message.
    fn backup_result(&self, job: &Job) -> Option<BackupResult> {
        self.pods_of(job).find_map(|pod| runner_result(pod, "backup"))
    }

    fn pods_of<'a>(&'a self, job: &'a Job) -> impl Iterator<Item = &'a Pod> {
        let name = job.name_any();
        self.pods
            .iter()
            .filter(move |pod| job_of(pod).is_some_and(|of| *of == name))
    }

    /// Why the newest finished backup failed, as its runner reported it.
    fn last_backup_error(&self) -> Option<String> {
        let job = *self
            .backup_jobs_newest_first()
            .iter()
            .find(|j| job_outcome(j).is_some())?;
        if job_outcome(job) != Some(false) {
            return None;
        }
        let error = self
            .backup_result(job)
            .and_then(|r| r.error)
            .unwrap_or_else(|| "the backup Job failed without a report".to_owned());
        Some(format!("{}: {error}", job.name_any()))
    }

    /// What to tell the user when the restore Job failed: the runner's error and how to retry.
    fn restore_failure(&self) -> Option<String> {
        let job = self.restore_job.as_ref().filter(|j| job_outcome(j) == Some(false))?;
        let name = job.name_any();
        let reported = self.pods_of(job).find_map(|pod| {
            let line: serde_json::Value = runner_result(pod, "restore")?;
            line.get("error")?.as_str().map(str::to_owned)
        });
        let why = reported.unwrap_or_else(|| format!("see `kubectl logs job/{name}`"));
        Some(format!(
            "the restore Job {name} failed: {why}; it is never retried on its own: fix the cause, then delete \
             the Job {name} to retry"
        ))
    }
}

/// What the runner in container `container` of `pod` reported: the last line of its termination message that
/// parses as `T`. The message may hold log lines before the result (FallbackToLogsOnError), so the last line
/// that parses wins.
pub fn runner_result<T: serde::de::DeserializeOwned>(pod: &Pod, container: &str) -> Option<T> {
    termination_message(pod, container)?
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line.trim()).ok())
}

/// The Job a pod belongs to.
fn job_of(pod: &Pod) -> Option<&String> {
    let labels = pod.labels();
    labels
        .get("batch.kubernetes.io/job-name")
        .or_else(|| labels.get("job-name"))
}

/// Waiting reasons that do not pass by themselves: the pod needs a fix (or a long wait) before it runs.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// Why `pod` cannot run, from the kubelet's waiting reason of one of its containers: "pod P, container C:
/// ImagePullBackOff: <the kubelet's message>".
fn pod_problem(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let mut containers = status
        .init_container_statuses
        .iter()
        .chain(status.container_statuses.iter())
        .flatten();
    containers.find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref().filter(|r| STUCK.contains(r))?;
        let message: String = waiting
            .message
            .as_deref()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Some(
            format!("pod {}, container {}: {reason}: {message}", pod.name_any(), c.name)
                .trim_end_matches(": ")
                .to_owned(),
        )
    })
}

/// The termination message of the finished container `container` of `pod`.
fn termination_message<'a>(pod: &'a Pod, container: &str) -> Option<&'a str> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .terminated
        .as_ref()?
        .message
        .as_deref()
}

/// `Some(true)` for a complete Job, `Some(false)` for a failed one, `None` while it runs.
pub fn job_outcome(job: &Job) -> Option<bool> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let holds = |type_: &str| conditions.iter().any(|c| c.type_ == type_ && c.status == "True");
    if holds("Complete") {
        Some(true)
    } else if holds("Failed") {
        Some(false)
    } else {
        None
    }
}

/// Whether `sts` is still rolling out: its controller has not seen the newest spec (or not reported yet), or
/// not every replica runs the newest revision.
pub fn rollout_in_progress(sts: &StatefulSet) -> bool {
    let Some(status) = sts.status.as_ref() else {
        return true;
    };
    let generation_seen = status.observed_generation >= sts.metadata.generation;
    let desired = sts.spec.replicas.unwrap_or(1);
    let revisions_match = status.update_revision.is_none() || status.current_revision == status.update_revision;
    !(generation_seen && revisions_match && status.updated_replicas.unwrap_or(0) >= desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("valid object")
    }

    fn pod(status: serde_json::Value) -> Pod {
        from_json(json!({"metadata": {"name": "shop-0"}, "status": status}))
    }

    fn job(name: &str, created: &str, outcome: Option<&str>) -> Job {
        let conditions: Vec<serde_json::Value> = outcome
            .map(|type_| json!({"type": type_, "status": "True"}))
            .into_iter()
            .collect();
        from_json(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": {"conditions": conditions, "startTime": created, "completionTime": created},
        }))
    }

    fn runner_pod(job: &str, container: &str, message: &str) -> Pod {
        from_json(json!({
            "metadata": {"name": format!("{job}-x"), "labels": {"batch.kubernetes.io/job-name": job}},
            "status": {"containerStatuses": [{
                "name": container, "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "message": message}},
            }]},
        }))
    }

    fn instance() -> MySQLInstance {
        from_json(json!({
            "apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance",
            "metadata": {"name": "shop", "namespace": "apps"},
            "spec": {"storage": {"size": "1Gi"}},
        }))
    }

    #[test]
    fn a_pod_that_cannot_pull_its_image_is_named_with_the_kubelet_reason() {
        let stuck = pod(json!({"initContainerStatuses": [{
            "name": "place-binary", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}},
        }]}));
        assert_eq!(
            pod_problem(&stuck).as_deref(),
            Some("pod shop-0, container place-binary: ImagePullBackOff: Back-off pulling image \"x\"")
        );
        let starting = pod(json!({"containerStatuses": [{
            "name": "mysql", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
        }]}));
        assert_eq!(pod_problem(&starting), None, "a pod on its way is not a problem");
    }

    #[test]
    fn backup_outcomes_are_read_newest_first_whatever_the_cache_order() {
        let world = World {
            backup_jobs: vec![
                job("b-1", "2026-01-01T01:00:00Z", Some("Complete")),
                job("b-3", "2026-01-01T03:00:00Z", Some("Failed")),
                job("b-2", "2026-01-01T02:00:00Z", Some("Failed")),
            ],
            pods: vec![runner_pod(
                "b-3",
                "backup",
                "log line\n{\"status\":\"failure\",\"error\":\"access denied\",\"startedAt\":\"2026-01-01T03:00:00Z\",\
                 \"completedAt\":\"2026-01-01T03:00:01Z\",\"durationSeconds\":1.0}",
            )],
            ..World::default()
        };
        let observed = world.observed(&instance());
        assert_eq!(observed.last_backup_succeeded, Some(false));
        assert_eq!(observed.consecutive_backup_failures, 2);
        assert_eq!(observed.last_backup_error.as_deref(), Some("b-3: access denied"));
        assert_eq!(world.last_successful_backup().map(|b| b.name).as_deref(), Some("b-1"));
    }

    #[test]
    fn a_failed_restore_says_what_the_runner_reported_and_how_to_retry() {
        let world = World {
            restore_job: Some(job("shop-restore", "2026-01-01T01:00:00Z", Some("Failed"))),
            pods: vec![runner_pod(
                "shop-restore",
                "restore",
                "{\"error\":\"checksum mismatch\"}",
            )],
            ..World::default()
        };
        let message = world.restore_failure().expect("a failure");
        assert!(message.contains("checksum mismatch"), "{message}");
        assert!(message.contains("delete the Job shop-restore to retry"), "{message}");
    }
}
