//! Backups and restores that can be trusted: the `backup` subcommand the backup CronJob runs and the
//! `restore` subcommand. mysqldump's output is streamed through zstd and SHA-256 straight to a directory (the
//! backup PVC) or an S3-compatible bucket, with nothing staged on local disk and bounded memory; a backup
//! counts only if mysqldump exited 0, wrote its completion trailer and the upload completed, and a manifest
//! next to it records what it holds. A restore verifies the checksum before it writes anything.
//!
//! Layout: [`cli`] (arguments, entry points), [`runner`] (backup), [`restore`], [`stream`] (the tool, pipe and pump
//! both share), [`pipeline`] (compression and hashing threads), [`repository`] (directory and S3 storage), [`retention`] (pure: what to delete),
//! [`naming`], [`location`], [`client`] (the MySQL client tools), [`report`] (result line and manifest).

pub mod cli;
pub mod client;
pub mod error;
pub mod location;
pub mod naming;
pub mod pipeline;
pub mod report;
pub mod repository;
pub mod restore;
pub mod retention;
pub mod runner;
pub mod signal;
mod stream;

pub use error::BackupError;
pub use report::{BackupResult, Manifest, RestoreResult, Status};
