//! The StatefulSet `NAME`: one database server with its data volume, under the Pod Security Standard
//! "restricted". The pod depends on no image entrypoint: an init container places the operator binary, a
//! second one initializes the data directory with it, the server binary is the main process, and the probes
//! run through the placed binary.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, ExecAction, KeyToPath,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ProjectedVolumeSource, ResourceRequirements, SeccompProfile, SecretProjection, SecurityContext, Volume,
    VolumeMount, VolumeProjection, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::ResourceExt;

use super::config::{config_map_name, my_cnf};
use super::credentials::{credentials_secret_name, keys, root_secret_name};
use super::layout::{
    CONFIG_DIR, CONFIG_FILE, CREDENTIALS_DIR, OPERATOR_BINARY, PLACED_BINARY, RUN_DIR, TMP_DIR, TOOLS_DIR, VOLUME_ROOT,
};
use super::metadata::{Component, child_metadata, selector_labels, spec_hash_of};
use super::service::headless_service_name;
use super::{OperatorSettings, server_image};
use crate::api::{DeletionPolicy, MySQLInstance};

/// Name of the data volume claim template.
pub const DATA_CLAIM: &str = "data";
/// UID and GID of the mysql user in the official images.
const MYSQL_UID: i64 = 999;
/// Annotation on the pod template that rolls the server when my.cnf changes.
const CONFIG_HASH_ANNOTATION: &str = "mysqlinstance.io/config-hash";
/// The longest a server may take to start listening (first initialization, crash recovery, a major-version
/// data dictionary upgrade) before the kubelet restarts it: 720 startup probes 5 s apart.
const STARTUP_PROBES: i32 = 720;

/// Name of the PVC the StatefulSet controller creates for ordinal `ordinal`.
pub fn data_claim_name(instance: &MySQLInstance, ordinal: u32) -> String {
    format!("{DATA_CLAIM}-{}-{ordinal}", instance.name_any())
}

/// Whether quantity `want` is strictly larger than `current`; unparsable quantities are never larger, so a
/// volume is only ever grown, never rewritten over a notation difference such as `1Gi` against `1024Mi`.
pub fn is_larger(want: &str, current: &str) -> bool {
    compare_quantities(want, current) == Some(Ordering::Greater)
}

/// Kubernetes caps quantities at 2^63-1. Up to this magnitude the parser's exact decimal comparison stays
/// within its range; beyond it, bringing both to one unit overflows the decimal and panics.
const EXACT_QUANTITY_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Compares two quantities by value (`1Gi` equals `1024Mi`); `None` when either does not parse. Magnitudes
/// beyond what Kubernetes stores compare as floating-point numbers.
pub fn compare_quantities(a: &str, b: &str) -> Option<Ordering> {
    use kube_quantity::ParsedQuantity;
    let (a, b) = (ParsedQuantity::try_from(a).ok()?, ParsedQuantity::try_from(b).ok()?);
    let (a_bytes, b_bytes) = (a.to_bytes_f64()?, b.to_bytes_f64()?);
    if a_bytes.abs() < EXACT_QUANTITY_LIMIT && b_bytes.abs() < EXACT_QUANTITY_LIMIT {
        Some(a.cmp(&b))
    } else {
        a_bytes.partial_cmp(&b_bytes)
    }
}

/// The restricted container security context, shared by every container the operator builds.
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

/// The restricted pod security context. Volumes are chowned to the mysql group only when their root does not
/// already belong to it, so a large data volume does not delay every restart.
pub(super) fn restricted_pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(MYSQL_UID),
        run_as_group: Some(MYSQL_UID),
        fs_group: Some(MYSQL_UID),
        fs_group_change_policy: Some("OnRootMismatch".to_owned()),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// The root password and option file from the root Secret and the application user's password from the
/// application Secret, in one read-only directory, so initialization, probes and runners read passwords from
/// files. Nothing else of the application Secret is mounted.
pub(super) fn credentials_volume(instance: &MySQLInstance) -> (Volume, VolumeMount) {
    let source = |secret: String, keys: &[&str]| VolumeProjection {
        secret: Some(SecretProjection {
            name: secret,
            items: Some(
                keys.iter()
                    .map(|key| KeyToPath {
                        key: (*key).to_owned(),
                        path: (*key).to_owned(),
                        ..KeyToPath::default()
                    })
                    .collect(),
            ),
            optional: Some(false),
        }),
        ..VolumeProjection::default()
    };
    (
        Volume {
            name: "credentials".to_owned(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o440),
                sources: Some(vec![
                    source(root_secret_name(instance), keys::ROOT),
                    source(credentials_secret_name(instance), &[keys::PASSWORD]),
                ]),
                ..ProjectedVolumeSource::default()
            }),
            ..Volume::default()
        },
        mount("credentials", CREDENTIALS_DIR, true),
    )
}

/// Whether the pods of `sts` read the root password from the root Secret (and no longer from the application
/// Secret, as before the two were split).
pub fn mounts_root_secret(instance: &MySQLInstance, sts: &StatefulSet) -> bool {
    let root = root_secret_name(instance);
    let volumes = sts.spec.template.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes.into_iter().flatten().any(|volume| {
        let sources = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        sources
            .into_iter()
            .flatten()
            .any(|source| source.secret.as_ref().is_some_and(|s| s.name == root))
    })
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

/// The init container that copies the operator's static binary out of the operator image into the `tools`
/// volume, so the server's image needs nothing but the server and its client tools (and no entrypoint).
pub(super) fn place_binary_container(settings: &OperatorSettings) -> (Container, Volume) {
    let container = Container {
        name: "place-binary".to_owned(),
        image: Some(settings.operator_image.clone()),
        command: Some(vec![
            OPERATOR_BINARY.to_owned(),
            "instance".to_owned(),
            "place".to_owned(),
            PLACED_BINARY.to_owned(),
        ]),
        resources: Some(requests("10m", "16Mi", "64Mi")),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(vec![mount("tools", TOOLS_DIR, false)]),
        ..Container::default()
    };
    (container, empty_dir("tools"))
}

/// Requests of `cpu` and `memory`, and a memory limit.
pub(super) fn requests(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity(memory_limit.to_owned()),
        )])),
        ..ResourceRequirements::default()
    }
}

