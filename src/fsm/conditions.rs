//! Status conditions derived from a transition, in the metav1.Condition shape.
//!
//! `lastTransitionTime` moves only when a condition's status flips, so a reconcile that sees nothing new
//! produces conditions equal to the current ones and the controller writes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use strum::{Display, EnumIter, IntoStaticStr};

use super::{Observed, Phase, Transition};

/// Condition types. Their names are a contract (dashboards, alerts, `kubectl wait`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Display, EnumIter, IntoStaticStr)]
pub enum ConditionType {
    Ready,
    Progressing,
    Degraded,
    BackingUp,
    BackupSucceeded,
    Paused,
    /// A new pod template is held back: a server upgrade waiting for Ready or a recent backup, or a change
    /// the operator made waiting for other instances to finish rolling. Present only while one is held.
    RolloutPending,
    /// Whether the children are in line with the spec: the operator's own work, apart from the database's
    /// health.
    Synced,
}

/// A condition's status before it gets a timestamp and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Display, IntoStaticStr)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl From<bool> for Status {
    fn from(value: bool) -> Self {
        if value { Status::True } else { Status::False }
    }
}

/// One desired condition: type, status, reason and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub type_: ConditionType,
    pub status: Status,
    pub reason: String,
    pub message: String,
}

/// The conditions an instance should carry after `transition`.
pub fn desired(transition: &Transition, observed: &Observed, backups_enabled: bool) -> Vec<Desired> {
    let reason: &'static str = transition.reason.into();
    let phase_condition = |type_, holds: bool| Desired {
        type_,
        status: holds.into(),
        reason: reason.to_owned(),
        message: transition.message.clone(),
    };
    let mut conditions = vec![
        phase_condition(
            ConditionType::Ready,
            matches!(transition.to, Phase::Ready | Phase::BackingUp),
        ),
        phase_condition(
            ConditionType::Progressing,
            matches!(transition.to, Phase::Pending | Phase::Provisioning),
        ),
        phase_condition(ConditionType::Degraded, transition.to == Phase::Degraded),
        Desired {
            type_: ConditionType::BackingUp,
            status: observed.backup_running.into(),
            reason: if observed.backup_running {
                "BackupRunning"
            } else {
                "NoBackupRunning"
            }
            .to_owned(),
            message: if observed.backup_running {
                "a backup Job is running"
            } else {
                "no backup Job is running"
            }
            .to_owned(),
        },
    ];
    if backups_enabled {
        let (status, reason, message) = match observed.last_backup_succeeded {
            Some(true) => (
                Status::True,
                "BackupCompleted",
                "the newest backup completed".to_owned(),
            ),
            Some(false) => (
                Status::False,
                "BackupFailed",
                format!(
                    "{} backup(s) failed in a row; the newest: {}",
                    observed.consecutive_backup_failures,
                    observed.last_backup_error.as_deref().unwrap_or("no report")
                ),
            ),
            None => (Status::Unknown, "NoBackupYet", "no backup has finished yet".to_owned()),
        };
        conditions.push(Desired {
            type_: ConditionType::BackupSucceeded,
            status,
            reason: reason.to_owned(),
            message,
        });
    }
    if observed.paused {
        conditions.push(Desired {
            type_: ConditionType::Paused,
            status: Status::True,
            reason: "Paused".to_owned(),
            message: "spec.paused is true: no changes are made to the children".to_owned(),
        });
    }
    conditions.push(synced(transition, observed));
    conditions
}

/// `Synced` as planned: True once the children are applied, False while the spec cannot be applied or
/// reconciliation is paused. A failed write replaces it with [`sync_failed`].
fn synced(transition: &Transition, observed: &Observed) -> Desired {
    let (status, reason, message) = if observed.spec_error.is_some() || observed.paused {
        (Status::False, transition.reason.into(), transition.message.clone())
    } else {
        (
            Status::True,
            "Applied",
            "every child is in line with the spec".to_owned(),
        )
    };
    Desired {
        type_: ConditionType::Synced,
        status,
        reason: reason.to_owned(),
        message,
    }
}

