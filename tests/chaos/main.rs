//! Chaos suite on the local control plane (tests/cluster, kwok nodes): the operator SIGKILLed at random
//! moments, the kube-apiserver restarted and etcd paused under it, and two operators running at once without
//! leader election, each while instances are created, edited and deleted. After each scenario every
//! remaining instance must be Ready with exactly its children, no Secret regenerated, no volume of a Retain
//! instance deleted, nothing of a Delete instance left. One line per scenario (also appended to the file
//! named by MYI_CHAOS_REPORT). Sizes from the environment (docs/chaos.md); the defaults are the short run of
//! `make test`, `make chaos` the full one. The seed is printed; MYI_CHAOS_SEED replays it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed expectation is a failed test.

#[allow(dead_code)] // The chaos suite uses part of the e2e harness.
#[path = "../e2e/support.rs"]
mod support;

mod cluster;
mod common;
mod control_plane;
mod kills;
mod ledger;
mod report;
mod rng;
mod twins;
mod workload;

/// The scenarios run one after the other: the control-plane one restarts the apiserver every test uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos() {
    let settings = common::Settings::from_env();
    println!(
        "chaos: seed {} (replay with MYI_CHAOS_SEED={}), {} instances, {} kills, etcd paused {} s",
        settings.seed,
        settings.seed,
        settings.instances,
        settings.kills,
        settings.etcd_pause.as_secs()
    );
    let mut outcomes = Vec::new();
    if settings.runs("kills") {
        outcomes.push(kills::run(&settings).await);
    }
    if settings.runs("control-plane") {
        outcomes.push(control_plane::run(&settings).await);
    }
    if settings.runs("twins") {
        outcomes.push(twins::run(&settings).await);
    }
    let failed: Vec<String> = outcomes.iter().filter(|o| !o.clean()).map(|o| o.line()).collect();
    assert!(
        failed.is_empty(),
        "chaos: {} of {} scenarios lost something or did not recover (details above; replay with \
         MYI_CHAOS_SEED={}):\n{}",
        failed.len(),
        outcomes.len(),
        settings.seed,
        failed.join("\n")
    );
}
