//! The StatefulSet `NAME`: one MySQL server with its data volume, probes that read credentials from a
//! file, and the Pod Security Standard "restricted" security context.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, ExecAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;

use super::config::{config_map_name, my_cnf};
use super::credentials::{credentials_secret_name, keys};
use super::metadata::{Component, child_metadata, selector_labels, spec_hash_of};
use super::service::headless_service_name;
use crate::api::{DeletionPolicy, MySQLInstance};

/// Name of the data volume claim template.
pub const DATA_CLAIM: &str = "data";
/// UID and GID of the mysql user in the official images.
const MYSQL_UID: i64 = 999;
const CREDENTIALS_DIR: &str = "/etc/mysql/credentials";
/// Annotation on the pod template that rolls the server when my.cnf changes.
const CONFIG_HASH_ANNOTATION: &str = "mysqlinstance.io/config-hash";

/// Name of the PVC the StatefulSet controller creates for ordinal `ordinal`.
pub fn data_claim_name(instance: &MySQLInstance, ordinal: u32) -> String {
    format!("{DATA_CLAIM}-{}-{ordinal}", instance.name_any())
}

/// Whether quantity `want` is strictly larger than `current`; unparsable quantities are never larger, so a
/// volume is only ever grown, never rewritten over a notation difference such as `1Gi` against `1024Mi`.
pub fn is_larger(want: &str, current: &str) -> bool {
    use kube_quantity::ParsedQuantity;
    match (ParsedQuantity::try_from(want), ParsedQuantity::try_from(current)) {
        (Ok(want), Ok(current)) => want > current,
        _ => false,
    }
}

/// The restricted container security context, shared by the server and backup containers.
pub(super) fn restricted_container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(MYSQL_UID),
        run_as_group: Some(MYSQL_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

/// The restricted pod security context.
pub(super) fn restricted_pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(MYSQL_UID),
        run_as_group: Some(MYSQL_UID),
        fs_group: Some(MYSQL_UID),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// The credentials Secret mounted read-only, so probes and backups read passwords from files.
pub(super) fn credentials_volume(instance: &MySQLInstance) -> (Volume, VolumeMount) {
    (
        Volume {
            name: "credentials".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(credentials_secret_name(instance)),
                default_mode: Some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        mount("credentials", CREDENTIALS_DIR, true),
    )
}

/// Path of the MySQL option file with root's credentials.
pub(super) fn client_cnf_path() -> String {
    format!("{CREDENTIALS_DIR}/{}", keys::CLIENT_CNF)
}

pub(super) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

pub(super) fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn exec_probe(command: &[&str], initial_delay: i32, period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The StatefulSet. `claim_size` is the size of the data claim template: the spec's size for a new
/// StatefulSet, the existing template's size otherwise (templates are immutable; volumes grow by resizing
/// their PVCs).
pub fn statefulset(instance: &MySQLInstance, claim_size: &str) -> Result<StatefulSet, serde_json::Error> {
    let spec = &instance.spec;
    let client_cnf = client_cnf_path();
    let (credentials, credentials_mount) = credentials_volume(instance);
    let mut environment = vec![env(
        "MYSQL_ROOT_PASSWORD_FILE",
        format!("{CREDENTIALS_DIR}/{}", keys::ROOT_PASSWORD),
    )];
    if let Some(database) = &spec.database {
        environment.push(env("MYSQL_DATABASE", database));
    }
    if let Some(user) = &spec.user {
        environment.push(env("MYSQL_USER", user));
        environment.push(env(
            "MYSQL_PASSWORD_FILE",
            format!("{CREDENTIALS_DIR}/{}", keys::PASSWORD),
        ));
    }
    let server = Container {
        name: "mysql".to_owned(),
        image: Some(spec.image.clone().unwrap_or_else(|| spec.version.image().to_owned())),
        ports: Some(vec![ContainerPort {
            name: Some("mysql".to_owned()),
            container_port: super::service::MYSQL_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        env: Some(environment),
        resources: spec.resources.clone(),
        readiness_probe: Some(exec_probe(
            &[
                "mysql",
                &format!("--defaults-extra-file={client_cnf}"),
                "--protocol=socket",
                "-e",
                "SELECT 1",
            ],
            5,
            5,
            3,
        )),
        liveness_probe: Some(exec_probe(
            &[
                "mysqladmin",
                &format!("--defaults-extra-file={client_cnf}"),
                "--protocol=socket",
                "ping",
            ],
            30,
            10,
            6,
        )),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(vec![
            mount(DATA_CLAIM, "/var/lib/mysql", false),
            mount("config", "/etc/mysql/conf.d", true),
            credentials_mount,
            mount("run", "/var/run/mysqld", false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let template_annotations = BTreeMap::from([(CONFIG_HASH_ANNOTATION.to_owned(), spec_hash_of(&my_cnf(instance))?)]);
    let retention = match spec.deletion_policy {
        DeletionPolicy::Retain => "Retain",
        DeletionPolicy::Delete => "Delete",
    };
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_CLAIM.to_owned()),
            labels: Some(selector_labels(instance)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: spec.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(claim_size.to_owned()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    Ok(StatefulSet {
        metadata: child_metadata(instance, instance.name_any(), Component::Database, true),
        spec: StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(headless_service_name(instance)),
            selector: LabelSelector {
                match_labels: Some(selector_labels(instance)),
                ..LabelSelector::default()
            },
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(retention.to_owned()),
                when_scaled: Some("Retain".to_owned()),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(selector_labels(instance)),
                    annotations: Some(template_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(restricted_pod_security()),
                    termination_grace_period_seconds: Some(60),
                    containers: vec![server],
                    volumes: Some(vec![
                        Volume {
                            name: "config".to_owned(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: config_map_name(instance),
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        credentials,
                        empty_dir("run"),
                        empty_dir("tmp"),
                    ]),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    })
}

#[cfg(test)]
mod tests {
    use super::is_larger;

    #[test]
    fn growth_compares_quantities_not_strings() {
        assert!(is_larger("2Gi", "1Gi"));
        assert!(is_larger("1Ti", "900Gi"));
        assert!(!is_larger("1024Mi", "1Gi"), "same size in another notation");
        assert!(!is_larger("1Gi", "2Gi"));
        assert!(!is_larger("lots", "1Gi"));
    }
}
