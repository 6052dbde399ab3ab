//! Status: builds the status an instance should show and writes it only when it differs from the stored one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::FIELD_MANAGER;
use super::observe::World;
use crate::api::{MySQLInstance, MySQLInstanceStatus};
use crate::error::Result;
use crate::fsm::{Observed, Transition, conditions};
use crate::resources;

/// The status `instance` should carry after `transition`. Pure: `now` is only used for conditions whose
/// status flips.
pub fn desired(
    instance: &MySQLInstance,
    world: &World,
    observed: &Observed,
    transition: &Transition,
    now: &Time,
) -> MySQLInstanceStatus {
    let current = instance.status.clone().unwrap_or_default();
    let backups_enabled = instance.spec.backup.as_ref().is_some_and(|b| b.enabled);
    let wanted = conditions::desired(transition, observed, backups_enabled);
    MySQLInstanceStatus {
        phase: Some(transition.to),
        conditions: conditions::merge(&current.conditions, wanted, instance.metadata.generation, now),
        observed_generation: instance.metadata.generation,
        ready_replicas: observed.ready_replicas,
        ready: Some(format!("{}/{}", observed.ready_replicas, observed.desired_replicas)),
        endpoint: Some(resources::endpoint(instance)),
        secret_name: observed
            .credentials_ready
            .then(|| resources::credentials_secret_name(instance)),
        last_backup: world.last_successful_backup().or(current.last_backup),
        consecutive_backup_failures: observed.consecutive_backup_failures,
        restored_at: current.restored_at.or_else(|| world.restored_at()),
    }
}

/// Writes `status` unless the instance already shows exactly that. Returns whether it wrote.
pub async fn write_if_changed(
    api: &Api<MySQLInstance>,
    instance: &MySQLInstance,
    status: MySQLInstanceStatus,
) -> Result<bool> {
    if instance.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": "mysqlinstance.io/v1alpha1",
        "kind": "MySQLInstance",
        "status": status,
    });
    api.patch_status(
        &instance.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}
