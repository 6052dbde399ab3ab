//! The Job `NAME-restore` that seeds a new instance from `spec.restoreFrom` with the operator binary's
//! `restore` subcommand, once the new server is up. It runs once: a failure is reported and never retried by
//! the operator.

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;

use super::OperatorSettings;
use super::metadata::{Component, child_metadata};
use super::runner::{Repository, connection_args, runner_job};
use crate::api::MySQLInstance;

/// Name of the restore Job.
pub fn restore_job_name(instance: &MySQLInstance) -> String {
    format!("{}-restore", instance.name_any())
}

/// The restore Job, when the instance has a `restoreFrom`.
pub fn restore_job(instance: &MySQLInstance, settings: &OperatorSettings) -> Option<Job> {
    let source = instance.spec.restore_from.as_ref()?;
    let repository = match (&source.pvc, &source.s3) {
        (Some(pvc), _) => Repository::pvc(&pvc.claim_name, true),
        (None, Some(s3)) => Repository::s3(
            s3,
            &format!("{}/{}", instance.namespace().unwrap_or_default(), source.instance),
        ),
        (None, None) => return None,
    };
    let mut args = vec![
        "restore".to_owned(),
        format!("--source={}", source.backup),
        format!("--repository={}", repository.url),
        format!("--instance={}", source.instance),
    ];
    args.extend(connection_args(instance));
    // No TTL: the Job is the record that the restore ran. Were a failed one deleted on a timer, the operator
    // would start a new one over the half-restored database; it goes only with the instance, or when the
    // user deletes it to retry.
    let (_, job) = runner_job(instance, settings, Component::Restore, args, repository);
    Some(Job {
        metadata: child_metadata(instance, restore_job_name(instance), Component::Restore, true),
        spec: Some(job),
        status: None,
    })
}
