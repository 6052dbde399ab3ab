//! Pure builders of the children of an instance: spec in, k8s-openapi objects out, no client.
//!
//! Each child carries the hash of its own desired form in an annotation, so the controller can tell an
//! unchanged child from a changed one without a write.

mod backup;
mod config;
mod credentials;
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
    Credentials, credentials_ownership, credentials_secret, credentials_secret_name, keys as credential_keys,
};
pub use metadata::{INSTANCE_LABEL, SPEC_HASH_ANNOTATION, with_spec_hash};
pub use restore::{restore_job, restore_job_name};
pub use service::{headless_service, headless_service_name, service};
pub use statefulset::{data_claim_name, is_larger, statefulset};

use crate::api::MySQLInstance;

/// Settings of the operator that shape children but are not part of any instance's spec.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorSettings {
    /// Image that runs the operator binary's `backup` subcommand (it carries the MySQL client tools).
    pub backup_image: String,
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
