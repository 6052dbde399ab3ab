//! The `MySQLInstance` custom resource: its spec, its status and the CRD generated from them.
//!
//! Doc comments on fields become the schema descriptions users read in `kubectl explain`, and the
//! `x_kube(validation)` rules become CEL rules the apiserver enforces, so every message says what to change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, SecretKeySelector};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use serde::{Deserialize, Serialize};
use strum::{Display, EnumIter, EnumString, IntoStaticStr};

/// The longest instance name: the backup CronJob `NAME-backup` may have at most 52 characters, so that the
/// names of its Jobs, which get an 11-character suffix, stay valid label values.
pub const MAX_NAME_LENGTH: usize = 45;

/// A MySQL database managed by the operator: a StatefulSet with persistent storage, a Service,
/// generated credentials and, when enabled, scheduled backups.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mysqlinstance.io",
    version = "v1alpha1",
    kind = "MySQLInstance",
    plural = "mysqlinstances",
    shortname = "myi",
    namespaced,
    status = "MySQLInstanceStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Where the instance stands: Pending, Provisioning, Ready, BackingUp or Degraded"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.ready","description":"Ready replicas / desired replicas"}"#,
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine","description":"MySQL or MariaDB","priority":1}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version","description":"Server version"}"#,
    printcolumn = r#"{"name":"Last Backup","type":"date","jsonPath":".status.lastBackup.completedAt","description":"When the newest successful backup completed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[kube(validation = Rule::new(format!("self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= {MAX_NAME_LENGTH}")).message(format!("metadata.name must be at most {MAX_NAME_LENGTH} characters of lowercase letters, digits and '-', starting with a letter: the operator names its children after it (the Services NAME and NAME-headless, the CronJob NAME-backup, whose Jobs get a suffix); pick a shorter name").as_str()))]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.engine == 'MariaDB' ? self.version in ['10.11', '11.4'] : self.version in ['8.0', '8.4']").message("version does not belong to the engine: MySQL runs 8.0 or 8.4, MariaDB runs 10.11 or 11.4; set spec.version (and spec.engine: MariaDB for MariaDB)"))]
#[x_kube(validation = Rule::new("self.engine == oldSelf.engine").message("engine is immutable: create a new instance of the other engine and restore a backup into it"))]
#[x_kube(validation = Rule::new("!(oldSelf.version == '8.4' && self.version == '8.0') && !(oldSelf.version == '11.4' && self.version == '10.11')").message("version downgrades are refused (the data directory of a newer server cannot be opened by an older one): restore a backup into a new instance instead"))]
#[x_kube(validation = Rule::new("has(self.restoreFrom) == has(oldSelf.restoreFrom) && (!has(self.restoreFrom) || self.restoreFrom == oldSelf.restoreFrom)").message("restoreFrom can only be set when the instance is created: create a new instance to restore a backup"))]
pub struct MySQLInstanceSpec {
    /// Database engine: MySQL (the default) or MariaDB. Immutable.
    #[serde(default)]
    pub engine: Engine,

    /// Server version: 8.0 or 8.4 for MySQL, 10.11 or 11.4 for MariaDB. Selects the container image unless
    /// `image` is set. Can be upgraded, never downgraded.
    #[serde(default)]
    pub version: ServerVersion,

    /// Container image of the server; overrides the image chosen by `version`. Any image works that has the
    /// engine's server binary and client tools on its PATH (no entrypoint is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("size(self) > 0").message("image must not be empty: remove the field to use the image of spec.version"))]
    #[schemars(length(max = 512))]
    pub image: Option<String>,

    /// Number of MySQL servers. Only a single server is supported in v1alpha1.
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self == 1").message("only replicas: 1 is supported in v1alpha1; set replicas to 1 or remove the field"))]
    pub replicas: i32,

    /// Persistent storage for the data directory.
    pub storage: StorageSpec,

