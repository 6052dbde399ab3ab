//! The `backup` command: check the server and the destination, stream mysqldump through zstd and SHA-256 to
//! the destination, accept the result only if mysqldump exited 0 *and* wrote its completion trailer *and*
//! the upload completed, write the manifest, then apply retention. Any failure removes what was written.

use bytes::Bytes;
use jiff::Timestamp;
use tokio::process::Command;
use tokio::sync::mpsc;

use super::client::{self, Connection, SYSTEM_DATABASES, Tools};
use super::error::{BackupError, Result};
use super::location::Location;
use super::naming::BackupName;
use super::pipeline::{self, PipelineError, StreamStats};
use super::report::{self, BackupResult, MANIFEST_FORMAT, Manifest, Status, ToolVersions};
use super::repository::{Repository, S3Options, Upload};
use super::retention::{self, Deletion, Policy};
use super::signal::Shutdown;
use super::stream::{self, Finished, Tool, ToolPipe};

/// Compressed chunks queued between the compressor and the upload (each up to 1 MiB).
const QUEUED_CHUNKS: usize = 4;
/// Size asked for the pipe from mysqldump.
const PIPE_SIZE: usize = 1024 * 1024;

/// Everything a backup needs, already validated.
#[derive(Clone, Debug)]
pub struct BackupConfig {
    /// The instance: the first part of every file name, and what retention matches on.
    pub instance: String,
    /// The server to dump.
    pub connection: Connection,
    /// The client tools.
    pub tools: Tools,
    /// Where backups go.
    pub destination: Location,
    /// How to reach an S3 destination.
    pub s3: S3Options,
    /// Databases to dump; every non-system database when `None`.
    pub databases: Option<Vec<String>>,
    /// Retention applied after success.
    pub retention: Policy,
    /// zstd level (1-19).
    pub compression_level: i32,
}

/// Takes one backup and reports how it went. Never panics on a failure; every failure is a result.
pub async fn run(config: &BackupConfig, shutdown: Shutdown) -> BackupResult {
    let started_at = Timestamp::now();
    let name = BackupName::new(&config.instance, started_at);
    let outcome = backup(config, &name, started_at, shutdown).await;
    let completed_at = Timestamp::now();
    let mut result = BackupResult {
        status: Status::Success,
        instance: Some(config.instance.clone()),
        name: Some(name.dump_file()),
        location: Some(config.destination.url_of(&name.dump_file())),
        size_bytes: None,
        raw_bytes: None,
        sha256: None,
        started_at,
        completed_at,
        duration_seconds: report::seconds_between(started_at, completed_at),
        pruned: None,
        warning: None,
        reason: None,
        error: None,
    };
    match outcome {
        Ok(done) => {
            result.size_bytes = Some(done.stats.compressed_bytes);
            result.raw_bytes = Some(done.stats.raw_bytes);
            result.sha256 = Some(done.stats.sha256);
            result.pruned = Some(done.pruned);
            result.warning = done.warning.map(|w| report::shorten(&w));
        }
        Err(error) => {
            result.status = Status::Failure;
            result.reason = Some(error.reason().to_owned());
            result.error = Some(report::shorten(&error.to_string()));
        }
    }
    result
}

struct Done {
    stats: StreamStats,
    pruned: u32,
    warning: Option<String>,
}

struct Prepared {
    repository: Repository,
    server_version: String,
    databases: Vec<String>,
    mysqldump_version: String,
    upload: Upload,
}

async fn backup(config: &BackupConfig, name: &BackupName, started_at: Timestamp, shutdown: Shutdown) -> Result<Done> {
    // Until the dump starts nothing needs undoing, so a signal may simply drop the preparation (child
    // processes are killed on drop; a partial file is removed by its guard).
    let mut cancel = shutdown.clone();
    let Prepared {
        repository,
        server_version,
        databases,
        mysqldump_version,
        mut upload,
    } = tokio::select! {
        biased;
        why = cancel.signalled() => return Err(BackupError::Interrupted(why)),
        prepared = prepare(config, name) => prepared?,
    };
    tracing::info!(
        databases = %databases.join(","),
        server = %config.connection.address(),
        server_version = %server_version,
        to = %upload.url(),
        "dumping"
    );
    let stats = match dump_into(config, &databases, &mysqldump_version, &mut upload, shutdown).await {
        Ok(stats) => stats,
        Err(error) => {
            upload.abort().await;
            return Err(error);
        }
    };
    upload.finish().await?;

    let completed_at = Timestamp::now();
    let manifest = Manifest {
        format_version: MANIFEST_FORMAT,
        instance: config.instance.clone(),
        dump_file: name.dump_file(),
        started_at,
        completed_at,
        server_version,
        databases,
        compression: "zstd".to_owned(),
        size_bytes: stats.compressed_bytes,
        raw_bytes: stats.raw_bytes,
        sha256: stats.sha256.clone(),
        tools: ToolVersions {
            operator: env!("CARGO_PKG_VERSION").to_owned(),
            mysqldump: mysqldump_version,
            zstd: zstd::zstd_safe::version_string().to_owned(),
        },
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Internal(e.to_string()))?;
    if let Err(error) = repository.write_small(&name.manifest_file(), json).await {
        // Without its manifest the dump is not a backup (restore and retention ignore it): remove it.
        if let Err(cleanup) = repository.delete(&name.dump_file()).await {
            tracing::warn!(%cleanup, "could not remove the dump whose manifest failed");
        }
        return Err(error);
    }
    tracing::info!(
        size_bytes = stats.compressed_bytes,
        raw_bytes = stats.raw_bytes,
        sha256 = %stats.sha256,
        "backup complete"
    );
    let (pruned, warning) = apply_retention(&repository, config, name, completed_at).await;
    tracing::info!(peak_rss_bytes = report::peak_rss_bytes().unwrap_or(0), "done");
    Ok(Done { stats, pruned, warning })
}

