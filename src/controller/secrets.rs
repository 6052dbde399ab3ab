//! The credentials Secret of each instance as last read. The operator may not watch Secrets (see
//! [`super::observe`]), so without this every reconcile would read one; with it, only the first reconcile after
//! a change of the instance's spec (or after the operator wrote the Secret) does, and the many reconciles a
//! new instance's children trigger while they start read none.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::MySQLInstance;
use crate::resources::credential_keys;

/// Known Secrets, trimmed to what [`crate::decide`] reads.
pub struct KnownSecrets {
    instances: Store<MySQLInstance>,
    entries: Mutex<HashMap<ObjectRef<MySQLInstance>, Known>>,
}

struct Known {
    /// The spec generation of the instance the Secret was read for.
    generation: Option<i64>,
    secret: Secret,
}

impl KnownSecrets {
    /// Entries of instances no longer in `instances` are dropped as new ones come.
    pub fn new(instances: Store<MySQLInstance>) -> Self {
        Self {
            instances,
            entries: Mutex::default(),
        }
    }

    /// The Secret last read for `instance`, unless its spec changed since.
    pub fn get(&self, instance: &MySQLInstance) -> Option<Secret> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(&ObjectRef::from(instance))
            .filter(|known| known.generation == instance.metadata.generation)
            .map(|known| known.secret.clone())
    }

    /// Remembers `secret` as read for `instance`.
    pub fn remember(&self, instance: &MySQLInstance, secret: &Secret) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() > 2 * self.instances.len() + 64 {
            entries.retain(|instance, _| self.instances.get(instance).is_some());
        }
        entries.insert(
            ObjectRef::from(instance),
            Known {
                generation: instance.metadata.generation,
                secret: trimmed(secret),
            },
        );
    }

    /// The operator is about to write the Secrets of `instance`: the next reconcile reads them again.
    pub fn forget(&self, instance: &MySQLInstance) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.remove(&ObjectRef::from(instance));
    }
}

/// `secret` with its metadata and its keys, and no values: decide reads values only from an application
/// Secret that still holds the root password (made before the root Secret existed), which is kept whole
/// until the operator splits it.
fn trimmed(secret: &Secret) -> Secret {
    let legacy = secret
        .data
        .as_ref()
        .is_some_and(|data| data.contains_key(credential_keys::ROOT_PASSWORD));
    let mut kept = secret.clone();
    kept.metadata.managed_fields = None;
    if !legacy && let Some(data) = kept.data.as_mut() {
        data.values_mut().for_each(|value| *value = ByteString(Vec::new()));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::plain;
    use crate::resources::{self, Credentials};
    use kube::runtime::reflector;

    fn credentials() -> Credentials {
        Credentials {
            root_password: "root-secret-value".to_owned(),
            user_password: "user-secret-value".to_owned(),
        }
    }

    #[test]
    fn a_known_secret_keeps_its_keys_but_no_password_and_expires_with_a_spec_change() {
        let known = KnownSecrets::new(reflector::store().0);
        let mut instance = plain();
        instance.metadata.generation = Some(1);
        let secret = resources::credentials_secret(&instance, &credentials());
        known.remember(&instance, &secret);

        let remembered = known.get(&instance).expect("remembered");
        let data = remembered.data.expect("keys");
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            secret.data.as_ref().expect("data").keys().collect::<Vec<_>>()
        );
        assert!(data.values().all(|v| v.0.is_empty()), "no value kept");

        instance.metadata.generation = Some(2);
        assert!(known.get(&instance).is_none(), "a spec change reads the Secret again");
        instance.metadata.generation = Some(1);
        known.forget(&instance);
        assert!(
            known.get(&instance).is_none(),
            "forgotten before the operator writes it"
        );
    }

    #[test]
    fn a_secret_still_holding_the_root_password_is_kept_whole_for_the_split() {
        let known = KnownSecrets::new(reflector::store().0);
        let instance = plain();
        let mut secret = resources::credentials_secret(&instance, &credentials());
        secret.data.get_or_insert_default().insert(
            credential_keys::ROOT_PASSWORD.to_owned(),
            ByteString(b"root-secret-value".to_vec()),
        );
        known.remember(&instance, &secret);
        assert_eq!(known.get(&instance).expect("remembered").data, secret.data);
    }
}
