//! The phase machine: pure code that decides, from a snapshot of the world, which phase an instance is in.
//!
//! `step(phase, &observed)` dispatches to one transition function per phase. Every edge it may take is listed
//! in [`EDGES`], which docs/state-machine.md mirrors and a property test checks exhaustively.

pub mod conditions;

use strum::{Display, IntoStaticStr};

pub use crate::api::Phase;

/// A plain snapshot of what the controller read from the API, everything the phase machine needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// A problem with the spec the schema cannot catch, such as a schedule cron cannot parse.
    pub spec_error: Option<String>,
    /// `spec.paused`.
    pub paused: bool,
    /// The credentials Secret exists with every key the server needs.
    pub credentials_ready: bool,
    /// The StatefulSet exists.
    pub statefulset_exists: bool,
    /// Replicas the spec asks for.
    pub desired_replicas: i32,
    /// Replicas that are ready.
    pub ready_replicas: i32,
    /// The StatefulSet is still rolling out a change (new revision or an unobserved generation).
    pub rollout_in_progress: bool,
    /// A backup Job of this instance is running.
    pub backup_running: bool,
    /// Outcome of the newest finished backup, if any finished.
    pub last_backup_succeeded: Option<bool>,
    /// `spec.restoreFrom` is set and has not been restored yet.
    pub restore_pending: bool,
    /// Why the restore Job failed, if it did.
    pub restore_failed: Option<String>,
    /// What the newest finished backup reported, if it failed.
    pub last_backup_error: Option<String>,
    /// Backups that failed in a row since the last success.
    pub consecutive_backup_failures: i32,
    /// Why a pod of the instance cannot run, as the kubelet says (an image that cannot be pulled, a crash
    /// loop), so a phase that waits says what it waits on.
    pub pod_problem: Option<String>,
}

/// Backups failing this many times in a row make a serving instance Degraded.
pub const BACKUP_FAILURES_DEGRADED: i32 = 3;

impl Observed {
    /// A provisioned instance with every replica ready and nothing else going on.
    #[cfg(test)]
    pub(crate) fn healthy() -> Self {
        Self {
            credentials_ready: true,
            statefulset_exists: true,
            desired_replicas: 1,
            ready_replicas: 1,
            ..Self::default()
        }
    }

    fn all_replicas_ready(&self) -> bool {
        self.statefulset_exists && self.ready_replicas >= self.desired_replicas
    }
}

/// Why a transition was taken: the condition reason and the Event reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Display, IntoStaticStr)]
pub enum Reason {
    InvalidSpec,
    Paused,
    CredentialsPending,
    CredentialsReady,
    CreatingStatefulSet,
    WaitingForReplicas,
    Restoring,
    RestoreFailed,
    RollingUpdate,
    AllReplicasReady,
    ReplicasNotReady,
    BackupsFailing,
    BackupRunning,
    BackupCompleted,
    BackupFailed,
    Recovered,
}

/// The outcome of one step of the phase machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub reason: Reason,
    pub message: String,
}

impl Transition {
    /// Whether the phase changes.
    pub fn changes_phase(&self) -> bool {
        self.from != self.to
    }
}

/// Every edge the machine may take between different phases. Staying in a phase is always allowed.
pub const EDGES: &[(Phase, Phase)] = &[
    (Phase::Pending, Phase::Provisioning),
    (Phase::Provisioning, Phase::Ready),
    (Phase::Ready, Phase::BackingUp),
    (Phase::Ready, Phase::Degraded),
    (Phase::Ready, Phase::Provisioning),
    (Phase::BackingUp, Phase::Ready),
    (Phase::BackingUp, Phase::Degraded),
    (Phase::BackingUp, Phase::Provisioning),
    (Phase::Degraded, Phase::Ready),
    (Phase::Degraded, Phase::BackingUp),
    (Phase::Degraded, Phase::Provisioning),
];

/// Whether `from -> to` is allowed.
pub fn is_allowed(from: Phase, to: Phase) -> bool {
    from == to || EDGES.contains(&(from, to))
}

