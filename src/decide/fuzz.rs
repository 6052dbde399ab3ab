//! Fuzzing of the pure core: arbitrary specs, including values the CRD's CEL rules refuse (odd quantities,
//! empty, huge and unicode strings, schedules cron cannot parse, names at and over the length limit), and
//! arbitrary observations (children absent, as built or drifted, pods in every state, Jobs running, complete
//! or failed, any stored status) go through [`decide`], the phase machine and every builder. None of them may
//! panic, every refusal says what to fix, and what is planned is what the API server accepts.
//!
//! The default case count keeps `cargo test --lib` quick; `PROPTEST_CASES=5000 cargo test --lib fuzz` runs
//! longer. A failure prints the shrunk input: make it a regression test next to the fix.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Pod, PodStatus, ResourceClaim, ResourceRequirements, Secret,
    SecretKeySelector, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use proptest::prelude::*;
use proptest::{collection, option, sample};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use strum::IntoEnumIterator;

use super::*;
use crate::api::{
    BackupDestination, BackupSpec, DeletionPolicy, Engine, LastBackup, MAX_NAME_LENGTH, MySQLInstanceSpec,
    MySQLInstanceStatus, PvcDestination, RestorePvc, RestoreSource, RetentionSpec, S3Destination, ServerVersion,
    StorageSpec,
};
use crate::error::ErrorCategory;
use crate::fsm::conditions::ConditionType;

/// Cases per property when `PROPTEST_CASES` is unset: enough to catch regressions in a quick `cargo test`.
const DEFAULT_CASES: u32 = 48;
/// Reconciles of an unchanged cluster after which nothing may be written any more.
const ROUNDS: usize = 8;
/// The API server's limits on a condition (metav1.Condition) and on an Event's reason.
const CONDITION_REASON_LIMIT: usize = 1024;
const CONDITION_MESSAGE_LIMIT: usize = 32768;
const EVENT_REASON_LIMIT: usize = 128;
/// Around "now" is where the interesting times are: backups of the last day, transitions a moment ago.
const NOW: i64 = 1_800_000_000;

/// `PROPTEST_CASES` when set, else `DEFAULT_CASES` times `scale`. No persistence file: a failure is turned
/// into a named regression test instead.
fn config(scale: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => default.cases,
        None => DEFAULT_CASES * scale,
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: default.max_shrink_iters.max(4096),
        ..default
    }
}

// --- Strings, names, quantities, times ---

/// Whitespace, control characters, unicode that looks like nothing, quotes and shell: each alone or repeated
/// into a huge string.
const ODD: &[&str] = &[
    " ",
    "\n",
    "\t",
    "\r\n",
    "\0",
    "é",
    "数据库",
    "🐬",
    "e\u{301}",
    "\u{200b}",
    "\u{202e}",
    "\u{feff}",
    "\"",
    "'",
    "\\",
    "$(id)",
    "`",
    "%",
    "%00",
    "#",
    ";",
    "=",
    ":",
    "::",
    "/",
    "..",
    "-",
    "_",
    ".",
    "a b",
    "null",
    "{}",
    "[]",
    "${X}",
    "\u{1F600}\u{200d}\u{1F600}",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z][a-z0-9-]{0,11}",
        2 => "\\PC{0,24}",
        1 => Just(String::new()),
        1 => sample::select(ODD).prop_map(str::to_owned),
        1 => (sample::select(ODD), 1usize..700).prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

/// Object names: valid DNS labels mostly, then names at and over the CRD's limit and the 63 and 253 limits
/// of Kubernetes, then anything.
fn name() -> BoxedStrategy<String> {
    let lengths = vec![
        MAX_NAME_LENGTH - 1,
        MAX_NAME_LENGTH,
        MAX_NAME_LENGTH + 1,
        52,
        53,
        63,
        64,
        253,
        254,
    ];
    prop_oneof![
        6 => "[a-z]([-a-z0-9]{0,10}[a-z0-9])?",
        1 => sample::select(lengths).prop_map(|n| "a".repeat(n)),
        1 => text(),
    ]
    .boxed()
}

const SUFFIXES: &[&str] = &[
    "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
];

/// Quantities the CEL rule `isQuantity` refuses or Kubernetes caps at 2^63-1, and ones near the edges of
/// the decimal arithmetic of quantity parsers.
const ODD_QUANTITIES: &[&str] = &[
    "abc",
    "-1Gi",
    "0",
    "-0",
    "1e3",
    "1E3",
    "1e-3",
    "1.5Gi",
    "Gi",
    "+",
    "-",
    ".",
    ".5",
    "5.",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "infinity",
    "1e400",
    "1e28",
    "9223372036854775807",
    "9223372036854775808Ei",
    "100000000000000000000Ei",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "0.000000001n",
    "1Gi ",
    " 1Gi",
    "1gi",
    "1GB",
    "1 Gi",
    "١Gi",
    "1Gi1Gi",
];

