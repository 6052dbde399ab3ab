//! Decide: the pure core of a reconcile. From the instance and the [`World`] the controller read, it
//! builds the whole [`Plan`]: the phase step, each child to apply or delete with its built object, data
//! volumes to grow, the status to write and the Events to publish. No client, no clock, no randomness:
//! everything it needs comes in as arguments, so every decision is covered by table tests.

mod drift;
mod plan;
mod rollout;
pub mod status;
mod world;

pub use plan::{Children, CredentialsStep, EVENT_NOTE_LIMIT, EventKind, Plan, PlannedEvent, Step, VolumeGrowth};
pub use rollout::{Held, RECENT_BACKUP};
pub use world::{World, job_outcome, rollout_in_progress, runner_result};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::Serialize;

use crate::api::{MySQLInstance, Phase};
use crate::error::{Error, Result};
use crate::fsm::{self, Observed, Transition};
use crate::resources::{self, Credentials, OperatorSettings, credential_keys};

/// Decides everything one reconcile of `instance` does. `now` stamps conditions whose status flips.
pub fn decide(instance: &MySQLInstance, world: &World, settings: &OperatorSettings, now: &Time) -> Result<Plan> {
    let observed = world.observed(instance);
    let phase = instance.status.as_ref().and_then(|s| s.phase).unwrap_or(Phase::Pending);
    let (children, held) = if observed.paused || observed.spec_error.is_some() {
        (Children::default(), None)
    } else {
        children(instance, world, settings, &observed, now)?
    };
    let (before, _) = fsm::settle(phase, &observed);
    let status_before_children = status::desired(instance, world, &observed, &before, held.as_ref(), now);
    let applied = children.applied_to(observed);
    let (transition, edges) = fsm::settle(phase, &applied);
    let status = status::desired(instance, world, &applied, &transition, held.as_ref(), now);
    Ok(Plan {
        status: (instance.status.as_ref() != Some(&status)).then_some(status),
        status_before_children,
        events: edges.iter().map(transition_event).collect(),
        transition,
        edges,
        children,
    })
}

fn children(
    instance: &MySQLInstance,
    world: &World,
    settings: &OperatorSettings,
    observed: &Observed,
    now: &Time,
) -> Result<(Children, Option<Held>)> {
    let mut statefulset = resources::statefulset(instance, settings, &claim_size(instance, world))?;
    let held = rollout::gate(instance, world, &mut statefulset, now)?;
    let restore_job = resources::restore_job(instance, settings).filter(|_| restore_can_start(observed, world));
    let children = Children {
        credentials: credentials(instance, world)?,
        config_map: step(resources::config_map(instance), world.config_map.as_ref())?,
        headless_service: step(resources::headless_service(instance), world.headless_service.as_ref())?,
        service: step(resources::service(instance), world.service.as_ref())?,
        statefulset: step(statefulset, world.statefulset.as_ref())?,
        data_volume_growth: growth(instance, &world.data_pvcs),
        // Turning backups off keeps the backup volume: it holds the backups taken so far.
        backup_volume: match resources::backup_pvc(instance) {
            Some(pvc) => step(pvc, world.backup_pvc.as_ref())?,
            None => Step::InLine,
        },
        // Created once and never rewritten, so a finished or failed restore stays for inspection.
        restore_job: restore_job.map_or(Step::InLine, |job| Step::Apply(Box::new(job))),
        backup_cronjob: match (resources::backup_cronjob(instance, settings), &world.cronjob) {
            (Some(cronjob), live) => step(cronjob, live.as_ref())?,
            (None, Some(live)) => Step::Delete(live.name_any()),
            (None, None) => Step::InLine,
        },
    };
    Ok((children, held))
}

/// Apply `desired` unless `live` already carries every field of it.
fn step<K: Serialize>(desired: K, live: Option<&K>) -> Result<Step<K>> {
    Ok(match live {
        Some(live) if drift::in_line(&desired, live)? => Step::InLine,
        _ => Step::Apply(Box::new(desired)),
    })
}

/// The claim template of an existing StatefulSet cannot change: keep its size, and grow the volumes instead.
fn claim_size(instance: &MySQLInstance, world: &World) -> String {
    world
        .statefulset
        .as_ref()
        .and_then(|s| {
            let template = s.spec.volume_claim_templates.as_ref()?.first()?;
            let requests = template.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
            requests.get("storage").map(|q| q.0.clone())
        })
        .unwrap_or_else(|| instance.spec.storage.size.clone())
}

