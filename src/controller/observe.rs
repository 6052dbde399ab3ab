//! Observe: reads an instance's children from the API into a [`World`], and reduces it to the plain
//! [`Observed`] snapshot the phase machine decides on.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::api::{LastBackup, MySQLInstance};
use crate::backup::BackupResult;
use crate::error::Result;
use crate::fsm::Observed;
use crate::resources::{self, INSTANCE_LABEL, credential_keys};

/// Everything the operator reads about one instance.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub secret: Option<Secret>,
    pub config_map: Option<ConfigMap>,
    pub service: Option<Service>,
    pub headless_service: Option<Service>,
    pub statefulset: Option<StatefulSet>,
    pub cronjob: Option<CronJob>,
    pub backup_pvc: Option<PersistentVolumeClaim>,
    pub data_pvcs: Vec<PersistentVolumeClaim>,
    /// Backup Jobs of this instance, newest first.
    pub backup_jobs: Vec<Job>,
    /// The Job restoring `spec.restoreFrom`, when there is one.
    pub restore_job: Option<Job>,
    /// What each backup Job's pod reported in its termination message, by Job name.
    pub backup_results: BTreeMap<String, BackupResult>,
    /// The error the failed restore Job's runner reported, when it did.
    pub restore_error: Option<String>,
    /// Why a pod of the instance cannot run, when the kubelet says so.
    pub pod_problem: Option<String>,
}