/// Where one observation leads from `phase`: the transition from `phase` to the phase that holds, with the
/// reason and message of that phase, and each edge taken on the way with its own reason and message. It is
/// what as many reconciles of an unchanged observation would reach one status write at a time (each write
/// triggers the next), in one write. Every edge is in [`EDGES`].
pub fn settle(phase: Phase, observed: &Observed) -> (Transition, Vec<Transition>) {
    let mut edges = Vec::new();
    let mut last = step(phase, observed);
    // No cycle of edges is taken on one observation; the bound only guarantees an end.
    while last.changes_phase() && edges.len() < EDGES.len() {
        let next = step(last.to, observed);
        edges.push(last);
        last = next;
    }
    (Transition { from: phase, ..last }, edges)
}

/// Decides the next phase. Total: every phase and observation yields a transition, and never panics.
pub fn step(phase: Phase, observed: &Observed) -> Transition {
    let (to, reason, message) = if let Some(error) = &observed.spec_error {
        (
            phase,
            Reason::InvalidSpec,
            format!("the spec cannot be applied: {error}"),
        )
    } else if observed.paused {
        (
            phase,
            Reason::Paused,
            "reconciliation is paused: set spec.paused to false to resume".to_owned(),
        )
    } else {
        match phase {
            Phase::Pending => from_pending(observed),
            Phase::Provisioning => from_provisioning(observed),
            Phase::Ready => from_ready(observed),
            Phase::BackingUp => from_backing_up(observed),
            Phase::Degraded => from_degraded(observed),
        }
    };
    Transition {
        from: phase,
        to,
        reason,
        message,
    }
}

type Decision = (Phase, Reason, String);

fn from_pending(observed: &Observed) -> Decision {
    if observed.credentials_ready {
        (
            Phase::Provisioning,
            Reason::CredentialsReady,
            "credentials are in place; creating the database".to_owned(),
        )
    } else {
        (
            Phase::Pending,
            Reason::CredentialsPending,
            "preparing the credentials Secret".to_owned(),
        )
    }
}

fn from_provisioning(observed: &Observed) -> Decision {
    if !observed.statefulset_exists {
        (
            Phase::Provisioning,
            Reason::CreatingStatefulSet,
            "creating the StatefulSet".to_owned(),
        )
    } else if observed.rollout_in_progress || !observed.all_replicas_ready() {
        (
            Phase::Provisioning,
            Reason::WaitingForReplicas,
            replicas_message(observed),
        )
    } else if let (true, Some(error)) = (observed.restore_pending, &observed.restore_failed) {
        (
            Phase::Provisioning,
            Reason::RestoreFailed,
            format!("restoring spec.restoreFrom failed: {error}"),
        )
    } else if observed.restore_pending {
        (
            Phase::Provisioning,
            Reason::Restoring,
            format!(
                "restoring spec.restoreFrom into the new server{}",
                problem_suffix(observed)
            ),
        )
    } else {
        (Phase::Ready, Reason::AllReplicasReady, replicas_message(observed))
    }
}

/// The priority rules shared by every serving phase: a rollout first, then health (Degraded wins over
/// BackingUp, so a backup never hides an unhealthy database), then backups.
fn serving(observed: &Observed) -> Decision {
    if observed.rollout_in_progress {
        (
            Phase::Provisioning,
            Reason::RollingUpdate,
            format!("rolling out a change: {}", replicas_message(observed)),
        )
    } else if !observed.all_replicas_ready() {
        (Phase::Degraded, Reason::ReplicasNotReady, replicas_message(observed))
    } else if observed.consecutive_backup_failures >= BACKUP_FAILURES_DEGRADED {
        (
            Phase::Degraded,
            Reason::BackupsFailing,
            format!("the last {} backups failed", observed.consecutive_backup_failures),
        )
    } else if observed.backup_running {
        (
            Phase::BackingUp,
            Reason::BackupRunning,
            "a backup is running; the database keeps serving".to_owned(),
        )
    } else {
        (Phase::Ready, Reason::AllReplicasReady, replicas_message(observed))
    }
}

