//! The compact form in which the watch caches keep a child: what the caches are searched by stays typed, the
//! whole object is kept as zstd-compressed JSON and expanded only when a reconcile reads it.
//!
//! Why: a typed k8s-openapi object reserves room for every optional field of its kind. A StatefulSet of one
//! instance takes about 35 KiB that way (measured with heaptrack at 1,000 instances, half of the operator's
//! heap), its JSON about 5 KiB, compressed about 1.5 KiB. A reconcile expands the few objects of its own
//! instance, microseconds each.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::decide;

/// zstd's fastest level: children change often while instances start, and the gain of higher levels on
/// objects of a few KiB is small.
const LEVEL: i32 = 1;

/// A kind of child the caches keep.
pub trait Keep: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// What reconciles read of every object of the kind at once (not only of their own instance's), kept
    /// typed so that reading it expands nothing.
    type Summary: Clone + fmt::Debug + Send + Sync + 'static;

    fn summary(&self) -> Self::Summary;

    /// Drops what no reconcile reads, before the object is packed.
    fn trim(&mut self) {}
}

/// A child as its cache keeps it.
pub struct Kept<K: Keep> {
    /// What the caches are searched by and reconciles are triggered through: name, namespace, resource
    /// version, uid, labels and owners.
    metadata: ObjectMeta,
    summary: K::Summary,
    /// The object without its managed fields, as compressed JSON.
    packed: Box<[u8]>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Keep> Kept<K> {
    /// Packs `object`, without its managed fields: nothing reads them, and they are most of an object's
    /// size.
    pub fn new(mut object: K) -> Result<Self, serde_json::Error> {
        object.meta_mut().managed_fields = None;
        object.trim();
        let summary = object.summary();
        let json = serde_json::to_vec(&object)?;
        let packed = zstd::bulk::compress(&json, LEVEL).map_err(serde_json::Error::io)?;
        let meta = object.meta();
        let metadata = ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            resource_version: meta.resource_version.clone(),
            uid: meta.uid.clone(),
            owner_references: meta.owner_references.clone(),
            labels: meta.labels.clone(),
            ..ObjectMeta::default()
        };
        Ok(Self {
            metadata,
            summary,
            packed: packed.into_boxed_slice(),
            kind: PhantomData,
        })
    }

    /// The whole object, as it was kept.
    pub fn object(&self) -> Result<K, serde_json::Error> {
        let json = zstd::stream::decode_all(&*self.packed).map_err(serde_json::Error::io)?;
        serde_json::from_slice(&json)
    }

    pub fn summary(&self) -> &K::Summary {
        &self.summary
    }
}

impl<K: Keep> Clone for Kept<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            summary: self.summary.clone(),
            packed: self.packed.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Keep> fmt::Debug for Kept<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kept")
            .field("kind", &K::kind(&()))
            .field("metadata", &self.metadata)
            .field("summary", &self.summary)
            .field("packed_bytes", &self.packed.len())
            .finish()
    }
}

/// Watches decode straight into the kept form: the typed object lives only while it is packed.
impl<'de, K: Keep> Deserialize<'de> for Kept<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(K::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// The API resource of `K`: the caches list and watch `K`'s objects as `Kept<K>`.
impl<K: Keep> Resource for Kept<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Whether the StatefulSet is rolling out a pod template: the rollout gate reads it of every instance.
impl Keep for StatefulSet {
    type Summary = bool;

    fn summary(&self) -> bool {
        decide::rollout_in_progress(self)
    }
}

/// A pod's metadata and status: what is read of pods (their containers' states and the runners' reports);
/// the spec is a copy of a template the operator wrote and is most of a pod's size.
impl Keep for Pod {
    type Summary = ();

    fn summary(&self) {}

    fn trim(&mut self) {
        self.spec = None;
        if let Some(status) = self.status.as_mut() {
            status.conditions = None;
        }
    }
}

macro_rules! kept_whole {
    ($($kind:ty),*) => {$(
        /// Kept whole: its spec is compared with the desired one (drift), or it is small.
        impl Keep for $kind {
            type Summary = ();

            fn summary(&self) {}
        }
    )*};
}

kept_whole!(Service, ConfigMap, CronJob, Job, PersistentVolumeClaim);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::plain;
    use crate::resources::{self, OperatorSettings};

    fn statefulset() -> StatefulSet {
        let instance = plain();
        let mut sts = resources::statefulset(&instance, &OperatorSettings::default(), &instance.spec.storage.size)
            .expect("builds");
        sts.metadata.namespace = Some("shop".to_owned());
        sts.metadata.resource_version = Some("42".to_owned());
        sts.metadata.managed_fields = Some(vec![Default::default()]);
        sts
    }

    #[test]
    fn a_kept_object_expands_to_the_object_without_its_managed_fields_and_is_smaller() {
        let sts = statefulset();
        let kept = Kept::new(sts.clone()).expect("packs");
        let mut expected = sts.clone();
        expected.metadata.managed_fields = None;
        assert_eq!(kept.object().expect("expands"), expected);
        let json = serde_json::to_vec(&expected).expect("serializes");
        assert!(
            kept.packed.len() * 2 < json.len(),
            "{} packed bytes for {} of JSON",
            kept.packed.len(),
            json.len()
        );
        assert!(*kept.summary(), "a StatefulSet without a status is rolling out");
    }

    #[test]
    fn the_typed_metadata_keeps_what_the_caches_are_searched_by() {
        let mut sts = statefulset();
        sts.metadata
            .annotations
            .get_or_insert_default()
            .insert("note".to_owned(), "x".to_owned());
        let kept = Kept::new(sts.clone()).expect("packs");
        let meta = kept.meta();
        assert_eq!(meta.name, sts.metadata.name);
        assert_eq!(meta.namespace.as_deref(), Some("shop"));
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.owner_references, sts.metadata.owner_references);
        assert_eq!(meta.labels, sts.metadata.labels);
        assert!(
            meta.annotations.is_none(),
            "annotations are read from the expanded object"
        );
        assert!(meta.managed_fields.is_none());
    }

    #[test]
    fn watches_decode_into_the_kept_form_and_pods_lose_their_spec() {
        let pod = serde_json::json!({
            "metadata": {"name": "shop-0", "namespace": "shop", "labels": {"app.kubernetes.io/instance": "shop"}},
            "spec": {"containers": [{"name": "mysql", "image": "mariadb"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let kept: Kept<Pod> = serde_json::from_value(pod).expect("decodes");
        let pod = kept.object().expect("expands");
        assert!(pod.spec.is_none());
        let status = pod.status.expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert!(status.conditions.is_none());
    }
}
