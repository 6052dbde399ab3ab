//! Two replicas with leader election: only the holder of the Lease writes; when it is killed, the standby
//! takes over within the lease duration and reconciles.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::DeleteParams;
use mysqlinstance_operator::api::Phase;
use mysqlinstance_operator::controller::leader::LEASE_SECONDS;
use serde_json::json;

use crate::support::{Replica, TestEnv, assert_no_series, http_get, metric_value, try_metric_value, wait_for};

/// The operator's ServiceAccount may use only its own Lease, in its own namespace (deploy/operator.yaml).
const LEASE_NAMESPACE: &str = "mysqlinstance-system";
const LEASE: &str = "mysqlinstance-operator";

fn replica_env(identity: &str) -> Vec<(String, String)> {
    [
        ("LEADER_ELECTION", "true"),
        ("LEADER_ELECTION_NAMESPACE", LEASE_NAMESPACE),
        ("LEADER_ELECTION_LEASE", LEASE),
        ("POD_NAME", identity),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

async fn leader_gauge(replica: &Replica) -> Option<f64> {
    try_metric_value(&replica.try_metrics().await?, "mysqlinstance_leader", &[])
}

#[tokio::test]
async fn only_the_lease_holder_writes_and_the_standby_takes_over_when_it_is_killed() {
    // Identities unique to this run: a Lease left by an earlier run on the same cluster expires, it is not
    // mistaken for this run's.
    let run = format!("{:x}", std::process::id());
    let (first, second) = (format!("first-{run}"), format!("second-{run}"));
    let mut env = TestEnv::with_env("leader", replica_env(&first)).await;
    wait_for("the first replica is elected", Duration::from_secs(30), || async {
        let scrape = env.try_metrics().await?;
        (try_metric_value(&scrape, "mysqlinstance_leader", &[])? == 1.0).then_some(())
    })
    .await;
    // Ready once its caches synced (a standby is ready too: it is there to take over).
    wait_for("the leader's /readyz", Duration::from_secs(30), || async {
        http_get(env.metrics_port, "/readyz").await
    })
    .await;
    let standby = env.start_replica("standby", &replica_env(&second));
    wait_for("the standby serves /metrics", Duration::from_secs(30), || async {
        leader_gauge(&standby).await
    })
    .await;

    env.create_instance("db", json!({"storage": {"size": "1Gi"}})).await;
    env.wait_phase("db", Phase::Ready, Duration::from_secs(60)).await;
    let leader_writes = metric_value(
        &env.metrics().await,
        "mysqlinstance_api_writes_total",
        &[("kind", "StatefulSet"), ("operation", "apply")],
    );
    assert!(leader_writes >= 1.0, "the leader created the StatefulSet");
    let standby_scrape = standby.try_metrics().await.expect("standby answers");
    assert_eq!(
        try_metric_value(&standby_scrape, "mysqlinstance_leader", &[]),
        Some(0.0)
    );
    assert_no_series(&standby_scrape, "mysqlinstance_api_writes_total", &[]);
    let holder = Api::<Lease>::namespaced(env.client.clone(), LEASE_NAMESPACE)
        .get(LEASE)
        .await
        .expect("the Lease exists")
        .spec
        .and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some(first.as_str()));

    // A crash: the lease is not released, so the standby waits for it to expire.
    let killed = Instant::now();
    env.kill_operator();
    wait_for(
        "the standby takes the lease",
        Duration::from_secs(3 * LEASE_SECONDS),
        || async { (leader_gauge(&standby).await? == 1.0).then_some(()) },
    )
    .await;
    let failover = killed.elapsed();
    println!(
        "failover after SIGKILL of the leader: {:.1} s (lease {LEASE_SECONDS} s)",
        failover.as_secs_f64()
    );
    assert!(
        failover <= Duration::from_secs(LEASE_SECONDS + 5),
        "took over within the lease duration and one renewal period: {failover:?}"
    );

    // The new leader reconciles: a deleted child comes back, written by it.
    let services = env.api::<Service>();
    let old_uid = services.get("db").await.expect("Service").metadata.uid;
    services
        .delete("db", &DeleteParams::background())
        .await
        .expect("Service deleted");
    wait_for(
        "the new leader recreates the Service",
        Duration::from_secs(60),
        || async {
            let service = services.get_opt("db").await.ok()??;
            (service.metadata.uid != old_uid).then_some(())
        },
    )
    .await;
    let scrape = standby.try_metrics().await.expect("new leader answers");
    assert!(
        metric_value(
            &scrape,
            "mysqlinstance_api_writes_total",
            &[("kind", "Service"), ("operation", "apply")]
        ) >= 1.0,
        "the Service was applied by the new leader"
    );
}