    /// CPU and memory requests and limits of the MySQL container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Server settings written to the `[mysqld]` section of my.cnf, for example `max_connections: "500"`.
    /// Changing them restarts the server.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Za-z0-9_.-]+$'))").message("config keys must be my.cnf option names made of letters, digits, '_', '-' or '.', such as max_connections"))]
    #[x_kube(validation = Rule::new("!self.exists(k, k in ['datadir', 'socket', 'port', 'pid-file', 'pid_file'])").message("config may not set datadir, socket, port or pid-file: the server pod relies on them; remove the key"))]
    #[x_kube(validation = Rule::new("self.all(k, !self[k].contains('\\n'))").message("config values must be a single line: remove the newline"))]
    #[schemars(extend("maxProperties" = 64), transform = limit_config_values)]
    pub config: BTreeMap<String, String>,

    /// Secret key holding the root password to use instead of a generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password_secret_ref: Option<SecretKeySelector>,

    /// Name of a database created at first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_]{1,64}$')").message("database must be 1-64 letters, digits or '_', such as app_db"))]
    #[schemars(length(max = 64))]
    pub database: Option<String>,

    /// Name of an application user created at first start, with all privileges on `database`.
    /// Its password is generated into the credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_]{1,32}$') && self != 'root'").message("user must be 1-32 letters, digits or '_' and not root, such as app"))]
    #[schemars(length(max = 32))]
    pub user: Option<String>,

    /// Scheduled backups taken by the operator's `backup` command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,

    /// Seeds the empty database of a new instance from a backup before it becomes Ready. Can only be set when
    /// the instance is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<RestoreSource>,

    /// What happens to the data volumes and the credentials Secret when the instance is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Stops all changes to the children while true; status still reports what is observed.
    #[serde(default)]
    pub paused: bool,
}

/// Bounds keys and values of `config`, so the apiserver can bound the cost of its CEL rules.
fn limit_config_values(schema: &mut schemars::Schema) {
    schema.insert(
        "additionalProperties".to_owned(),
        serde_json::json!({"type": "string", "maxLength": 1024}),
    );
}

/// Kubernetes knows the integer formats int32 and int64 only (the apiserver warns on schemars' uint32); the
/// CEL rule keeps the value positive.
fn int32_format(schema: &mut schemars::Schema) {
    schema.insert("format".to_owned(), serde_json::json!("int32"));
}

fn default_replicas() -> i32 {
    1
}

/// The database server family. The server pod's init container detects the engine from the server binary in
/// the image and refuses to start when it disagrees with this field.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Display,
    EnumString,
    EnumIter,
    IntoStaticStr,
)]
pub enum Engine {
    /// Oracle MySQL: `mysqld`, `mysql`, `mysqldump`.
    #[default]
    MySQL,
    /// MariaDB: `mariadbd`, `mariadb`, `mariadb-dump`.
    MariaDB,
}

/// Supported server versions: 8.0 and 8.4 for MySQL, 10.11 and 11.4 for MariaDB.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Display,
    EnumString,
    EnumIter,
)]
pub enum ServerVersion {
    #[serde(rename = "8.0")]
    #[strum(serialize = "8.0")]
    V8_0,
    #[default]
    #[serde(rename = "8.4")]
    #[strum(serialize = "8.4")]
    V8_4,
    #[serde(rename = "10.11")]
    #[strum(serialize = "10.11")]
    V10_11,
    #[serde(rename = "11.4")]
    #[strum(serialize = "11.4")]
    V11_4,
}

impl ServerVersion {
    /// The engine this version belongs to.
    pub fn engine(self) -> Engine {
        match self {
            ServerVersion::V8_0 | ServerVersion::V8_4 => Engine::MySQL,
            ServerVersion::V10_11 | ServerVersion::V11_4 => Engine::MariaDB,
        }
    }

    /// The pinned official server image of this version.
    pub fn image(self) -> &'static str {
        match self {
            ServerVersion::V8_0 => "docker.io/library/mysql:8.0.44",
            ServerVersion::V8_4 => "docker.io/library/mysql:8.4.7",
            ServerVersion::V10_11 => "docker.io/library/mariadb:10.11.14",
            ServerVersion::V11_4 => "docker.io/library/mariadb:11.4.8",
        }
    }
}