fn quantity() -> BoxedStrategy<String> {
    prop_oneof![
        4 => ("[0-9]{1,4}", sample::select(SUFFIXES)).prop_map(|(n, s)| format!("{n}{s}")),
        2 => ("[+-]?[0-9]{0,30}(\\.[0-9]{0,6})?([eE][+-]?[0-9]{1,3})?", sample::select(SUFFIXES))
            .prop_map(|(n, s)| format!("{n}{s}")),
        2 => sample::select(ODD_QUANTITIES).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

fn at(second: i64) -> Time {
    Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Mostly within three days of [`NOW`], sometimes anywhere in the representable range, or at its ends.
fn time() -> BoxedStrategy<Time> {
    prop_oneof![
        6 => (-3 * 86_400i64..3 * 86_400).prop_map(|d| at(NOW + d)),
        1 => (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second()).prop_map(at),
        1 => sample::select(vec![Timestamp::MIN, Timestamp::MAX, Timestamp::UNIX_EPOCH]).prop_map(Time),
    ]
    .boxed()
}

fn small_i32() -> BoxedStrategy<i32> {
    prop_oneof![4 => -1i32..5, 1 => any::<i32>()].boxed()
}

fn generation() -> BoxedStrategy<i64> {
    prop_oneof![4 => 0i64..4, 1 => any::<i64>()].boxed()
}

// --- The spec ---

const SCHEDULES: &[&str] = &[
    "0 3 * * *",
    "*/15 * * * *",
    "@daily",
    "@hourly",
    "@reboot",
    "@every 1h",
    "61 * * * *",
    "* 24 * * *",
    "0 0 31 2 *",
    "0 0 30 2 *",
    "0 0 L * *",
    "0 0 LW * *",
    "0 0 * * 5#5",
    "0 0 * * 5#6",
    "0 0 * * 5L",
    "0 0 ? * MON-FRI",
    "0 0 15W * *",
    "*/0 * * * *",
    "0/0 * * * *",
    "5-1 * * * *",
    "1-99999 * * * *",
    "99999999999999999999 * * * *",
    "*/4294967296 * * * *",
    "0 0 * * * *",
    "0 0 0 * * * 2099",
    "* * * *",
    "every day",
    "",
    "     ",
    "0 3 * * * ",
    "０ ３ * * *",
];

fn cron_field() -> BoxedStrategy<String> {
    let specials = vec![
        "*",
        "?",
        "L",
        "W",
        "#",
        "5#5",
        "LW",
        "L-3",
        "15W",
        "MON-FRI",
        "JAN",
        "SUN#2",
        "*/0",
        "0/0",
        "1-0",
        "-1",
        "7",
        "8",
        "60",
        "99999999999999999999",
    ];
    prop_oneof![
        2 => "[0-9]{1,3}",
        1 => "\\*/[0-9]{1,3}",
        1 => "[0-9]{1,2}-[0-9]{1,3}",
        1 => "[0-9]{1,2}(,[0-9]{1,2}){1,3}",
        2 => sample::select(specials).prop_map(str::to_owned),
        1 => "[0-9*/,?LW#A-Za-z-]{1,6}",
    ]
    .boxed()
}

/// Mostly schedules cron takes, so the children of an instance with backups are built too.
fn schedule() -> BoxedStrategy<String> {
    let valid = vec!["0 3 * * *", "*/15 * * * *", "@daily", "30 2 * * 0", "0 */6 * * *"];
    prop_oneof![
        8 => sample::select(valid).prop_map(str::to_owned),
        2 => sample::select(SCHEDULES).prop_map(str::to_owned),
        2 => collection::vec(cron_field(), 1..8).prop_map(|fields| fields.join(" ")),
        1 => text(),
    ]
    .boxed()
}

fn max_age() -> BoxedStrategy<String> {
    let odd = vec![
        "7d",
        "36h",
        "90m",
        "0d",
        "-1d",
        "1y",
        "1.5h",
        "",
        "d",
        "99999999999999999999d",
    ];
    prop_oneof![
        2 => sample::select(odd).prop_map(str::to_owned),
        1 => "[0-9]{1,4}[mhdsw]",
        1 => text(),
    ]
    .boxed()
}

fn s3() -> BoxedStrategy<S3Destination> {
    (
        prop_oneof![3 => "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", 1 => text()],
        option::of(prop_oneof!["[a-z/]{0,12}", Just("///".to_owned()), text()]),
        option::of(prop_oneof![Just("http://minio:9000".to_owned()), text()]),
        prop_oneof![Just("us-east-1".to_owned()), text()],
        any::<bool>(),
        name(),
    )
        .prop_map(
            |(bucket, prefix, endpoint, region, force_path_style, credentials_secret)| S3Destination {
                bucket,
                prefix,
                endpoint,
                region,
                force_path_style,
                credentials_secret,
            },
        )
        .boxed()
}

prop_compose! {
    fn backup()(
        (enabled, suspend) in (prop::bool::weighted(0.8), prop::bool::weighted(0.2)),
        schedule in schedule(),
        retention in option::of((option::of(prop_oneof![0u32..5, any::<u32>()]), option::of(max_age()))),
        pvc in option::weighted(0.6, (quantity(), option::of(name()))),
        s3 in option::weighted(0.5, s3()),
    ) -> BackupSpec {
        BackupSpec {
            enabled,
            schedule,
            retention: retention.map(|(keep_last, max_age)| RetentionSpec { keep_last, max_age }),
            destination: BackupDestination {
                pvc: pvc.map(|(size, storage_class_name)| PvcDestination { size, storage_class_name }),
                s3,
            },
            suspend,
        }
    }
}

prop_compose! {
    fn restore_source()(
        instance in name(),
        backup in prop_oneof![Just("latest".to_owned()), "[a-z]{1,8}-[0-9]{8}T[0-9]{6}Z", text()],
        pvc in option::weighted(0.6, name()),
        s3 in option::weighted(0.5, s3()),
    ) -> RestoreSource {
        RestoreSource { instance, backup, pvc: pvc.map(|claim_name| RestorePvc { claim_name }), s3 }
    }
}

fn resource_map() -> BoxedStrategy<BTreeMap<String, Quantity>> {
    let names = vec!["cpu", "memory", "storage", "ephemeral-storage", "nvidia.com/gpu"];
    let name = prop_oneof![4 => sample::select(names).prop_map(str::to_owned), 1 => text()];
    collection::btree_map(name, quantity().prop_map(Quantity), 0..3).boxed()
}

prop_compose! {
    /// Claims have distinct names: duplicates are refused by the API server when it validates the pod.
    fn resources()(
        requests in option::of(resource_map()),
        limits in option::of(resource_map()),
        claims in option::weighted(0.2, collection::btree_map(name(), option::of(text()), 0..3)),
    ) -> ResourceRequirements {
        ResourceRequirements {
            requests,
            limits,
            claims: claims.map(|c| c.into_iter().map(|(name, request)| ResourceClaim { name, request }).collect()),
        }
    }
}

fn identifier() -> BoxedStrategy<String> {
    prop_oneof![3 => "[A-Za-z0-9_]{1,64}", 1 => Just("root".to_owned()), 1 => text()].boxed()
}

fn config_entry() -> BoxedStrategy<(String, String)> {
    let keys = vec![
        "datadir",
        "port",
        "socket",
        "pid-file",
        "max_connections",
        "character-set-server",
        "skip-name-resolve",
    ];
    (
        prop_oneof![
            2 => "[a-z_]{1,20}",
            2 => sample::select(keys).prop_map(str::to_owned),
            1 => text(),
        ],
        prop_oneof![
            2 => "[0-9]{1,5}",
            1 => Just("a\nb".to_owned()),
            1 => Just("ON".to_owned()),
            2 => text(),
        ],
    )
        .boxed()
}

prop_compose! {
    fn spec()(
        (engine, version, image, replicas) in (
            sample::select(Engine::iter().collect::<Vec<_>>()),
            sample::select(ServerVersion::iter().collect::<Vec<_>>()),
            option::weighted(0.3, text()),
            prop_oneof![4 => Just(1), 1 => small_i32()],
        ),
        (size, storage_class_name) in (quantity(), option::of(name())),
        resources in option::of(resources()),
        config in collection::vec(config_entry(), 0..5),
        (root_password_secret_ref, database, user) in (
            option::weighted(0.25, (name(), prop_oneof![Just("password".to_owned()), text()], option::of(any::<bool>()))),
            option::of(identifier()),
            option::of(identifier()),
        ),
        backup in option::weighted(0.6, backup()),
        restore_from in option::weighted(0.3, restore_source()),
        (delete, paused) in (any::<bool>(), prop::bool::weighted(0.1)),
    ) -> MySQLInstanceSpec {
        MySQLInstanceSpec {
            engine,
            version,
            image,
            replicas,
            storage: StorageSpec { size, storage_class_name },
            resources,
            config: config.into_iter().collect(),
            root_password_secret_ref: root_password_secret_ref
                .map(|(name, key, optional)| SecretKeySelector { name, key, optional }),
            database,
            user,
            backup,
            restore_from,
            deletion_policy: if delete { DeletionPolicy::Delete } else { DeletionPolicy::Retain },
            paused,
        }
    }
}

// --- The stored status and the instance ---

fn phase() -> BoxedStrategy<Phase> {
    sample::select(Phase::iter().collect::<Vec<_>>()).boxed()
}

prop_compose! {
    fn condition()(
        type_ in prop_oneof![
            4 => sample::select(ConditionType::iter().map(<&str>::from).collect::<Vec<_>>()).prop_map(str::to_owned),
            1 => text(),
        ],
        status in sample::select(vec!["True", "False", "Unknown", "", "true"]),
        (reason, message) in (text(), text()),
        observed_generation in option::of(generation()),
        last_transition_time in time(),
    ) -> Condition {
        Condition { type_, status: status.to_owned(), reason, message, observed_generation, last_transition_time }
    }
}

prop_compose! {
    /// Only finite durations: the API server stores JSON, which has no NaN.
    fn last_backup()(
        name in text(),
        (started_at, completed_at) in (option::of(time()), option::of(time())),
        size_bytes in option::of(any::<i64>()),
        (location, sha256) in (option::of(text()), option::of("[0-9a-f]{64}")),
        duration_seconds in option::of(prop_oneof![0.0f64..1e5, Just(f64::MAX), Just(-1.0)]),
    ) -> LastBackup {
        LastBackup { name, started_at, completed_at, size_bytes, location, sha256, duration_seconds }
    }
}

prop_compose! {
    fn status()(
        phase in option::weighted(0.9, phase()),
        conditions in collection::vec(condition(), 0..5),
        observed_generation in option::of(generation()),
        (ready_replicas, consecutive_backup_failures) in (small_i32(), small_i32()),
        (ready, endpoint, secret_name) in (option::of(text()), option::of(text()), option::of(text())),
        last_backup in option::of(last_backup()),
        restored_at in option::weighted(0.2, time()),
    ) -> MySQLInstanceStatus {
        MySQLInstanceStatus {
            phase, conditions, observed_generation, ready_replicas, ready, endpoint, secret_name, last_backup,
            consecutive_backup_failures, restored_at,
        }
    }
}

prop_compose! {
    fn metadata()(
        (name, namespace) in (option::weighted(0.95, name()), option::weighted(0.95, name())),
        uid in option::weighted(0.9, "[a-f0-9]{8}(-[a-f0-9]{4}){3}-[a-f0-9]{12}"),
        generation in option::weighted(0.9, generation()),
        deletion_timestamp in option::weighted(0.1, time()),
        annotations in option::weighted(0.2, collection::btree_map(text(), text(), 0..3)),
    ) -> ObjectMeta {
        ObjectMeta { name, namespace, uid, generation, deletion_timestamp, annotations, ..ObjectMeta::default() }
    }
}

fn instance() -> impl Strategy<Value = MySQLInstance> {
    (metadata(), spec(), option::weighted(0.7, status())).prop_map(|(metadata, spec, status)| MySQLInstance {
        metadata,
        spec,
        status,
    })
}

prop_compose! {
    fn settings()(
        operator_image in prop_oneof![3 => Just("localhost/mysqlinstance-operator:test".to_owned()), 1 => text()],
        server_images in collection::btree_map(sample::select(ServerVersion::iter().collect::<Vec<_>>()), text(), 0..2),
    ) -> OperatorSettings {
        OperatorSettings { operator_image, server_images }
    }
}

// --- The world ---

/// One edit of a child someone else made: at one node of its JSON form, remove it, duplicate it or replace
/// its value by one of the same JSON type (so the object still parses, usually).
#[derive(Clone, Debug)]
struct Drift {
    at: sample::Index,
    edit: Edit,
    text: String,
    number: i64,
}

#[derive(Clone, Copy, Debug)]
enum Edit {
    Remove,
    Duplicate,
    Replace,
}

fn drift() -> BoxedStrategy<Drift> {
    (
        any::<sample::Index>(),
        prop_oneof![Just(Edit::Remove), Just(Edit::Duplicate), Just(Edit::Replace)],
        text(),
        prop_oneof![-3i64..100_000, Just(i64::from(i32::MAX))],
    )
        .prop_map(|(at, edit, text, number)| Drift { at, edit, text, number })
        .boxed()
}

/// How a child the operator owns stands.
#[derive(Clone, Debug)]
enum Child {
    Absent,
    AsBuilt,
    Drifted(Drift),
}

fn child() -> BoxedStrategy<Child> {
    prop_oneof![
        2 => Just(Child::Absent),
        3 => Just(Child::AsBuilt),
        3 => drift().prop_map(Child::Drifted),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
struct StatefulSetShape {
    child: Child,
    generation: Option<i64>,
    /// `None` for a status that says every replica runs the newest revision and is ready.
    status: Option<Option<StatefulSetStatus>>,
    /// `Some(None)` removes the version label.
    version_label: Option<Option<String>>,
    /// The claim template's size, as an earlier spec had it.
    claim_size: Option<String>,
    /// The server image of the template, as an earlier spec or operator had it.
    server_image: Option<String>,
}

prop_compose! {
    fn statefulset_status()(
        observed_generation in option::weighted(0.9, generation()),
        (replicas, ready_replicas, updated_replicas) in (small_i32(), option::of(small_i32()), option::of(small_i32())),
        (current_revision, update_revision) in (
            option::of(sample::select(vec!["r1", "r2"])),
            option::of(sample::select(vec!["r1", "r2"])),
        ),
    ) -> StatefulSetStatus {
        StatefulSetStatus {
            observed_generation,
            replicas,
            ready_replicas,
            updated_replicas,
            current_revision: current_revision.map(str::to_owned),
            update_revision: update_revision.map(str::to_owned),
            ..StatefulSetStatus::default()
        }
    }
}

prop_compose! {
    fn statefulset_shape()(
        child in child(),
        generation in option::weighted(0.9, generation()),
        status in prop_oneof![1 => Just(None), 1 => option::weighted(0.85, statefulset_status()).prop_map(Some)],
        version_label in option::weighted(0.3, option::weighted(0.8, prop_oneof![
            3 => sample::select(ServerVersion::iter().map(|v| v.to_string()).collect::<Vec<_>>()),
            1 => text(),
        ])),
        claim_size in option::weighted(0.2, quantity()),
        server_image in option::weighted(0.2, text()),
    ) -> StatefulSetShape {
        StatefulSetShape { child, generation, status, version_label, claim_size, server_image }
    }
}

/// Who owns the credentials Secret.
#[derive(Clone, Copy, Debug)]
enum Owners {
    /// As the deletionPolicy wants.
    Policy,
    Nobody,
    Stranger,
}

#[derive(Clone, Debug)]
enum SecretShape {
    Absent,
    /// As the operator creates it.
    Created {
        owners: Owners,
        not_utf8: Option<&'static str>,
    },
    /// Made before the root Secret existed: it holds the root keys too.
    Legacy {
        owners: Owners,
        annotated: bool,
        without_password: bool,
        not_utf8: Option<&'static str>,
    },
    Arbitrary(Box<Secret>),
}

fn secret_data() -> BoxedStrategy<BTreeMap<String, ByteString>> {
    let keys = vec![
        credential_keys::PASSWORD,
        credential_keys::ROOT_PASSWORD,
        credential_keys::CLIENT_CNF,
        credential_keys::USERNAME,
        "pw",
    ];
    let key = prop_oneof![3 => sample::select(keys).prop_map(str::to_owned), 1 => text()];
    let value = prop_oneof![
        3 => text().prop_map(String::into_bytes),
        1 => collection::vec(any::<u8>(), 0..12),
    ];
    collection::btree_map(key, value.prop_map(ByteString), 0..4).boxed()
}

fn arbitrary_secret() -> BoxedStrategy<Secret> {
    (option::of(name()), option::of(secret_data()), any::<bool>())
        .prop_map(|(name, data, annotated)| Secret {
            metadata: ObjectMeta {
                name,
                annotations: annotated
                    .then(|| BTreeMap::from([(resources::ROOT_SECRET_ANNOTATION.to_owned(), "x".to_owned())])),
                ..ObjectMeta::default()
            },
            data,
            ..Secret::default()
        })
        .boxed()
}

fn secret_shape() -> BoxedStrategy<SecretShape> {
    let owners = prop_oneof![3 => Just(Owners::Policy), 1 => Just(Owners::Nobody), 1 => Just(Owners::Stranger)];
    let not_utf8 = option::weighted(
        0.1,
        sample::select(vec![credential_keys::PASSWORD, credential_keys::ROOT_PASSWORD]),
    );
    prop_oneof![
        2 => Just(SecretShape::Absent),
        4 => (owners.clone(), not_utf8.clone()).prop_map(|(owners, not_utf8)| SecretShape::Created { owners, not_utf8 }),
        2 => (owners, any::<bool>(), prop::bool::weighted(0.1), not_utf8).prop_map(
            |(owners, annotated, without_password, not_utf8)| SecretShape::Legacy { owners, annotated, without_password, not_utf8 }
        ),
        1 => arbitrary_secret().prop_map(|s| SecretShape::Arbitrary(Box::new(s))),
    ]
    .boxed()
}

/// The Secret named by `spec.rootPasswordSecretRef`.
#[derive(Clone, Debug)]
enum RootSecretShape {
    Absent,
    /// Holds these bytes under the key the spec names.
    Holding(Vec<u8>),
    Arbitrary(Box<Secret>),
}

fn root_secret_shape() -> BoxedStrategy<RootSecretShape> {
    prop_oneof![
        1 => Just(RootSecretShape::Absent),
        3 => prop_oneof![3 => text().prop_map(String::into_bytes), 1 => collection::vec(any::<u8>(), 0..8)]
            .prop_map(RootSecretShape::Holding),
        1 => arbitrary_secret().prop_map(|s| RootSecretShape::Arbitrary(Box::new(s))),
    ]
    .boxed()
}

/// Jobs and their pods share these names, so pods find their Job.
const JOB_NAMES: &[&str] = &["b-1", "b-2", "b-3", "r-1"];

prop_compose! {
    fn job_status()(
        conditions in option::weighted(0.9, prop_oneof![
            // Mostly finished, as most Jobs an operator sees are.
            3 => sample::select(vec!["Complete", "Failed"]).prop_map(|type_| vec![(type_, "True")]),
            1 => collection::vec(
                (
                    sample::select(vec!["Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet", ""]),
                    sample::select(vec!["True", "False", "Unknown"]),
                ),
                0..3,
            ),
        ]),
        (start_time, completion_time) in (option::of(time()), option::of(time())),
    ) -> JobStatus {
        JobStatus {
            conditions: conditions.map(|c| c.into_iter().map(|(type_, status)| JobCondition {
                type_: type_.to_owned(),
                status: status.to_owned(),
                ..JobCondition::default()
            }).collect()),
            start_time,
            completion_time,
            ..JobStatus::default()
        }
    }
}

prop_compose! {
    fn job()(
        name in sample::select(JOB_NAMES),
        creation_timestamp in option::weighted(0.9, time()),
        status in option::weighted(0.9, job_status()),
    ) -> Job {
        Job {
            metadata: ObjectMeta { name: Some(name.to_owned()), creation_timestamp, ..ObjectMeta::default() },
            spec: None,
            status,
        }
    }
}

#[derive(Clone, Debug)]
enum RestoreJobShape {
    Absent,
    /// As built, named and in this state.
    Present(&'static str, Option<Box<JobStatus>>),
}

fn restore_job_shape() -> BoxedStrategy<RestoreJobShape> {
    prop_oneof![
        2 => Just(RestoreJobShape::Absent),
        1 => (sample::select(JOB_NAMES), option::weighted(0.9, job_status()))
            .prop_map(|(name, status)| RestoreJobShape::Present(name, status.map(Box::new))),
    ]
    .boxed()
}

/// What a runner writes to its termination message: its result line, after log lines or not, or anything.
fn termination_message() -> BoxedStrategy<String> {
    let odd = vec![
        "{}",
        "null",
        "{\"status\":\"success\"}",
        "{\"status\":\"success\",\"startedAt\":\"2026-01-01T00:00:00Z\",\"completedAt\":\"2026-01-01T00:00:01Z\",\
         \"durationSeconds\":1e308,\"sizeBytes\":18446744073709551615}",
        "{\"status\":\"failure\",\"startedAt\":\"2026-01-01T00:00:00Z\",\"completedAt\":\"2026-01-01T00:00:01Z\",\
         \"durationSeconds\":1e400}",
        "{\"error\":null}",
        "{\"error\":\"\"}",
    ];
    let result = (
        any::<bool>(),
        (option::of(text()), option::of(text()), option::of(text())),
        (time(), time()),
        prop_oneof![0.0f64..1e5, Just(f64::MAX), Just(-1.0)],
        option::of(prop_oneof![0u64..1 << 40, Just(u64::MAX)]),
    )
        .prop_map(
            |(success, (name, location, error), (started, completed), duration, size)| {
                json!({
                    "status": if success { "success" } else { "failure" },
                    "name": name, "location": location, "error": error,
                    "startedAt": started.0.to_string(), "completedAt": completed.0.to_string(),
                    "durationSeconds": duration, "sizeBytes": size,
                })
                .to_string()
            },
        );
    prop_oneof![
        3 => result.clone(),
        1 => (text(), result).prop_map(|(log, line)| format!("{log}\n{line}")),
        1 => text().prop_map(|error| json!({ "error": error }).to_string()),
        1 => sample::select(odd).prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

fn container_state() -> BoxedStrategy<ContainerState> {
    let reasons = vec![
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
        "ContainerCreating",
        "PodInitializing",
        "",
    ];
    let reason = prop_oneof![4 => sample::select(reasons).prop_map(str::to_owned), 1 => text()];
    prop_oneof![
        2 => (option::weighted(0.9, reason), option::of(text())).prop_map(|(reason, message)| ContainerState {
            waiting: Some(ContainerStateWaiting { reason, message }),
            ..ContainerState::default()
        }),
        2 => (any::<i32>(), option::weighted(0.8, termination_message())).prop_map(|(exit_code, message)| {
            ContainerState {
                terminated: Some(ContainerStateTerminated { exit_code, message, ..ContainerStateTerminated::default() }),
                ..ContainerState::default()
            }
        }),
        1 => Just(ContainerState { running: Some(ContainerStateRunning::default()), ..ContainerState::default() }),
    ]
    .boxed()
}

fn container_statuses() -> BoxedStrategy<Option<Vec<ContainerStatus>>> {
    let names = vec!["mysql", "initialize", "place-binary", "backup", "restore", ""];
    let status =
        (sample::select(names), option::weighted(0.9, container_state())).prop_map(|(name, state)| ContainerStatus {
            name: name.to_owned(),
            state,
            ..ContainerStatus::default()
        });
    option::weighted(0.8, collection::vec(status, 0..3)).boxed()
}

prop_compose! {
    fn pod()(
        name in name(),
        job in option::weighted(0.7, (
            sample::select(vec!["batch.kubernetes.io/job-name", "job-name"]),
            sample::select(JOB_NAMES),
        )),
        status in option::weighted(0.9, (container_statuses(), container_statuses())),
    ) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name),
                labels: job.map(|(key, job)| BTreeMap::from([(key.to_owned(), job.to_owned())])),
                ..ObjectMeta::default()
            },
            spec: None,
            status: status.map(|(init_container_statuses, container_statuses)| PodStatus {
                init_container_statuses,
                container_statuses,
                ..PodStatus::default()
            }),
        }
    }
}

fn claim(name: String, size: Option<String>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            resources: Some(VolumeResourceRequirements {
                requests: size.map(|s| BTreeMap::from([("storage".to_owned(), Quantity(s))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// Everything the operator may read about an instance, as shapes that become objects once the instance is
/// known (a child "as built" is built from it).
#[derive(Clone, Debug)]
struct WorldShape {
    secret: SecretShape,
    root_password_secret: RootSecretShape,
    config_map: Child,
    service: Child,
    headless_service: Child,
    statefulset: StatefulSetShape,
    cronjob: Child,
    backup_pvc: Child,
    data_pvcs: Vec<(String, Option<String>)>,
    backup_jobs: Vec<Job>,
    restore_job: RestoreJobShape,
    pods: Vec<Pod>,
    other_rollouts: usize,
}

prop_compose! {
    fn world_shape()(
        (secret, root_password_secret) in (secret_shape(), root_secret_shape()),
        (config_map, service, headless_service, cronjob, backup_pvc) in (child(), child(), child(), child(), child()),
        statefulset in statefulset_shape(),
        data_pvcs in collection::vec((prop_oneof![3 => Just("data-shop-0".to_owned()), 1 => name()], option::weighted(0.9, quantity())), 0..3),
        backup_jobs in collection::vec(job(), 0..5),
        restore_job in restore_job_shape(),
        pods in collection::vec(pod(), 0..5),
        other_rollouts in prop_oneof![3 => Just(0usize), 2 => 1usize..3, 1 => Just(usize::MAX)],
    ) -> WorldShape {
        WorldShape {
            secret, root_password_secret, config_map, service, headless_service, statefulset, cronjob, backup_pvc,
            data_pvcs, backup_jobs, restore_job, pods, other_rollouts,
        }
    }
}

/// One reconcile's inputs.
fn case() -> impl Strategy<Value = (MySQLInstance, WorldShape, OperatorSettings, Time)> {
    (
        instance(),
        world_shape(),
        settings(),
        prop_oneof![4 => Just(at(NOW)), 1 => time()],
    )
}

// --- From shapes to objects ---

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    At(usize),
}

/// The path of every node of `value` but the root.
fn paths(value: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let children: Vec<(Seg, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (Seg::Key(k.clone()), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (Seg::At(i), v)).collect(),
        _ => Vec::new(),
    };
    for (seg, child) in children {
        prefix.push(seg);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn node<'a>(parent: &'a mut Value, seg: &Seg) -> Option<&'a mut Value> {
    match (seg, parent) {
        (Seg::Key(key), Value::Object(map)) => map.get_mut(key),
        (Seg::At(i), Value::Array(items)) => items.get_mut(*i),
        _ => None,
    }
}

fn edit(root: &mut Value, path: &[Seg], drift: &Drift) {
    let Some((last, above)) = path.split_last() else {
        return;
    };
    let mut parent = root;
    for seg in above {
        match node(parent, seg) {
            Some(next) => parent = next,
            None => return,
        }
    }
    match (drift.edit, last, parent) {
        (Edit::Remove, Seg::Key(key), Value::Object(map)) => {
            map.remove(key);
        }
        (Edit::Remove, Seg::At(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
        }
        (Edit::Duplicate, Seg::At(i), Value::Array(items)) if *i < items.len() => {
            let copy = items[*i].clone();
            items.insert(*i, copy);
        }
        (Edit::Duplicate, Seg::Key(key), Value::Object(map)) => {
            if let Some(copy) = map.get(key).cloned() {
                map.insert(format!("{key}-copy"), copy);
            }
        }
        (_, seg, parent) => {
            if let Some(child) = node(parent, seg) {
                *child = match child {
                    Value::String(_) | Value::Null => Value::String(drift.text.clone()),
                    Value::Number(_) => Value::from(drift.number),
                    Value::Bool(b) => Value::Bool(!*b),
                    Value::Array(_) => Value::Array(Vec::new()),
                    Value::Object(_) => Value::Object(serde_json::Map::new()),
                }
            }
        }
    }
}

/// `built` as someone else left it; `built` itself when the edit makes it unparsable.
fn drifted<K: Serialize + DeserializeOwned>(built: K, drift: &Drift) -> K {
    let Ok(mut value) = serde_json::to_value(&built) else {
        return built;
    };
    let mut all = Vec::new();
    paths(&value, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return built;
    }
    let path: &Vec<Seg> = drift.at.get(&all[..]);
    edit(&mut value, path, drift);
    serde_json::from_value(value).unwrap_or(built)
}

fn live<K: Serialize + DeserializeOwned>(shape: &Child, built: impl FnOnce() -> Option<K>) -> Option<K> {
    match shape {
        Child::Absent => None,
        Child::AsBuilt => built(),
        Child::Drifted(drift) => built().map(|b| drifted(b, drift)),
    }
}

fn owners(instance: &MySQLInstance, owners: Owners) -> Option<Vec<OwnerReference>> {
    match owners {
        Owners::Policy => Some(resources::credentials_ownership(instance)).filter(|o| !o.is_empty()),
        Owners::Nobody => None,
        Owners::Stranger => Some(vec![OwnerReference {
            api_version: "v1".to_owned(),
            kind: "ConfigMap".to_owned(),
            name: "stranger".to_owned(),
            uid: "s-1".to_owned(),
            ..OwnerReference::default()
        }]),
    }
}

/// Fixed passwords: what the controller generates does not matter to the decisions.
fn generated(root_password: Option<String>) -> Credentials {
    Credentials {
        root_password: root_password.unwrap_or_else(|| "generated-root".to_owned()),
        user_password: "generated-user".to_owned(),
    }
}

fn secret(instance: &MySQLInstance, shape: &SecretShape) -> Option<Secret> {
    let (mut secret, not_utf8) = match shape {
        SecretShape::Absent => return None,
        SecretShape::Arbitrary(secret) => return Some((**secret).clone()),
        SecretShape::Created { owners: o, not_utf8 } => {
            let mut secret = resources::credentials_secret(instance, &generated(None));
            secret.metadata.owner_references = owners(instance, *o);
            (secret, *not_utf8)
        }
        SecretShape::Legacy {
            owners: o,
            annotated,
            without_password,
            not_utf8,
        } => {
            let mut secret = resources::credentials_secret(instance, &generated(None));
            secret.metadata.owner_references = owners(instance, *o);
            let data = secret.data.get_or_insert_with(BTreeMap::new);
            data.insert(
                credential_keys::ROOT_PASSWORD.to_owned(),
                ByteString(b"legacy-root".to_vec()),
            );
            data.insert(credential_keys::CLIENT_CNF.to_owned(), ByteString(b"[client]".to_vec()));
            if *without_password {
                data.remove(credential_keys::PASSWORD);
            }
            if *annotated {
                secret.annotations_mut().insert(
                    resources::ROOT_SECRET_ANNOTATION.to_owned(),
                    resources::root_secret_name(instance),
                );
            }
            (secret, *not_utf8)
        }
    };
    if let (Some(key), Some(data)) = (not_utf8, secret.data.as_mut())
        && let Some(value) = data.get_mut(key)
    {
        *value = ByteString(vec![0xff, 0xfe, b'x']);
    }
    Some(secret)
}

fn statefulset(instance: &MySQLInstance, settings: &OperatorSettings, shape: &StatefulSetShape) -> Option<StatefulSet> {
    let claim_size = shape.claim_size.as_ref().unwrap_or(&instance.spec.storage.size);
    let mut sts = live(&shape.child, || {
        resources::statefulset(instance, settings, claim_size).ok()
    })?;
    sts.metadata.generation = shape.generation;
    sts.status = match &shape.status {
        Some(status) => status.clone(),
        None => Some(StatefulSetStatus {
            observed_generation: shape.generation,
            replicas: 1,
            ready_replicas: Some(instance.spec.replicas),
            updated_replicas: Some(instance.spec.replicas),
            ..StatefulSetStatus::default()
        }),
    };
    if let Some(label) = &shape.version_label {
        let labels = sts.labels_mut();
        match label {
            Some(version) => labels.insert("app.kubernetes.io/version".to_owned(), version.clone()),
            None => labels.remove("app.kubernetes.io/version"),
        };
    }
    if let Some(image) = &shape.server_image {
        let containers = sts
            .spec
            .template
            .spec
            .iter_mut()
            .flat_map(|pod| pod.containers.iter_mut());
        for container in containers.filter(|c| c.name == "mysql") {
            container.image = Some(image.clone());
        }
    }
    Some(sts)
}

fn materialize(shape: &WorldShape, instance: &MySQLInstance, settings: &OperatorSettings) -> World {
    let root_password_secret = match &shape.root_password_secret {
        RootSecretShape::Absent => None,
        RootSecretShape::Arbitrary(secret) => Some((**secret).clone()),
        RootSecretShape::Holding(bytes) => {
            let key = instance
                .spec
                .root_password_secret_ref
                .as_ref()
                .map_or("password", |r| r.key.as_str());
            Some(Secret {
                data: Some(BTreeMap::from([(key.to_owned(), ByteString(bytes.clone()))])),
                ..Secret::default()
            })
        }
    };
    let restore_job = match &shape.restore_job {
        RestoreJobShape::Absent => None,
        RestoreJobShape::Present(name, status) => {
            let mut job = resources::restore_job(instance, settings).unwrap_or_default();
            job.metadata.name = Some((*name).to_owned());
            job.status = status.as_deref().cloned();
            Some(job)
        }
    };
    let named = |name: String| ObjectMeta {
        name: Some(name),
        ..ObjectMeta::default()
    };
    World {
        secret: secret(instance, &shape.secret),
        root_password_secret,
        config_map: live(&shape.config_map, || Some(resources::config_map(instance))),
        service: live(&shape.service, || Some(resources::service(instance))),
        headless_service: live(&shape.headless_service, || Some(resources::headless_service(instance))),
        statefulset: statefulset(instance, settings, &shape.statefulset),
        // A CronJob or backup volume left from when backups were on, when they are off now.
        cronjob: live(&shape.cronjob, || {
            resources::backup_cronjob(instance, settings).or_else(|| {
                Some(CronJob {
                    metadata: named(resources::backup_cronjob_name(instance)),
                    ..CronJob::default()
                })
            })
        }),
        backup_pvc: live(&shape.backup_pvc, || {
            resources::backup_pvc(instance).or_else(|| Some(claim(resources::backup_pvc_name(instance), None)))
        }),
        data_pvcs: shape
            .data_pvcs
            .iter()
            .map(|(name, size)| claim(name.clone(), size.clone()))
            .collect(),
        backup_jobs: shape.backup_jobs.clone(),
        restore_job,
        pods: shape.pods.clone(),
        other_rollouts: shape.other_rollouts,
    }
}

// --- What the API server would store ---

/// The world and instance after the API server stored what `plan` writes: applied children replace the live
/// ones (keeping the live status, which only the children's controllers write), the credentials move as the
/// controller moves them, volumes grow, and the status is written.
fn store(instance: &mut MySQLInstance, world: &mut World, plan: Plan) {
    fn put<K>(slot: &mut Option<K>, step: Step<K>) {
        match step {
            Step::InLine => {}
            Step::Apply(object) => *slot = Some(*object),
            Step::Delete(_) => *slot = None,
        }
    }
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
    } = plan.children;
    match credentials {
        CredentialsStep::InLine => {}
        CredentialsStep::Create { root_password } => {
            world.secret = Some(resources::credentials_secret(instance, &generated(root_password)));
        }
        CredentialsStep::Split(credentials) => {
            if let Some(secret) = world.secret.as_mut() {
                let data = secret.data.get_or_insert_with(BTreeMap::new);
                for (key, value) in resources::connection_entries(instance, &credentials.user_password) {
                    data.insert(key.to_owned(), ByteString(value.into_bytes()));
                }
                let owners = resources::credentials_ownership(instance);
                secret.metadata.owner_references = (!owners.is_empty()).then_some(owners);
                secret.annotations_mut().insert(
                    resources::ROOT_SECRET_ANNOTATION.to_owned(),
                    resources::root_secret_name(instance),
                );
            }
        }
        CredentialsStep::DropRootKeys => {
            if let Some(data) = world.secret.as_mut().and_then(|s| s.data.as_mut()) {
                for key in credential_keys::ROOT {
                    data.remove(*key);
                }
            }
        }
        CredentialsStep::SetOwners(owners) => {
            if let Some(secret) = world.secret.as_mut() {
                secret.metadata.owner_references = (!owners.is_empty()).then_some(owners);
            }
        }
    }
    put(&mut world.config_map, config_map);
    put(&mut world.headless_service, headless_service);
    put(&mut world.service, service);
    if let Step::Apply(sts) = &statefulset
        && let Some(previous) = &world.statefulset
    {
        let mut sts = (**sts).clone();
        sts.status = previous.status.clone();
        sts.metadata.generation = previous.metadata.generation;
        world.statefulset = Some(sts);
    } else {
        put(&mut world.statefulset, statefulset);
    }
    for growth in data_volume_growth {
        for pvc in world.data_pvcs.iter_mut().filter(|p| p.name_any() == growth.claim) {
            *pvc = claim(growth.claim.clone(), Some(growth.size.clone()));
        }
    }
    put(&mut world.backup_pvc, backup_volume);
    put(&mut world.restore_job, restore_job);
    put(&mut world.cronjob, backup_cronjob);
    if let Some(status) = plan.status {
        instance.status = Some(status);
    }
}

// --- The checks ---

/// metav1.Condition's reason: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, at most 1024 characters.
fn valid_reason(reason: &str) -> bool {
    let bytes = reason.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || b"_,:".contains(b);
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= CONDITION_REASON_LIMIT
                && first.is_ascii_alphabetic()
                && (last.is_ascii_alphanumeric() || *last == b'_')
                && bytes.iter().all(inner)
        }
        _ => false,
    }
}

fn check_conditions<'a>(conditions: impl IntoIterator<Item = &'a Condition>) -> Result<(), TestCaseError> {
    let mut types = HashSet::new();
    for c in conditions {
        prop_assert!(types.insert(c.type_.clone()), "condition {} twice", c.type_);
        prop_assert!(
            ["True", "False", "Unknown"].contains(&c.status.as_str()),
            "{}: status {:?}",
            c.type_,
            c.status
        );
        prop_assert!(valid_reason(&c.reason), "{}: reason {:?}", c.type_, c.reason);
        prop_assert!(!c.message.trim().is_empty(), "{}: empty message", c.type_);
        prop_assert!(
            c.message.len() <= CONDITION_MESSAGE_LIMIT,
            "{}: message of {} bytes",
            c.type_,
            c.message.len()
        );
    }
    Ok(())
}

fn serializes<K: Serialize>(step: &Step<K>) -> bool {
    match step {
        Step::Apply(object) => serde_json::to_value(object).is_ok(),
        Step::InLine | Step::Delete(_) => true,
    }
}

fn check_plan(instance: &MySQLInstance, plan: &Plan) -> Result<(), TestCaseError> {
    // The edges taken are the phase machine's own business (src/fsm tests them); here, that it explains.
    let transition = &plan.transition;
    prop_assert!(!transition.message.trim().is_empty(), "{transition:?}");

    // No status planned means the stored one is already the desired one.
    let status = plan.status.as_ref().or(instance.status.as_ref());
    prop_assert!(status.is_some(), "no status planned and none stored");
    if let Some(status) = status {
        prop_assert_eq!(status.phase, Some(transition.to));
        check_conditions(&status.conditions)?;
        let has = |type_: ConditionType| status.conditions.iter().any(|c| c.type_ == <&str>::from(type_));
        prop_assert!(has(ConditionType::Ready) && has(ConditionType::Synced));
    }

    for event in &plan.events {
        prop_assert!(
            !event.reason.is_empty() && event.reason.len() <= EVENT_REASON_LIMIT,
            "{event:?}"
        );
        prop_assert!(!event.action.is_empty(), "{event:?}");
        prop_assert!(!event.note.trim().is_empty(), "{event:?}");
        prop_assert!(
            event.note.len() <= EVENT_NOTE_LIMIT,
            "note of {} bytes",
            event.note.len()
        );
    }

    if instance.spec.paused || instance.spec.validate().is_some() {
        prop_assert_eq!(&plan.children, &Children::default(), "paused or invalid, yet writing");
    }
    let c = &plan.children;
    prop_assert!(
        serializes(&c.config_map)
            && serializes(&c.headless_service)
            && serializes(&c.service)
            && serializes(&c.statefulset)
            && serializes(&c.backup_volume)
            && serializes(&c.restore_job)
            && serializes(&c.backup_cronjob)
    );
    Ok(())
}

/// The only refusal pure inputs can cause is credentials that cannot be read; its message names the Secret,
/// and the key or the spec field to fix. The status after it says the same.
fn check_error(instance: &MySQLInstance, world: &World, error: &Error, now: &Time) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(!message.trim().is_empty(), "{error:?} displays as nothing");
    prop_assert_eq!(error.category(), ErrorCategory::RootPasswordUnavailable, "{}", message);
    match (&world.secret, &instance.spec.root_password_secret_ref) {
        (Some(secret), _) => {
            let secret_name = format!("Secret {}", secret.name_any());
            prop_assert!(message.contains(&secret_name), "{message}");
            prop_assert!(message.contains("key \""), "names no key: {message}");
        }
        (None, Some(reference)) => {
            let secret_name = format!("Secret {}", reference.name);
            prop_assert!(message.contains(&secret_name), "{message}");
            prop_assert!(
                message.contains("spec.rootPasswordSecretRef") || message.contains(&format!("key {:?}", reference.key)),
                "names neither the field nor the key: {message}"
            );
        }
        (None, None) => prop_assert!(false, "refused with no credentials to read: {message}"),
    }

    let category = error.category();
    let status = status::after_failure(
        instance,
        None,
        category.as_str(),
        message.clone(),
        error.is_terminal(),
        now,
    );
    prop_assert!(status.phase.is_some());
    let synced = status.conditions.iter().find(|c| c.type_ == "Synced");
    prop_assert!(synced.is_some(), "no Synced condition after a failure");
    if let Some(synced) = synced {
        prop_assert_eq!(synced.status.as_str(), "False");
        prop_assert!(valid_reason(&synced.reason), "{:?}", synced.reason);
        prop_assert_eq!(&synced.message, &message);
    }
    Ok(())
}

/// A child as built must be in line with itself, or it would be applied on every reconcile.
fn settled<K: Serialize>(object: &K) -> Result<(), TestCaseError> {
    prop_assert!(serde_json::to_value(object).is_ok());
    prop_assert!(
        matches!(drift::in_line(object, object), Ok(true)),
        "not in line with itself: {}",
        serde_json::to_string(object).unwrap_or_default()
    );
    Ok(())
}

/// Which children a plan writes, for failure messages.
fn writes(plan: &Plan) -> Vec<String> {
    let c = &plan.children;
    let step = |name: &str, inline: bool| (!inline).then(|| name.to_owned());
    [
        step("credentials", c.credentials == CredentialsStep::InLine),
        step("config map", c.config_map == Step::InLine),
        step("headless service", c.headless_service == Step::InLine),
        step("service", c.service == Step::InLine),
        step("statefulset", c.statefulset == Step::InLine),
        step("volume growth", c.data_volume_growth.is_empty()),
        step("backup volume", c.backup_volume == Step::InLine),
        step("restore job", c.restore_job == Step::InLine),
        step("backup cronjob", c.backup_cronjob == Step::InLine),
        step("status", plan.status.is_none()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

proptest! {
    #![proptest_config(config(1))]

    /// Any spec and observation: decide returns, a plan is one the API server accepts, a refusal says what
    /// to fix.
    #[test]
    fn decide_never_panics_and_every_refusal_says_what_to_fix(
        (instance, shape, settings, now) in case(),
    ) {
        let world = materialize(&shape, &instance, &settings);
        match decide(&instance, &world, &settings, &now) {
            Ok(plan) => check_plan(&instance, &plan)?,
            Err(error) => check_error(&instance, &world, &error, &now)?,
        }
    }

    /// Reconciling an unchanged cluster again and again, with the API server storing each plan's writes,
    /// reaches a reconcile that writes nothing: the operator never keeps rewriting a child or its status.
    #[test]
    fn an_unchanged_cluster_stops_being_written_to(
        (mut instance, shape, settings, now) in case(),
    ) {
        let mut world = materialize(&shape, &instance, &settings);
        let Ok(mut plan) = decide(&instance, &world, &settings, &now) else {
            return Ok(());
        };
        for _ in 0..ROUNDS {
            if plan.status.is_none() && !plan.children.writes_anything() {
                return Ok(());
            }
            store(&mut instance, &mut world, plan);
            plan = decide(&instance, &world, &settings, &now)
                .map_err(|e| TestCaseError::fail(format!("a reconcile after a successful one failed: {e}")))?;
        }
        prop_assert!(false, "still writing {:?} after {} reconciles", writes(&plan), ROUNDS);
    }

    /// Every builder takes any spec, and what it builds serializes and is in line with itself.
    #[test]
    fn every_builder_takes_any_spec(
        (instance, settings) in (instance(), settings()),
        claim_size in quantity(),
        (root_password, user_password) in (text(), text()),
    ) {
        let sts = resources::statefulset(&instance, &settings, &claim_size);
        prop_assert!(sts.is_ok(), "{:?}", sts.err());
        if let Ok(sts) = sts {
            prop_assert!(resources::mounts_root_secret(&instance, &sts));
            settled(&sts)?;
            prop_assert!(resources::with_spec_hash(sts).is_ok());
        }
        settled(&resources::config_map(&instance))?;
        settled(&resources::service(&instance))?;
        settled(&resources::headless_service(&instance))?;
        if let Some(pvc) = resources::backup_pvc(&instance) {
            settled(&pvc)?;
        }
        if let Some(cronjob) = resources::backup_cronjob(&instance, &settings) {
            settled(&cronjob)?;
        }
        if let Some(job) = resources::restore_job(&instance, &settings) {
            settled(&job)?;
        }
        let credentials = Credentials { root_password: root_password.clone(), user_password: user_password.clone() };
        settled(&resources::credentials_secret(&instance, &credentials))?;
        settled(&resources::root_secret(&instance, &credentials))?;
        let entries = resources::connection_entries(&instance, &user_password);
        prop_assert!(entries.iter().any(|(key, value)| *key == credential_keys::PASSWORD && *value == user_password));
        let file = resources::client_option_file("root", &root_password);
        prop_assert_eq!(file.lines().count(), 3, "a password broke out of its line: {:?}", file);
        let _ = (
            resources::credentials_ownership(&instance),
            resources::endpoint(&instance),
            resources::server_image(&instance, &settings),
            resources::data_claim_name(&instance, u32::MAX),
            resources::restore_job_name(&instance),
        );
        if let Some(problem) = instance.spec.validate() {
            prop_assert!(problem.contains("backup.schedule"), "{problem}");
        }
    }
}

proptest! {
    #![proptest_config(config(8))]

    /// Any two quantity strings compare without panicking, and consistently.
    #[test]
    fn quantities_compare_without_panicking(a in quantity(), b in quantity()) {
        let larger = resources::is_larger(&a, &b);
        prop_assert!(!(larger && resources::is_larger(&b, &a)), "{a} and {b} are each larger");
        prop_assert!(!resources::is_larger(&a, &a));
        let same = drift::in_line(&json!({"requests": {"storage": a}}), &json!({"requests": {"storage": b}}));
        prop_assert!(matches!(same, Ok(s) if !(s && larger)), "{a} is both the same as and larger than {b}");
    }
}
