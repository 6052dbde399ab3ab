//! The kubectl plugin `kubectl-myi`: the command line, dispatch to one module per command, and the shared waits.
//!
//! Reached as `mysqlinstance-operator kubectl-myi ...` or, through a link or copy of the binary named
//! `kubectl-myi` on PATH, as `kubectl myi ...` (argv\[0\] selects it). Every command talks to the cluster of the
//! current kubeconfig context with [`kube::Client::try_default`]; `connect` shells out to `kubectl exec`.

mod backup;
mod connect;
mod credentials;
mod error;
mod pause;
mod restore;
mod status;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kube::{Api, Client};
use mysqlinstance_operator::api::MySQLInstance;

pub use error::PluginError;

/// The plugin's own name: the file name a link to the binary must have for `kubectl myi` to find it.
pub const PLUGIN_NAME: &str = "kubectl-myi";
/// Field manager of every write the plugin makes.
const FIELD_MANAGER: &str = "kubectl-myi";

/// Everyday operations on MySQLInstances: status, backups, restores, client sessions, credentials, pausing.
#[derive(Parser, Debug)]
#[command(name = "kubectl myi", version)]
pub struct Cli {
    /// Namespace of the instance (the namespace of the current kubeconfig context when unset).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Phase, readiness, endpoint, conditions, the last backup and recent Events of an instance.
    Status {
        /// The MySQLInstance.
        name: String,
    },
    /// Take a backup now, with a Job made from the instance's backup CronJob (as `kubectl create job --from`).
    Backup(backup::BackupArgs),
    /// Create a new instance with the spec of NAME, seeded from one of NAME's backups.
    Restore(restore::RestoreArgs),
    /// Open the engine's client in the server pod (`kubectl exec`); the password never reaches a command line.
    Connect(connect::ConnectArgs),
    /// Print how to connect: username, database, host, port; the password only with --show.
    Credentials(credentials::CredentialsArgs),
    /// Stop all changes to the instance's children (spec.paused: true).
    Pause {
        /// The MySQLInstance.
        name: String,
    },
    /// Let the operator change the instance's children again (spec.paused: false).
    Resume {
        /// The MySQLInstance.
        name: String,
    },
}

/// Whether the binary was started as `kubectl-myi` (a link or copy of it with that file name).
pub fn invoked_as_plugin(argv0: Option<&OsString>) -> bool {
    argv0
        .and_then(|arg| Path::new(arg).file_name())
        .is_some_and(|name| name == PLUGIN_NAME)
}

/// Runs the plugin with the command line of a binary called `kubectl-myi`.
pub fn main_from_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    run(Cli::parse_from(args))
}

/// Runs a parsed command line; errors are printed on stderr and make the exit code non-zero.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode, PluginError> {
    let client = Client::try_default().await.map_err(PluginError::NoCluster)?;
    let namespace = cli.namespace.unwrap_or_else(|| client.default_namespace().to_owned());
    let target = Target { client, namespace };
    match cli.command {
        Command::Status { name } => status::run(&target, &name).await,
        Command::Backup(args) => backup::run(&target, &args).await,
        Command::Restore(args) => restore::run(&target, &args).await,
        Command::Connect(args) => connect::run(&target, &args).await,
        Command::Credentials(args) => credentials::run(&target, &args).await,
        Command::Pause { name } => pause::run(&target, &name, true).await,
        Command::Resume { name } => pause::run(&target, &name, false).await,
    }
}

/// The cluster and namespace a command works in.
pub struct Target {
    client: Client,
    namespace: String,
}

impl Target {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The instance `name`, or the error that says how to list the instances there are.
    async fn instance(&self, name: &str) -> Result<MySQLInstance, PluginError> {
        self.api::<MySQLInstance>()
            .get_opt(name)
            .await
            .map_err(|source| PluginError::api(format!("read MySQLInstance {name}"), source))?
            .ok_or_else(|| PluginError::InstanceNotFound {
                name: name.to_owned(),
                namespace: self.namespace.clone(),
            })
    }
}

/// How often the waits poll the API.
const POLL: Duration = Duration::from_secs(1);

/// Parses a duration such as `30m`, `90s` or `1h30m`.
fn parse_timeout(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| format!("{value:?} is not a duration such as 30m or 90s: {e}"))
}

/// `--wait` (the default) or `--no-wait`, shared by the commands that start something long.
#[derive(clap::Args, Debug, Clone)]
struct WaitArgs {
    /// Follow it until it finishes (the default).
    #[arg(long, overrides_with = "no_wait")]
    wait: bool,
    /// Return as soon as it is created.
    #[arg(long = "no-wait", overrides_with = "wait")]
    no_wait: bool,
    /// Give up waiting after this long (such as 30m or 90s).
    #[arg(long, default_value = "30m", value_parser = parse_timeout)]
    timeout: Duration,
}

impl WaitArgs {
    fn waits(&self) -> bool {
        !self.no_wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_is_the_plugin_when_its_file_name_is_kubectl_myi() {
        assert!(invoked_as_plugin(Some(&OsString::from("/home/me/bin/kubectl-myi"))));
        assert!(invoked_as_plugin(Some(&OsString::from("kubectl-myi"))));
        assert!(!invoked_as_plugin(Some(&OsString::from(
            "/usr/bin/mysqlinstance-operator"
        ))));
        assert!(!invoked_as_plugin(Some(&OsString::from("/bin/kubectl-myi-old"))));
        assert!(!invoked_as_plugin(None));
    }

    #[test]
    fn wait_is_the_default_and_no_wait_turns_it_off() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["kubectl-myi"], args].concat()).expect("parses");
        let waits = |cli: Cli| match cli.command {
            Command::Backup(args) => (args.wait.waits(), args.wait.timeout),
            other => panic!("not a backup: {other:?}"),
        };
        assert_eq!(waits(parse(&["backup", "db"])), (true, Duration::from_secs(1800)));
        assert!(!waits(parse(&["backup", "db", "--no-wait"])).0);
        assert!(
            waits(parse(&["backup", "db", "--no-wait", "--wait"])).0,
            "the last one wins"
        );
        assert_eq!(
            waits(parse(&["backup", "db", "--timeout", "90s"])).1,
            Duration::from_secs(90)
        );
        let cli = parse(&["status", "db", "-n", "shop"]);
        assert_eq!(
            cli.namespace.as_deref(),
            Some("shop"),
            "-n is accepted after the command"
        );
        assert!(Cli::try_parse_from(["kubectl-myi", "backup", "db", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
