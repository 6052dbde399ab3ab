//! Two operators started by mistake without leader election on the same namespace while its instances are
//! created, edited and deleted: neither may undo the other (regenerated Secrets, children written back and
//! forth).

use std::time::{Duration, Instant};

use mysqlinstance_operator::api::MySQLInstance;

use crate::common::{self, Settings};
use crate::report::{Outcome, emit};
use crate::rng::Rng;
use crate::support::TestEnv;
use crate::workload::{self, Mix};

pub async fn run(settings: &Settings) -> Outcome {
    let started = Instant::now();
    let mut no_election = common::operator_env();
    no_election.push(("LEADER_ELECTION".to_owned(), "false".to_owned()));
    let env = TestEnv::with_env("chaos-twins", no_election).await;
    let twin = env.start_replica("twin", &[]);
    common::reconciling(env.metrics_port).await;
    common::reconciling(twin.metrics_port).await;
    let (ledger, watch) = common::watch(&env);
    let count = (settings.instances / 2).max(6);
    let mut plan_rng = Rng::derive(settings.seed, "twins/plan");
    let mix = Mix {
        delete_percent: 20,
        max_edits: 3,
    };
    let ops = workload::plan(&mut plan_rng, &ledger, "t", count, &mix);
    let mut ops_rng = Rng::derive(settings.seed, "twins/ops");
    workload::run(
        &env.api::<MySQLInstance>(),
        &ledger,
        &mut ops_rng,
        &ops,
        settings.mean_pause,
    )
    .await;

    let census = common::converge(&env, &ledger, settings.converge_timeout(count)).await;
    let settled = common::settled_writes(&[env.metrics_port, twin.metrics_port], Duration::from_secs(120)).await;
    let mut outcome = Outcome::new("twins", 1, usize::from(settled.is_some()), &ledger, &census);
    match settled {
        Some(totals) => emit(&format!(
            "chaos: twins:   writes by the first operator {}, by the second {}, none in the {} s idle",
            totals[0],
            totals[1],
            common::QUIET.as_secs()
        )),
        None => outcome
            .problems
            .push("the two operators' writes do not settle when idle: a conflict loop".to_owned()),
    }
    watch.abort();
    drop(twin);
    outcome.took = started.elapsed();
    outcome.finish(env.log_path())
}
