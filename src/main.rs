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
use mysqlinstance_operator::controller::{self, RunConfig};
use mysqlinstance_operator::instance::{self, InstanceCommand};
use mysqlinstance_operator::resources::OperatorSettings;
use mysqlinstance_operator::telemetry::{metrics::Metrics, server, traces};
use tracing::{error, info};

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
    /// The operator's own image: init containers place its binary in server, backup and restore pods.
    #[arg(long, env = "OPERATOR_IMAGE", default_value = concat!("ghcr.io/mysqlinstance/mysqlinstance-operator:", env!("CARGO_PKG_VERSION")))]
    operator_image: String,
    /// A server image to use instead of the pinned official one of a version, as VERSION=IMAGE (for example
    /// 11.4=registry.example/mariadb:11.4.8, for mirrors and air-gapped clusters); repeat per version.
    #[arg(long = "server-image", env = "SERVER_IMAGES", value_delimiter = ',', value_parser = parse_server_image)]
    server_images: Vec<(ServerVersion, String)>,
}

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
    let cli = Cli::parse();
    // kube, the OTLP exporter and object_store all speak TLS through rustls: one crypto provider for every
    // subcommand, installed before any client exists.
    if rustls::crypto::ring::default_provider().install_default().is_err() {
        eprintln!("warning: a TLS crypto provider was already installed");
    }
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
    };
    let (store, controller) = controller::controller(client, metrics.clone(), settings, &run);
    let state = Arc::new(server::State {
        metrics,
        store: store.clone(),
        ready: AtomicBool::new(false),
    });
    let (address, serve) = server::bind(args.metrics_address, state.clone()).await.map_err(|e| {
        format!(
            "cannot listen on {}: {e}; pick another --metrics-address",
            args.metrics_address
        )
    })?;
    tokio::spawn(serve);
    tokio::spawn(async move {
        if store.wait_until_ready().await.is_ok() {
            state.ready.store(true, Ordering::Relaxed);
            info!("instance cache synced; ready");
        }
    });
    info!(metrics = %format!("http://{address}/metrics"), "operator started");
    controller.await;
    info!("operator stopped on signal");
    Ok(())
}
