//! Backup file names: `NAME-YYYYMMDDTHHMMSSZ.sql.zst` with its manifest `NAME-YYYYMMDDTHHMMSSZ.manifest.json`,
//! and the hidden `.<file>.partial` names files have while they are being written. The name alone tells
//! which instance a file belongs to and when it was taken, which is what retention and `latest` go by.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Suffix of a compressed dump.
pub const DUMP_SUFFIX: &str = ".sql.zst";
/// Suffix of a manifest.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
/// Suffix of a file still being written (always with a leading dot, so it never looks like a backup).
pub const PARTIAL_SUFFIX: &str = ".partial";
const TIMESTAMP_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const TIMESTAMP_LEN: usize = "YYYYMMDDTHHMMSSZ".len();

/// One backup: the instance it belongs to and the second it was started.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackupName {
    /// When the backup started, to the second (first so the derived order is by time).
    pub taken_at: Timestamp,
    /// The instance the backup belongs to.
    pub instance: String,
}

impl BackupName {
    /// The backup of `instance` started at `at` (truncated to the second, as in the file name).
    pub fn new(instance: &str, at: Timestamp) -> Self {
        BackupName {
            instance: instance.to_owned(),
            // Whole seconds of a valid timestamp are always a valid timestamp.
            taken_at: Timestamp::from_second(at.as_second()).unwrap_or(at),
        }
    }

    /// `NAME-YYYYMMDDTHHMMSSZ`.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.instance, self.taken_at.strftime(TIMESTAMP_FORMAT))
    }

    /// `NAME-YYYYMMDDTHHMMSSZ.sql.zst`.
    pub fn dump_file(&self) -> String {
        format!("{}{DUMP_SUFFIX}", self.stem())
    }

    /// `NAME-YYYYMMDDTHHMMSSZ.manifest.json`.
    pub fn manifest_file(&self) -> String {
        format!("{}{MANIFEST_SUFFIX}", self.stem())
    }

    /// Parses `NAME-YYYYMMDDTHHMMSSZ` (the stem of a backup file).
    pub fn parse_stem(stem: &str) -> Option<Self> {
        let (instance, timestamp) = stem.rsplit_once('-')?;
        if validate_instance(instance).is_err() || timestamp.len() != TIMESTAMP_LEN {
            return None;
        }
        let taken_at = DateTime::strptime(TIMESTAMP_FORMAT, timestamp)
            .ok()?
            .to_zoned(TimeZone::UTC)
            .ok()?
            .timestamp();
        Some(BackupName {
            instance: instance.to_owned(),
            taken_at,
        })
    }

    /// Parses a dump file name, `NAME-YYYYMMDDTHHMMSSZ.sql.zst`.
    pub fn parse_dump_file(file: &str) -> Option<Self> {
        Self::parse_stem(file.strip_suffix(DUMP_SUFFIX)?)
    }
}

/// What a file in a backup directory or prefix is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A compressed dump.
    Dump(BackupName),
    /// A manifest: its presence marks the dump as complete.
    Manifest(BackupName),
    /// A dump or manifest still being written, or left behind by a run that was killed.
    Partial(BackupName),
    /// Anything else: never touched.
    Foreign,
}

/// Classifies a file name found in a backup directory or under a prefix.
pub fn classify(file: &str) -> FileKind {
    if let Some(hidden) = file.strip_prefix('.').and_then(|f| f.strip_suffix(PARTIAL_SUFFIX)) {
        return match classify(hidden) {
            FileKind::Dump(name) | FileKind::Manifest(name) => FileKind::Partial(name),
            _ => FileKind::Foreign,
        };
    }
    if let Some(name) = BackupName::parse_dump_file(file) {
        return FileKind::Dump(name);
    }
    if let Some(name) = file.strip_suffix(MANIFEST_SUFFIX).and_then(BackupName::parse_stem) {
        return FileKind::Manifest(name);
    }
    FileKind::Foreign
}

/// The hidden name a file has while it is being written.
pub fn partial_file(file: &str) -> String {
    format!(".{file}{PARTIAL_SUFFIX}")
}

/// Checks an instance name: it is the start of every file name, so it must be a Kubernetes object name.
pub fn validate_instance(instance: &str) -> Result<(), String> {
    let valid = !instance.is_empty()
        && instance.len() <= 253
        && instance
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && instance.starts_with(|c: char| c.is_ascii_alphanumeric())
        && instance.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "'{instance}' is not a Kubernetes object name (lowercase letters, digits, '-' and '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
        jiff::civil::datetime(y, mo, d, h, mi, s, 0)
            .to_zoned(TimeZone::UTC)
            .expect("valid time")
            .timestamp()
    }

    #[test]
    fn names_round_trip() {
        let name = BackupName::new("db-1", at(2024, 3, 9, 7, 5, 1));
        assert_eq!(name.dump_file(), "db-1-20240309T070501Z.sql.zst");
        assert_eq!(name.manifest_file(), "db-1-20240309T070501Z.manifest.json");
        assert_eq!(BackupName::parse_dump_file(&name.dump_file()), Some(name.clone()));
        assert_eq!(classify(&name.manifest_file()), FileKind::Manifest(name.clone()));
        assert_eq!(classify(&partial_file(&name.dump_file())), FileKind::Partial(name));
    }

    #[test]
    fn instance_names_with_dashes_parse_by_the_last_dash() {
        let name = BackupName::parse_dump_file("my-db-2-20240101T000000Z.sql.zst").expect("parses");
        assert_eq!(name.instance, "my-db-2");
    }

    #[test]
    fn foreign_files_are_foreign() {
        for file in [
            "notes.txt",
            "db.sql.zst",
            "db-2024.sql.zst",
            "db-20241301T000000Z.sql.zst",
            "db-20240101T000000Z.sql.gz",
            "-20240101T000000Z.sql.zst",
            ".db-20240101T000000Z.sql.zst",
            "db-20240101T000000Z.sql.zst.partial",
            ".notes.partial",
        ] {
            assert_eq!(classify(file), FileKind::Foreign, "{file}");
        }
    }

    #[test]
    fn sub_seconds_are_dropped() {
        let precise = at(2024, 1, 1, 0, 0, 0) + jiff::SignedDuration::from_millis(999);
        assert_eq!(BackupName::new("a", precise).taken_at, at(2024, 1, 1, 0, 0, 0));
    }

    #[test]
    fn instance_names_are_validated() {
        assert!(validate_instance("db-1.prod").is_ok());
        for bad in ["", "Db", "-db", "db-", "a/b", "a b"] {
            assert!(validate_instance(bad).is_err(), "{bad:?}");
        }
    }
}