/// Data volumes smaller than `spec.storage.size`.
fn growth(instance: &MySQLInstance, pvcs: &[PersistentVolumeClaim]) -> Vec<VolumeGrowth> {
    let want = &instance.spec.storage.size;
    pvcs.iter()
        .filter(|pvc| {
            pvc.spec
                .as_ref()
                .and_then(|s| s.resources.as_ref()?.requests.as_ref()?.get("storage"))
                .is_some_and(|current| resources::is_larger(want, &current.0))
        })
        .map(|pvc| VolumeGrowth {
            claim: pvc.name_any(),
            size: want.clone(),
        })
        .collect()
}

/// A restore starts once, when the new server is ready and no restore Job exists yet.
fn restore_can_start(observed: &Observed, world: &World) -> bool {
    observed.restore_pending
        && world.restore_job.is_none()
        && observed.statefulset_exists
        && !observed.rollout_in_progress
        && observed.ready_replicas >= observed.desired_replicas
}

/// Create the credentials when they are absent; otherwise only their owner references follow the
/// deletionPolicy.
fn credentials(instance: &MySQLInstance, world: &World) -> Result<CredentialsStep> {
    let Some(existing) = &world.secret else {
        let root_password = match &instance.spec.root_password_secret_ref {
            Some(reference) => Some(root_password(
                world.root_password_secret.as_ref(),
                &reference.name,
                &reference.key,
            )?),
            None => None,
        };
        return Ok(CredentialsStep::Create { root_password });
    };
    if let Some(credentials) = split_credentials(existing)? {
        let copied = existing.annotations().contains_key(resources::ROOT_SECRET_ANNOTATION);
        return Ok(match world.statefulset.as_ref() {
            _ if !copied => CredentialsStep::Split(credentials),
            // Only once no pod reads root's option file from the application Secret any more.
            Some(sts)
                if resources::mounts_root_secret(instance, sts) && !world.observed(instance).rollout_in_progress =>
            {
                CredentialsStep::DropRootKeys
            }
            _ => CredentialsStep::InLine,
        });
    }
    let owners = resources::credentials_ownership(instance);
    Ok(if existing.owner_references() == owners.as_slice() {
        CredentialsStep::InLine
    } else {
        CredentialsStep::SetOwners(owners)
    })
}

/// The passwords of an application Secret made before the root Secret existed (it holds `root-password`), to
/// move into the split; `None` for one made after.
fn split_credentials(secret: &Secret) -> Result<Option<Credentials>> {
    let name = secret.name_any();
    let text = |key: &str| -> Result<Option<String>> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|value| {
                String::from_utf8(value.0.clone()).map_err(|_| {
                    Error::RootPasswordUnavailable(format!("key {key:?} of Secret {name} is not UTF-8 text"))
                })
            })
            .transpose()
    };
    let Some(root_password) = text(credential_keys::ROOT_PASSWORD)? else {
        return Ok(None);
    };
    let user_password = text(credential_keys::PASSWORD)?.ok_or_else(|| {
        Error::RootPasswordUnavailable(format!(
            "Secret {name} has a root password but no key {:?}; restore it from a copy of the Secret",
            credential_keys::PASSWORD
        ))
    })?;
    Ok(Some(Credentials {
        root_password,
        user_password,
    }))
}

fn root_password(secret: Option<&Secret>, name: &str, key: &str) -> Result<String> {
    let unavailable = |why: String| Error::RootPasswordUnavailable(why);
    let secret = secret.ok_or_else(|| {
        unavailable(format!(
            "Secret {name} named by spec.rootPasswordSecretRef does not exist; create it"
        ))
    })?;
    let value = secret.data.as_ref().and_then(|d| d.get(key)).ok_or_else(|| {
        unavailable(format!(
            "Secret {name} has no key {key:?}; add it or fix spec.rootPasswordSecretRef.key"
        ))
    })?;
    String::from_utf8(value.0.clone())
        .map_err(|_| unavailable(format!("key {key:?} of Secret {name} is not UTF-8 text")))
}

/// Every phase change is an Event; becoming Degraded is a Warning.
fn transition_event(edge: &Transition) -> PlannedEvent {
    let kind = if edge.to == Phase::Degraded {
        EventKind::Warning
    } else {
        EventKind::Normal
    };
    let (from, to): (&'static str, &'static str) = (edge.from.into(), edge.to.into());
    PlannedEvent::new(
        kind,
        edge.reason.into(),
        "PhaseTransition",
        format!("{from} -> {to}: {}", edge.message),
    )
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub(crate) mod tests;