impl World {
    /// Reads the children of `instance` in `namespace`.
    pub async fn read(client: &Client, instance: &MySQLInstance, namespace: &str) -> Result<Self> {
        let name = instance.name_any();
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let services: Api<Service> = Api::namespaced(client.clone(), namespace);
        let statefulsets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
        let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
        let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
        let selector =
            ListParams::default().labels(&format!("{INSTANCE_LABEL}={name},app.kubernetes.io/component=backup"));
        let (secret_name, config_map_name) = (
            resources::credentials_secret_name(instance),
            resources::config_map_name(instance),
        );
        let (headless_name, cronjob_name) = (
            resources::headless_service_name(instance),
            resources::backup_cronjob_name(instance),
        );
        let backup_pvc_name = resources::backup_pvc_name(instance);
        let (secret, config_map, service, headless_service, statefulset, cronjob, backup_pvc, job_list) = futures::try_join!(
            secrets.get_opt(&secret_name),
            config_maps.get_opt(&config_map_name),
            services.get_opt(&name),
            services.get_opt(&headless_name),
            statefulsets.get_opt(&name),
            cronjobs.get_opt(&cronjob_name),
            pvcs.get_opt(&backup_pvc_name),
            jobs.list(&selector),
        )?;
        let mut data_pvcs = Vec::new();
        for ordinal in 0..u32::try_from(instance.spec.replicas.max(0)).unwrap_or_default() {
            if let Some(pvc) = pvcs.get_opt(&resources::data_claim_name(instance, ordinal)).await? {
                data_pvcs.push(pvc);
            }
        }
        // The server pods and the backup and restore runners all carry the instance's name label.
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let of_instance = ListParams::default().labels(&format!(
            "app.kubernetes.io/instance={name},app.kubernetes.io/name=mysql"
        ));
        let instance_pods = pods.list(&of_instance).await?.items;
        let backup_results = instance_pods.iter().filter_map(reported_result).collect();
        let pod_problem = instance_pods.iter().find_map(pod_problem);
        let restore_job = match instance.spec.restore_from {
            Some(_) => jobs.get_opt(&resources::restore_job_name(instance)).await?,
            None => None,
        };
        let restore_error = restore_job
            .as_ref()
            .filter(|j| job_outcome(j) == Some(false))
            .and_then(|job| {
                instance_pods
                    .iter()
                    .filter(|pod| job_of(pod) == Some(&job.name_any()))
                    .find_map(|pod| {
                        let line = termination_message(pod, "restore")?
                            .lines()
                            .rev()
                            .find_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())?;
                        line.get("error")?.as_str().map(str::to_owned)
                    })
            });
        let mut backup_jobs = job_list.items;
        backup_jobs.sort_by(|a, b| {
            b.creation_timestamp()
                .cmp(&a.creation_timestamp())
                .then_with(|| b.name_any().cmp(&a.name_any()))
        });
        Ok(Self {
            secret,
            config_map,
            service,
            headless_service,
            statefulset,
            cronjob,
            backup_pvc,
            data_pvcs,
            backup_jobs,
            restore_job,
            backup_results,
            restore_error,
            pod_problem,
        })
    }

    /// The snapshot the phase machine decides on.
    pub fn observed(&self, instance: &MySQLInstance) -> Observed {
        let sts_status = self.statefulset.as_ref().and_then(|s| s.status.as_ref());
        let finished: Vec<bool> = self.backup_jobs.iter().filter_map(job_outcome).collect();
        Observed {
            spec_error: instance.spec.validate(),
            paused: instance.spec.paused,
            credentials_ready: self.secret.as_ref().is_some_and(|s| {
                let data = s.data.as_ref();
                credential_keys::REQUIRED
                    .iter()
                    .all(|k| data.is_some_and(|d| d.contains_key(*k)))
            }),
            statefulset_exists: self.statefulset.is_some(),
            desired_replicas: instance.spec.replicas,
            ready_replicas: sts_status.and_then(|s| s.ready_replicas).unwrap_or(0),
            rollout_in_progress: self.statefulset.as_ref().is_some_and(rollout_in_progress),
            backup_running: self.backup_jobs.iter().any(|j| job_outcome(j).is_none()),
            last_backup_succeeded: finished.first().copied(),
            last_backup_error: self.last_backup_error(),
            restore_pending: instance.spec.restore_from.is_some()
                && instance.status.as_ref().and_then(|s| s.restored_at.as_ref()).is_none()
                && self.restored_at().is_none(),
            restore_failed: self
                .restore_job
                .as_ref()
                .filter(|j| job_outcome(j) == Some(false))
                .map(|j| {
                    let name = j.name_any();
                    let why = self
                        .restore_error
                        .clone()
                        .unwrap_or_else(|| format!("see `kubectl logs job/{name}`"));
                    format!(
                        "the restore Job {name} failed: {why}; it is never retried on its own: fix the cause, \
                         then delete the Job {name} to retry"
                    )
                }),
            pod_problem: self.pod_problem.clone(),
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
        let job = self.backup_jobs.iter().find(|j| job_outcome(j) == Some(true))?;
        let status = job.status.as_ref()?;
        let report = self.backup_results.get(&job.name_any());
        let time = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339().parse().ok().map(Time);
        let started = report
            .and_then(|r| time(&r.started_at))
            .or_else(|| status.start_time.clone());
        let completed = report
            .and_then(|r| time(&r.completed_at))
            .or_else(|| status.completion_time.clone());
        let duration = report.map(|r| r.duration_seconds).or(match (&started, &completed) {
            (Some(s), Some(c)) => Some((c.0.as_millisecond() - s.0.as_millisecond()) as f64 / 1000.0),
            _ => None,
        });
        Some(LastBackup {
            name: report.and_then(|r| r.name.clone()).unwrap_or_else(|| job.name_any()),
            started_at: started,
            completed_at: completed,
            duration_seconds: duration,
            size_bytes: report.and_then(|r| r.size_bytes).and_then(|b| i64::try_from(b).ok()),
            location: report.and_then(|r| r.location.clone()),
            sha256: report.and_then(|r| r.sha256.clone()),
        })
    }

    /// When the restore Job completed, if it did.
    pub fn restored_at(&self) -> Option<Time> {
        let job = self.restore_job.as_ref().filter(|j| job_outcome(j) == Some(true))?;
        job.status.as_ref()?.completion_time.clone()
    }

    /// Why the newest finished backup failed, as its runner reported it.
    fn last_backup_error(&self) -> Option<String> {
        let job = self.backup_jobs.iter().find(|j| job_outcome(j).is_some())?;
        if job_outcome(job) != Some(false) {
            return None;
        }
        let report = self.backup_results.get(&job.name_any());
        let error = report
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| "the backup Job failed without a report".to_owned());
        Some(format!("{}: {error}", job.name_any()))
    }
}

/// The Job name and parsed result line of a finished backup pod, from the backup container's termination
/// message. The message may hold log lines before the result (FallbackToLogsOnError), so the last line that
/// parses wins.
fn reported_result(pod: &Pod) -> Option<(String, BackupResult)> {
    let job = job_of(pod)?;
    let result = termination_message(pod, "backup")?
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<BackupResult>(line.trim()).ok())?;
    Some((job.clone(), result))
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
fn job_outcome(job: &Job) -> Option<bool> {
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

/// A StatefulSet is rolling out while its controller has not seen the newest spec or not every replica runs
/// the newest revision.
fn rollout_in_progress(sts: &StatefulSet) -> bool {
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

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "shop-0"}, "status": status})).expect("pod")
    }

    #[test]
    fn a_pod_that_cannot_pull_its_image_is_named_with_the_kubelet_reason() {
        let stuck = pod(serde_json::json!({"initContainerStatuses": [{
            "name": "place-binary", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}},
        }]}));
        assert_eq!(
            pod_problem(&stuck).as_deref(),
            Some("pod shop-0, container place-binary: ImagePullBackOff: Back-off pulling image \"x\"")
        );
        let starting = pod(serde_json::json!({"containerStatuses": [{
            "name": "mysql", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
        }]}));
        assert_eq!(pod_problem(&starting), None, "a pod on its way is not a problem");
    }
}
