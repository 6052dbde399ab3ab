//! The backup CronJob `NAME-backup`, which runs the operator binary's `backup` subcommand, and the backup
//! volume claim `NAME-backups` for PVC destinations.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, SecretKeySelector, Volume, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::OperatorSettings;
use super::metadata::{Component, child_metadata, labels};
use super::statefulset::{
    client_cnf_path, credentials_volume, empty_dir, mount, restricted_container_security, restricted_pod_security,
};
use crate::api::{BackupSpec, DeletionPolicy, MySQLInstance};

/// Where the backup volume is mounted in the backup pod.
const BACKUP_DIR: &str = "/backups";
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

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The backup CronJob, when backups are enabled.
pub fn backup_cronjob(instance: &MySQLInstance, settings: &OperatorSettings) -> Option<CronJob> {
    let backup = enabled_backup(instance)?;
    let name = instance.name_any();
    let namespace = instance.namespace().unwrap_or_default();
    let (credentials, credentials_mount) = credentials_volume(instance);
    let mut volumes = vec![credentials, empty_dir("tmp")];
    let mut mounts = vec![credentials_mount, mount("tmp", "/tmp", false)];
    let mut environment = Vec::new();
    let destination = if backup.destination.pvc.is_some() {
        volumes.push(Volume {
            name: "backups".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: backup_pvc_name(instance),
                read_only: None,
            }),
            ..Volume::default()
        });
        mounts.push(mount("backups", BACKUP_DIR, false));
        format!("file://{BACKUP_DIR}")
    } else if let Some(s3) = &backup.destination.s3 {
        environment.push(secret_env(
            "AWS_ACCESS_KEY_ID",
            &s3.credentials_secret,
            "AWS_ACCESS_KEY_ID",
        ));
        environment.push(secret_env(
            "AWS_SECRET_ACCESS_KEY",
            &s3.credentials_secret,
            "AWS_SECRET_ACCESS_KEY",
        ));
        environment.push(EnvVar {
            name: "AWS_REGION".to_owned(),
            value: Some(s3.region.clone()),
            ..EnvVar::default()
        });
        let prefix = s3.prefix.clone().unwrap_or_else(|| format!("{namespace}/{name}"));
        format!("s3://{}/{}", s3.bucket, prefix.trim_matches('/'))
    } else {
        return None;
    };
    let mut args = vec![
        "backup".to_owned(),
        format!("--instance={name}"),
        format!("--host={name}.{namespace}.svc"),
        format!("--defaults-file={}", client_cnf_path()),
        format!("--destination={destination}"),
    ];
    if let Some(s3) = &backup.destination.s3 {
        if let Some(endpoint) = &s3.endpoint {
            args.push(format!("--s3-endpoint={endpoint}"));
        }
        if s3.force_path_style {
            args.push("--s3-path-style".to_owned());
        }
    }
    if let Some(retention) = &backup.retention {
        if let Some(keep_last) = retention.keep_last {
            args.push(format!("--keep-last={keep_last}"));
        }
        if let Some(max_age) = &retention.max_age {
            args.push(format!("--max-age={max_age}"));
        }
    }
    let container = Container {
        name: "backup".to_owned(),
        image: Some(settings.backup_image.clone()),
        command: Some(vec!["mysqlinstance-operator".to_owned()]),
        args: Some(args),
        env: (!environment.is_empty()).then_some(environment),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    let pod_labels = labels(instance, Component::Backup);
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
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    active_deadline_seconds: Some(6 * 3600),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(pod_labels),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(PodSpec {
                            restart_policy: Some("Never".to_owned()),
                            automount_service_account_token: Some(false),
                            enable_service_links: Some(false),
                            security_context: Some(restricted_pod_security()),
                            containers: vec![container],
                            volumes: Some(volumes),
                            ..PodSpec::default()
                        }),
                    },
                    ..JobSpec::default()
                }),
            },
        },
        ..CronJob::default()
    })
}