/// `Synced=False` after a failed reconcile: the error's category and what it said.
pub fn sync_failed(reason: &str, message: String) -> Desired {
    Desired {
        type_: ConditionType::Synced,
        status: Status::False,
        reason: reason.to_owned(),
        message,
    }
}

/// `RolloutPending=True`: a new pod template waits, for `reason`.
pub fn rollout_pending(reason: &str, message: String) -> Desired {
    Desired {
        type_: ConditionType::RolloutPending,
        status: Status::True,
        reason: reason.to_owned(),
        message,
    }
}

/// `Progressing=False`: the operator cannot get the instance further until the spec (or something it
/// names) changes.
pub fn stalled(reason: &str, message: String) -> Desired {
    Desired {
        type_: ConditionType::Progressing,
        status: Status::False,
        reason: reason.to_owned(),
        message,
    }
}

/// Puts `desired` in place of the condition of its type in `conditions`, keeping the transition time of
/// `previous` (the stored conditions) when the status did not flip.
pub fn replace(
    conditions: &mut Vec<Condition>,
    previous: &[Condition],
    desired: Desired,
    generation: Option<i64>,
    now: &Time,
) {
    let type_: &'static str = desired.type_.into();
    let merged = merge(previous, vec![desired], generation, now);
    conditions.retain(|c| c.type_ != type_);
    conditions.extend(merged);
}

/// Turns desired conditions into metav1.Conditions, keeping `lastTransitionTime` from `current` for every
/// condition whose status did not flip. Conditions not desired any more are dropped.
pub fn merge(current: &[Condition], desired: Vec<Desired>, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    desired
        .into_iter()
        .map(|d| {
            let type_: &'static str = d.type_.into();
            let status: &'static str = d.status.into();
            let previous = current.iter().find(|c| c.type_ == type_);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => now.clone(),
            };
            Condition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                reason: d.reason,
                message: d.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::{Reason, step};
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).expect("valid timestamp"))
    }

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).expect("condition present")
    }

    #[test]
    fn backing_up_keeps_ready_true() {
        let observed = Observed {
            backup_running: true,
            ..Observed::healthy()
        };
        let t = step(Phase::Ready, &observed);
        let conditions = merge(&[], desired(&t, &observed, true), Some(1), &at(10));
        assert_eq!(find(&conditions, "Ready").status, "True");
        assert_eq!(find(&conditions, "BackingUp").status, "True");
        assert_eq!(find(&conditions, "Degraded").status, "False");
        assert_eq!(find(&conditions, "BackupSucceeded").status, "Unknown");
    }

    #[test]
    fn last_transition_time_moves_only_when_status_flips() {
        let observed = Observed::healthy();
        let t = step(Phase::Ready, &observed);
        let first = merge(&[], desired(&t, &observed, false), Some(1), &at(10));
        let again = merge(&first, desired(&t, &observed, false), Some(2), &at(20));
        assert_eq!(find(&again, "Ready").last_transition_time, at(10));
        assert_eq!(find(&again, "Ready").observed_generation, Some(2));

        let sick = Observed {
            ready_replicas: 0,
            ..Observed::healthy()
        };
        let t = step(Phase::Ready, &sick);
        assert_eq!(t.reason, Reason::ReplicasNotReady);
        let flipped = merge(&again, desired(&t, &sick, false), Some(2), &at(30));
        assert_eq!(find(&flipped, "Ready").last_transition_time, at(30));
        assert_eq!(find(&flipped, "Degraded").status, "True");
        assert_eq!(
            find(&flipped, "Progressing").last_transition_time,
            at(10),
            "Progressing stayed False"
        );
    }

    #[test]
    fn optional_conditions_come_and_go() {
        let paused = Observed {
            paused: true,
            ..Observed::healthy()
        };
        let t = step(Phase::Ready, &paused);
        let with = merge(&[], desired(&t, &paused, false), None, &at(1));
        assert_eq!(find(&with, "Paused").status, "True");
        assert!(with.iter().all(|c| c.type_ != "BackupSucceeded"));
        let t = step(Phase::Ready, &Observed::healthy());
        let without = merge(&with, desired(&t, &Observed::healthy(), false), None, &at(2));
        assert!(without.iter().all(|c| c.type_ != "Paused"));
    }
}
