//! The one line per scenario, on stdout and appended to the file named by MYI_CHAOS_REPORT.

use std::io::Write;
use std::time::Duration;

use crate::ledger::{Census, Shared};

/// What one scenario did and what it lost.
#[derive(Debug, Default)]
pub struct Outcome {
    pub scenario: &'static str,
    pub faults: usize,
    pub survived: usize,
    pub instances: usize,
    pub lost: usize,
    pub regenerated: usize,
    pub retained_deleted: usize,
    pub extra: usize,
    pub not_converged: usize,
    pub took: Duration,
    /// Names of what went wrong (never a Secret's data).
    pub problems: Vec<String>,
}

impl Outcome {
    pub fn new(scenario: &'static str, faults: usize, survived: usize, ledger: &Shared, census: &Census) -> Self {
        let ledger = ledger.lock().unwrap();
        let mut problems = Vec::new();
        let mut note = |what: &str, items: &mut dyn Iterator<Item = &String>| {
            let items: Vec<&String> = items.collect();
            if !items.is_empty() {
                problems.push(format!("{what}: {items:?}"));
            }
        };
        note("secrets regenerated", &mut ledger.regenerated.iter());
        note("secrets lost", &mut ledger.secrets_lost.iter());
        note("retained volumes deleted", &mut ledger.retained_deleted.iter());
        note("volumes of live instances lost", &mut ledger.volumes_lost.iter());
        note("instances lost", &mut ledger.instances_lost.iter());
        if !census.clean() {
            problems.push(census.summary());
        }
        Self {
            scenario,
            faults,
            survived,
            instances: ledger.created(),
            lost: ledger.secrets_lost.len() + ledger.volumes_lost.len() + ledger.instances_lost.len(),
            regenerated: ledger.regenerated.len(),
            retained_deleted: ledger.retained_deleted.len(),
            extra: census.extra.len(),
            not_converged: census.missing.len() + census.not_ready.len(),
            took: Duration::ZERO,
            problems,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "chaos: {}: faults injected {}, survived {}, instances {}, lost {}, secrets regenerated {}, retained \
             volumes deleted {}, extra children {}, not converged {}, {:.0} s",
            self.scenario,
            self.faults,
            self.survived,
            self.instances,
            self.lost,
            self.regenerated,
            self.retained_deleted,
            self.extra,
            self.not_converged,
            self.took.as_secs_f64()
        )
    }

    pub fn clean(&self) -> bool {
        self.survived == self.faults && self.problems.is_empty()
    }

    /// Prints and records the line and what went wrong; the suite fails at the end unless every scenario was
    /// clean (so that one scenario's failure does not hide the others' results).
    pub fn finish(mut self, operator_log: &std::path::Path) -> Self {
        if let Some(control_plane) = crate::cluster::ControlPlane::find() {
            let dead = control_plane.dead_components();
            if !dead.is_empty() {
                self.problems.push(format!(
                    "control-plane components not running at the end: {dead:?} (DIR/logs)"
                ));
            }
        }
        emit(&self.line());
        for problem in &self.problems {
            println!("chaos: {}:   {problem}", self.scenario);
        }
        if !self.clean() {
            println!("chaos: {}:   operator log: {}", self.scenario, operator_log.display());
        }
        self
    }
}

/// A line on stdout and in MYI_CHAOS_REPORT.
pub fn emit(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("MYI_CHAOS_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("MYI_CHAOS_REPORT opens");
        writeln!(file, "{line}").expect("report written");
    }
}
