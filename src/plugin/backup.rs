//! `backup NAME`: a Job made from the instance's backup CronJob as `kubectl create job --from=cronjob/...` makes it,
//! followed until it finishes, with the result the runner left in its container's termination message.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::{ListParams, PostParams};
use mysqlinstance_operator::backup::{BackupResult, Status};
use mysqlinstance_operator::decide::{job_outcome, runner_result};
use mysqlinstance_operator::resources::{INSTANCE_LABEL, backup_cronjob_name};

use super::status::{short_sha, size};
use super::{FIELD_MANAGER, POLL, PluginError, Target, WaitArgs};

/// The annotation `kubectl create job --from=cronjob/...` puts on the Jobs it makes.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";
/// The container of the backup pod whose termination message holds the result line.
const BACKUP_CONTAINER: &str = "backup";
/// Longest Job name: the Job controller puts it in a label of its pods.
const MAX_JOB_NAME: usize = 63;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The MySQLInstance.
    name: String,
    #[command(flatten)]
    pub(super) wait: WaitArgs,
}

pub async fn run(target: &Target, args: &BackupArgs) -> Result<ExitCode, PluginError> {
    let instance = target.instance(&args.name).await?;
    let cronjob = find_cronjob(target, &args.name, &backup_cronjob_name(&instance)).await?;
    let job = manual_job(&args.name, &cronjob, jiff::Timestamp::now().as_second())?;
    let job_name = job.name_any();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    target
        .api::<Job>()
        .create(&params, &job)
        .await
        .map_err(|e| PluginError::api(format!("create the backup Job {job_name}"), e))?;
    println!("job/{job_name} created from cronjob/{}", cronjob.name_any());
    if !args.wait.waits() {
        println!(
            "follow it with: kubectl get job {job_name} -n {} -w (its result: kubectl myi status {})",
            target.namespace, args.name
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "waiting for it to finish (up to {})...",
        humantime::format_duration(args.wait.timeout)
    );
    let outcome = follow(target, &job_name, args).await?;
    let result = result_of(target, &job_name).await?;
    match (outcome, result) {
        (true, Some(result)) if result.status == Status::Success => {
            print!("{}", render_success(&result));
            Ok(ExitCode::SUCCESS)
        }
        (true, _) => {
            println!("the backup Job {job_name} completed, but its pod left no result line to show");
            Ok(ExitCode::SUCCESS)
        }
        (false, result) => Err(PluginError::BackupFailed {
            job: job_name,
            namespace: target.namespace.clone(),
            message: failure_message(result.as_ref()),
        }),
    }
}

/// The backup CronJob of instance `name`, found by the labels the operator puts on it (preferring its usual name).
async fn find_cronjob(target: &Target, name: &str, usual_name: &str) -> Result<CronJob, PluginError> {
    let selector = format!("{INSTANCE_LABEL}={name},app.kubernetes.io/component=backup");
    let mut cronjobs = target
        .api::<CronJob>()
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| PluginError::api(format!("list the backup CronJobs of {name}"), e))?
        .items;
    cronjobs.sort_by_key(|c| c.name_any() != usual_name);
    cronjobs
        .into_iter()
        .next()
        .ok_or_else(|| PluginError::BackupsNotEnabled {
            name: name.to_owned(),
            namespace: target.namespace.clone(),
        })
}