/// Persistent storage of the data directory.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0").message("storage.size can grow but never shrink: set it to at least the current size"))]
#[x_kube(validation = Rule::new("has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)").message("storage.storageClassName is immutable: create a new instance (restoring from a backup) to move to another storage class"))]
pub struct StorageSpec {
    /// Size of the data volume, as a Kubernetes quantity such as `10Gi`. Can grow, never shrink.
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))").message("storage.size must be a positive Kubernetes quantity such as 10Gi or 500Mi"))]
    pub size: String,

    /// StorageClass of the data volume; the cluster default when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class_name: Option<String>,
}

/// Scheduled backups.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Turns scheduled backups on.
    #[serde(default)]
    pub enabled: bool,

    /// When to back up, as a 5-field cron expression in UTC (minute hour day-of-month month day-of-week).
    #[serde(default = "default_schedule")]
    #[x_kube(validation = Rule::new("self.matches('^\\\\s*([0-9*/,?A-Za-z-]+\\\\s+){4}[0-9*/,?A-Za-z-]+\\\\s*$') || self.matches('^@(yearly|annually|monthly|weekly|daily|hourly)$')").message("backup.schedule must be a 5-field cron expression such as \"0 3 * * *\" (minute hour day-of-month month day-of-week) or @daily"))]
    #[schemars(length(max = 64))]
    pub schedule: String,

    /// Which backups to keep; older complete backups of this instance are deleted after a successful one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionSpec>,

    /// Where backups are written.
    pub destination: BackupDestination,

    /// Pauses the schedule without deleting anything.
    #[serde(default)]
    pub suspend: bool,
}

fn default_schedule() -> String {
    "0 3 * * *".to_owned()
}

/// Which backups retention keeps. A backup is kept if either rule keeps it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSpec {
    /// Keep at least the newest N complete backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("retention.keepLast must be at least 1: the newest backup is always kept"))]
    #[schemars(transform = int32_format)]
    pub keep_last: Option<u32>,

    /// Keep backups younger than this duration, such as `7d`, `36h` or `90m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[1-9][0-9]*(m|h|d)$')").message("retention.maxAge must be a number followed by m, h or d, such as 7d"))]
    #[schemars(length(max = 16))]
    pub max_age: Option<String>,
}

/// Destination of backups: exactly one of `pvc` or `s3`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.pvc) != has(self.s3)").message("backup.destination needs exactly one of pvc or s3"))]
pub struct BackupDestination {
    /// A PersistentVolumeClaim `NAME-backups` created by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcDestination>,

    /// An S3-compatible bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
}

/// Backups on a PersistentVolumeClaim.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PvcDestination {
    /// Size of the backup volume, such as `20Gi`.
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self)").message("backup.destination.pvc.size must be a Kubernetes quantity such as 20Gi"))]
    pub size: String,

    /// StorageClass of the backup volume; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub storage_class_name: Option<String>,
}

/// Backups in an S3-compatible bucket.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// Bucket name.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$')").message("backup.destination.s3.bucket must be a valid bucket name: 3-63 lowercase letters, digits, '.' or '-'"))]
    #[schemars(length(max = 63))]
    pub bucket: String,

    /// Key prefix inside the bucket; the instance's namespace/name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub prefix: Option<String>,

    /// Endpoint URL of the S3-compatible service; AWS S3 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("backup.destination.s3.endpoint must be a URL starting with https:// or http://"))]
    #[schemars(length(max = 512))]
    pub endpoint: Option<String>,

    /// Region of the bucket.
    #[serde(default = "default_region")]
    pub region: String,

    /// Addresses the bucket in the path rather than the host name (most self-hosted stores need this).
    #[serde(default)]
    pub force_path_style: bool,

    /// Secret with keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub credentials_secret: String,
}

fn default_region() -> String {
    "us-east-1".to_owned()
}

/// A backup to seed a new instance from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.pvc) != has(self.s3)").message("restoreFrom needs exactly one of pvc or s3"))]
pub struct RestoreSource {
    /// The instance whose backups these are.
    #[schemars(length(max = 63))]
    pub instance: String,

    /// The backup to restore: its name, such as `shop-20261125T030000Z`, or `latest`.
    #[serde(default = "latest")]
    #[schemars(length(max = 128))]
    pub backup: String,

    /// The volume claim holding the backups, such as `shop-backups` (in this namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<RestorePvc>,

    /// The S3-compatible bucket holding the backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
}

fn latest() -> String {
    "latest".to_owned()
}