/// Everything that can fail before a byte is dumped: option file, server, databases, destination, name.
async fn prepare(config: &BackupConfig, name: &BackupName) -> Result<Prepared> {
    config.connection.check_option_file()?;
    let rows = client::query(
        &config.tools.mysql,
        &config.connection,
        "SELECT VERSION();\nSELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME;\n",
    )
    .await?;
    let mut rows = rows.into_iter().filter_map(|row| row.into_iter().next());
    let server_version = rows.next().unwrap_or_default();
    let existing: Vec<String> = rows.collect();
    let databases = match &config.databases {
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|db| !existing.contains(db)) {
                return Err(BackupError::invalid(
                    "--databases",
                    format!("database '{missing}' does not exist on {}", config.connection.address()),
                ));
            }
            wanted.clone()
        }
        None => existing
            .into_iter()
            .filter(|db| !SYSTEM_DATABASES.contains(&db.as_str()))
            .collect(),
    };
    if databases.is_empty() {
        return Err(BackupError::NothingToBackUp(format!(
            "{} has no databases besides the system schemas",
            config.connection.address()
        )));
    }

    let repository = Repository::open(&config.destination, &config.s3)?;
    repository.check().await?;
    if repository.exists(&name.dump_file()).await? {
        return Err(BackupError::Destination {
            location: config.destination.to_string(),
            detail: format!(
                "{} already exists: another backup started in the same second",
                name.dump_file()
            ),
        });
    }
    let mysqldump_version = client::tool_version(&config.tools.mysqldump).await?;
    let upload = repository.create(&name.dump_file()).await?;
    Ok(Prepared {
        repository,
        server_version,
        databases,
        mysqldump_version,
        upload,
    })
}

/// The mysqldump command line after the connection arguments.
fn dump_args(databases: &[String], mysqldump_version: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        // One consistent snapshot of InnoDB tables without locking them.
        "--single-transaction",
        "--routines",
        "--events",
        "--triggers",
        // Binary columns as hex literals, so the SQL survives any character-set handling.
        "--hex-blob",
        "--default-character-set=utf8mb4",
    ]
    .map(str::to_owned)
    .to_vec();
    if !mysqldump_version.contains("MariaDB") {
        // MySQL's mysqldump adds SET @@GLOBAL.GTID_PURGED on GTID servers, which fails when the dump is
        // restored into a server that has executed transactions of its own (every new instance has).
        args.push("--set-gtid-purged=OFF".to_owned());
    }
    args.push("--databases".to_owned());
    args.extend(databases.iter().cloned());
    args
}

async fn dump_into(
    config: &BackupConfig,
    databases: &[String],
    mysqldump_version: &str,
    upload: &mut Upload,
    shutdown: Shutdown,
) -> Result<StreamStats> {
    let mysqldump = &config.tools.mysqldump;
    let mut command = Command::new(mysqldump);
    command
        .args(config.connection.args())
        .args(dump_args(databases, mysqldump_version));
    let (tool, stdout) = Tool::spawn(command, mysqldump, ToolPipe::Stdout)?;
    // A 1 MiB pipe (the unprivileged maximum) lets mysqldump run ahead while a chunk is being compressed,
    // instead of stopping every 64 KiB; on a busy machine this is most of the runner's overhead.
    if let Err(error) = rustix::pipe::fcntl_setpipe_size(&stdout, PIPE_SIZE) {
        tracing::debug!(%error, "could not enlarge the pipe from mysqldump");
    }
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
    let level = config.compression_level;
    let compressor = tokio::task::spawn_blocking(move || pipeline::compress(std::fs::File::from(stdout), level, tx));
    let Finished {
        status,
        stderr,
        pipeline: compressed,
    } = stream::pump(tool, compressor, stream::received(rx), upload, shutdown).await?;
    if !status.success() {
        return Err(dump_failure(&config.connection, &stderr, status));
    }
    let stats = compressed.map_err(|e| match e {
        PipelineError::Closed => BackupError::Internal("the upload stopped reading".to_owned()),
        PipelineError::Io(e) => BackupError::io("reading mysqldump's output", e),
    })?;
    if !stats.trailer {
        return Err(BackupError::DumpIncomplete);
    }
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        tracing::warn!(message = %line, "mysqldump");
    }
    Ok(stats)
}

