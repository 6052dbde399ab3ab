//! What a backup or restore reports: the manifest written next to each dump, and the one-line JSON result
//! printed on stdout and written to the container's termination message, which the operator reads into
//! `status.lastBackup` (so success is never inferred from CronJob timestamps).

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Version of the manifest format; a restore refuses manifests from a newer format.
pub const MANIFEST_FORMAT: u32 = 1;
/// Kubernetes truncates termination messages to 4096 bytes; errors are shortened to stay well inside.
const MAX_MESSAGE_CHARS: usize = 1500;

/// Outcome of a backup or restore.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Failure,
}

/// The result line of `mysqlinstance-operator backup`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupResult {
    pub status: Status,
    /// The instance backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// File name of the dump, `NAME-YYYYMMDDTHHMMSSZ.sql.zst` (also set on failure: the name it would have had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URL of the dump, such as `s3://bucket/prefix/NAME-….sql.zst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Compressed size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Size of the SQL before compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<u64>,
    /// Hex SHA-256 of the compressed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "rfc3339")]
    pub completed_at: Timestamp,
    pub duration_seconds: f64,
    /// Old backups deleted by retention after this one succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<u32>,
    /// A problem that did not fail the backup, such as retention that could not delete a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Machine-readable cause of a failure, such as `ServerUnreachable` or `DumpFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BackupResult {
    /// A failure before any work started: nothing was read, written or timed.
    pub fn failed_at_start(instance: Option<String>, reason: &str, error: String) -> Self {
        let now = Timestamp::now();
        Self {
            status: Status::Failure,
            instance,
            name: None,
            location: None,
            size_bytes: None,
            raw_bytes: None,
            sha256: None,
            started_at: now,
            completed_at: now,
            duration_seconds: 0.0,
            pruned: None,
            warning: None,
            reason: Some(reason.to_owned()),
            error: Some(error),
        }
    }
}

/// The result line of `mysqlinstance-operator restore`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    pub status: Status,
    /// URL of the backup restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The server restored into, `host:port`.
    pub target: String,
    /// Databases restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
    /// Base tables in the restored databases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<u64>,
    /// Rows in those tables, counted after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Compressed bytes read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// SQL bytes applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<u64>,
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "rfc3339")]
    pub completed_at: Timestamp,
    pub duration_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RestoreResult {
    /// A failure before any work started: nothing was read, written or timed.
    pub fn failed_at_start(target: String, reason: &str, error: String) -> Self {
        let now = Timestamp::now();
        Self {
            status: Status::Failure,
            source: None,
            target,
            databases: Vec::new(),
            tables: None,
            rows: None,
            size_bytes: None,
            raw_bytes: None,
            started_at: now,
            completed_at: now,
            duration_seconds: 0.0,
            reason: Some(reason.to_owned()),
            error: Some(error),
        }
    }
}

/// Written next to each dump as `NAME-….manifest.json`; its presence marks the dump as complete.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format_version: u32,
    pub instance: String,
    /// File name of the dump this manifest describes.
    pub dump_file: String,
    #[serde(with = "rfc3339")]
    pub started_at: Timestamp,
    #[serde(with = "rfc3339")]
    pub completed_at: Timestamp,
    /// `SELECT VERSION()` of the server dumped.
    pub server_version: String,
    /// Databases in the dump.
    pub databases: Vec<String>,
    /// Always `zstd`.
    pub compression: String,
    pub size_bytes: u64,
    pub raw_bytes: u64,
    /// Hex SHA-256 of the compressed file; a restore checks it before writing anything.
    pub sha256: String,
    pub tools: ToolVersions,
}

/// Versions of what produced a backup.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ToolVersions {
    pub operator: String,
    pub mysqldump: String,
    pub zstd: String,
}

/// Shortens a message so the result fits a termination message.
pub fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_owned();
    }
    let mut short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    short.push('…');
    short
}

/// Writes `line` to the termination-message file. Outside Kubernetes the file usually does not exist or is
/// not writable; that only earns a warning, since the same line is on stdout.
pub fn write_termination_log(path: &Path, line: &str) {
    if let Err(error) = std::fs::write(path, line) {
        tracing::warn!(path = %path.display(), %error, "could not write the termination message; the result is on stdout only");
    }
}

/// This process's peak resident memory (VmHWM), logged at the end of a run so the claim of bounded memory
/// can be checked in production and by scripts/bench-backup.sh.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Duration between two instants, in seconds with millisecond precision.
pub fn seconds_between(start: Timestamp, end: Timestamp) -> f64 {
    (end.duration_since(start).as_millis() as f64 / 1000.0).max(0.0)
}

mod rfc3339 {
    //! RFC 3339 timestamps to the second with a `Z`, as Kubernetes writes them.

    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_line_has_the_documented_shape() {
        let started: Timestamp = "2024-01-02T03:04:05Z".parse().expect("valid");
        let result = BackupResult {
            status: Status::Success,
            instance: Some("db".into()),
            name: Some("db-20240102T030405Z.sql.zst".into()),
            location: Some("file:///backups/db-20240102T030405Z.sql.zst".into()),
            size_bytes: Some(10),
            raw_bytes: Some(100),
            sha256: Some("ab".into()),
            started_at: started,
            completed_at: started + jiff::SignedDuration::from_secs(2),
            duration_seconds: 2.0,
            pruned: Some(1),
            warning: None,
            reason: None,
            error: None,
        };
        let line = serde_json::to_string(&result).expect("serializes");
        assert_eq!(
            line,
            r#"{"status":"success","instance":"db","name":"db-20240102T030405Z.sql.zst","location":"file:///backups/db-20240102T030405Z.sql.zst","sizeBytes":10,"rawBytes":100,"sha256":"ab","startedAt":"2024-01-02T03:04:05Z","completedAt":"2024-01-02T03:04:07Z","durationSeconds":2.0,"pruned":1}"#
        );
        let parsed: BackupResult = serde_json::from_str(&line).expect("parses back");
        assert_eq!(parsed, result);
    }

    #[test]
    fn failures_parse_with_only_the_required_fields() {
        let line = r#"{"status":"failure","startedAt":"2024-01-02T03:04:05Z","completedAt":"2024-01-02T03:04:05.5+00:00","durationSeconds":0.5,"reason":"ServerUnreachable","error":"cannot connect"}"#;
        let parsed: BackupResult = serde_json::from_str(line).expect("parses");
        assert_eq!(parsed.status, Status::Failure);
        assert_eq!(parsed.error.as_deref(), Some("cannot connect"));
    }

    #[test]
    fn peak_memory_is_read_from_proc() {
        let peak = peak_rss_bytes().expect("VmHWM on Linux");
        assert!(peak > 1024 * 1024, "a test process uses more than 1 MiB: {peak}");
    }

    #[test]
    fn long_messages_are_shortened() {
        let long = "x".repeat(10_000);
        assert_eq!(shorten(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(shorten("short"), "short");
    }
}
