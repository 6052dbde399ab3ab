//! What the suite intends (each instance's policy, spec and whether it was deleted) and what it saw: every
//! Secret's uid and a digest of its data when first seen, every volume's uid. A watch compares each later
//! sighting with the first; the census at the end compares the namespace with what should be there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use mysqlinstance_operator::api::{MySQLInstance, Phase};
use mysqlinstance_operator::resources::{self, OperatorSettings};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The image the e2e harness gives the operator (tests/e2e/support.rs).
const OPERATOR_IMAGE: &str = "example.invalid/mysqlinstance-operator:e2e";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Retain,
    Delete,
}

/// One instance as the suite wants it.
#[derive(Clone, Debug)]
pub struct Intent {
    pub policy: Policy,
    pub backup: bool,
    pub max_connections: u32,
    pub cpu_millis: u32,
    pub created: bool,
    pub deleted: bool,
}

impl Intent {
    pub fn spec(&self) -> serde_json::Value {
        let mut spec = json!({
            "storage": {"size": "1Gi"},
            "deletionPolicy": match self.policy { Policy::Retain => "Retain", Policy::Delete => "Delete" },
            "config": {"max_connections": self.max_connections.to_string()},
            "resources": {"requests": {"cpu": format!("{}m", self.cpu_millis), "memory": "256Mi"}},
        });
        if self.backup {
            // Suspended: the CronJob and its volume exist, no Job ever runs.
            spec["backup"] = json!({
                "enabled": true, "suspend": true, "schedule": "0 3 * * *",
                "destination": {"pvc": {"size": "1Gi"}},
            });
        }
        spec
    }

    fn live(&self) -> bool {
        self.created && !self.deleted
    }
}

struct Seen {
    uid: String,
    digest: [u8; 32],
}

#[derive(Default)]
pub struct Ledger {
    pub intents: BTreeMap<String, Intent>,
    secrets: BTreeMap<String, Seen>,
    volumes: BTreeMap<String, String>,
    /// Secrets seen again with another uid or other data (names only: the data is never printed).
    pub regenerated: BTreeSet<String>,
    /// Secrets gone while their instance lives, or gone at all under Retain.
    pub secrets_lost: BTreeSet<String>,
    /// Volumes of Retain instances deleted or replaced.
    pub retained_deleted: BTreeSet<String>,
    /// Volumes of live Delete instances deleted or replaced.
    pub volumes_lost: BTreeSet<String>,
    /// Instances that existed and vanished without being deleted.
    pub instances_lost: BTreeSet<String>,
}

fn digest(secret: &Secret) -> [u8; 32] {
    let mut hash = Sha256::new();
    for (key, value) in secret.data.iter().flatten() {
        hash.update(key.as_bytes());
        hash.update([0]);
        hash.update(&value.0);
        hash.update([0]);
    }
    hash.finalize().into()
}

impl Ledger {
    /// The instance an object named after it belongs to.
    fn owner(&self, object: &str) -> Option<&Intent> {
        let name = object
            .strip_suffix("-root-credentials")
            .or_else(|| object.strip_suffix("-credentials"))
            .or_else(|| object.strip_suffix("-backups"))
            .or_else(|| object.strip_prefix("data-").and_then(|n| n.strip_suffix("-0")))?;
        self.intents.get(name)
    }

    /// Whether the object may be gone: its instance was deleted with deletionPolicy Delete.
    fn may_vanish(&self, object: &str) -> bool {
        self.owner(object)
            .is_some_and(|i| i.deleted && i.policy == Policy::Delete)
    }

    fn seen_secret(&mut self, secret: &Secret) {
        let name = secret.name_any();
        let seen = Seen {
            uid: secret.uid().unwrap_or_default(),
            digest: digest(secret),
        };
        match self.secrets.get(&name) {
            Some(first) if first.uid != seen.uid || first.digest != seen.digest => {
                self.regenerated.insert(name);
            }
            Some(_) => {}
            None => {
                self.secrets.insert(name, seen);
            }
        }
    }

    fn deleted_secret(&mut self, secret: &Secret) {
        let name = secret.name_any();
        if !self.may_vanish(&name) {
            self.secrets_lost.insert(name);
        }
    }

    fn seen_volume(&mut self, claim: &PersistentVolumeClaim) {
        let name = claim.name_any();
        let uid = claim.uid().unwrap_or_default();
        match self.volumes.get(&name) {
            Some(first) if *first != uid => self.volume_gone(name),
            Some(_) => {}
            None => {
                self.volumes.insert(name, uid);
            }
        }
    }

    fn volume_gone(&mut self, name: String) {
        match self.owner(&name).map(|i| (i.policy, i.deleted)) {
            Some((Policy::Retain, _)) => {
                self.retained_deleted.insert(name);
            }
            Some((Policy::Delete, false)) => {
                self.volumes_lost.insert(name);
            }
            _ => {}
        }
    }

    fn deleted_volume(&mut self, claim: &PersistentVolumeClaim) {
        self.volume_gone(claim.name_any());
    }

    pub fn live(&self) -> impl Iterator<Item = (&String, &Intent)> {
        self.intents.iter().filter(|(_, i)| i.live())
    }

