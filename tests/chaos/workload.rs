//! The operations a scenario makes on its instances: create, edit (a spec change that reaches the
//! StatefulSet: my.cnf and the server's CPU request), delete. Planned from the seed, carried out with retries
//! so that an API server that is down or paused only delays them.

use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use mysqlinstance_operator::api::{MySQLInstance, MySQLInstanceSpec};
use serde_json::json;

use crate::ledger::{Intent, Policy, Shared};
use crate::rng::Rng;

#[derive(Clone, Debug)]
pub enum Op {
    Create(String),
    Edit(String),
    Delete(String),
}

/// How a scenario's instances are made and how they change.
pub struct Mix {
    /// Percent of the instances that are deleted at some point.
    pub delete_percent: u64,
    /// Edits per instance, at most.
    pub max_edits: u64,
}

/// Registers `count` instances `PREFIX-NNN` in the ledger (random policy, a third with backups) and returns
/// their operations: for each instance create, edits, maybe delete, in that order; instances interleaved at
/// random.
pub fn plan(rng: &mut Rng, ledger: &Shared, prefix: &str, count: usize, mix: &Mix) -> Vec<Op> {
    let mut per_instance: Vec<Vec<Op>> = Vec::new();
    let mut ledger = ledger.lock().unwrap();
    for i in 0..count {
        let name = format!("{prefix}-{i:03}");
        let intent = Intent {
            policy: if rng.chance(50) { Policy::Retain } else { Policy::Delete },
            backup: rng.chance(33),
            max_connections: rng.between(100, 999) as u32,
            cpu_millis: 50 * rng.between(2, 18) as u32,
            created: false,
            deleted: false,
        };
        ledger.intents.insert(name.clone(), intent);
        let mut ops = vec![Op::Create(name.clone())];
        ops.extend((0..rng.between(1, mix.max_edits)).map(|_| Op::Edit(name.clone())));
        if rng.chance(mix.delete_percent) {
            ops.push(Op::Delete(name));
        }
        ops.reverse();
        per_instance.push(ops);
    }
    let mut timeline = Vec::new();
    while !per_instance.is_empty() {
        let i = rng.below(per_instance.len() as u64) as usize;
        timeline.push(per_instance[i].pop().expect("non-empty"));
        if per_instance[i].is_empty() {
            per_instance.swap_remove(i);
        }
    }
    timeline
}

/// Carries out `ops` in order, a random pause of up to twice `mean_pause` before each.
pub async fn run(api: &Api<MySQLInstance>, ledger: &Shared, rng: &mut Rng, ops: &[Op], mean_pause: Duration) {
    let max = mean_pause.as_millis() as u64 * 2;
    for op in ops {
        tokio::time::sleep(rng.millis(0, max)).await;
        execute(api, ledger, rng, op).await;
    }
}

/// One operation, retried until the API accepts it (within two minutes).
pub async fn execute(api: &Api<MySQLInstance>, ledger: &Shared, rng: &mut Rng, op: &Op) {
    match op {
        Op::Create(name) => {
            let spec = ledger.lock().unwrap().intents[name].spec();
            let spec: MySQLInstanceSpec = serde_json::from_value(spec).expect("spec parses");
            let instance = MySQLInstance::new(name, spec);
            ledger.lock().unwrap().intents.get_mut(name).expect("planned").created = true;
            let params = PostParams::default();
            retry(&format!("create {name}"), || api.create(&params, &instance), &[409]).await;
        }
        Op::Edit(name) => {
            let (max_connections, cpu_millis) = {
                let ledger = ledger.lock().unwrap();
                let intent = &ledger.intents[name];
                let mut max_connections = intent.max_connections;
                let mut cpu_millis = intent.cpu_millis;
                // Either or both; each a new value, so that each edit changes the pod template.
                let which = rng.below(3);
                if which != 1 {
                    max_connections = 100 + (max_connections - 100 + rng.between(1, 898) as u32) % 900;
                }
                if which != 0 {
                    cpu_millis = 50 * (2 + (cpu_millis / 50 - 2 + rng.between(1, 16) as u32) % 17);
                }
                (max_connections, cpu_millis)
            };
            let patch = json!({"spec": {
                "config": {"max_connections": max_connections.to_string()},
                "resources": {"requests": {"cpu": format!("{cpu_millis}m")}},
            }});
            let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
            retry(&format!("edit {name}"), || api.patch(name, &params, &patch), &[]).await;
            let mut ledger = ledger.lock().unwrap();
            let intent = ledger.intents.get_mut(name).expect("planned");
            intent.max_connections = max_connections;
            intent.cpu_millis = cpu_millis;
        }
        Op::Delete(name) => {
            // Marked first: from now on its children may go (under Delete).
            ledger.lock().unwrap().intents.get_mut(name).expect("planned").deleted = true;
            let params = DeleteParams::background();
            retry(&format!("delete {name}"), || api.delete(name, &params), &[404]).await;
        }
    }
}

/// Calls `call` until it succeeds or fails with one of `done` (an earlier attempt that timed out may have
/// landed); panics after two minutes.
async fn retry<T, F, Fut>(what: &str, mut call: F, done: &[u16])
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let error = match tokio::time::timeout(Duration::from_secs(30), call()).await {
            Ok(Ok(_)) => return,
            Ok(Err(kube::Error::Api(status))) if done.contains(&status.code) => return,
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer in 30 s".to_owned(),
        };
        assert!(
            Instant::now() < deadline,
            "{what}: still failing after 2 minutes: {error}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
