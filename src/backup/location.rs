//! Where backups live: `file:///dir` (the backup PVC) or `s3://bucket/prefix` on any S3-compatible store,
//! and how a backup is named in each (`file:///dir/NAME-….sql.zst`, `s3://bucket/prefix/NAME-….sql.zst`).

use std::fmt;
use std::path::PathBuf;

use object_store::ObjectStoreScheme;
use url::Url;

use super::error::{BackupError, Result};
use super::naming::DUMP_SUFFIX;

/// A directory or bucket prefix that holds backups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A directory on a mounted volume.
    File { dir: PathBuf },
    /// A bucket and a key prefix without leading or trailing slashes (possibly empty).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parses `file:///absolute/dir` or `s3://bucket[/prefix]`, with the URL and scheme parsing of the object
    /// store. A URL that parsing would change (a `..` segment, an empty segment) is refused rather than
    /// silently written somewhere else.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| BackupError::invalid("location", format!("'{text}' {why}"));
        let url = Url::parse(text).map_err(|e| invalid(&format!("is not a URL ({e})")))?;
        let host = url.host_str().filter(|host| !host.is_empty());
        match (url.scheme(), host) {
            ("file", Some(_)) => return Err(invalid("needs an absolute path, such as file:///backups")),
            ("s3", None) => return Err(invalid("names no bucket")),
            ("file" | "s3", _) => {}
            _ => return Err(invalid("must start with file:// (a directory) or s3:// (a bucket)")),
        }
        let (scheme, path) =
            ObjectStoreScheme::parse(&url).map_err(|e| invalid(&format!("has an invalid path ({e})")))?;
        let location = match (scheme, host) {
            (ObjectStoreScheme::AmazonS3, Some(bucket)) => Location::S3 {
                bucket: bucket.to_owned(),
                prefix: path.to_string(),
            },
            _ => Location::File {
                dir: PathBuf::from(format!("/{path}")),
            },
        };
        let normal = location.to_string();
        if normal != text.trim_end_matches('/') && normal != text {
            return Err(invalid(&format!("is not in normal form; did you mean {normal}?")));
        }
        Ok(location)
    }

    /// The URL of a file in this location.
    pub fn url_of(&self, file: &str) -> String {
        let base = self.to_string();
        if base.ends_with('/') {
            format!("{base}{file}")
        } else {
            format!("{base}/{file}")
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { dir } => write!(f, "file://{}", dir.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Splits the URL of one backup (`file:///dir/NAME-….sql.zst`, `s3://bucket/prefix/NAME-….sql.zst`) into its
/// location and file name.
pub fn split_backup_url(url: &str) -> Result<(Location, String)> {
    let (parent, file) = url
        .rsplit_once('/')
        .filter(|(_, file)| file.ends_with(DUMP_SUFFIX))
        .ok_or_else(|| BackupError::invalid("source", format!("'{url}' is not the URL of a .sql.zst backup")))?;
    // `file:///x.sql.zst` splits into "file://" and the file: the directory is the root.
    let parent = if parent.ends_with(':') || parent.ends_with("//") {
        format!("{parent}/")
    } else {
        parent.to_owned()
    };
    Ok((Location::parse(&parent)?, file.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_locations() {
        for (text, printed) in [
            ("file:///backups", "file:///backups"),
            ("file:///backups/", "file:///backups"),
            ("s3://bucket", "s3://bucket"),
            ("s3://bucket/", "s3://bucket"),
            ("s3://bucket/ns/db/", "s3://bucket/ns/db"),
        ] {
            assert_eq!(Location::parse(text).expect(text).to_string(), printed);
        }
        assert_eq!(
            Location::parse("s3://b/p").expect("parses").url_of("x.sql.zst"),
            "s3://b/p/x.sql.zst"
        );
        assert_eq!(
            Location::parse("s3://b").expect("parses").url_of("x.sql.zst"),
            "s3://b/x.sql.zst"
        );
        assert_eq!(
            Location::parse("file:///").expect("parses").url_of("x.sql.zst"),
            "file:///x.sql.zst"
        );
    }

    #[test]
    fn rejects_what_it_cannot_write_to() {
        for bad in [
            "/backups",
            "file://backups",
            "s3://",
            "s3:///x",
            "http://x",
            "s3://b/../x",
            "s3://b/x//y",
            "s3a://b/x",
            "https://s3.amazonaws.com/b",
            "",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn splits_backup_urls() {
        let (location, file) = split_backup_url("s3://b/ns/db/db-20240101T000000Z.sql.zst").expect("splits");
        assert_eq!(
            location,
            Location::S3 {
                bucket: "b".into(),
                prefix: "ns/db".into()
            }
        );
        assert_eq!(file, "db-20240101T000000Z.sql.zst");
        let (location, _) = split_backup_url("file:///backups/db-20240101T000000Z.sql.zst").expect("splits");
        assert_eq!(location, Location::File { dir: "/backups".into() });
        let (location, _) = split_backup_url("s3://b/db-20240101T000000Z.sql.zst").expect("splits");
        assert_eq!(
            location,
            Location::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert!(split_backup_url("s3://b/notes.txt").is_err());
    }
}