fn from_ready(observed: &Observed) -> Decision {
    serving(observed)
}

fn from_backing_up(observed: &Observed) -> Decision {
    let (to, reason, message) = serving(observed);
    match (to, observed.last_backup_succeeded) {
        (Phase::Ready, Some(true)) => (to, Reason::BackupCompleted, "the backup completed".to_owned()),
        (Phase::Ready, Some(false)) => (
            to,
            Reason::BackupFailed,
            "the backup failed; the database is serving".to_owned(),
        ),
        _ => (to, reason, message),
    }
}

fn from_degraded(observed: &Observed) -> Decision {
    let (to, reason, message) = serving(observed);
    match to {
        Phase::Ready => (to, Reason::Recovered, format!("recovered: {message}")),
        _ => (to, reason, message),
    }
}

fn replicas_message(observed: &Observed) -> String {
    format!(
        "{}/{} replicas ready{}",
        observed.ready_replicas,
        observed.desired_replicas,
        problem_suffix(observed)
    )
}

fn problem_suffix(observed: &Observed) -> String {
    observed
        .pod_problem
        .as_ref()
        .map(|p| format!(": {p}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strum::IntoEnumIterator;

    #[test]
    fn pending_waits_for_credentials_then_provisions() {
        let waiting = step(Phase::Pending, &Observed::default());
        assert_eq!(
            (waiting.to, waiting.reason),
            (Phase::Pending, Reason::CredentialsPending)
        );
        let ready = step(Phase::Pending, &Observed::healthy());
        assert_eq!(
            (ready.to, ready.reason),
            (Phase::Provisioning, Reason::CredentialsReady)
        );
    }

    #[test]
    fn provisioning_becomes_ready_only_when_replicas_are_ready_and_rolled_out() {
        let not_ready = Observed {
            ready_replicas: 0,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Provisioning, &not_ready).to, Phase::Provisioning);
        let rolling = Observed {
            rollout_in_progress: true,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Provisioning, &rolling).to, Phase::Provisioning);
        let missing = Observed {
            statefulset_exists: false,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Provisioning, &missing).reason, Reason::CreatingStatefulSet);
        assert_eq!(step(Phase::Provisioning, &Observed::healthy()).to, Phase::Ready);
    }

    #[test]
    fn a_restore_holds_provisioning_until_it_completes() {
        let restoring = Observed {
            restore_pending: true,
            ..Observed::healthy()
        };
        let t = step(Phase::Provisioning, &restoring);
        assert_eq!((t.to, t.reason), (Phase::Provisioning, Reason::Restoring));
        let failed = Observed {
            restore_failed: Some("checksum mismatch".into()),
            ..restoring
        };
        let t = step(Phase::Provisioning, &failed);
        assert_eq!((t.to, t.reason), (Phase::Provisioning, Reason::RestoreFailed));
        assert!(t.message.contains("checksum mismatch"));
        let waiting = Observed {
            ready_replicas: 0,
            restore_pending: true,
            ..Observed::healthy()
        };
        assert_eq!(
            step(Phase::Provisioning, &waiting).reason,
            Reason::WaitingForReplicas,
            "restore needs a server"
        );
        let done = Observed {
            restore_pending: false,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Provisioning, &done).to, Phase::Ready);
    }

    #[test]
    fn degraded_wins_over_backing_up() {
        let unhealthy_during_backup = Observed {
            ready_replicas: 0,
            backup_running: true,
            ..Observed::healthy()
        };
        for phase in [Phase::Ready, Phase::BackingUp, Phase::Degraded] {
            let t = step(phase, &unhealthy_during_backup);
            assert_eq!(
                (t.to, t.reason),
                (Phase::Degraded, Reason::ReplicasNotReady),
                "from {phase}"
            );
        }
    }

    #[test]
    fn backup_lifecycle() {
        let running = Observed {
            backup_running: true,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Ready, &running).to, Phase::BackingUp);
        assert_eq!(step(Phase::BackingUp, &running).to, Phase::BackingUp);
        let done = Observed {
            last_backup_succeeded: Some(true),
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::BackingUp, &done).reason, Reason::BackupCompleted);
        let failed = Observed {
            last_backup_succeeded: Some(false),
            consecutive_backup_failures: 1,
            ..Observed::healthy()
        };
        let t = step(Phase::BackingUp, &failed);
        assert_eq!((t.to, t.reason), (Phase::Ready, Reason::BackupFailed));
    }

    #[test]
    fn backups_failing_repeatedly_degrade_and_a_success_recovers() {
        let failing = Observed {
            last_backup_succeeded: Some(false),
            consecutive_backup_failures: BACKUP_FAILURES_DEGRADED,
            ..Observed::healthy()
        };
        assert_eq!(step(Phase::Ready, &failing).reason, Reason::BackupsFailing);
        let recovered = Observed {
            last_backup_succeeded: Some(true),
            ..Observed::healthy()
        };
        let t = step(Phase::Degraded, &recovered);
        assert_eq!((t.to, t.reason), (Phase::Ready, Reason::Recovered));
    }

    #[test]
    fn a_spec_change_rolls_through_provisioning() {
        let rolling = Observed {
            rollout_in_progress: true,
            ready_replicas: 0,
            ..Observed::healthy()
        };
        for phase in [Phase::Ready, Phase::BackingUp, Phase::Degraded] {
            let t = step(phase, &rolling);
            assert_eq!(
                (t.to, t.reason),
                (Phase::Provisioning, Reason::RollingUpdate),
                "from {phase}"
            );
        }
    }

    #[test]
    fn paused_and_invalid_spec_hold_the_phase() {
        let paused = Observed {
            paused: true,
            ready_replicas: 0,
            ..Observed::healthy()
        };
        let invalid = Observed {
            spec_error: Some("bad cron".into()),
            ..Observed::healthy()
        };
        for phase in Phase::iter() {
            let t = step(phase, &paused);
            assert_eq!((t.to, t.reason), (phase, Reason::Paused));
            let t = step(phase, &invalid);
            assert_eq!((t.to, t.reason), (phase, Reason::InvalidSpec));
            assert!(t.message.contains("bad cron"));
        }
    }

    fn any_phase() -> impl Strategy<Value = Phase> {
        prop::sample::select(Phase::iter().collect::<Vec<_>>())
    }

    #[test]
    fn a_waiting_phase_says_which_pod_is_stuck_and_why() {
        let stuck = Observed {
            ready_replicas: 0,
            pod_problem: Some("pod shop-0, container mysql: ImagePullBackOff".into()),
            ..Observed::healthy()
        };
        let t = step(Phase::Provisioning, &stuck);
        assert_eq!((t.to, t.reason), (Phase::Provisioning, Reason::WaitingForReplicas));
        assert_eq!(
            t.message,
            "0/1 replicas ready: pod shop-0, container mysql: ImagePullBackOff"
        );
        let restoring = Observed {
            restore_pending: true,
            ..stuck.clone()
        };
        let restoring = Observed {
            ready_replicas: 1,
            pod_problem: Some("pod shop-restore-x, container place-binary: ErrImagePull".into()),
            ..restoring
        };
        let t = step(Phase::Provisioning, &restoring);
        assert_eq!(t.reason, Reason::Restoring);
        assert!(t.message.ends_with("ErrImagePull"), "{}", t.message);
    }

    prop_compose! {
        fn any_observed()(
            spec_error in prop::option::of("[a-z ]{0,12}"),
            paused in any::<bool>(),
            credentials_ready in any::<bool>(),
            statefulset_exists in any::<bool>(),
            desired_replicas in -1i32..4,
            ready_replicas in -1i32..4,
            rollout_in_progress in any::<bool>(),
            backup_running in any::<bool>(),
            last_backup_succeeded in prop::option::of(any::<bool>()),
            last_backup_error in prop::option::of("[a-z ]{0,12}"),
            restore_pending in any::<bool>(),
            restore_failed in prop::option::of("[a-z ]{0,12}"),
            consecutive_backup_failures in 0i32..8,
            pod_problem in prop::option::of("[a-z ]{0,12}"),
        ) -> Observed {
            Observed {
                spec_error, paused, credentials_ready, statefulset_exists, desired_replicas, ready_replicas,
                rollout_in_progress, backup_running, last_backup_succeeded, last_backup_error, consecutive_backup_failures,
                restore_pending, restore_failed, pod_problem,
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn no_observation_leaves_the_edge_table(phase in any_phase(), observed in any_observed()) {
            let t = step(phase, &observed);
            prop_assert_eq!(t.from, phase);
            prop_assert!(is_allowed(t.from, t.to), "{:?} -> {:?} ({:?}) is not in EDGES", t.from, t.to, t.reason);
            prop_assert!(!t.message.is_empty());
        }

        #[test]
        fn settling_walks_edges_to_a_phase_that_holds(phase in any_phase(), observed in any_observed()) {
            let (t, edges) = settle(phase, &observed);
            prop_assert_eq!(t.from, phase);
            let mut at = phase;
            for edge in &edges {
                prop_assert_eq!(edge.from, at);
                prop_assert!(edge.changes_phase() && is_allowed(edge.from, edge.to), "{:?} is not in EDGES", edge);
                at = edge.to;
            }
            prop_assert_eq!(at, t.to);
            let held = step(t.to, &observed);
            prop_assert_eq!(held.to, t.to, "the settled phase holds");
            prop_assert_eq!((held.reason, &held.message), (t.reason, &t.message));
        }

        #[test]
        fn an_unhealthy_serving_instance_is_never_ready_or_backing_up(
            phase in prop::sample::select(vec![Phase::Ready, Phase::BackingUp, Phase::Degraded]),
            observed in any_observed(),
        ) {
            let unhealthy = observed.spec_error.is_none() && !observed.paused && !observed.rollout_in_progress
                && !observed.all_replicas_ready();
            let t = step(phase, &observed);
            if unhealthy {
                prop_assert_eq!(t.to, Phase::Degraded);
            }
        }
    }

    #[test]
    fn every_edge_in_the_table_is_reachable() {
        let samples = [
            Observed::healthy(),
            Observed::default(),
            Observed {
                ready_replicas: 0,
                ..Observed::healthy()
            },
            Observed {
                backup_running: true,
                ..Observed::healthy()
            },
            Observed {
                rollout_in_progress: true,
                ..Observed::healthy()
            },
        ];
        for &(from, to) in EDGES {
            assert!(
                samples.iter().any(|o| step(from, o).to == to),
                "edge {from} -> {to} is in the table but no sample observation takes it"
            );
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use std::str::FromStr;

    use super::*;

    /// The edges of the table in docs/state-machine.md and of its Mermaid diagram, which must both equal
    /// [`EDGES`].
    #[test]
    fn the_documented_edges_are_the_edges_in_code() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/state-machine.md")).expect("doc");
        let mut in_code: Vec<(Phase, Phase)> = EDGES.to_vec();
        in_code.sort();

        let mut table: Vec<(Phase, Phase)> = doc
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let (from, to) = (
                    Phase::from_str(cells.get(1)?).ok()?,
                    Phase::from_str(cells.get(2)?).ok()?,
                );
                Some((from, to))
            })
            .collect();
        table.sort();
        assert_eq!(table, in_code, "the transition table in docs/state-machine.md");

        let mut diagram: Vec<(Phase, Phase)> = doc
            .lines()
            .filter_map(|line| {
                let (from, rest) = line.trim().split_once("-->")?;
                let to = rest.split(':').next()?.trim();
                Some((Phase::from_str(from.trim()).ok()?, Phase::from_str(to).ok()?))
            })
            .collect();
        diagram.sort();
        assert_eq!(diagram, in_code, "the Mermaid diagram in docs/state-machine.md");
    }
}
