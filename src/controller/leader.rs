//! Leader election on a coordination Lease, so that of several replicas exactly one reconciles. The others
//! wait with their /metrics and /healthz served, and take over when the leader releases the lease (a clean
//! shutdown) or stops renewing it (a crash: at most [`LEASE_SECONDS`] later).

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a lease holds without renewal: the longest a crashed leader leaves the instances unreconciled.
pub const LEASE_SECONDS: u64 = 15;
/// The leader renews this long before its lease would expire; also the clock skew between nodes tolerated.
const RENEW_BEFORE_EXPIRY_SECONDS: u64 = 5;
/// How long a replica that shuts down waits for its lease to be released.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Which Lease, and who this replica is.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// Unique among the replicas: the pod name.
    pub identity: String,
}

/// This replica's candidacy: it renews the lease while it holds it and keeps trying while it does not.
pub struct Candidacy {
    leading: watch::Receiver<bool>,
    manager: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

impl Candidacy {
    /// Starts campaigning for the lease (creating it if it does not exist).
    pub async fn start(client: Client, settings: &LeaseSettings) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client, &settings.name)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_field_manager(format!("mysqlinstance-operator-leader-{}", settings.identity))
            .with_duration(LEASE_SECONDS)
            .with_grace(RENEW_BEFORE_EXPIRY_SECONDS)
            .build()
            .await?;
        let (leading, manager) = manager.watch().await;
        Ok(Candidacy { leading, manager })
    }

    /// Resolves once this replica holds the lease; `false` if the campaign itself stopped.
    pub async fn elected(&mut self) -> bool {
        self.leading.wait_for(|leading| *leading).await.is_ok()
    }

    /// Resolves when this replica no longer holds the lease (another replica took it over after a missed
    /// renewal, or the campaign stopped).
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|leading| !*leading).await;
    }

    /// Stops campaigning and releases the lease if held, so a standby takes over at once.
    pub async fn step_down(self) {
        drop(self.leading);
        match tokio::time::timeout(RELEASE_TIMEOUT, self.manager).await {
            Ok(Ok(Ok(_))) => tracing::info!("lease released"),
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "could not release the lease; a standby takes over when it expires")
            }
            Ok(Err(error)) => tracing::warn!(%error, "the lease task failed"),
            Err(_) => tracing::warn!("releasing the lease timed out; a standby takes over when it expires"),
        }
    }
}
