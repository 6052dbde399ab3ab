//! Apply: carries out the child steps of a [`Plan`](crate::decide::Plan), in order, and nothing else. I/O
//! only: every object written was built and every choice made by [`crate::decide`].

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::{ByteString, NamespaceResourceScope};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::info;

use super::{Context, FIELD_MANAGER};
use crate::api::{MySQLInstance, MySQLInstanceStatus};
use crate::decide::{Children, CredentialsStep, Step, VolumeGrowth};
use crate::error::{Error, Result};
use crate::resources::{self, Credentials, credential_keys};

/// A child the API refused or could not take; the other children were still written.
#[derive(Debug)]
pub struct ChildFailure {
    /// Kind and name, such as `PersistentVolumeClaim data-shop-0`.
    pub child: String,
    pub error: Error,
}

/// What applying the children did.
#[derive(Debug, Default)]
pub struct Applied {
    pub writes: usize,
    pub failures: Vec<ChildFailure>,
}

impl Applied {
    fn settle(&mut self, child: String, result: Result<usize>) {
        match result {
            Ok(writes) => self.writes += writes,
            Err(error) => self.failures.push(ChildFailure { child, error }),
        }
    }
}

/// Writes `children` of `instance`. A child that fails does not stop the others: one refused resize or a
/// quota must not leave the rest of the instance unreconciled.
pub async fn children(ctx: &Context, instance: &MySQLInstance, namespace: &str, children: Children) -> Applied {
    // No `..`: a new kind of child does not compile until it is applied here.
    let Children {
        credentials,
        config_map,
        headless_service,
        service,
        statefulset,
        data_volume_growth,
        backup_volume,
        restore_job,
        backup_cronjob,
    } = children;
    let writer = Writer { ctx, namespace };
    let mut applied = Applied::default();
    let secret = format!("Secret {}", resources::credentials_secret_name(instance));
    // The Secrets first: the server pod mounts them. The other children do not depend on each other and are
    // written at the same time, so a new instance's children take three round trips to the API server (the
    // root Secret, the application Secret, the rest), not six.
    applied.settle(secret, writer.credentials(instance, credentials).await);
    let labels = [
        label(&config_map),
        label(&headless_service),
        label(&service),
        label(&statefulset),
        label(&backup_volume),
        label(&restore_job),
        label(&backup_cronjob),
    ];
    let claims: Vec<String> = data_volume_growth
        .iter()
        .map(|growth| format!("{} {}", PersistentVolumeClaim::kind(&()), growth.claim))
        .collect();
    let (config_map, headless_service, service, statefulset, backup_volume, restore_job, backup_cronjob, growths) = futures::join!(
        writer.step(config_map),
        writer.step(headless_service),
        writer.step(service),
        writer.step(statefulset),
        writer.step(backup_volume),
        writer.step(restore_job),
        writer.step(backup_cronjob),
        futures::future::join_all(data_volume_growth.into_iter().map(|growth| writer.grow(growth))),
    );
    let steps = [
        config_map,
        headless_service,
        service,
        statefulset,
        backup_volume,
        restore_job,
        backup_cronjob,
    ];
    for (child, result) in labels.into_iter().zip(steps).chain(claims.into_iter().zip(growths)) {
        applied.settle(child, result);
    }
    applied
}

/// `Kind name` of the child a step writes.
fn label<K: Resource<DynamicType = ()>>(step: &Step<K>) -> String {
    let name = match step {
        Step::InLine => None,
        Step::Apply(object) => object.meta().name.as_deref(),
        Step::Delete(name) => Some(name.as_str()),
    };
    format!("{} {}", K::kind(&()), name.unwrap_or_default())
}

struct Writer<'a> {
    ctx: &'a Context,
    namespace: &'a str,
}

