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
    let client_cnf = format!("[client]\nuser = root\npassword = \"{}\"\n", credentials.root_password);
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

    #[test]
    fn debug_never_shows_passwords() {
        let c = Credentials::generate(Some("hunter2-very-secret".into())).expect("csprng");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2") && !shown.contains(&c.user_password));
        assert_eq!(c.root_password, "hunter2-very-secret");
    }
}
