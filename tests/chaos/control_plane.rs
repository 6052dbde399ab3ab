//! The control plane fails under the operator mid-run: kube-apiserver restarted (every watch cut, the API
//! refused for seconds) and etcd paused with SIGSTOP (requests hang). The operator must neither spin nor
//! flood the API with retries while it waits, and must pick up where it was when the API is back.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use mysqlinstance_operator::api::MySQLInstance;

use crate::cluster::{self, ControlPlane};
use crate::common::{self, Settings};
use crate::ledger::{self, Shared};
use crate::report::{Outcome, emit};
use crate::rng::Rng;
use crate::support::TestEnv;
use crate::workload::{self, Mix, Op};

/// The operator's CPU while the API is unavailable, as a fraction of one core, at most.
pub const CPU_BOUND: f64 = 0.10;
/// Reconcile plus watch errors per second of outage, per instance and per watch (8: the instances and seven
/// kinds of children), at most. Backoff (1 s, 2 s, 4 s ... per instance; 0.8 s doubling per watch) keeps
/// it well below one; a hot loop is hundreds per second.
pub const ERROR_RATE_BOUND: f64 = 1.0;
const WATCHES: usize = 8;

/// What the operator did while one fault lasted.
struct Window {
    fault: &'static str,
    seconds: f64,
    /// CPU seconds and errors; `None` when the operator was gone at the end.
    cpu: Option<f64>,
    errors: Option<f64>,
}

impl Window {
    async fn measure<F: std::future::Future<Output = ()>>(fault: &'static str, pid: u32, port: u16, run: F) -> Self {
        let cpu = cluster::cpu_seconds(pid).expect("the operator runs");
        let errors = common::errors(port).await.expect("the operator serves /metrics");
        let start = Instant::now();
        run.await;
        let seconds = start.elapsed().as_secs_f64();
        Self {
            fault,
            seconds,
            cpu: cluster::cpu_seconds(pid).map(|now| now - cpu),
            errors: common::errors(port).await.map(|now| now - errors),
        }
    }

    /// The report line, and what exceeds the bounds.
    fn check(&self, instances: usize) -> Option<String> {
        let (Some(cpu), Some(errors)) = (self.cpu, self.errors) else {
            let problem = format!(
                "{}: the operator exited or stopped serving /metrics during the fault",
                self.fault
            );
            emit(&format!("chaos: control-plane:   {problem}"));
            return Some(problem);
        };
        let share = cpu / self.seconds;
        let rate = errors / self.seconds;
        let rate_bound = ERROR_RATE_BOUND * (instances + WATCHES) as f64;
        emit(&format!(
            "chaos: control-plane:   {} for {:.1} s: operator CPU {cpu:.2} s ({:.1}% of a core, bound {:.0}%), \
             reconcile+watch errors {errors} ({rate:.2}/s, bound {rate_bound:.0}/s)",
            self.fault,
            self.seconds,
            100.0 * share,
            100.0 * CPU_BOUND,
        ));
        (share > CPU_BOUND || rate > rate_bound).then(|| format!("{}: over a bound", self.fault))
    }
}

/// How long an edit after a fault may take to reach the StatefulSet.
const RECOVERY: Duration = Duration::from_secs(60);

/// Edits a live instance and waits until the edit reaches its StatefulSet: the operator's watches are back.
async fn recovered(env: &TestEnv, ledger: &Shared, rng: &mut Rng, fault: &str) -> bool {
    let started = Instant::now();
    let name = ledger.lock().unwrap().live().next().map(|(name, _)| name.clone());
    let Some(name) = name else { return false };
    let instances = env.api::<MySQLInstance>();
    workload::execute(&instances, ledger, rng, &Op::Edit(name.clone())).await;
    let want = ledger.lock().unwrap().intents[&name].max_connections.to_string();
    let (statefulsets, config_maps) = (env.api::<StatefulSet>(), env.api::<ConfigMap>());
    let deadline = Instant::now() + RECOVERY;
    while Instant::now() < deadline {
        if let (Ok(instance), Ok(statefulset), Ok(config_map)) = (
            instances.get(&name).await,
            statefulsets.get(&name).await,
            config_maps.get(&format!("{name}-config")).await,
        ) && instance.spec.config.get("max_connections") == Some(&want)
            && ledger::drift(&instance, Some(&statefulset), Some(&config_map)).is_none()
        {
            emit(&format!(
                "chaos: control-plane:   after the {fault}, an edit reached its StatefulSet in {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    emit(&format!(
        "chaos: control-plane:   after the {fault}, an edit of {name} did not reach its StatefulSet in {} s",
        RECOVERY.as_secs()
    ));
    false
}

pub async fn run(settings: &Settings) -> Outcome {
    let started = Instant::now();
    let control_plane = ControlPlane::from_env();
    let env = TestEnv::with_env("chaos-cp", common::operator_env()).await;
    let port = env.metrics_port;
    common::reconciling(port).await;
    let pid = cluster::pid_serving(port);
    let (ledger, watch) = common::watch(&env);
    let count = (settings.instances / 2).max(6);
    let mut rng = Rng::derive(settings.seed, "control-plane");
    let mix = Mix {
        delete_percent: 30,
        max_edits: 2,
    };
    let ops = workload::plan(&mut rng, &ledger, "p", count, &mix);
    let third = ops.len().div_ceil(3);
    let parts: Vec<&[Op]> = ops.chunks(third).collect();
    let api: Api<MySQLInstance> = env.api();
    let mut ops_rng = Rng::derive(settings.seed, "control-plane/ops");
    let mut problems = Vec::new();
    let mut survived = 0;

    // The apiserver restarted a moment into the first third of the operations.
    let delay = rng.millis(300, 1500);
    let ((), window) = tokio::join!(
        workload::run(&api, &ledger, &mut ops_rng, parts[0], settings.mean_pause),
        async {
            tokio::time::sleep(delay).await;
            Window::measure("kube-apiserver restart", pid, port, async {
                control_plane.restart("kube-apiserver").await;
                cluster::wait_ready(&env.client, Duration::from_secs(120)).await;
            })
            .await
        }
    );
    problems.extend(window.check(count));
    survived += usize::from(recovered(&env, &ledger, &mut rng, window.fault).await);

    // etcd paused while the second third is under way.
    let delay = rng.millis(300, 1500);
    let ((), window) = tokio::join!(
        workload::run(
            &api,
            &ledger,
            &mut ops_rng,
            parts.get(1).copied().unwrap_or_default(),
            settings.mean_pause
        ),
        async {
            tokio::time::sleep(delay).await;
            Window::measure("etcd paused (SIGSTOP)", pid, port, async {
                let paused = control_plane.pause("etcd");
                // The fault's length, not a wait for a condition.
                tokio::time::sleep(settings.etcd_pause).await;
                drop(paused);
            })
            .await
        }
    );
    problems.extend(window.check(count));
    survived += usize::from(recovered(&env, &ledger, &mut rng, window.fault).await);

    workload::run(
        &api,
        &ledger,
        &mut ops_rng,
        parts.get(2).copied().unwrap_or_default(),
        settings.mean_pause,
    )
    .await;
    let census = common::converge(&env, &ledger, settings.converge_timeout(count)).await;
    let mut outcome = Outcome::new("control-plane", 2, survived, &ledger, &census);
    outcome.problems.extend(problems);
    if common::settled_writes(&[port], Duration::from_secs(90)).await.is_none() {
        outcome
            .problems
            .push("the operator's writes do not settle when idle".to_owned());
    }
    watch.abort();
    outcome.took = started.elapsed();
    outcome.finish(env.log_path())
}
