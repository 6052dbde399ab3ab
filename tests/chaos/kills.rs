//! The operator SIGKILLed at random moments while instances are created, edited and deleted.

use std::time::{Duration, Instant};

use mysqlinstance_operator::api::MySQLInstance;

use crate::common::{self, Settings};
use crate::report::{Outcome, emit};
use crate::rng::Rng;
use crate::support::TestEnv;
use crate::workload::{self, Mix};

pub async fn run(settings: &Settings) -> Outcome {
    let started = Instant::now();
    let mut env = TestEnv::with_env("chaos-kills", common::operator_env()).await;
    let port = env.metrics_port;
    let (ledger, watch) = common::watch(&env);
    let mut plan_rng = Rng::derive(settings.seed, "kills/plan");
    let mix = Mix {
        delete_percent: 30,
        max_edits: 3,
    };
    let ops = workload::plan(&mut plan_rng, &ledger, "k", settings.instances, &mix);
    let api = env.api::<MySQLInstance>();
    let mut ops_rng = Rng::derive(settings.seed, "kills/ops");
    let mut kill_rng = Rng::derive(settings.seed, "kills/kill");
    assert!(
        common::serving(port, Duration::from_secs(30)).await,
        "the operator starts"
    );

    let workload = workload::run(&api, &ledger, &mut ops_rng, &ops, settings.mean_pause);
    let killer = async {
        let mut survived = 0;
        for _ in 0..settings.kills {
            // A random moment after the operator came up: while its caches sync, in a reconcile, between two.
            tokio::time::sleep(kill_rng.millis(0, 3000)).await;
            env.kill_operator();
            tokio::time::sleep(kill_rng.millis(0, 1000)).await;
            env.start_operator();
            if common::serving(port, Duration::from_secs(30)).await {
                survived += 1;
            }
        }
        survived
    };
    let ((), survived) = tokio::join!(workload, killer);
    println!(
        "chaos:   kills: {} operations and {} kills done after {:.1} s",
        ops.len(),
        settings.kills,
        started.elapsed().as_secs_f64()
    );

    let census = common::converge(&env, &ledger, settings.converge_timeout(settings.instances)).await;
    let mut outcome = Outcome::new("kills", settings.kills, survived, &ledger, &census);
    match common::settled_writes(&[port], Duration::from_secs(90)).await {
        Some(totals) => emit(&format!(
            "chaos: kills:   writes of the last operator {}, none in the {} s idle",
            totals[0],
            common::QUIET.as_secs()
        )),
        None => outcome
            .problems
            .push("the operator's writes do not settle when idle".to_owned()),
    }
    watch.abort();
    outcome.took = started.elapsed();
    outcome.finish(env.log_path())
}
