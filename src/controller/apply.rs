//! Apply: brings the children in line with the desired ones built by [`crate::resources`].
//!
//! A child is written only when it is missing or the hash of its desired form changed, so reconciling an
//! unchanged instance makes no write at all.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::info;

use super::observe::World;
use super::{Context, FIELD_MANAGER};
use crate::api::MySQLInstance;
use crate::error::{Error, Result};
use crate::fsm::Observed;
use crate::resources::{self, Credentials, SPEC_HASH_ANNOTATION};

/// Applies every child of `instance`. Returns how many writes it made.
pub async fn children(
    ctx: &Context,
    instance: &MySQLInstance,
    namespace: &str,
    world: &World,
    observed: &Observed,
) -> Result<usize> {
    let client = &ctx.client;
    let mut writes = ensure_credentials(ctx, instance, namespace, world.secret.as_ref()).await?;

    let claim_size = world
        .statefulset
        .as_ref()
        .and_then(|s| {
            s.spec
                .volume_claim_templates
                .as_ref()?
                .first()?
                .spec
                .as_ref()?
                .resources
                .as_ref()?
                .requests
                .as_ref()?
                .get("storage")
                .map(|q| q.0.clone())
        })
        .unwrap_or_else(|| instance.spec.storage.size.clone());

    writes += apply(
        &Api::namespaced(client.clone(), namespace),
        resources::config_map(instance),
        world.config_map.as_ref(),
    )
    .await?;
    writes += apply(
        &Api::namespaced(client.clone(), namespace),
        resources::headless_service(instance),
        world.headless_service.as_ref(),
    )
    .await?;
    writes += apply(
        &Api::namespaced(client.clone(), namespace),
        resources::service(instance),
        world.service.as_ref(),
    )
    .await?;
    writes += apply(
        &Api::namespaced(client.clone(), namespace),
        resources::statefulset(instance, &ctx.settings, &claim_size)?,
        world.statefulset.as_ref(),
    )
    .await?;
    writes += grow_data_volumes(&Api::namespaced(client.clone(), namespace), instance, &world.data_pvcs).await?;

    if let Some(pvc) = resources::backup_pvc(instance) {
        writes += apply(
            &Api::namespaced(client.clone(), namespace),
            pvc,
            world.backup_pvc.as_ref(),
        )
        .await?;
    }
    if restore_can_start(observed, world)
        && let Some(job) = resources::restore_job(instance, &ctx.settings)
    {
        info!(instance = %instance.name_any(), "the new server is up: starting the restore");
        writes += apply(&Api::namespaced(client.clone(), namespace), job, None).await?;
    }
    let cronjobs = Api::namespaced(client.clone(), namespace);
    match resources::backup_cronjob(instance, &ctx.settings) {
        Some(cronjob) => writes += apply(&cronjobs, cronjob, world.cronjob.as_ref()).await?,
        None if world.cronjob.is_some() => {
            info!(instance = %instance.name_any(), "backups disabled: deleting the backup CronJob");
            cronjobs
                .delete(&resources::backup_cronjob_name(instance), &DeleteParams::background())
                .await?;
            writes += 1;
        }
        None => {}
    }
    Ok(writes)
}

/// A restore starts once, when the new server is ready and no restore Job exists yet: the Job is never
/// rewritten, so a finished or failed one stays for inspection.
fn restore_can_start(observed: &Observed, world: &World) -> bool {
    observed.restore_pending
        && world.restore_job.is_none()
        && observed.statefulset_exists
        && !observed.rollout_in_progress
        && observed.ready_replicas >= observed.desired_replicas
}

/// Server-side applies `desired` unless `existing` already carries the same spec hash.
async fn apply<K>(api: &Api<K>, desired: K, existing: Option<&K>) -> Result<usize>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let desired = resources::with_spec_hash(desired)?;
    let hash_of = |k: &K| k.annotations().get(SPEC_HASH_ANNOTATION).cloned();
    if existing
        .and_then(hash_of)
        .is_some_and(|current| Some(current) == hash_of(&desired))
    {
        return Ok(0);
    }
    let name = desired
        .meta()
        .name
        .clone()
        .ok_or(Error::MissingObjectField("metadata.name"))?;
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    info!(kind = %K::kind(&Default::default()), %name, "applied");
    Ok(1)
}

/// Creates the credentials Secret if it is absent (never overwriting one), and keeps its owner references in
/// line with the deletionPolicy.
async fn ensure_credentials(
    ctx: &Context,
    instance: &MySQLInstance,
    namespace: &str,
    existing: Option<&Secret>,
) -> Result<usize> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let desired_owners = resources::credentials_ownership(instance);
    let Some(existing) = existing else {
        let root_password = match &instance.spec.root_password_secret_ref {
            Some(reference) => Some(read_root_password(&secrets, &reference.name, &reference.key).await?),
            None => None,
        };
        let secret = resources::credentials_secret(instance, &Credentials::generate(root_password)?);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        return match secrets.create(&params, &secret).await {
            Ok(_) => {
                info!(secret = %secret.name_any(), "created credentials");
                Ok(1)
            }
            // Someone created it between our read and our write: theirs stands, ours is dropped.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(0),
            Err(error) => Err(error.into()),
        };
    };
    if existing.owner_references() == desired_owners.as_slice() {
        return Ok(0);
    }
    let patch = json!({ "metadata": { "ownerReferences": desired_owners } });
    secrets
        .patch(&existing.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(1)
}

async fn read_root_password(secrets: &Api<Secret>, name: &str, key: &str) -> Result<String> {
    let secret = secrets.get_opt(name).await?.ok_or_else(|| {
        Error::RootPassword(format!(
            "Secret {name} named by spec.rootPasswordSecretRef does not exist; create it"
        ))
    })?;
    let value = secret.data.and_then(|mut d| d.remove(key)).ok_or_else(|| {
        Error::RootPassword(format!(
            "Secret {name} has no key {key:?}; add it or fix spec.rootPasswordSecretRef.key"
        ))
    })?;
    String::from_utf8(value.0)
        .map_err(|_| Error::RootPassword(format!("key {key:?} of Secret {name} is not UTF-8 text")))
}

/// Requests the spec's size on data volumes that are smaller.
async fn grow_data_volumes(
    api: &Api<PersistentVolumeClaim>,
    instance: &MySQLInstance,
    pvcs: &[PersistentVolumeClaim],
) -> Result<usize> {
    let want = &instance.spec.storage.size;
    let mut writes = 0;
    for pvc in pvcs {
        let current = pvc
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref()?.requests.as_ref()?.get("storage"))
            .map(|q| q.0.as_str());
        if current.is_some_and(|c| resources::is_larger(want, c)) {
            let patch = json!({ "spec": { "resources": { "requests": { "storage": want } } } });
            api.patch(&pvc.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            info!(pvc = %pvc.name_any(), size = %want, "growing data volume");
            writes += 1;
        }
    }
    Ok(writes)
}
