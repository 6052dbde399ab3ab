//! Command-line arguments of `backup` and `restore`, and the entry points `main` calls. Both print exactly
//! one JSON line on stdout (the result), write the same line to the termination-message file, log progress
//! to stderr, and on failure end with one `error:` line on stderr and a non-zero exit.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::client::{Connection, Tools};
use super::error::{BackupError, Result};
use super::location::Location;
use super::naming::validate_instance;
use super::report::{self, Status};
use super::repository::S3Options;
use super::restore::{self, RestoreConfig, Source};
use super::retention::{Policy, parse_max_age};
use super::runner::{self, BackupConfig};
use super::signal::Shutdown;
use crate::api::Engine;
use crate::engine::on_path;

/// Where Kubernetes reads a container's termination message from.
const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

/// The MySQL server a backup reads or a restore writes.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Host of the MySQL server.
    #[arg(long)]
    pub host: String,
    /// Port of the MySQL server.
    #[arg(long, default_value_t = 3306)]
    pub port: u16,
    /// MySQL option file with a [client] section holding user and password (never pass a password on the command line).
    #[arg(long)]
    pub defaults_file: PathBuf,
}

impl ServerArgs {
    fn connection(&self) -> Connection {
        Connection::tcp(self.host.clone(), self.port, self.defaults_file.clone())
    }
}

/// How to reach an S3-compatible store. Credentials and region come from AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY and AWS_REGION, never from arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct S3Args {
    /// Endpoint URL of an S3-compatible store (AWS S3 when unset).
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// Address buckets in the path instead of the host name (most self-hosted stores need this).
    #[arg(long)]
    pub s3_path_style: bool,
}

impl S3Args {
    fn options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            path_style: self.s3_path_style,
        }
    }
}

/// Arguments of `mysqlinstance-operator backup`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// Name of the MySQLInstance; backups are named NAME-YYYYMMDDTHHMMSSZ.sql.zst.
    #[arg(long)]
    pub instance: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Where to write: file:///dir or s3://bucket/prefix.
    #[arg(long)]
    pub destination: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// After a successful backup, keep at least the newest N backups of this instance.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_last: Option<u32>,
    /// After a successful backup, keep backups of this instance younger than this (such as 7d, 36h, 90m).
    #[arg(long)]
    pub max_age: Option<String>,
    /// Databases to dump, comma-separated (default: every database except the system schemas).
    #[arg(long, value_delimiter = ',')]
    pub databases: Option<Vec<String>>,
    /// zstd compression level, 1 (fastest, the default: as MySQL Shell dumps; the runner must not slow the dump) to 19 (smallest).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub compression_level: i32,
    /// The dump program (default: mariadb-dump when the image has it, else mysqldump, so the dump tool is the
    /// server's own).
    #[arg(long)]
    pub mysqldump: Option<String>,
    /// The client program (default: the engine's client that goes with the dump tool: mariadb or mysql).
    #[arg(long)]
    pub mysql: Option<String>,
    /// File the result line is also written to (skipped with a warning if not writable).
    #[arg(long, default_value = DEFAULT_TERMINATION_LOG)]
    pub termination_log: PathBuf,
}

/// Arguments of `mysqlinstance-operator restore`.
#[derive(clap::Args, Debug, Clone)]
pub struct RestoreArgs {
    /// The backup: its URL (file:///dir/NAME.sql.zst, s3://bucket/prefix/NAME.sql.zst), its name in --repository, or "latest".
    #[arg(long)]
    pub source: String,
    /// Where backups were written (the backup's --destination); needed with a name or "latest".
    #[arg(long)]
    pub repository: Option<String>,
    /// Whose newest backup "latest" means.
    #[arg(long)]
    pub instance: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub s3: S3Args,
    /// Restore even if the target already has tables in the backup's databases (they are replaced).
    #[arg(long)]
    pub force: bool,
    /// The client program (default: mariadb when the image has MariaDB's tools, else mysql).
    #[arg(long)]
    pub mysql: Option<String>,
    /// File the result line is also written to (skipped with a warning if not writable).
    #[arg(long, default_value = DEFAULT_TERMINATION_LOG)]
    pub termination_log: PathBuf,
}

/// The client tools to run: those named on the command line, else the ones of the engine found on PATH.
fn tools(mysql: Option<&str>, mysqldump: Option<&str>) -> Tools {
    let engine = Engine::of_clients(on_path);
    Tools {
        mysql: mysql.unwrap_or(engine.client()).to_owned(),
        mysqldump: mysqldump.unwrap_or(engine.dump()).to_owned(),
    }
}

