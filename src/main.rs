//! The `mysqlinstance-operator` binary: runs the controller and prints the CRD; placed in the database pods by
//! an init container, it initializes the data directory, answers the probes, and takes and restores backups
//! with the server image's own tools.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};
use mysqlinstance_operator::api::{self, ServerVersion};
use mysqlinstance_operator::backup::cli::{self as backup_cli, BackupArgs, RestoreArgs};
use mysqlinstance_operator::controller::leader::{Candidacy, LeaseSettings};
use mysqlinstance_operator::controller::{self, RunConfig};
use mysqlinstance_operator::instance::{self, InstanceCommand};
use mysqlinstance_operator::resources::{self, OperatorSettings};
use mysqlinstance_operator::telemetry::{health::Progress, metrics::Metrics, server, traces};
use tracing::{error, info};

mod plugin;

/// Runs MySQL databases on Kubernetes: apply a MySQLInstance, get a database with generated credentials,
/// a stable Service, persistent storage and scheduled backups.
#[derive(Parser)]
#[command(name = "mysqlinstance-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or the in-cluster service account).
    Run(RunArgs),
    /// Print the MySQLInstance CustomResourceDefinition as YAML; install it with `| kubectl apply -f -`.
    Crd,
    /// Take a backup: stream mysqldump through zstd and SHA-256 to file:///dir or s3://bucket/prefix, then
    /// apply retention. Prints a one-line JSON result (what the backup CronJob runs).
    Backup(BackupArgs),
    /// Restore a backup into a server after verifying its checksum. Prints a one-line JSON result.
    Restore(RestoreArgs),
    /// What runs inside the database pods: place the binary, initialize the data directory, answer probes.
    Instance {
        #[command(subcommand)]
        command: InstanceCommand,
    },
    /// Print the version.
    Version,
    /// The kubectl plugin (also what a link to this binary named kubectl-myi runs): status, backup, restore,
    /// connect, credentials, pause and resume of a MySQLInstance.
    #[command(name = "kubectl-myi")]
    KubectlMyi(plugin::Cli),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, env = "METRICS_ADDRESS", default_value = "127.0.0.1:8080")]
    metrics_address: SocketAddr,
    /// Watch only this namespace (all namespaces when unset).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Instances reconciled at the same time.
    #[arg(long, env = "CONCURRENCY", default_value_t = 4)]
    concurrency: u16,
    /// Fill the caches through streaming lists (the WatchList feature, on by default since Kubernetes 1.32),
    /// which keeps the operator's memory low at start; `--streaming-lists=false` on older clusters.
    #[arg(long, env = "STREAMING_LISTS", default_value_t = true, action = clap::ArgAction::Set)]
    streaming_lists: bool,
    /// The operator's own image: init containers place its binary in server, backup and restore pods.
    #[arg(long, env = "OPERATOR_IMAGE", default_value = resources::DEFAULT_OPERATOR_IMAGE)]
    operator_image: String,
    /// A server image to use instead of the pinned official one of a version, as VERSION=IMAGE (for example
    /// 11.4=registry.example/mariadb:11.4.8, for mirrors and air-gapped clusters); repeat per version.
    #[arg(long = "server-image", env = "SERVER_IMAGES", value_delimiter = ',', value_parser = parse_server_image)]
    server_images: Vec<(ServerVersion, String)>,
    /// Reconcile only while holding a coordination Lease, so that of several replicas exactly one does.
    #[arg(long, env = "LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease (the namespace of the kubeconfig context or service account when unset).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "LEADER_ELECTION_LEASE", default_value = "mysqlinstance-operator")]
    leader_election_lease: String,
    /// This replica's identity in the Lease (unique among the replicas; the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

/// How often the readiness task asks the instance cache again.
const READINESS_POLL: std::time::Duration = std::time::Duration::from_millis(200);

fn parse_server_image(value: &str) -> Result<(ServerVersion, String), String> {
    let (version, image) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?} is not VERSION=IMAGE, such as 10.11=registry.example/mariadb:10.11"))?;
    let version = version
        .parse()
        .map_err(|_| format!("{version:?} is not a supported version (8.0, 8.4, 10.11 or 11.4)"))?;
    if image.is_empty() {
        return Err(format!("no image given for version {version}"));
    }
    Ok((version, image.to_owned()))
}