impl Writer<'_> {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.ctx.client.clone(), self.namespace)
    }

    fn count<K: Resource<DynamicType = ()>>(&self, operation: &str, name: &str) -> usize {
        count_write(self.ctx, &K::kind(&()), operation, name)
    }

    /// Server-side applies or deletes one child.
    async fn step<K>(&self, step: Step<K>) -> Result<usize>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        match step {
            Step::InLine => Ok(0),
            Step::Apply(object) => {
                let name = object
                    .meta()
                    .name
                    .clone()
                    .ok_or(Error::MissingObjectField("metadata.name"))?;
                let params = PatchParams::apply(FIELD_MANAGER).force();
                self.api::<K>().patch(&name, &params, &Patch::Apply(&*object)).await?;
                Ok(self.count::<K>("apply", &name))
            }
            Step::Delete(name) => {
                self.api::<K>().delete(&name, &DeleteParams::background()).await?;
                Ok(self.count::<K>("delete", &name))
            }
        }
    }

    /// Creates the root and application Secrets with fresh passwords (never overwriting one), splits an
    /// application Secret made before the root Secret existed, or sets both Secrets' owners.
    async fn credentials(&self, instance: &MySQLInstance, step: CredentialsStep) -> Result<usize> {
        let secrets: Api<Secret> = self.api();
        let name = resources::credentials_secret_name(instance);
        let root_name = resources::root_secret_name(instance);
        if step != CredentialsStep::InLine {
            self.ctx.secrets.forget(instance);
        }
        match step {
            CredentialsStep::InLine => Ok(0),
            CredentialsStep::Create { root_password } => {
                let credentials = Credentials::generate(root_password)?;
                // The root Secret first: an application Secret never exists without it.
                let mut writes = 0;
                match self
                    .create_kept(&resources::root_secret(instance, &credentials))
                    .await?
                {
                    Some(_) => writes += 1,
                    None => _ = self.existing_root_secret(instance).await?,
                }
                let secret = resources::credentials_secret(instance, &credentials);
                if let Some(created) = self.create_kept(&secret).await? {
                    // What the next reconcile would read: it needs no request.
                    self.ctx.secrets.remember(instance, &created);
                    writes += 1;
                }
                Ok(writes)
            }
            CredentialsStep::Split(credentials) => {
                let root = resources::root_secret(instance, &credentials);
                if self.create_kept(&root).await?.is_none() {
                    // It exists: the move may only go on if it holds the same root password.
                    let existing = self.existing_root_secret(instance).await?;
                    let same = existing
                        .data
                        .as_ref()
                        .and_then(|d| d.get(credential_keys::ROOT_PASSWORD))
                        == root.data.as_ref().and_then(|d| d.get(credential_keys::ROOT_PASSWORD));
                    if !same {
                        return Err(Error::RootPasswordUnavailable(format!(
                            "Secret {root_name} exists with another root password than Secret {name}, which \
                             holds the one of the data: delete {root_name} if it is not the right one"
                        )));
                    }
                }
                let data: serde_json::Map<String, serde_json::Value> =
                    resources::connection_entries(instance, &credentials.user_password)
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), json!(ByteString(value.into_bytes()))))
                        .collect();
                let patch = json!({
                    "metadata": {
                        "ownerReferences": resources::credentials_ownership(instance),
                        "annotations": { (resources::ROOT_SECRET_ANNOTATION): root_name },
                    },
                    "data": data,
                });
                secrets
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok(self.count::<Secret>("patch", &name))
            }
            CredentialsStep::DropRootKeys => {
                let data: serde_json::Map<String, serde_json::Value> = credential_keys::ROOT
                    .iter()
                    .map(|key| ((*key).to_owned(), serde_json::Value::Null))
                    .collect();
                secrets
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&json!({ "data": data })))
                    .await?;
                Ok(self.count::<Secret>("patch", &name))
            }
            CredentialsStep::SetOwners(owners) => {
                let patch = json!({ "metadata": { "ownerReferences": owners } });
                let mut writes = 0;
                for secret in [&root_name, &name] {
                    secrets
                        .patch(secret, &PatchParams::default(), &Patch::Merge(&patch))
                        .await?;
                    writes += self.count::<Secret>("patch", secret);
                }
                Ok(writes)
            }
        }
    }

    /// The root Secret that exists already, if it is one: a Secret of the user's that only has the name would
    /// leave the server pod without its root password.
    async fn existing_root_secret(&self, instance: &MySQLInstance) -> Result<Secret> {
        let name = resources::root_secret_name(instance);
        let secret = self.api::<Secret>().get(&name).await?;
        let data = secret.data.as_ref();
        if credential_keys::ROOT
            .iter()
            .all(|key| data.is_some_and(|d| d.contains_key(*key)))
        {
            Ok(secret)
        } else {
            Err(Error::RootPasswordUnavailable(format!(
                "Secret {name} exists but is not this instance's root Secret (it lacks {}): the operator keeps \
                 the root password there; rename that Secret",
                credential_keys::ROOT.join(" or ")
            )))
        }
    }

    /// Creates `secret` unless it exists; an existing one is kept as it is. Returns the Secret created.
    async fn create_kept(&self, secret: &Secret) -> Result<Option<Secret>> {
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        match self.api::<Secret>().create(&params, secret).await {
            Ok(created) => {
                self.count::<Secret>("create", &created.name_any());
                Ok(Some(created))
            }
            // Retained from an earlier instance of the same name, or created between our read and our write:
            // it holds the passwords of the data, ours are dropped.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Requests a larger size on a data volume.
    async fn grow(&self, VolumeGrowth { claim, size }: VolumeGrowth) -> Result<usize> {
        let patch = json!({ "spec": { "resources": { "requests": { "storage": size } } } });
        self.api::<PersistentVolumeClaim>()
            .patch(&claim, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        Ok(self.count::<PersistentVolumeClaim>("patch", &claim))
    }
}

/// Counts one write in `mysqlinstance_api_writes_total` and the log.
fn count_write(ctx: &Context, kind: &str, operation: &str, name: &str) -> usize {
    ctx.metrics.api_writes.with_label_values(&[kind, operation]).inc();
    info!(%kind, %name, operation, "wrote");
    1
}

/// Writes the status of `instance` with server-side apply.
pub async fn status(
    ctx: &Context,
    instance: &MySQLInstance,
    namespace: &str,
    status: &MySQLInstanceStatus,
) -> Result<usize> {
    let api: Api<MySQLInstance> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({
        "apiVersion": "mysqlinstance.io/v1alpha1",
        "kind": "MySQLInstance",
        "status": status,
    });
    let name = instance.name_any();
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await?;
    Ok(count_write(ctx, "MySQLInstance", "status", &name))
}