impl BackupArgs {
    fn config(&self) -> Result<BackupConfig> {
        validate_instance(&self.instance).map_err(|e| BackupError::invalid("--instance", e))?;
        let max_age = self
            .max_age
            .as_deref()
            .map(parse_max_age)
            .transpose()
            .map_err(|e| BackupError::invalid("--max-age", e))?;
        if let Some(databases) = &self.databases
            && databases.iter().any(|d| d.is_empty())
        {
            return Err(BackupError::invalid("--databases", "empty database name"));
        }
        Ok(BackupConfig {
            instance: self.instance.clone(),
            connection: self.server.connection(),
            tools: tools(self.mysql.as_deref(), self.mysqldump.as_deref()),
            destination: Location::parse(&self.destination)?,
            s3: self.s3.options(),
            databases: self.databases.clone(),
            retention: Policy {
                keep_last: self.keep_last,
                max_age,
            },
            compression_level: self.compression_level,
        })
    }
}

impl RestoreArgs {
    fn config(&self) -> Result<RestoreConfig> {
        if let Some(instance) = &self.instance {
            validate_instance(instance).map_err(|e| BackupError::invalid("--instance", e))?;
        }
        Ok(RestoreConfig {
            source: Source::parse(&self.source)?,
            repository: self.repository.as_deref().map(Location::parse).transpose()?,
            instance: self.instance.clone(),
            connection: self.server.connection(),
            mysql: tools(self.mysql.as_deref(), None).mysql,
            s3: self.s3.options(),
            force: self.force,
        })
    }
}

/// Runs `backup`.
pub fn backup(args: BackupArgs) -> ExitCode {
    init_logging();
    let termination_log = args.termination_log.clone();
    let result = with_runtime(|shutdown| async move {
        match args.config() {
            Ok(config) => runner::run(&config, shutdown).await,
            Err(error) => invalid_backup(&args, &error),
        }
    });
    finish(
        "backup",
        &result,
        result.status,
        result.error.as_deref(),
        &termination_log,
    )
}

/// Runs `restore`.
pub fn restore(args: RestoreArgs) -> ExitCode {
    init_logging();
    let termination_log = args.termination_log.clone();
    let result = with_runtime(|shutdown| async move {
        match args.config() {
            Ok(config) => restore::run(&config, shutdown).await,
            Err(error) => report::RestoreResult::failed_at_start(
                format!("{}:{}", args.server.host, args.server.port),
                error.reason(),
                error.to_string(),
            ),
        }
    });
    finish(
        "restore",
        &result,
        result.status,
        result.error.as_deref(),
        &termination_log,
    )
}

fn invalid_backup(args: &BackupArgs, error: &BackupError) -> report::BackupResult {
    report::BackupResult::failed_at_start(Some(args.instance.clone()), error.reason(), error.to_string())
}

/// Runs `work` on a fresh runtime with a [`Shutdown`] wired to SIGTERM/SIGINT. A runtime that cannot
/// start is a failure result like any other.
fn with_runtime<T, F, Fut>(work: F) -> T
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: std::future::Future<Output = T>,
    T: From<StartupFailure>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return T::from(StartupFailure(format!("could not start the async runtime: {error}"))),
    };
    runtime.block_on(async move {
        match Shutdown::on_signals() {
            Ok(shutdown) => work(shutdown).await,
            Err(error) => T::from(StartupFailure(format!("could not listen for signals: {error}"))),
        }
    })
}

/// The process could not even start its work.
pub struct StartupFailure(String);

impl From<StartupFailure> for report::BackupResult {
    fn from(failure: StartupFailure) -> Self {
        report::BackupResult::failed_at_start(None, "InternalError", failure.0)
    }
}

impl From<StartupFailure> for report::RestoreResult {
    fn from(failure: StartupFailure) -> Self {
        report::RestoreResult::failed_at_start(String::new(), "InternalError", failure.0)
    }
}

/// Prints the result line, writes the termination message, and turns the status into the exit code.
fn finish(
    command: &str,
    result: &impl Serialize,
    status: Status,
    error: Option<&str>,
    termination_log: &std::path::Path,
) -> ExitCode {
    let line = match serde_json::to_string(result) {
        Ok(line) => line,
        Err(e) => format!(r#"{{"status":"failure","error":"could not serialize the result: {e}"}}"#),
    };
    println!("{line}");
    report::write_termination_log(termination_log, &line);
    match status {
        Status::Success => ExitCode::SUCCESS,
        Status::Failure => {
            eprintln!("error: {command} failed: {}", error.unwrap_or("unknown error"));
            ExitCode::FAILURE
        }
    }
}

/// Progress logs on stderr (stdout carries only the result line). `RUST_LOG` filters; default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,object_store=warn,reqwest=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