/// Backups on a volume claim.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestorePvc {
    /// Name of the claim.
    #[schemars(length(max = 253))]
    pub claim_name: String,
}

/// What deleting the instance does to its data.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Display)]
pub enum DeletionPolicy {
    /// Keep the data volumes and the credentials Secret; a new instance of the same name reuses both.
    #[default]
    Retain,
    /// Delete the data volumes, backup volume and credentials Secret with the instance.
    Delete,
}

/// The phase an instance is in. See docs/state-machine.md.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Display,
    EnumString,
    EnumIter,
    IntoStaticStr,
)]
pub enum Phase {
    /// Accepted; spec being validated and credentials prepared.
    #[default]
    Pending,
    /// Children applied; waiting for the server to become ready (or rolling a change).
    Provisioning,
    /// All replicas ready, nothing in progress.
    Ready,
    /// A backup Job is running; the database keeps serving.
    BackingUp,
    /// Was serving, now not all replicas are ready or backups keep failing.
    Degraded,
}

/// Observed state of a MySQLInstance.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MySQLInstanceStatus {
    /// Where the instance stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Ready, Progressing, Degraded, BackingUp, BackupSucceeded, Paused and Synced conditions.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Number of ready MySQL servers.
    #[serde(default)]
    pub ready_replicas: i32,

    /// Ready replicas over desired replicas, such as `1/1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,

    /// Address applications connect to: `NAME.NAMESPACE.svc:3306`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,

    /// Secret holding the generated credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,

    /// The newest successful backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup: Option<LastBackup>,

    /// Backups that failed in a row since the last success.
    #[serde(default)]
    pub consecutive_backup_failures: i32,

    /// When `spec.restoreFrom` was restored; set once, so a restore never runs twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<Time>,
}

/// The newest successful backup.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastBackup {
    /// Name of the backup Job.
    pub name: String,
    /// When the backup started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the backup completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Compressed size of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Where the backup was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// SHA-256 of the compressed backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// How long the backup took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
}

/// The CRD as YAML, exactly as checked in under `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&MySQLInstance::crd())
}

impl MySQLInstanceSpec {
    /// Problems the schema cannot catch, phrased as what to change. `None` when the spec can be applied.
    pub fn validate(&self) -> Option<String> {
        let backup = self.backup.as_ref().filter(|b| b.enabled)?;
        match backup.schedule.parse::<croner::Cron>() {
            Ok(_) => None,
            Err(error) => Some(format!(
                "backup.schedule {:?} is not a valid cron expression ({error}); use 5 fields such as \"0 3 * * *\"",
                backup.schedule
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_crd_matches_the_rust_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/mysqlinstances.mysqlinstance.io.yaml");
        let checked_in = std::fs::read_to_string(path).expect("crds/ file exists");
        let generated = crd_yaml().expect("CRD renders");
        assert!(
            checked_in == generated,
            "crds/ drifted from the Rust types: run `cargo run -- crd > crds/mysqlinstances.mysqlinstance.io.yaml`"
        );
    }

    #[test]
    fn every_spec_field_is_documented_for_kubectl_explain() {
        let crd = serde_json::to_value(MySQLInstance::crd()).expect("CRD serializes");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        let fields = spec.as_object().expect("spec has properties");
        for (name, schema) in fields {
            let description = schema["description"].as_str().unwrap_or_default();
            assert!(description.len() > 10, "spec.{name} has no useful description");
        }
        assert!(fields.len() >= 12, "expected the full spec, found {}", fields.len());
    }

    #[test]
    fn rust_side_validation_explains_bad_cron() {
        let spec: MySQLInstanceSpec = serde_json::from_value(serde_json::json!({
            "storage": {"size": "1Gi"},
            "backup": {"enabled": true, "schedule": "61 * * * *", "destination": {"pvc": {"size": "1Gi"}}}
        }))
        .expect("spec parses");
        let message = spec.validate().expect("minute 61 is refused");
        assert!(
            message.contains("backup.schedule") && message.contains("0 3 * * *"),
            "{message}"
        );
        let fine = MySQLInstanceSpec { backup: None, ..spec };
        assert_eq!(fine.validate(), None);
    }
}
