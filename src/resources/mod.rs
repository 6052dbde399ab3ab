//! Pure builders of the children of an instance: spec in, k8s-openapi objects out, no client.
//!
//! Each child carries the hash of its own desired form in an annotation, so the controller can tell an
//! unchanged child from a changed one without a write.

mod backup;
mod config;
mod credentials;
pub mod layout;
mod metadata;
mod restore;
mod runner;
mod service;
mod statefulset;

#[cfg(test)]
mod golden;

pub use backup::{backup_cronjob, backup_cronjob_name, backup_pvc, backup_pvc_name};
pub use config::{config_map, config_map_name};
pub use credentials::{
    Credentials, ROOT_SECRET_ANNOTATION, client_option_file, connection_entries, credentials_ownership,
    credentials_secret, credentials_secret_name, keys as credential_keys, root_secret, root_secret_name,
};
pub use metadata::{INSTANCE_LABEL, SPEC_HASH_ANNOTATION, with_spec_hash};
pub use restore::{restore_job, restore_job_name};
pub use service::{headless_service, headless_service_name, service};
pub use statefulset::{compare_quantities, data_claim_name, is_larger, mounts_root_secret, statefulset};

use std::collections::BTreeMap;

use crate::api::{MySQLInstance, ServerVersion};

/// The operator's image of this release, unless `--operator-image` names another.
pub const DEFAULT_OPERATOR_IMAGE: &str = concat!(
    "ghcr.io/mysqlinstance/mysqlinstance-operator:",
    env!("CARGO_PKG_VERSION")
);

/// Settings of the operator that shape children but are not part of any instance's spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OperatorSettings {
    /// The operator's own image, whose static binary init containers place in server and runner pods.
    pub operator_image: String,
    /// Server images that replace the pinned official image of a version (mirrors, air-gapped clusters).
    pub server_images: BTreeMap<ServerVersion, String>,
}

/// The server image of an instance: `spec.image`, else the operator's image for its version, else the
/// pinned official image. Backup and restore runners use it too, so the dump tool matches the server.
pub fn server_image(instance: &MySQLInstance, settings: &OperatorSettings) -> String {
    let version = instance.spec.version;
    instance
        .spec
        .image
        .clone()
        .or_else(|| settings.server_images.get(&version).cloned())
        .unwrap_or_else(|| version.image().to_owned())
}

/// Address applications connect to.
pub fn endpoint(instance: &MySQLInstance) -> String {
    format!(
        "{}.{}.svc:{}",
        instance.metadata.name.as_deref().unwrap_or_default(),
        instance.metadata.namespace.as_deref().unwrap_or_default(),
        service::MYSQL_PORT
    )
}
