//! Why a backup or restore failed. Each variant's message is the one error line the user sees, so it names
//! the cause and, where there is one, the thing to fix; [`BackupError::reason`] is its stable machine-readable
//! form for the result JSON (and so for the operator's condition reasons).

use std::io;

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("invalid {what}: {reason}")]
    InvalidArgument { what: &'static str, reason: String },

    #[error("cannot read the MySQL option file {path}: {source}")]
    OptionFile { path: String, source: io::Error },

    #[error("could not run {program} ({source}); the MySQL client tools must be installed and on PATH")]
    ToolMissing { program: String, source: io::Error },

    #[error("cannot connect to the MySQL server at {address}: {detail}")]
    ServerUnreachable { address: String, detail: String },

    #[error("the MySQL server at {address} rejected the credentials in {defaults_file}: {detail}")]
    AccessDenied {
        address: String,
        defaults_file: String,
        detail: String,
    },

    #[error("{program} failed against {address}: {detail}")]
    ClientFailed {
        program: String,
        address: String,
        detail: String,
    },

    #[error("nothing to back up: {0}")]
    NothingToBackUp(String),

    #[error("the dump failed: {detail}")]
    DumpFailed { detail: String },

    #[error(
        "the dump is incomplete: mysqldump exited 0 but its output does not end with the '-- Dump completed' trailer"
    )]
    DumpIncomplete,

    #[error("destination {location} is not usable: {detail}")]
    Destination { location: String, detail: String },

    #[error("destination {location} is full: {detail}")]
    DestinationFull { location: String, detail: String },

    #[error("S3 endpoint {endpoint} is unreachable: {detail}")]
    S3Unreachable { endpoint: String, detail: String },

    #[error("S3 rejected the credentials for {location} (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): {detail}")]
    S3AccessDenied { location: String, detail: String },

    #[error("S3 request for {location} failed: {detail}")]
    S3 { location: String, detail: String },

    #[error("backup {name} not found in {repository}")]
    NotFound { name: String, repository: String },

    #[error("no complete backup of instance {instance} in {repository}")]
    NoBackups { instance: String, repository: String },

    #[error("backup {name} is incomplete: {detail}")]
    Incomplete { name: String, detail: String },

    #[error("backup {name} is corrupted: {detail}")]
    Corrupted { name: String, detail: String },

    #[error(
        "the target server {address} already has tables in {databases}; restore only into an empty server, or pass --force to overwrite them"
    )]
    TargetNotEmpty { address: String, databases: String },

    #[error("restoring into {address} failed: {detail}")]
    RestoreFailed { address: String, detail: String },

    #[error("interrupted by {0}; nothing was kept")]
    Interrupted(&'static str),

    #[error("{action} failed: {source}")]
    Io { action: String, source: io::Error },

    #[error("internal error: {0}")]
    Internal(String),
}

impl BackupError {
    /// A stable PascalCase name of the cause, written to the result JSON as `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            BackupError::InvalidArgument { .. } => "InvalidArgument",
            BackupError::OptionFile { .. } => "OptionFileUnreadable",
            BackupError::ToolMissing { .. } => "ClientToolMissing",
            BackupError::ServerUnreachable { .. } => "ServerUnreachable",
            BackupError::AccessDenied { .. } => "AccessDenied",
            BackupError::ClientFailed { .. } => "ClientFailed",
            BackupError::NothingToBackUp(_) => "NothingToBackUp",
            BackupError::DumpFailed { .. } => "DumpFailed",
            BackupError::DumpIncomplete => "DumpIncomplete",
            BackupError::Destination { .. } => "DestinationUnusable",
            BackupError::DestinationFull { .. } => "DestinationFull",
            BackupError::S3Unreachable { .. } => "S3Unreachable",
            BackupError::S3AccessDenied { .. } => "S3AccessDenied",
            BackupError::S3 { .. } => "S3Failed",
            BackupError::NotFound { .. } | BackupError::NoBackups { .. } => "BackupNotFound",
            BackupError::Incomplete { .. } => "BackupIncomplete",
            BackupError::Corrupted { .. } => "BackupCorrupted",
            BackupError::TargetNotEmpty { .. } => "TargetNotEmpty",
            BackupError::RestoreFailed { .. } => "RestoreFailed",
            BackupError::Interrupted(_) => "Interrupted",
            BackupError::Io { .. } => "IoError",
            BackupError::Internal(_) => "InternalError",
        }
    }

    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        BackupError::Io {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        BackupError::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;
