//! When a new pod template may roll out, restarting the database. A change the user asked for (a spec edit)
//! rolls at once, except a server upgrade, which waits until the instance is Ready and, with backups on, has a
//! successful backup of the last [`RECENT_BACKUP`]. A change the user did not ask for (a new operator version,
//! new defaults) waits while any other instance is rolling, so an operator upgrade restarts the databases one
//! at a time instead of all at once.

use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{World, drift};
use crate::api::{MySQLInstance, Phase};
use crate::error::Result;

/// How old the newest successful backup may be for a server upgrade to start.
pub const RECENT_BACKUP: SignedDuration = SignedDuration::from_hours(24);
const VERSION_LABEL: &str = "app.kubernetes.io/version";

/// A pod template change that is not rolled out yet, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub reason: &'static str,
    pub message: String,
}

/// Holds back the pod template of `desired` (keeping the live one) when it may not roll out yet; the rest of
/// the StatefulSet is applied as usual.
pub fn gate(instance: &MySQLInstance, world: &World, desired: &mut StatefulSet, now: &Time) -> Result<Option<Held>> {
    let Some(live) = &world.statefulset else {
        return Ok(None);
    };
    if drift::in_line(&desired.spec.template, &live.spec.template)? {
        return Ok(None);
    }
    let held = why_held(instance, world, live, now);
    if held.is_some() {
        desired.spec.template = live.spec.template.clone();
        // The version label says which server the pods run: it changes with the template, not before.
        if let (Some(labels), Some(running)) = (desired.metadata.labels.as_mut(), running_version(live)) {
            labels.insert(VERSION_LABEL.to_owned(), running.to_owned());
        }
    }
    Ok(held)
}

/// The server version the pods of `live` run, from its version label.
fn running_version(live: &StatefulSet) -> Option<&str> {
    live.metadata.labels.as_ref()?.get(VERSION_LABEL).map(String::as_str)
}

fn why_held(instance: &MySQLInstance, world: &World, live: &StatefulSet, now: &Time) -> Option<Held> {
    let status = instance.status.as_ref();
    let wanted = instance.spec.version.to_string();
    let running = running_version(live).filter(|running| *running != wanted);
    if let Some(running) = running {
        let upgrade = format!("the upgrade from {running} to {wanted}");
        if status.and_then(|s| s.phase) != Some(Phase::Ready) {
            return Some(Held {
                reason: "WaitingForReady",
                message: format!("{upgrade} waits until the instance is Ready"),
            });
        }
        let backups = instance.spec.backup.as_ref().is_some_and(|b| b.enabled);
        let newest = status
            .and_then(|s| s.last_backup.as_ref()?.completed_at.as_ref())
            .map(|completed| now.0.duration_since(completed.0));
        if backups && newest.is_none_or(|age| age > RECENT_BACKUP) {
            let newest = newest.map_or("there is none".to_owned(), |age| {
                format!("the newest is {} hours old", age.as_hours())
            });
            return Some(Held {
                reason: "WaitingForBackup",
                message: format!(
                    "{upgrade} waits for a successful backup of the last {} hours ({newest}): run one with \
                     `kubectl myi backup {}`",
                    RECENT_BACKUP.as_hours(),
                    instance.metadata.name.as_deref().unwrap_or_default()
                ),
            });
        }
        return None;
    }
    let asked = status.and_then(|s| s.observed_generation) != instance.metadata.generation;
    if asked || world.other_rollouts == 0 {
        return None;
    }
    Some(Held {
        reason: "WaitingForOtherRollouts",
        message: format!(
            "a new pod template from the operator (not from the spec) waits until {} other instance(s) finish \
             rolling: such changes restart one database at a time",
            world.other_rollouts
        ),
    })
}
