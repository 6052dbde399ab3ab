//! The credentials Secret `NAME-credentials`: generated once from the OS CSPRNG, never overwritten.
//!
//! It is owned by the instance only under deletionPolicy Delete: under Retain it must outlive the instance as
//! long as the data volume does, so a recreated instance can still open its retained data.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};

use super::metadata::{Component, child_metadata};
use super::service::MYSQL_PORT;
use crate::api::{DeletionPolicy, MySQLInstance};

/// Keys of the credentials Secret.
pub mod keys {
    pub const ROOT_PASSWORD: &str = "root-password";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const DATABASE: &str = "database";
    pub const HOST: &str = "host";
    pub const PORT: &str = "port";
    /// A MySQL option file (`[client]` user and password of root) for probes and backups, so that no
    /// password ever appears on a command line.
    pub const CLIENT_CNF: &str = "client.cnf";

    /// Keys the server and its probes cannot start without.
    pub const REQUIRED: &[&str] = &[ROOT_PASSWORD, PASSWORD, CLIENT_CNF];
}

/// Length of generated passwords: 32 characters from 62 give about 190 bits.
const PASSWORD_LENGTH: usize = 32;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Passwords of an instance. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub root_password: String,
    pub user_password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { <redacted> }")
    }
}

impl Credentials {
    /// Fresh passwords from the OS CSPRNG; `root_password` replaces the generated root password when the
    /// user supplied one.
    pub fn generate(root_password: Option<String>) -> Result<Self, getrandom::Error> {
        Ok(Self {
            root_password: match root_password {
                Some(password) => password,
                None => random_password()?,
            },
            user_password: random_password()?,
        })
    }
}

/// Uniform over [`ALPHABET`]: bytes at or above the largest multiple of its size are rejected, not folded.
fn random_password() -> Result<String, getrandom::Error> {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    let mut buffer = [0u8; 64];
    while password.len() < PASSWORD_LENGTH {
        getrandom::fill(&mut buffer)?;
        password.extend(
            buffer
                .iter()
                .filter(|&&b| b < limit)
                .map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
                .take(PASSWORD_LENGTH - password.len()),
        );
    }
    Ok(password)
}

/// A MySQL option file whose `[client]` section logs in as `user` with `password`. The password is quoted,
/// and the characters the option-file parser of both engines treats specially inside quotes (`\\`, `"` and
/// line breaks) are escaped, so a password of any printable characters survives: `#` and `;` inside quotes
/// are not comments, and leading or trailing spaces are kept.
pub fn client_option_file(user: &str, password: &str) -> String {
    let mut quoted = String::with_capacity(password.len() + 2);
    for c in password.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    format!("[client]\nuser = {user}\npassword = \"{quoted}\"\n")
}

/// Name of the credentials Secret.
pub fn credentials_secret_name(instance: &MySQLInstance) -> String {
    format!("{}-credentials", instance.name_any())
}

/// Owner references the credentials Secret should carry under the instance's deletionPolicy.
pub fn credentials_ownership(instance: &MySQLInstance) -> Vec<OwnerReference> {
    match instance.spec.deletion_policy {
        DeletionPolicy::Delete => instance.controller_owner_ref(&()).into_iter().collect(),
        DeletionPolicy::Retain => Vec::new(),
    }
}

/// The credentials Secret. Created only when absent; never applied over an existing one.
pub fn credentials_secret(instance: &MySQLInstance, credentials: &Credentials) -> Secret {
    let user = instance.spec.user.clone().unwrap_or_default();
    let client_cnf = client_option_file("root", &credentials.root_password);
    let entries = [
        (keys::ROOT_PASSWORD, credentials.root_password.clone()),
        (keys::USERNAME, user),
        (keys::PASSWORD, credentials.user_password.clone()),
        (keys::DATABASE, instance.spec.database.clone().unwrap_or_default()),
        (
            keys::HOST,
            super::endpoint(instance)
                .trim_end_matches(&format!(":{MYSQL_PORT}"))
                .to_owned(),
        ),
        (keys::PORT, MYSQL_PORT.to_string()),
        (keys::CLIENT_CNF, client_cnf),
    ];
    let mut metadata = child_metadata(instance, credentials_secret_name(instance), Component::Database, false);
    let ownership = credentials_ownership(instance);
    metadata.owner_references = (!ownership.is_empty()).then_some(ownership);
    Secret {
        metadata,
        type_: Some("Opaque".to_owned()),
        data: Some(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn passwords_are_long_random_and_alphanumeric() {
        let passwords: HashSet<String> = (0..200).map(|_| random_password().expect("csprng")).collect();
        assert_eq!(passwords.len(), 200, "200 draws gave a repeat");
        for p in &passwords {
            assert_eq!(p.len(), PASSWORD_LENGTH);
            assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
        }
        let distinct: HashSet<char> = passwords.iter().flat_map(|p| p.chars()).collect();
        assert!(
            distinct.len() > 55,
            "only {} distinct characters in 6400 draws",
            distinct.len()
        );
    }

    /// The option-file parser of MySQL and MariaDB (mysys `my_default`), reduced to one `key = value` line:
    /// trim, strip one pair of matching quotes, undo the escapes. The real servers are tested end to end.
    fn parse_option_value(line: &str) -> String {
        let value = line.split_once('=').expect("key = value").1.trim();
        let value = match value.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if q == last && value.len() > 1 => &value[1..value.len() - 1],
            _ => value,
        };
        let mut out = String::new();
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' || chars.peek().is_none() {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('s') => out.push(' '),
                Some(other @ ('"' | '\'' | '\\')) => out.push(other),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => {}
            }
        }
        out
    }

    #[test]
    fn option_files_carry_every_printable_password() {
        let every_printable: String = (0x20u8..0x7f).map(char::from).collect();
        for password in [
            every_printable.as_str(),
            r#"it's "quoted" \ and \"#,
            "  spaces around  ",
            "# not a comment ; either",
            "ends with a backslash\\",
        ] {
            let file = client_option_file("root", password);
            let line = file.lines().find(|l| l.starts_with("password")).expect("password line");
            assert_eq!(parse_option_value(line), password, "{file}");
        }
    }

    #[test]
    fn debug_never_shows_passwords() {
        let c = Credentials::generate(Some("hunter2-very-secret".into())).expect("csprng");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains(&c.user_password));
        assert_eq!(c.root_password, "hunter2-very-secret");
    }
}
