//! What the scenarios share: sizes from the environment, the ledger's watch, convergence and the idle check.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ledger::{self, Census, Ledger, Shared};
use crate::support::{TestEnv, http_get, try_metric_value, wait_for};

/// Sizes and the seed, from the environment; the defaults are the short run of `make test`.
pub struct Settings {
    pub seed: u64,
    pub instances: usize,
    pub kills: usize,
    pub etcd_pause: Duration,
    pub mean_pause: Duration,
    scenarios: Option<Vec<String>>,
}

fn number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

impl Settings {
    pub fn from_env() -> Self {
        let seed = std::env::var("MYI_CHAOS_SEED").ok().map_or_else(
            || {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                now.as_nanos() as u64 ^ u64::from(std::process::id())
            },
            |s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("MYI_CHAOS_SEED={s:?} is not a number"))
            },
        );
        Self {
            seed,
            instances: number("MYI_CHAOS_INSTANCES", 20) as usize,
            kills: number("MYI_CHAOS_KILLS", 5) as usize,
            etcd_pause: Duration::from_secs(number("MYI_CHAOS_ETCD_PAUSE_SECONDS", 20)),
            mean_pause: Duration::from_millis(number("MYI_CHAOS_OP_PAUSE_MS", 150)),
            scenarios: std::env::var("MYI_CHAOS_SCENARIOS")
                .ok()
                .map(|s| s.split(',').map(|s| s.trim().to_owned()).collect()),
        }
    }

    /// Whether `scenario` runs (all of them unless MYI_CHAOS_SCENARIOS names some).
    pub fn runs(&self, scenario: &str) -> bool {
        self.scenarios.as_ref().is_none_or(|s| s.iter().any(|n| n == scenario))
    }

    /// How long the instances get to converge after the faults.
    pub fn converge_timeout(&self, instances: usize) -> Duration {
        Duration::from_secs(90 + 2 * instances as u64)
    }
}

/// Extra environment of the operators: MYI_CHAOS_RUST_LOG becomes their RUST_LOG (to debug a scenario).
pub fn operator_env() -> Vec<(String, String)> {
    std::env::var("MYI_CHAOS_RUST_LOG")
        .map(|filter| vec![("RUST_LOG".to_owned(), filter)])
        .unwrap_or_default()
}

/// A fresh ledger and its watch of the namespace.
pub fn watch(env: &TestEnv) -> (Shared, tokio::task::JoinHandle<()>) {
    let ledger: Shared = Arc::new(Mutex::new(Ledger::default()));
    let task = ledger::observe(&env.client, &env.namespace, ledger.clone());
    (ledger, task)
}

/// Waits until the operator on `port` serves /metrics; whether it did within `timeout`.
pub async fn serving(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if http_get(port, "/metrics").await.is_some() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The operator's writes to the API so far (`mysqlinstance_api_writes_total`, every kind and operation).
pub async fn writes(port: u16) -> Option<f64> {
    let scrape = http_get(port, "/metrics").await?;
    Some(try_metric_value(&scrape, "mysqlinstance_api_writes_total", &[]).unwrap_or(0.0))
}

/// Reconcile and watch errors so far; `None` when the operator does not answer.
pub async fn errors(port: u16) -> Option<f64> {
    let scrape = http_get(port, "/metrics").await?;
    Some(
        try_metric_value(&scrape, "mysqlinstance_reconcile_errors_total", &[]).unwrap_or(0.0)
            + try_metric_value(&scrape, "mysqlinstance_watch_errors_total", &[]).unwrap_or(0.0),
    )
}

/// How long the write counters must stand still to call the operators idle.
pub const QUIET: Duration = Duration::from_secs(10);

/// Waits until the write counters of the operators on `ports` stand still for [`QUIET`]; returns each
/// one's total, or `None` when they still moved after `timeout` (a write loop).
pub async fn settled_writes(ports: &[u16], timeout: Duration) -> Option<Vec<f64>> {
    let deadline = Instant::now() + timeout;
    let read = || async {
        let mut totals = Vec::new();
        for port in ports {
            totals.push(writes(*port).await?);
        }
        Some(totals)
    };
    let mut last = read().await?;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = read().await?;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= QUIET {
            return Some(last);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// Convergence of the scenario, the final comparison of Secrets and volumes with their first sighting.
pub async fn converge(env: &TestEnv, ledger: &Shared, timeout: Duration) -> Census {
    let started = Instant::now();
    let census = ledger::converge(&env.client, &env.namespace, ledger, timeout).await;
    ledger::final_check(&env.client, &env.namespace, ledger).await;
    println!(
        "chaos:   converged in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        if census.clean() {
            "clean".to_owned()
        } else {
            census.summary()
        }
    );
    census
}

/// Waits until the operator on `port` runs reconciles (`mysqlinstance_leader` 1).
pub async fn reconciling(port: u16) {
    wait_for("the operator reconciles", Duration::from_secs(30), || async {
        let scrape = http_get(port, "/metrics").await?;
        (try_metric_value(&scrape, "mysqlinstance_leader", &[])? == 1.0).then_some(())
    })
    .await;
}
