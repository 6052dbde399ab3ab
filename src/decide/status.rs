//! The status an instance should show: the phase step, its conditions, and what was observed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{Held, World};
use crate::api::{MySQLInstance, MySQLInstanceStatus, Phase};
use crate::fsm::{Observed, Transition, conditions};
use crate::resources;

/// The status `instance` should carry after `transition`. `now` is only used for conditions whose status
/// flips.
pub fn desired(
    instance: &MySQLInstance,
    world: &World,
    observed: &Observed,
    transition: &Transition,
    held: Option<&Held>,
    now: &Time,
) -> MySQLInstanceStatus {
    let current = instance.status.clone().unwrap_or_default();
    let backups_enabled = instance.spec.backup.as_ref().is_some_and(|b| b.enabled);
    let mut wanted = conditions::desired(transition, observed, backups_enabled);
    wanted.extend(held.map(|held| conditions::rollout_pending(held.reason, held.message.clone())));
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

/// The status to show after a failed reconcile: `planned` (or the stored status when nothing was planned)
/// with `Synced=False` naming the error's category and message. A `terminal` failure (the API refuses what
/// the spec asks for; retrying cannot help) also stops `Progressing`, so the instance does not look as if it
/// were getting somewhere.
pub fn after_failure(
    instance: &MySQLInstance,
    planned: Option<MySQLInstanceStatus>,
    reason: &str,
    message: String,
    terminal: bool,
    now: &Time,
) -> MySQLInstanceStatus {
    let stored = instance.status.clone().unwrap_or_default();
    let mut status = planned.unwrap_or_else(|| stored.clone());
    status.phase.get_or_insert(Phase::Pending);
    if terminal {
        conditions::replace(
            &mut status.conditions,
            &stored.conditions,
            conditions::stalled(reason, message.clone()),
            instance.metadata.generation,
            now,
        );
    }
    conditions::replace(
        &mut status.conditions,
        &stored.conditions,
        conditions::sync_failed(reason, message),
        instance.metadata.generation,
        now,
    );
    status
}
