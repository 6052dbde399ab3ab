//! The plan of one reconcile: what to write to the API, as data. Built by [`super::decide`], consumed whole
//! by the controller's apply step.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::api::MySQLInstanceStatus;
use crate::fsm::{Observed, Transition};
use crate::resources::Credentials;
#[cfg(doc)]
use crate::resources::ROOT_SECRET_ANNOTATION;

/// Everything one reconcile writes, decided before the first write.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// From the stored phase to the one this reconcile leaves (see [`crate::fsm::settle`]).
    pub transition: Transition,
    /// The edges of the phase machine taken on the way, in order, each with its reason.
    pub edges: Vec<Transition>,
    /// What happens to each child.
    pub children: Children,
    /// The status to write once every child is applied, when it differs from the stored one. It counts what
    /// the children steps create (the credentials, the StatefulSet), so a new instance goes to Provisioning
    /// in the write that follows creating them, not one reconcile later.
    pub status: Option<MySQLInstanceStatus>,
    /// The status as observed before this reconcile wrote anything: what a failed child leaves to show.
    pub status_before_children: MySQLInstanceStatus,
    /// Events to publish once the writes are done: one per edge.
    pub events: Vec<PlannedEvent>,
}

/// One step per child. Adding a child here makes the apply step fail to compile until it handles it: the
/// apply step destructures this struct without `..`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Children {
    pub credentials: CredentialsStep,
    pub config_map: Step<ConfigMap>,
    pub headless_service: Step<Service>,
    pub service: Step<Service>,
    pub statefulset: Step<StatefulSet>,
    /// Data volumes smaller than the spec asks for.
    pub data_volume_growth: Vec<VolumeGrowth>,
    pub backup_volume: Step<PersistentVolumeClaim>,
    pub restore_job: Step<Job>,
    pub backup_cronjob: Step<CronJob>,
}

impl Children {
    /// Whether the plan writes any child: everything but the default, which leaves every child alone.
    pub fn writes_anything(&self) -> bool {
        *self != Children::default()
    }

    /// `observed` as these steps leave it once applied: the credentials and the StatefulSet they create
    /// exist. Nothing else they write is observed before its controller reports on it.
    pub fn applied_to(&self, mut observed: Observed) -> Observed {
        if matches!(self.credentials, CredentialsStep::Create { .. }) {
            observed.credentials_ready = true;
        }
        if matches!(self.statefulset, Step::Apply(_)) {
            observed.statefulset_exists = true;
        }
        observed
    }
}

/// What to do with one child.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Step<K> {
    /// Absent and not wanted, or present and in line with its desired form.
    #[default]
    InLine,
    /// Server-side apply this object: it is missing or drifted.
    Apply(Box<K>),
    /// Delete the child of this name: it exists but is not wanted any more.
    Delete(String),
}

/// The credentials Secret is never applied: it is created once and afterwards only its owner references
/// follow the deletionPolicy, so a password is never overwritten.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CredentialsStep {
    #[default]
    InLine,
    /// Create the root and application Secrets with fresh random passwords, and this root password when the
    /// spec names one. A Secret that exists already is kept as it is.
    Create { root_password: Option<String> },
    /// An application Secret made before the split holds the root password: copy it into the root Secret,
    /// and give the application Secret its connection URIs and the [`ROOT_SECRET_ANNOTATION`]. No password
    /// changes; the root keys stay until the server pod mounts the root Secret.
    Split(Credentials),
    /// The server pod mounts the root Secret now: remove the root keys from the application Secret.
    DropRootKeys,
    /// Set both Secrets' owner references to these.
    SetOwners(Vec<OwnerReference>),
}

/// A data volume to grow to the spec's size.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeGrowth {
    pub claim: String,
    pub size: String,
}

/// Whether an Event reports progress or a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

/// An Event to publish on the instance.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedEvent {
    pub kind: EventKind,
    pub reason: &'static str,
    /// What the operator did, as the Event's action.
    pub action: &'static str,
    /// At most [`EVENT_NOTE_LIMIT`] bytes.
    pub note: String,
}

/// The API server refuses an Event whose note is 1 kB or longer.
pub const EVENT_NOTE_LIMIT: usize = 1023;

impl PlannedEvent {
    /// An Event whose note is cut, on a character boundary and marked with an ellipsis, to the API's limit.
    pub fn new(kind: EventKind, reason: &'static str, action: &'static str, note: impl Into<String>) -> Self {
        let mut note = note.into();
        if note.len() > EVENT_NOTE_LIMIT {
            const ELLIPSIS: &str = "…";
            let mut cut = EVENT_NOTE_LIMIT - ELLIPSIS.len();
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str(ELLIPSIS);
        }
        Self {
            kind,
            reason,
            action,
            note,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_notes_are_cut_to_the_api_limit_on_a_character_boundary() {
        let short = PlannedEvent::new(EventKind::Normal, "R", "A", "fits");
        assert_eq!(short.note, "fits");
        let long = PlannedEvent::new(EventKind::Warning, "R", "A", "é".repeat(2000));
        assert!(long.note.len() <= EVENT_NOTE_LIMIT, "{} bytes", long.note.len());
        assert!(long.note.ends_with('…'));
        assert!(long.note.len() > EVENT_NOTE_LIMIT - 8, "cut no more than needed");
    }
}