    pub fn created(&self) -> usize {
        self.intents.values().filter(|i| i.created).count()
    }
}

pub type Shared = Arc<Mutex<Ledger>>;

/// Watches the namespace's Secrets and volumes for the whole scenario; every sighting goes to the ledger.
pub fn observe(client: &Client, namespace: &str, ledger: Shared) -> tokio::task::JoinHandle<()> {
    let secrets = watcher(
        Api::<Secret>::namespaced(client.clone(), namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|e| e.map(Sighting::Secret));
    let volumes = watcher(
        Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|e| e.map(Sighting::Volume));
    let mut events = stream::select(secrets.boxed(), volumes.boxed());
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { continue };
            let mut ledger = ledger.lock().unwrap();
            match event {
                Sighting::Secret(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => ledger.seen_secret(&s),
                Sighting::Secret(watcher::Event::Delete(s)) => ledger.deleted_secret(&s),
                Sighting::Volume(event) => match event {
                    watcher::Event::Apply(v) | watcher::Event::InitApply(v) => ledger.seen_volume(&v),
                    watcher::Event::Delete(v) => ledger.deleted_volume(&v),
                    _ => {}
                },
                Sighting::Secret(_) => {}
            }
        }
    })
}

#[allow(clippy::large_enum_variant)] // One at a time, straight from the watch.
enum Sighting {
    Secret(watcher::Event<Secret>),
    Volume(watcher::Event<PersistentVolumeClaim>),
}

/// What differs between the namespace and the ledger's intent, by kind/name.
#[derive(Debug, Default)]
pub struct Census {
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub not_ready: Vec<String>,
}

impl Census {
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.not_ready.is_empty()
    }

    /// The first few of each list, for a message.
    pub fn summary(&self) -> String {
        let first = |v: &Vec<String>| v.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
        format!(
            "missing {} [{}]; extra {} [{}]; not ready {} [{}]",
            self.missing.len(),
            first(&self.missing),
            self.extra.len(),
            first(&self.extra),
            self.not_ready.len(),
            first(&self.not_ready)
        )
    }
}

async fn names<K>(api: Api<K>, kind: &str) -> BTreeMap<String, K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = api.list(&ListParams::default()).await;
    let list = list.unwrap_or_else(|e| panic!("list {kind}: {e}"));
    list.items
        .into_iter()
        .map(|o| (format!("{kind}/{}", o.name_any()), o))
        .collect()
}

/// Why the live children of `instance` are not what the operator would build from its spec now, if they are not.
pub fn drift(
    instance: &MySQLInstance,
    statefulset: Option<&StatefulSet>,
    config_map: Option<&ConfigMap>,
) -> Option<String> {
    let name = instance.name_any();
    let status = instance.status.as_ref();
    if status.and_then(|s| s.phase) != Some(Phase::Ready) {
        return Some(format!("{name}: phase {:?}", status.and_then(|s| s.phase)));
    }
    if status.and_then(|s| s.observed_generation) != instance.metadata.generation {
        return Some(format!("{name}: status of an older generation"));
    }
    let want = resources::config_map(instance);
    if config_map.and_then(|c| c.data.as_ref()) != want.data.as_ref() {
        return Some(format!("{name}: ConfigMap my.cnf not the spec's"));
    }
    let settings = OperatorSettings {
        operator_image: OPERATOR_IMAGE.to_owned(),
        server_images: BTreeMap::new(),
    };
    let want = resources::statefulset(instance, &settings, &instance.spec.storage.size).expect("StatefulSet builds");
    let Some(live) = statefulset else {
        return Some(format!("{name}: no StatefulSet"));
    };
    let annotations = |s: &StatefulSet| s.spec.template.metadata.as_ref()?.annotations.clone();
    let live_annotations = annotations(live).unwrap_or_default();
    for (key, value) in annotations(&want).unwrap_or_default() {
        if live_annotations.get(&key) != Some(&value) {
            return Some(format!("{name}: pod template annotation {key} not the spec's"));
        }
    }
    let server = |s: &StatefulSet| {
        let pod = s.spec.template.spec.as_ref()?;
        pod.containers.iter().find(|c| c.name == "mysql")?.resources.clone()
    };
    if server(live) != server(&want) {
        return Some(format!("{name}: server container resources not the spec's"));
    }
    let generation = live.metadata.generation;
    let rolled = live.status.as_ref().is_some_and(|s| {
        s.observed_generation == generation
            && s.updated_replicas == Some(1)
            && s.ready_replicas == Some(1)
            && s.current_revision == s.update_revision
    });
    (!rolled).then(|| format!("{name}: StatefulSet not rolled out"))
}

