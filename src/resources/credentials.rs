//! The two Secrets of an instance, generated once from the OS CSPRNG and never overwritten:
//! `NAME-credentials` is what applications get (their user, password, database, host, port and ready-made
//! `uri` and `jdbc-uri`), `NAME-root-credentials` holds the root password, which only the server pod and its backup and
//! restore Jobs read. Instances made before the split keep every password: their root password moves from
//! `NAME-credentials` into `NAME-root-credentials`.
//!
//! Both are owned by the instance only under deletionPolicy Delete: under Retain they must outlive the
//! instance as long as the data volume does, so a recreated instance can still open its retained data.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{Resource, ResourceExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::metadata::{Component, child_metadata};
use super::service::MYSQL_PORT;
use crate::api::{DeletionPolicy, Engine, MySQLInstance};

/// Keys of the two Secrets.
pub mod keys {
    /// The root Secret's.
    pub const ROOT_PASSWORD: &str = "root-password";
    /// A MySQL option file (`[client]` user and password of root) for probes and backups, so that no
    /// password ever appears on a command line. The root Secret's.
    pub const CLIENT_CNF: &str = "client.cnf";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const DATABASE: &str = "database";
    pub const HOST: &str = "host";
    pub const PORT: &str = "port";
    /// `mysql://USER:PASSWORD@HOST:3306/DATABASE`, when the spec names a user.
    pub const URI: &str = "uri";
    /// `jdbc:mysql://…` or `jdbc:mariadb://…` with user and password parameters, when the spec names a user.
    pub const JDBC_URI: &str = "jdbc-uri";

    /// Keys of the root Secret; in the application Secret they mark an instance made before the split.
    pub const ROOT: &[&str] = &[ROOT_PASSWORD, CLIENT_CNF];
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

/// On an application Secret made before the root Secret existed: its root password has been copied into the
/// root Secret named here.
pub const ROOT_SECRET_ANNOTATION: &str = "mysqlinstance.io/root-secret";

/// Name of the application Secret.
pub fn credentials_secret_name(instance: &MySQLInstance) -> String {
    format!("{}-credentials", instance.name_any())
}

/// Name of the root Secret.
pub fn root_secret_name(instance: &MySQLInstance) -> String {
    format!("{}-root-credentials", instance.name_any())
}

/// Owner references both Secrets should carry under the instance's deletionPolicy.
pub fn credentials_ownership(instance: &MySQLInstance) -> Vec<OwnerReference> {
    match instance.spec.deletion_policy {
        DeletionPolicy::Delete => instance.controller_owner_ref(&()).into_iter().collect(),
        DeletionPolicy::Retain => Vec::new(),
    }
}

/// What the application Secret holds for the user's password.
pub fn connection_entries(instance: &MySQLInstance, user_password: &str) -> Vec<(&'static str, String)> {
    let host = super::endpoint(instance)
        .trim_end_matches(&format!(":{MYSQL_PORT}"))
        .to_owned();
    let database = instance.spec.database.clone().unwrap_or_default();
    let mut entries = vec![
        (keys::USERNAME, instance.spec.user.clone().unwrap_or_default()),
        (keys::PASSWORD, user_password.to_owned()),
        (keys::DATABASE, database.clone()),
        (keys::HOST, host.clone()),
        (keys::PORT, MYSQL_PORT.to_string()),
    ];
    if let Some(user) = &instance.spec.user {
        let (user_part, password_part) = (percent_encode(user), percent_encode(user_password));
        let scheme = match instance.spec.engine {
            Engine::MySQL => "mysql",
            Engine::MariaDB => "mariadb",
        };
        entries.push((
            keys::URI,
            format!("mysql://{user_part}:{password_part}@{host}:{MYSQL_PORT}/{database}"),
        ));
        entries.push((
            keys::JDBC_URI,
            format!("jdbc:{scheme}://{host}:{MYSQL_PORT}/{database}?user={user_part}&password={password_part}"),
        ));
    }
    entries
}

/// Percent-encoded for the user and password parts of a URI (every character but letters and digits).
fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

fn secret(instance: &MySQLInstance, name: String, entries: Vec<(&'static str, String)>) -> Secret {
    let mut metadata = child_metadata(instance, name, Component::Database, false);
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

/// The application Secret. Created only when absent; never applied over an existing one.
pub fn credentials_secret(instance: &MySQLInstance, credentials: &Credentials) -> Secret {
    let entries = connection_entries(instance, &credentials.user_password);
    secret(instance, credentials_secret_name(instance), entries)
}

/// The root Secret. Created only when absent; never applied over an existing one.
pub fn root_secret(instance: &MySQLInstance, credentials: &Credentials) -> Secret {
    let entries = vec![
        (keys::ROOT_PASSWORD, credentials.root_password.clone()),
        (keys::CLIENT_CNF, client_option_file("root", &credentials.root_password)),
    ];
    secret(instance, root_secret_name(instance), entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_application_secret_has_ready_made_uris_and_no_root_password() {
        let instance: MySQLInstance = serde_json::from_value(serde_json::json!({
            "apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance",
            "metadata": {"name": "shop", "namespace": "team-a"},
            "spec": {"engine": "MariaDB", "version": "11.4", "storage": {"size": "1Gi"}, "user": "app", "database": "orders"},
        }))
        .expect("instance");
        let entries: BTreeMap<&str, String> = connection_entries(&instance, "p@ss/w:rd").into_iter().collect();
        assert_eq!(
            entries[keys::URI],
            "mysql://app:p%40ss%2Fw%3Ard@shop.team-a.svc:3306/orders"
        );
        assert_eq!(
            entries[keys::JDBC_URI],
            "jdbc:mariadb://shop.team-a.svc:3306/orders?user=app&password=p%40ss%2Fw%3Ard"
        );
        assert_eq!(entries[keys::PASSWORD], "p@ss/w:rd");
        assert!(keys::ROOT.iter().all(|k| !entries.contains_key(k)));
        let no_user = MySQLInstance {
            spec: crate::api::MySQLInstanceSpec {
                user: None,
                ..instance.spec.clone()
            },
            ..instance
        };
        let entries: BTreeMap<&str, String> = connection_entries(&no_user, "x").into_iter().collect();
        assert!(!entries.contains_key(keys::URI), "no user, no URI to connect with");
    }

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