/// The Job `NAME-manual-<unix time>` that `kubectl create job --from=cronjob/...` would make of `cronjob`: its
/// template's spec, labels and annotations, the CronJob's labels, the `instantiate: manual` annotation, and the
/// CronJob as controlling owner, so it is garbage collected like the scheduled ones.
pub fn manual_job(instance: &str, cronjob: &CronJob, unix_time: i64) -> Result<Job, PluginError> {
    let suffix = format!("-manual-{unix_time}");
    let stem: String = instance.chars().take(MAX_JOB_NAME - suffix.len()).collect();
    let name = format!("{}{suffix}", stem.trim_end_matches('-'));
    let template = &cronjob.spec.job_template;
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = cronjob.labels().clone();
    labels.extend(template_meta.labels.unwrap_or_default());
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(INSTANTIATE_ANNOTATION.to_owned(), "manual".to_owned());
    let uid = cronjob.uid().ok_or_else(|| {
        PluginError::Invalid(format!(
            "the CronJob {} has no uid (not read from the API)",
            cronjob.name_any()
        ))
    })?;
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: cronjob.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_owned(),
                kind: "CronJob".to_owned(),
                name: cronjob.name_any(),
                uid,
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// Polls the Job until it is Complete (`true`) or Failed (`false`).
async fn follow(target: &Target, job: &str, args: &BackupArgs) -> Result<bool, PluginError> {
    let jobs = target.api::<Job>();
    let deadline = Instant::now() + args.wait.timeout;
    loop {
        let current = jobs
            .get(job)
            .await
            .map_err(|e| PluginError::api(format!("read the backup Job {job}"), e))?;
        if let Some(outcome) = job_outcome(&current) {
            return Ok(outcome);
        }
        if Instant::now() >= deadline {
            return Err(PluginError::Timeout {
                what: format!("the backup Job {job}"),
                after: args.wait.timeout,
                hint: format!(
                    "see kubectl get job {job} -n {ns}; its result will be in kubectl myi status {} -n {ns}",
                    args.name,
                    ns = target.namespace
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn result_of(target: &Target, job: &str) -> Result<Option<BackupResult>, PluginError> {
    let pods = target
        .api::<Pod>()
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map_err(|e| PluginError::api(format!("list the pods of the backup Job {job}"), e))?;
    Ok(result_from_pods(&pods.items))
}

/// The result line a backup runner left in the termination message of its container, from the newest pod that
/// has one. The message may hold log lines before it (FallbackToLogsOnError): the last line that parses wins.
pub fn result_from_pods(pods: &[Pod]) -> Option<BackupResult> {
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by_key(|pod| std::cmp::Reverse(pod.creation_timestamp()));
    pods.into_iter().find_map(|pod| runner_result(pod, BACKUP_CONTAINER))
}

/// What a successful backup reports.
pub fn render_success(result: &BackupResult) -> String {
    let dash = || "-".to_owned();
    let rows = [
        ("Backup", result.name.clone().unwrap_or_else(dash)),
        (
            "Size",
            result
                .size_bytes
                .and_then(|b| i64::try_from(b).ok())
                .map_or_else(dash, size),
        ),
        ("SHA-256", result.sha256.as_deref().map_or_else(dash, short_sha)),
        (
            "Duration",
            humantime::format_duration(std::time::Duration::from_secs_f64(result.duration_seconds.max(0.0)))
                .to_string(),
        ),
        ("Location", result.location.clone().unwrap_or_else(dash)),
    ];
    let mut out = String::from("backup succeeded\n");
    for (label, value) in rows {
        out.push_str(&format!("  {:<10}{value}\n", format!("{label}:")));
    }
    if let Some(warning) = &result.warning {
        out.push_str(&format!("  warning:  {warning}\n"));
    }
    out
}

/// Why a backup failed, as its runner said.
pub fn failure_message(result: Option<&BackupResult>) -> String {
    match result {
        Some(BackupResult {
            error: Some(error),
            reason,
            ..
        }) => match reason {
            Some(reason) => format!("{reason}: {error}"),
            None => error.clone(),
        },
        _ => "its pod left no result line".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cronjob() -> CronJob {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db-backup", "namespace": "shop", "uid": "c-1",
                         "labels": {"app.kubernetes.io/instance": "db", "from-cronjob": "yes"}},
            "spec": {
                "schedule": "0 3 * * *",
                "jobTemplate": {
                    "metadata": {"labels": {"mysqlinstance.io/instance": "db", "app.kubernetes.io/component": "backup"},
                                 "annotations": {"kept": "too"}},
                    "spec": {"backoffLimit": 0, "template": {"spec": {"containers": [{"name": "backup"}]}}}
                }
            }
        }))
        .expect("fixture")
    }

    #[test]
    fn the_manual_job_is_what_kubectl_create_job_from_makes() {
        let job = manual_job("db", &cronjob(), 1_764_748_800).expect("job");
        assert_eq!(job.name_any(), "db-manual-1764748800");
        assert_eq!(job.namespace().as_deref(), Some("shop"));
        assert_eq!(job.annotations()[INSTANTIATE_ANNOTATION], "manual");
        assert_eq!(job.annotations()["kept"], "too");
        let labels = job.labels();
        assert_eq!(labels["mysqlinstance.io/instance"], "db");
        assert_eq!(labels["app.kubernetes.io/component"], "backup");
        assert_eq!(labels["from-cronjob"], "yes");
        let owner = &job.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("CronJob", "db-backup", "c-1")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(job.spec, cronjob().spec.job_template.spec);
    }

    #[test]
    fn long_instance_names_still_make_a_valid_job_name() {
        let name = "a".repeat(60);
        let job = manual_job(&name, &cronjob(), 1_764_748_800).expect("job");
        assert!(job.name_any().len() <= MAX_JOB_NAME, "{}", job.name_any());
        assert!(job.name_any().ends_with("-manual-1764748800"));
    }

    fn pod(created: &str, message: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "creationTimestamp": created},
            "status": {"containerStatuses": [{
                "name": "backup", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": message}}
            }]}
        }))
        .expect("pod")
    }

    const SUCCESS: &str = r#"{"status":"success","instance":"db","name":"db-20261125T030000Z.sql.zst","location":"file:///backups/db-20261125T030000Z.sql.zst","sizeBytes":1048576,"sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","startedAt":"2026-11-25T03:00:00Z","completedAt":"2026-11-25T03:00:08Z","durationSeconds":8.0}"#;

    #[test]
    fn the_result_line_is_read_from_the_termination_message_and_shown() {
        let message = format!("a log line first\n{SUCCESS}\n");
        let result = result_from_pods(&[pod("2026-11-25T03:00:00Z", &message)]).expect("a result");
        assert_eq!(
            render_success(&result),
            "backup succeeded\n  \
               Backup:   db-20261125T030000Z.sql.zst\n  \
               Size:     1.0 MiB (1048576 bytes)\n  \
               SHA-256:  0123456789ab\n  \
               Duration: 8s\n  \
               Location: file:///backups/db-20261125T030000Z.sql.zst\n"
        );
        assert_eq!(result_from_pods(&[pod("2026-11-25T03:00:00Z", "no json here")]), None);
    }

    #[test]
    fn a_failure_names_the_runners_reason_and_error() {
        let failure = r#"{"status":"failure","startedAt":"2026-11-25T03:00:00Z","completedAt":"2026-11-25T03:00:03Z","durationSeconds":3.0,"reason":"ServerUnreachable","error":"cannot connect to db.shop.svc:3306"}"#;
        let result = result_from_pods(&[pod("2026-11-25T03:00:00Z", failure)]);
        assert_eq!(
            failure_message(result.as_ref()),
            "ServerUnreachable: cannot connect to db.shop.svc:3306"
        );
        assert_eq!(failure_message(None), "its pod left no result line");
    }
}
