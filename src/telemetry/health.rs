//! Whether the controller makes progress, for `/healthz`: a process whose HTTP server answers but whose
//! reconciles hang (a deadlock, a call that never returns) is restarted by the kubelet instead of looking
//! alive forever.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// With reconciles running, no reconcile started or finished for this long means the controller is stuck.
/// Far above the slowest healthy reconcile (API calls time out after seconds).
pub const STALL_AFTER: Duration = Duration::from_secs(300);

/// Reconciles running, and when one last started or finished.
#[derive(Debug, Default)]
pub struct Progress {
    running: AtomicUsize,
    last_step_unix_secs: AtomicU64,
}

/// Held for the length of one reconcile; dropping it (also on a panic or a cancelled future) counts the
/// reconcile as finished.
pub struct Running<'a>(&'a Progress);

impl Progress {
    /// Counts one reconcile as started until the returned guard is dropped.
    pub fn start(&self) -> Running<'_> {
        self.running.fetch_add(1, Ordering::Relaxed);
        self.step();
        Running(self)
    }

    fn step(&self) {
        self.last_step_unix_secs
            .store(unix_secs(SystemTime::now()), Ordering::Relaxed);
    }

    /// How long the controller has been stuck at `now`: reconciles are running and none started or finished
    /// for [`STALL_AFTER`] or longer. `None` while it makes progress or has nothing to do.
    pub fn stalled(&self, now: SystemTime) -> Option<Duration> {
        if self.running.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let quiet = unix_secs(now).saturating_sub(self.last_step_unix_secs.load(Ordering::Relaxed));
        let quiet = Duration::from_secs(quiet);
        (quiet >= STALL_AFTER).then_some(quiet)
    }

    /// Reconciles running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
        self.0.step();
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconcile_running_without_progress_for_the_stall_time_is_stuck() {
        let progress = Progress::default();
        let now = SystemTime::now();
        assert_eq!(progress.stalled(now + STALL_AFTER * 10), None, "idle is not stuck");
        let running = progress.start();
        assert_eq!(progress.stalled(now), None);
        assert!(progress.stalled(now + STALL_AFTER + Duration::from_secs(1)).is_some());
        drop(running);
        assert_eq!(progress.running(), 0);
        assert_eq!(progress.stalled(now + STALL_AFTER * 10), None, "finished is not stuck");
    }

    #[test]
    fn another_reconcile_finishing_counts_as_progress() {
        let progress = Progress::default();
        let _long = progress.start();
        let short = progress.start();
        drop(short);
        let now = SystemTime::now();
        assert_eq!(progress.stalled(now), None);
        assert_eq!(progress.running(), 1);
    }
}