/// Lists the namespace and compares it with the ledger.
pub async fn census(client: &Client, namespace: &str, ledger: &Shared) -> Census {
    let ns = namespace;
    let api = |_: ()| client.clone();
    let instances = names(Api::<MySQLInstance>::namespaced(api(()), ns), "MySQLInstance").await;
    let statefulsets = names(Api::<StatefulSet>::namespaced(api(()), ns), "StatefulSet").await;
    let config_maps = names(Api::<ConfigMap>::namespaced(api(()), ns), "ConfigMap").await;
    let mut actual: BTreeSet<String> = BTreeSet::new();
    actual.extend(instances.keys().cloned());
    actual.extend(statefulsets.keys().cloned());
    actual.extend(
        config_maps
            .keys()
            .filter(|k| *k != "ConfigMap/kube-root-ca.crt")
            .cloned(),
    );
    actual.extend(
        names(Api::<Service>::namespaced(api(()), ns), "Service")
            .await
            .into_keys(),
    );
    actual.extend(
        names(Api::<Secret>::namespaced(api(()), ns), "Secret")
            .await
            .into_keys(),
    );
    actual.extend(
        names(Api::<CronJob>::namespaced(api(()), ns), "CronJob")
            .await
            .into_keys(),
    );
    actual.extend(names(Api::<Job>::namespaced(api(()), ns), "Job").await.into_keys());
    actual.extend(names(Api::<Pod>::namespaced(api(()), ns), "Pod").await.into_keys());
    let claims = names(
        Api::<PersistentVolumeClaim>::namespaced(api(()), ns),
        "PersistentVolumeClaim",
    )
    .await;
    actual.extend(claims.keys().cloned());

    let ledger = ledger.lock().unwrap();
    let mut expected = BTreeSet::new();
    let mut allowed = BTreeSet::new();
    let mut census = Census::default();
    for (name, intent) in &ledger.intents {
        if !intent.created {
            continue;
        }
        let kept = [
            format!("Secret/{name}-credentials"),
            format!("Secret/{name}-root-credentials"),
            format!("PersistentVolumeClaim/data-{name}-0"),
            format!("PersistentVolumeClaim/{name}-backups"),
        ];
        if intent.deleted {
            if intent.policy == Policy::Retain {
                allowed.extend(kept);
            }
            continue;
        }
        expected.extend([
            format!("MySQLInstance/{name}"),
            format!("StatefulSet/{name}"),
            format!("Service/{name}"),
            format!("Service/{name}-headless"),
            format!("ConfigMap/{name}-config"),
            format!("Pod/{name}-0"),
        ]);
        let [app, root, data, backups] = kept;
        expected.extend([app, root, data]);
        if intent.backup {
            expected.extend([backups, format!("CronJob/{name}-backup")]);
        }
        match instances.get(&format!("MySQLInstance/{name}")) {
            Some(instance) => {
                let statefulset = statefulsets.get(&format!("StatefulSet/{name}"));
                let config_map = config_maps.get(&format!("ConfigMap/{name}-config"));
                let spec_ok = instance.spec.config.get("max_connections") == Some(&intent.max_connections.to_string());
                if !spec_ok {
                    census.not_ready.push(format!("{name}: spec is not the last edit"));
                } else if let Some(why) = drift(instance, statefulset, config_map) {
                    census.not_ready.push(why);
                }
            }
            None => census.not_ready.push(format!("{name}: no MySQLInstance")),
        }
    }
    census.missing = expected.difference(&actual).cloned().collect();
    census.extra = actual
        .iter()
        .filter(|k| !expected.contains(*k) && !allowed.contains(*k))
        .cloned()
        .collect();
    census
}

/// Polls the census until it is clean or `timeout` passed; returns the last one.
pub async fn converge(client: &Client, namespace: &str, ledger: &Shared, timeout: Duration) -> Census {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let census = census(client, namespace, ledger).await;
        if census.clean() || std::time::Instant::now() >= deadline {
            return census;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// After convergence: every Secret recorded must still be there with its first uid and data unless its
/// instance was deleted under Delete, every volume recorded likewise, and no instance created and not
/// deleted may be gone.
pub async fn final_check(client: &Client, namespace: &str, ledger: &Shared) {
    let secrets = names(Api::<Secret>::namespaced(client.clone(), namespace), "Secret").await;
    let claims = names(
        Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace),
        "PersistentVolumeClaim",
    )
    .await;
    let instances = names(
        Api::<MySQLInstance>::namespaced(client.clone(), namespace),
        "MySQLInstance",
    )
    .await;
    let mut ledger = ledger.lock().unwrap();
    for secret in secrets.values() {
        ledger.seen_secret(secret);
    }
    let recorded: Vec<String> = ledger.secrets.keys().cloned().collect();
    for name in recorded {
        if !secrets.contains_key(&format!("Secret/{name}")) && !ledger.may_vanish(&name) {
            ledger.secrets_lost.insert(name);
        }
    }
    let recorded: Vec<(String, String)> = ledger.volumes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (name, uid) in recorded {
        let now = claims
            .get(&format!("PersistentVolumeClaim/{name}"))
            .and_then(|c| c.uid());
        if now.as_deref() != Some(uid.as_str()) {
            ledger.volume_gone(name);
        }
    }
    let vanished: Vec<String> = ledger
        .live()
        .filter(|(name, _)| !instances.contains_key(&format!("MySQLInstance/{name}")))
        .map(|(name, _)| name.clone())
        .collect();
    ledger.instances_lost.extend(vanished);
}
