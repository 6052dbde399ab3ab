//! The backup CronJob `NAME-backup`, which runs the operator binary's `backup` subcommand, and the backup
//! volume claim `NAME-backups` for PVC destinations.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;

use super::OperatorSettings;
use super::metadata::{Component, child_metadata};
use super::runner::{Repository, connection_args, runner_job};
use crate::api::{BackupSpec, DeletionPolicy, MySQLInstance};
/// Failed Jobs kept: enough to count consecutive failures past the Degraded threshold.
const FAILED_JOBS_KEPT: i32 = 5;

/// Name of the backup CronJob.
pub fn backup_cronjob_name(instance: &MySQLInstance) -> String {
    format!("{}-backup", instance.name_any())
}

/// Name of the backup volume claim.
pub fn backup_pvc_name(instance: &MySQLInstance) -> String {
    format!("{}-backups", instance.name_any())
}

fn enabled_backup(instance: &MySQLInstance) -> Option<&BackupSpec> {
    instance.spec.backup.as_ref().filter(|b| b.enabled)
}

/// The backup volume claim, when backups go to a PVC. Owned by the instance only under deletionPolicy
/// Delete, like the data volume.
pub fn backup_pvc(instance: &MySQLInstance) -> Option<PersistentVolumeClaim> {
    let pvc = enabled_backup(instance)?.destination.pvc.as_ref()?;
    let owned = instance.spec.deletion_policy == DeletionPolicy::Delete;
    Some(PersistentVolumeClaim {
        metadata: child_metadata(instance, backup_pvc_name(instance), Component::Backup, owned),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: pvc.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), Quantity(pvc.size.clone()))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

/// The backup CronJob, when backups are enabled.
pub fn backup_cronjob(instance: &MySQLInstance, settings: &OperatorSettings) -> Option<CronJob> {
    let backup = enabled_backup(instance)?;
    let name = instance.name_any();
    let repository = match (&backup.destination.pvc, &backup.destination.s3) {
        (Some(_), _) => Repository::pvc(&backup_pvc_name(instance), false),
        (None, Some(s3)) => Repository::s3(s3, &format!("{}/{name}", instance.namespace().unwrap_or_default())),
        (None, None) => return None,
    };
    let mut args = vec!["backup".to_owned(), format!("--instance={name}")];
    args.extend(connection_args(instance));
    args.push(format!("--destination={}", repository.url));
    if let Some(retention) = &backup.retention {
        args.extend(retention.keep_last.map(|n| format!("--keep-last={n}")));
        args.extend(retention.max_age.as_ref().map(|age| format!("--max-age={age}")));
    }
    let (metadata, job) = runner_job(instance, settings, Component::Backup, args, repository);
    Some(CronJob {
        metadata: child_metadata(instance, backup_cronjob_name(instance), Component::Backup, true),
        spec: CronJobSpec {
            schedule: backup.schedule.clone(),
            time_zone: Some("Etc/UTC".to_owned()),
            suspend: Some(backup.suspend),
            concurrency_policy: Some("Forbid".to_owned()),
            starting_deadline_seconds: Some(300),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(FAILED_JOBS_KEPT),
            job_template: JobTemplateSpec {
                metadata: Some(metadata),
                spec: Some(job),
            },
        },
        ..CronJob::default()
    })
}
