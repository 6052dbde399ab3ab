//! The `restore` command: find the backup (a URL, a name, or the newest complete backup of an instance),
//! read its manifest, check the target server, verify the file's SHA-256 against the manifest *before*
//! writing anything, then stream it through zstd into the `mysql` client and count what arrived.

use bytes::Bytes;
use futures::StreamExt;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::client::{self, Connection, sql_identifier, sql_string};
use super::error::{BackupError, Result};
use super::location::{Location, split_backup_url};
use super::naming::{DUMP_SUFFIX, MANIFEST_SUFFIX};
use super::pipeline::{self, PipelineError, StreamStats};
use super::report::{self, MANIFEST_FORMAT, Manifest, RestoreResult, Status};
use super::repository::{Repository, S3Options};
use super::retention;
use super::signal::Shutdown;
use super::stream::{self, Finished, Tool, ToolPipe};

/// Compressed chunks queued between the download and the decompressor.
const QUEUED_CHUNKS: usize = 4;

/// Which backup to restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The newest complete backup of `--instance` in `--repository`.
    Latest,
    /// A file name in `--repository` (`.sql.zst` may be left off).
    Name(String),
    /// The full URL of a dump.
    Url(String),
}

impl Source {
    /// Parses `--source`.
    pub fn parse(text: &str) -> Result<Self> {
        if text == "latest" {
            Ok(Source::Latest)
        } else if text.contains("://") {
            Ok(Source::Url(text.to_owned()))
        } else if text.is_empty() || text.contains('/') || text.starts_with('.') {
            Err(BackupError::invalid(
                "--source",
                format!("'{text}' is not a backup name, URL or \"latest\""),
            ))
        } else {
            Ok(Source::Name(text.to_owned()))
        }
    }
}

/// Everything a restore needs, already validated.
#[derive(Clone, Debug)]
pub struct RestoreConfig {
    pub source: Source,
    /// Where to look up names and `latest`.
    pub repository: Option<Location>,
    /// Whose backups `latest` means.
    pub instance: Option<String>,
    /// The server to restore into.
    pub connection: Connection,
    /// The `mysql` client.
    pub mysql: String,
    pub s3: S3Options,
    /// Restore even if the target already has tables in the backup's databases.
    pub force: bool,
}

/// Restores one backup and reports how it went.
pub async fn run(config: &RestoreConfig, shutdown: Shutdown) -> RestoreResult {
    let started_at = Timestamp::now();
    let mut result = RestoreResult {
        status: Status::Success,
        source: None,
        target: config.connection.address(),
        databases: Vec::new(),
        tables: None,
        rows: None,
        size_bytes: None,
        raw_bytes: None,
        started_at,
        completed_at: started_at,
        duration_seconds: 0.0,
        reason: None,
        error: None,
    };
    let outcome = restore(config, shutdown, &mut result).await;
    result.completed_at = Timestamp::now();
    result.duration_seconds = report::seconds_between(started_at, result.completed_at);
    if let Err(error) = outcome {
        result.status = Status::Failure;
        result.reason = Some(error.reason().to_owned());
        result.error = Some(report::shorten(&error.to_string()));
    }
    result
}

async fn restore(config: &RestoreConfig, shutdown: Shutdown, result: &mut RestoreResult) -> Result<()> {
    config.connection.check_option_file()?;
    let (repository, file) = resolve(config).await?;
    result.source = Some(repository.location().url_of(&file));
    let manifest = read_manifest(&repository, &file).await?;
    result.databases = manifest.databases.clone();

    // The target first: a restore into a server that is down or not empty fails before reading gigabytes.
    client::query(&config.mysql, &config.connection, "SELECT 1;").await?;
    if !config.force {
        check_target_empty(config, &manifest.databases).await?;
    }

    tracing::info!(source = %repository.location().url_of(&file), "verifying the checksum");
    verify(&repository, &file, &manifest).await?;
    tracing::info!(target = %config.connection.address(), databases = %manifest.databases.join(","), "restoring");
    let stats = apply(config, &repository, &file, shutdown).await?;
    // Checked again on what was actually applied: the file could have changed between the two reads.
    if stats.sha256 != manifest.sha256 || stats.raw_bytes != manifest.raw_bytes || !stats.trailer {
        return Err(BackupError::Corrupted {
            name: file,
            detail: "it changed while being restored (checksum, size or trailer differ from the verified file); the target may hold a partial restore".to_owned(),
        });
    }
    result.size_bytes = Some(stats.compressed_bytes);
    result.raw_bytes = Some(stats.raw_bytes);
    let (tables, rows) = count(config, &manifest.databases).await?;
    result.tables = Some(tables);
    result.rows = Some(rows);
    tracing::info!(tables, rows, "restore complete");
    Ok(())
}