fn main() -> ExitCode {
    if plugin::invoked_as_plugin(std::env::args_os().next().as_ref()) {
        install_crypto_provider();
        return plugin::main_from_args(std::env::args_os());
    }
    let cli = Cli::parse();
    install_crypto_provider();
    match cli.command {
        Command::Crd => match api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: could not render the CRD: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("mysqlinstance-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Run(args) => run(args),
        Command::Backup(args) => backup_cli::backup(args),
        Command::Restore(args) => backup_cli::restore(args),
        Command::Instance { command } => instance::run(command),
        Command::KubectlMyi(args) => plugin::run(args),
    }
}

/// kube, the OTLP exporter and object_store all speak TLS through rustls: one crypto provider for every
/// subcommand, installed before any client exists.
fn install_crypto_provider() {
    if rustls::crypto::ring::default_provider().install_default().is_err() {
        eprintln!("warning: a TLS crypto provider was already installed");
    }
}

fn run(args: RunArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let _traces = match traces::init() {
            Ok(guard) => guard,
            Err(error) => {
                eprintln!("error: could not set up logging and tracing: {error}");
                return ExitCode::FAILURE;
            }
        };
        match run_controller(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                error!(%message, "operator stopped");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run_controller(args: RunArgs) -> Result<(), String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot reach the cluster ({e}); set KUBECONFIG or run inside a pod"))?;
    let metrics = Arc::new(Metrics::new().map_err(|e| format!("cannot register metrics: {e}"))?);
    let settings = OperatorSettings {
        operator_image: args.operator_image,
        server_images: args.server_images.into_iter().collect(),
    };
    let run = RunConfig {
        namespace: args.namespace,
        concurrency: args.concurrency,
        streaming_lists: args.streaming_lists,
    };
    let lease = args.leader_election.then(|| LeaseSettings {
        namespace: args
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned()),
        name: args.leader_election_lease.clone(),
        identity: args
            .identity
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
    });
    let progress = Arc::new(Progress::default());
    let (store, controller) = controller::controller(client.clone(), metrics.clone(), progress.clone(), settings, &run);
    let state = Arc::new(server::State {
        metrics: metrics.clone(),
        store: store.clone(),
        // A standby is ready: it is there to take over.
        ready: AtomicBool::new(lease.is_some()),
        progress,
    });
    let (address, serve) = server::bind(args.metrics_address, state.clone()).await.map_err(|e| {
        format!(
            "cannot listen on {}: {e}; pick another --metrics-address",
            args.metrics_address
        )
    })?;
    tokio::spawn(serve);
    info!(metrics = %format!("http://{address}/metrics"), "operator started");
    let mut candidacy = match &lease {
        None => None,
        Some(lease) => {
            let mut candidacy = Candidacy::start(client, lease).await.map_err(|e| {
                format!(
                    "cannot take part in leader election on Lease {}/{}: {e}",
                    lease.namespace, lease.name
                )
            })?;
            info!(lease = %lease.name, namespace = %lease.namespace, identity = %lease.identity, "standby: waiting for the lease");
            tokio::select! {
                elected = candidacy.elected() => if !elected {
                    return Err("leader election stopped before this replica was elected".to_owned());
                },
                () = terminated() => {
                    candidacy.step_down().await;
                    info!("operator stopped on signal while standby");
                    return Ok(());
                }
            }
            info!(identity = %lease.identity, "elected: reconciling");
            state.ready.store(false, Ordering::Relaxed);
            Some(candidacy)
        }
    };
    metrics.leader.set(1);
    tokio::spawn(async move {
        // The controller's runner waits on the same store, and kube-runtime 5.0's readiness wakes only the last
        // of concurrent waiters: ask again every 200 ms instead of waiting once, or /readyz can stay 503 for good
        // (seen in-cluster on the real node).
        loop {
            match tokio::time::timeout(READINESS_POLL, store.wait_until_ready()).await {
                Ok(Ok(())) => {
                    state.ready.store(true, Ordering::Relaxed);
                    info!("instance cache synced; ready");
                    break;
                }
                Ok(Err(_)) => break,
                Err(_) => {}
            }
        }
    });
    match &mut candidacy {
        None => controller.await,
        Some(leading) => tokio::select! {
            () = controller => {}
            () = leading.lost() => {
                // Another replica holds the lease now: stop before writing anything more, and start over as
                // a standby from a fresh process.
                return Err("lost the lease to another replica; exiting so that only the leader writes".to_owned());
            }
        },
    }
    if let Some(candidacy) = candidacy {
        candidacy.step_down().await;
    }
    info!("operator stopped on signal");
    Ok(())
}

/// SIGTERM (the kubelet stopping the pod) or SIGINT.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// The host name (the pod name inside Kubernetes), for a default leader-election identity.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "operator".to_owned(), |h| h.trim().to_owned())
}