/// Names the cause of a mysqldump failure: connection and credentials like any client, and the usual
/// mid-dump failures in words.
fn dump_failure(connection: &Connection, stderr: &str, status: std::process::ExitStatus) -> BackupError {
    let how = format!("mysqldump {}", client::describe_status(status));
    let Some(line) = client::error_line(stderr) else {
        return BackupError::DumpFailed { detail: how };
    };
    let cause = match client::error_code(&line) {
        Some(2002 | 2003 | 2005 | 1045 | 1044) => {
            return client::classify_failure("mysqldump", connection, stderr, status);
        }
        Some(1049) => " (a database was dropped while the dump was running)",
        Some(1146) => " (a table was dropped while the dump was running)",
        Some(2013) => " (the server closed the connection during the dump)",
        _ => "",
    };
    BackupError::DumpFailed {
        detail: format!("{how}: {line}{cause}"),
    }
}

/// Deletes what retention selects. Failures here do not fail the backup (it is complete and safe); they
/// come back as a warning in the result.
async fn apply_retention(
    repository: &Repository,
    config: &BackupConfig,
    just_written: &BackupName,
    now: Timestamp,
) -> (u32, Option<String>) {
    let files = match repository.list().await {
        Ok(files) => files,
        Err(error) => return (0, Some(format!("retention skipped: {error}"))),
    };
    let plan = retention::plan(
        &retention::inventory(&files, &config.instance),
        &config.retention,
        now,
        just_written,
    );
    let mut pruned = 0;
    let mut problems = Vec::new();
    for deletion in plan {
        let files = match &deletion {
            // The dump first: an interrupted deletion leaves a manifest, still recognised next time.
            Deletion::Backup(name) => vec![name.dump_file(), name.manifest_file()],
            Deletion::StalePartial(file) => vec![file.clone()],
        };
        let mut deleted = true;
        for file in &files {
            if let Err(error) = repository.delete(file).await {
                problems.push(format!("could not delete {file}: {error}"));
                deleted = false;
                break;
            }
        }
        if deleted {
            tracing::info!(files = %files.join(","), "retention deleted");
            if matches!(deletion, Deletion::Backup(_)) {
                pruned += 1;
            }
        }
    }
    (pruned, (!problems.is_empty()).then(|| problems.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysqldump_gets_the_consistent_dump_flags() {
        let args = dump_args(
            &["a".into(), "b".into()],
            "mysqldump  Ver 10.19 Distrib 10.11.6-MariaDB",
        );
        assert_eq!(
            args,
            [
                "--single-transaction",
                "--routines",
                "--events",
                "--triggers",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--databases",
                "a",
                "b"
            ]
        );
        let mysql = dump_args(
            &["a".into()],
            "mysqldump  Ver 8.4.3 for Linux on x86_64 (MySQL Community Server - GPL)",
        );
        assert!(mysql.contains(&"--set-gtid-purged=OFF".to_owned()));
    }

    #[test]
    fn mid_dump_failures_are_named() {
        use std::os::unix::process::ExitStatusExt;
        let connection = Connection::tcp("h", 1, "/c.cnf");
        let exit2 = std::process::ExitStatus::from_raw(2 << 8);
        let dropped = dump_failure(
            &connection,
            "mysqldump: Got error: 1049: \"Unknown database 'shop'\" when selecting the database\n",
            exit2,
        );
        assert_eq!(
            dropped.to_string(),
            "the dump failed: mysqldump exited with status 2: mysqldump: Got error: 1049: \"Unknown database 'shop'\" when selecting the database (a database was dropped while the dump was running)"
        );
        let killed = dump_failure(&connection, "", std::process::ExitStatus::from_raw(9));
        assert_eq!(
            killed.to_string(),
            "the dump failed: mysqldump was killed by signal 9 (SIGKILL)"
        );
        let denied = dump_failure(
            &connection,
            "mysqldump: Got error: 1045: \"Access denied\" when trying to connect",
            exit2,
        );
        assert_eq!(denied.reason(), "AccessDenied");
    }
}
