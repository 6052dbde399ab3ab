//! Observe: reads what the operator knows about one instance into a [`World`]. Reads only; every decision
//! about what it means is in [`crate::decide`].
//!
//! Children come from the watch caches. Secrets are read by name from the API: the operator may not list
//! or watch Secrets (that would expose every Secret in the cluster). The credentials Secret is read once per
//! spec generation and remembered ([`super::secrets`]), so a reconcile of an unchanged instance reads nothing.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::Context;
use super::cache::{get, select};
use crate::api::MySQLInstance;
use crate::decide::World;
use crate::error::Result;
use crate::resources::{self, INSTANCE_LABEL};

/// Reads the children of `instance` in `namespace`.
pub async fn observe(ctx: &Context, instance: &MySQLInstance, namespace: &str) -> Result<World> {
    ctx.caches.synced().await?;
    let caches = &ctx.caches;
    let name = instance.name_any();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = match ctx.secrets.get(instance) {
        Some(known) => Some(known),
        None => {
            let read = secrets.get_opt(&resources::credentials_secret_name(instance)).await?;
            if let Some(secret) = &read {
                ctx.secrets.remember(instance, secret);
            }
            read
        }
    };
    // The named root password is only needed to create the credentials.
    let root_password_secret = match (&secret, &instance.spec.root_password_secret_ref) {
        (None, Some(reference)) => secrets.get_opt(&reference.name).await?,
        _ => None,
    };
    let replicas = u32::try_from(instance.spec.replicas.max(0)).unwrap_or_default();
    Ok(World {
        secret,
        root_password_secret,
        config_map: get(&caches.config_maps, namespace, &resources::config_map_name(instance))?,
        service: get(&caches.services, namespace, &name)?,
        headless_service: get(&caches.services, namespace, &resources::headless_service_name(instance))?,
        statefulset: get(&caches.statefulsets, namespace, &name)?,
        cronjob: get(&caches.cronjobs, namespace, &resources::backup_cronjob_name(instance))?,
        backup_pvc: get(&caches.claims, namespace, &resources::backup_pvc_name(instance))?,
        data_pvcs: (0..replicas)
            .filter_map(|ordinal| {
                get(
                    &caches.claims,
                    namespace,
                    &resources::data_claim_name(instance, ordinal),
                )
                .transpose()
            })
            .collect::<Result<_>>()?,
        backup_jobs: select(
            &caches.jobs,
            namespace,
            &[(INSTANCE_LABEL, &name), ("app.kubernetes.io/component", "backup")],
        )?,
        restore_job: instance
            .spec
            .restore_from
            .as_ref()
            .map(|_| get(&caches.jobs, namespace, &resources::restore_job_name(instance)))
            .transpose()?
            .flatten(),
        // The server pods and the backup and restore runners all carry the instance's name label.
        pods: select(
            &caches.pods,
            namespace,
            &[
                ("app.kubernetes.io/instance", &name),
                ("app.kubernetes.io/name", "mysql"),
            ],
        )?,
        other_rollouts: caches
            .statefulsets
            .state()
            .iter()
            .filter(|sts| sts.namespace().as_deref() != Some(namespace) || sts.name_any() != name)
            .filter(|sts| *sts.summary())
            .count(),
    })
}