/// The repository and dump file name `--source` designates.
async fn resolve(config: &RestoreConfig) -> Result<(Repository, String)> {
    let needs_repository = || {
        config.repository.clone().ok_or_else(|| {
            BackupError::invalid(
                "--repository",
                "needed with a backup name or \"latest\" (the --destination backups were written to)",
            )
        })
    };
    match &config.source {
        Source::Url(url) => {
            let (location, file) = split_backup_url(url)?;
            Ok((Repository::open(&location, &config.s3)?, file))
        }
        Source::Name(name) => {
            let stem = name
                .strip_suffix(DUMP_SUFFIX)
                .or_else(|| name.strip_suffix(MANIFEST_SUFFIX))
                .unwrap_or(name);
            Ok((
                Repository::open(&needs_repository()?, &config.s3)?,
                format!("{stem}{DUMP_SUFFIX}"),
            ))
        }
        Source::Latest => {
            let location = needs_repository()?;
            let instance = config
                .instance
                .clone()
                .ok_or_else(|| BackupError::invalid("--instance", "needed with --source=latest"))?;
            let repository = Repository::open(&location, &config.s3)?;
            let files = repository.list().await?;
            let newest =
                retention::inventory(&files, &instance)
                    .complete
                    .pop()
                    .ok_or_else(|| BackupError::NoBackups {
                        instance: instance.clone(),
                        repository: location.to_string(),
                    })?;
            tracing::info!(backup = %newest.dump_file(), "latest complete backup");
            Ok((repository, newest.dump_file()))
        }
    }
}

async fn read_manifest(repository: &Repository, file: &str) -> Result<Manifest> {
    let stem = file.strip_suffix(DUMP_SUFFIX).unwrap_or(file);
    let manifest_file = format!("{stem}{MANIFEST_SUFFIX}");
    let Some(bytes) = repository.read_small(&manifest_file).await? else {
        return Err(if repository.exists(file).await? {
            BackupError::Incomplete {
                name: file.to_owned(),
                detail: format!("{manifest_file} is missing, so the backup never completed"),
            }
        } else {
            BackupError::NotFound {
                name: file.to_owned(),
                repository: repository.location().to_string(),
            }
        });
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::Corrupted {
        name: file.to_owned(),
        detail: format!("{manifest_file} is not a valid manifest: {e}"),
    })?;
    if manifest.format_version > MANIFEST_FORMAT {
        return Err(BackupError::invalid(
            "backup",
            format!(
                "{file} has manifest format {}; this operator reads up to {MANIFEST_FORMAT}, upgrade it",
                manifest.format_version
            ),
        ));
    }
    if manifest.dump_file != file {
        return Err(BackupError::Corrupted {
            name: file.to_owned(),
            detail: format!("{manifest_file} describes {}", manifest.dump_file),
        });
    }
    Ok(manifest)
}

async fn check_target_empty(config: &RestoreConfig, databases: &[String]) -> Result<()> {
    if databases.is_empty() {
        return Ok(());
    }
    let list = databases.iter().map(|d| sql_string(d)).collect::<Vec<_>>().join(",");
    let rows = client::query(
        &config.mysql,
        &config.connection,
        &format!(
            "SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({list}) GROUP BY TABLE_SCHEMA ORDER BY 1;"
        ),
    )
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let occupied: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{} ({} tables)",
                row.first().map_or("?", String::as_str),
                row.get(1).map_or("?", String::as_str)
            )
        })
        .collect();
    Err(BackupError::TargetNotEmpty {
        address: config.connection.address(),
        databases: occupied.join(", "),
    })
}