/// A probe that runs `instance probe KIND` through the placed binary.
fn probe(kind: &str, period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                PLACED_BINARY.to_owned(),
                "instance".to_owned(),
                "probe".to_owned(),
                kind.to_owned(),
            ]),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// The StatefulSet. `claim_size` is the size of the data claim template: the spec's size for a new
/// StatefulSet, the existing template's size otherwise (templates are immutable; volumes grow by resizing
/// their PVCs).
pub fn statefulset(
    instance: &MySQLInstance,
    settings: &OperatorSettings,
    claim_size: &str,
) -> Result<StatefulSet, serde_json::Error> {
    let spec = &instance.spec;
    let image = server_image(instance, settings);
    let (credentials, credentials_mount) = credentials_volume(instance);
    let (place_binary, tools) = place_binary_container(settings);
    let server_mounts = vec![
        mount(DATA_CLAIM, VOLUME_ROOT, false),
        mount("config", CONFIG_DIR, true),
        credentials_mount,
        mount("run", RUN_DIR, false),
        mount("tmp", TMP_DIR, false),
        mount("tools", TOOLS_DIR, true),
    ];
    let mut init_args = vec![
        "instance".to_owned(),
        "init".to_owned(),
        format!("--engine={}", spec.engine),
    ];
    init_args.extend(spec.database.iter().map(|d| format!("--database={d}")));
    init_args.extend(spec.user.iter().map(|u| format!("--user={u}")));
    let initialize = Container {
        name: "initialize".to_owned(),
        image: Some(image.clone()),
        command: Some(vec![PLACED_BINARY.to_owned()]),
        args: Some(init_args),
        resources: spec.resources.clone(),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(server_mounts.clone()),
        ..Container::default()
    };
    let server = Container {
        name: "mysql".to_owned(),
        image: Some(image),
        // The server binary itself is the container's process: no entrypoint script, no wrapper.
        command: Some(vec![spec.engine.server().to_owned()]),
        args: Some(vec![format!("--defaults-file={CONFIG_FILE}")]),
        ports: Some(vec![ContainerPort {
            name: Some("mysql".to_owned()),
            container_port: super::service::MYSQL_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: spec.resources.clone(),
        startup_probe: Some(probe("startup", 5, STARTUP_PROBES)),
        readiness_probe: Some(probe("readiness", 5, 3)),
        liveness_probe: Some(probe("liveness", 10, 3)),
        security_context: Some(restricted_container_security()),
        volume_mounts: Some(server_mounts),
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
                    init_containers: Some(vec![place_binary, initialize]),
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
                        tools,
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
    use super::{compare_quantities, is_larger};
    use std::cmp::Ordering;

    #[test]
    fn growth_compares_quantities_not_strings() {
        assert!(is_larger("2Gi", "1Gi"));
        assert!(is_larger("1Ti", "900Gi"));
        assert!(!is_larger("1024Mi", "1Gi"), "same size in another notation");
        assert!(!is_larger("1Gi", "2Gi"));
        assert!(!is_larger("lots", "1Gi"));
    }

    /// Found by the fuzzer: comparing `100000000000Gi` with `n` (zero nanos) overflowed the parser's decimal
    /// and panicked, crash-looping the operator on a spec the CRD accepts (Kubernetes caps such sizes).
    #[test]
    fn huge_quantities_compare_without_panicking() {
        assert!(is_larger("100000000000Gi", "n"));
        assert!(!is_larger("n", "100000000000Gi"));
        assert!(is_larger("100000000000000000000Pi", "1Gi"));
        assert_eq!(
            compare_quantities("70000000000000000000000000000", "1Pi"),
            Some(Ordering::Greater)
        );
        // Every pair of suffixes, with the largest value below the exact limit against the smallest ones. (The
        // parser reads the `E` of `1E` and `1Ei` as an exponent and refuses them: those only must not panic.)
        const SUFFIXES: [(&str, f64); 16] = [
            ("n", 1e-9),
            ("u", 1e-6),
            ("m", 1e-3),
            ("", 1.0),
            ("k", 1e3),
            ("M", 1e6),
            ("G", 1e9),
            ("T", 1e12),
            ("P", 1e15),
            ("E", 1e18),
            ("Ki", 1024.0),
            ("Mi", 1048576.0),
            ("Gi", 1073741824.0),
            ("Ti", 1099511627776.0),
            ("Pi", 1125899906842624.0),
            ("Ei", 1152921504606846976.0),
        ];
        let parses = |q: &str| compare_quantities(q, q).is_some();
        for (big, unit) in SUFFIXES {
            let largest = format!("{}{big}", (9.2e18 / unit).floor());
            for (small, _) in SUFFIXES {
                for tiny in [format!("1{small}"), format!("0.001{small}"), format!("-{largest}")] {
                    let (down, up) = (compare_quantities(&largest, &tiny), compare_quantities(&tiny, &largest));
                    if parses(&largest) && parses(&tiny) {
                        assert_eq!(
                            (down, up),
                            (Some(Ordering::Greater), Some(Ordering::Less)),
                            "{largest} > {tiny}"
                        );
                    }
                }
            }
        }
    }
}
