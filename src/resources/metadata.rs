//! Names, labels, owner references and the spec-hash annotation shared by every child.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::api::MySQLInstance;

/// Label naming the instance a child belongs to, also on children the instance does not own.
pub const INSTANCE_LABEL: &str = "mysqlinstance.io/instance";

/// Annotation holding the hash of a child's desired form.
pub const SPEC_HASH_ANNOTATION: &str = "mysqlinstance.io/spec-hash";

/// Which part of the product a child belongs to (`app.kubernetes.io/component`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Database,
    Backup,
    Restore,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Database => "database",
            Component::Backup => "backup",
            Component::Restore => "restore",
        }
    }
}

/// Labels that select the pods of an instance's database.
pub fn selector_labels(instance: &MySQLInstance) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "mysql".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), instance.name_any()),
        (
            "app.kubernetes.io/component".to_owned(),
            Component::Database.as_str().to_owned(),
        ),
    ])
}

/// The full `app.kubernetes.io/*` label set of a child.
pub fn labels(instance: &MySQLInstance, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "mysql".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), instance.name_any()),
        ("app.kubernetes.io/component".to_owned(), component.as_str().to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "mysqlinstance-operator".to_owned(),
        ),
        (
            "app.kubernetes.io/version".to_owned(),
            instance.spec.version.to_string(),
        ),
        (INSTANCE_LABEL.to_owned(), instance.name_any()),
    ])
}

/// Metadata of a child named `name`; owned by the instance when `owned`, so garbage collection removes it
/// with the instance.
pub fn child_metadata(instance: &MySQLInstance, name: String, component: Component, owned: bool) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: instance.namespace(),
        labels: Some(labels(instance, component)),
        owner_references: owned
            .then(|| instance.controller_owner_ref(&()))
            .flatten()
            .map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// Hex SHA-256 of the JSON form of `value`.
pub fn spec_hash_of<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(value)?)))
}

/// Stamps `object` with the hash of its desired form.
pub fn with_spec_hash<K: Resource + Serialize>(mut object: K) -> Result<K, serde_json::Error> {
    let hash = spec_hash_of(&object)?;
    object.annotations_mut().insert(SPEC_HASH_ANNOTATION.to_owned(), hash);
    Ok(object)
}