/// First read: the stored file must be exactly what the manifest describes.
async fn verify(repository: &Repository, file: &str, manifest: &Manifest) -> Result<()> {
    let mut stream = repository.open_read(file).await?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let sha256 = hex::encode(hasher.finalize());
    if size != manifest.size_bytes || sha256 != manifest.sha256 {
        return Err(BackupError::Corrupted {
            name: file.to_owned(),
            detail: format!(
                "its SHA-256 is {sha256} ({size} bytes) but the manifest says {} ({} bytes); nothing was restored",
                manifest.sha256, manifest.size_bytes
            ),
        });
    }
    Ok(())
}

/// Second read: stream the file through zstd into `mysql`.
async fn apply(config: &RestoreConfig, repository: &Repository, file: &str, shutdown: Shutdown) -> Result<StreamStats> {
    let mut command = Command::new(&config.mysql);
    command
        .args(config.connection.args())
        // --binary-mode: the dump is applied byte for byte (no interpretation of `\` sequences outside
        // strings); utf8mb4 so text and emoji arrive as they left.
        .args(["--batch", "--binary-mode", "--default-character-set=utf8mb4"]);
    let (tool, stdin) = Tool::spawn(command, &config.mysql, ToolPipe::Stdin)?;
    let (tx, rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
    let decompressor = tokio::task::spawn_blocking(move || pipeline::decompress(rx, std::fs::File::from(stdin)));
    let source = repository.open_read(file).await?;
    let Finished {
        status,
        stderr,
        pipeline: decompressed,
    } = stream::pump(tool, decompressor, source, tx, shutdown).await?;
    if !status.success() {
        return Err(
            match client::classify_failure(&config.mysql, &config.connection, &stderr, status) {
                BackupError::ClientFailed { address, detail, .. } => BackupError::RestoreFailed { address, detail },
                other => other,
            },
        );
    }
    decompressed.map_err(|e| match e {
        PipelineError::Closed => BackupError::RestoreFailed {
            address: config.connection.address(),
            detail: "mysql stopped reading the dump".to_owned(),
        },
        PipelineError::Io(e) => BackupError::Corrupted {
            name: file.to_owned(),
            detail: format!("cannot decompress: {e}"),
        },
    })
}

/// Base tables and their rows in the restored databases (exact counts, not statistics).
async fn count(config: &RestoreConfig, databases: &[String]) -> Result<(u64, u64)> {
    if databases.is_empty() {
        return Ok((0, 0));
    }
    let list = databases.iter().map(|d| sql_string(d)).collect::<Vec<_>>().join(",");
    let tables = client::query(
        &config.mysql,
        &config.connection,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN ({list}) ORDER BY 1, 2;"
        ),
    )
    .await?;
    if tables.is_empty() {
        return Ok((0, 0));
    }
    let counts: String = tables
        .iter()
        .filter_map(|row| match row.as_slice() {
            [schema, table] => Some(format!(
                "SELECT COUNT(*) FROM {}.{};\n",
                sql_identifier(schema),
                sql_identifier(table)
            )),
            _ => None,
        })
        .collect();
    let rows = client::query(&config.mysql, &config.connection, &counts).await?;
    let total = rows.iter().filter_map(|row| row.first()?.parse::<u64>().ok()).sum();
    Ok((tables.len() as u64, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!(Source::parse("latest").expect("parses"), Source::Latest);
        assert_eq!(
            Source::parse("s3://b/p/db-20240101T000000Z.sql.zst").expect("parses"),
            Source::Url("s3://b/p/db-20240101T000000Z.sql.zst".into())
        );
        assert_eq!(
            Source::parse("db-20240101T000000Z").expect("parses"),
            Source::Name("db-20240101T000000Z".into())
        );
        for bad in ["", "a/b", ".hidden"] {
            assert!(Source::parse(bad).is_err(), "{bad:?}");
        }
    }
}
