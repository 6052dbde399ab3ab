//! The pod that runs the operator binary's `backup` or `restore` subcommand inside the server's own image (the
//! binary placed by an init container), so the dump and client tools are the server's: restricted, with the
//! credentials mounted as an option file and the backup repository (a PVC or an S3 bucket) wired in.

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, SecretKeySelector,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::layout::{PLACED_BINARY, TMP_DIR, TOOLS_DIR};
use super::metadata::{Component, labels};
use super::statefulset::{
    client_cnf_path, credentials_volume, empty_dir, mount, place_binary_container, requests,
    restricted_container_security, restricted_pod_security,
};
use super::{OperatorSettings, server_image};
use crate::api::{MySQLInstance, S3Destination};

/// Where a backup volume is mounted in a runner pod.
const BACKUP_DIR: &str = "/backups";

/// Where backups live, as a runner pod sees them.
pub(super) struct Repository {
    /// `file:///backups` or `s3://bucket/prefix`.
    pub url: String,
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
    env: Vec<EnvVar>,
    /// `--s3-endpoint` and `--s3-path-style`, when they apply.
    flags: Vec<String>,
}

impl Repository {
    /// Backups on the volume claim `claim`.
    pub fn pvc(claim: &str, read_only: bool) -> Self {
        Self {
            url: format!("file://{BACKUP_DIR}"),
            volumes: vec![Volume {
                name: "backups".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.to_owned(),
                    read_only: read_only.then_some(true),
                }),
                ..Volume::default()
            }],
            mounts: vec![mount("backups", BACKUP_DIR, read_only)],
            env: Vec::new(),
            flags: Vec::new(),
        }
    }

    /// Backups in an S3 bucket under `s3.prefix`, or `default_prefix` when unset. Credentials reach the
    /// runner as environment variables from the user's Secret, never as arguments.
    pub fn s3(s3: &S3Destination, default_prefix: &str) -> Self {
        let secret_env = |name: &str| EnvVar {
            name: name.to_owned(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: s3.credentials_secret.clone(),
                    key: name.to_owned(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        };
        let prefix = s3.prefix.as_deref().unwrap_or(default_prefix).trim_matches('/');
        let mut flags: Vec<String> = s3.endpoint.iter().map(|e| format!("--s3-endpoint={e}")).collect();
        if s3.force_path_style {
            flags.push("--s3-path-style".to_owned());
        }
        Self {
            url: format!("s3://{}/{prefix}", s3.bucket),
            volumes: Vec::new(),
            mounts: Vec::new(),
            env: vec![
                secret_env("AWS_ACCESS_KEY_ID"),
                secret_env("AWS_SECRET_ACCESS_KEY"),
                EnvVar {
                    name: "AWS_REGION".to_owned(),
                    value: Some(s3.region.clone()),
                    ..EnvVar::default()
                },
            ],
            flags,
        }
    }
}

/// The connection arguments every runner takes: the instance's Service and root's option file.
pub(super) fn connection_args(instance: &MySQLInstance) -> Vec<String> {
    let namespace = instance.namespace().unwrap_or_default();
    vec![
        format!("--host={}.{namespace}.svc", instance.name_any()),
        format!("--defaults-file={}", client_cnf_path()),
    ]
}

/// A Job spec running `mysqlinstance-operator SUBCOMMAND args...` in the server's image against `repository`,
/// run once: a failure is reported, not retried, so a half-done run is never repeated over itself.
pub(super) fn runner_job(
    instance: &MySQLInstance,
    settings: &OperatorSettings,
    component: Component,
    mut args: Vec<String>,
    repository: Repository,
) -> (ObjectMeta, JobSpec) {
    let (credentials, credentials_mount) = credentials_volume(instance);
    let (place_binary, tools) = place_binary_container(settings);
    args.extend(repository.flags);
    let mut volumes = vec![credentials, empty_dir("tmp"), tools];
    volumes.extend(repository.volumes);
    let mut mounts = vec![
        credentials_mount,
        mount("tmp", TMP_DIR, false),
        mount("tools", TOOLS_DIR, true),
    ];
    mounts.extend(repository.mounts);
    let container = Container {
        name: component.as_str().to_owned(),
        image: Some(server_image(instance, settings)),
        command: Some(vec![PLACED_BINARY.to_owned()]),
        args: Some(args),
        env: (!repository.env.is_empty()).then_some(repository.env),
        // A dump is one client process and a bounded pipeline (about 30 MiB measured to S3).
        resources: Some(requests("100m", "128Mi", "1Gi")),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        ..Container::default()
    };
    let metadata = ObjectMeta {
        labels: Some(labels(instance, component)),
        ..ObjectMeta::default()
    };
    let spec = JobSpec {
        backoff_limit: Some(0),
        active_deadline_seconds: Some(6 * 3600),
        template: PodTemplateSpec {
            metadata: Some(metadata.clone()),
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_owned()),
                automount_service_account_token: Some(false),
                enable_service_links: Some(false),
                security_context: Some(restricted_pod_security()),
                init_containers: Some(vec![place_binary]),
                containers: vec![container],
                volumes: Some(volumes),
                ..PodSpec::default()
            }),
        },
        ..JobSpec::default()
    };
    (metadata, spec)
}
