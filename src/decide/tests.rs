//! Table tests of the decisions: fresh, in line, drifted, paused, invalid, policies, volumes, restores.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::StatefulSetStatus;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::{Value, json};

use super::*;
use crate::api::MySQLInstance;
use crate::error::ErrorCategory;
use crate::fsm::Reason;
use crate::resources::Credentials;

fn now() -> Time {
    Time(Timestamp::from_second(1_800_000_000).expect("valid"))
}

pub(crate) fn instance(spec: Value) -> MySQLInstance {
    serde_json::from_value(json!({
        "apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance",
        "metadata": {"name": "shop", "namespace": "apps", "uid": "u-1", "generation": 1},
        "spec": spec,
    }))
    .expect("valid instance")
}

pub(crate) fn plain() -> MySQLInstance {
    instance(json!({"storage": {"size": "1Gi"}}))
}

pub(crate) fn settings() -> OperatorSettings {
    OperatorSettings {
        operator_image: "localhost/mysqlinstance-operator:test".to_owned(),
        ..OperatorSettings::default()
    }
}

fn plan(instance: &MySQLInstance, world: &World) -> Plan {
    decide(instance, world, &settings(), &now()).expect("a plan")
}

/// The world after the API server stored everything `plan` applied, with the status it wrote.
fn stored(instance: &mut MySQLInstance, mut world: World, plan: Plan) -> World {
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
        data_volume_growth: _,
        backup_volume,
        restore_job,
        backup_cronjob,
    } = plan.children;
    if let CredentialsStep::Create { root_password } = credentials {
        let generated = Credentials::generate(root_password).expect("random");
        world.secret = Some(resources::credentials_secret(instance, &generated));
    }
    put(&mut world.config_map, config_map);
    put(&mut world.headless_service, headless_service);
    put(&mut world.service, service);
    put(&mut world.statefulset, statefulset);
    put(&mut world.backup_pvc, backup_volume);
    put(&mut world.restore_job, restore_job);
    put(&mut world.cronjob, backup_cronjob);
    if let Some(status) = plan.status {
        instance.status = Some(status);
    }
    world
}

/// The StatefulSet controller's report once every replica runs the newest revision.
pub(crate) fn rolled_out(world: &mut World, ready: i32) {
    let sts = world.statefulset.as_mut().expect("a StatefulSet");
    sts.metadata.generation = Some(1);
    sts.status = Some(StatefulSetStatus {
        observed_generation: Some(1),
        replicas: 1,
        ready_replicas: Some(ready),
        updated_replicas: Some(1),
        ..StatefulSetStatus::default()
    });
}

/// An instance brought to Ready: every child stored as applied and the status written.
fn ready(mut instance: MySQLInstance) -> (MySQLInstance, World) {
    let mut world = World::default();
    for _ in 0..4 {
        let plan = plan(&instance, &world);
        world = stored(&mut instance, world, plan);
        if world.statefulset.is_some() {
            rolled_out(&mut world, 1);
        }
    }
    assert_eq!(instance.status.as_ref().and_then(|s| s.phase), Some(Phase::Ready));
    (instance, world)
}

fn applies<K>(step: &Step<K>) -> bool {
    matches!(step, Step::Apply(_))
}

#[test]
fn a_new_instance_gets_credentials_and_every_child_at_once() {
    let plan = plan(&plain(), &World::default());
    let children = &plan.children;
    assert_eq!(children.credentials, CredentialsStep::Create { root_password: None });
    assert!(applies(&children.config_map) && applies(&children.headless_service) && applies(&children.service));
    assert!(applies(&children.statefulset));
    assert_eq!(children.backup_cronjob, Step::InLine, "no backups asked for");
    assert_eq!(children.backup_volume, Step::InLine);
    assert_eq!(children.restore_job, Step::InLine);
    // The status written after these writes counts what they create: Provisioning in the first status write.
    let status = plan.status.expect("a first status");
    assert_eq!(status.phase, Some(Phase::Provisioning));
    assert_eq!(status.secret_name.as_deref(), Some("shop-credentials"));
    assert_eq!(plan.transition.reason, Reason::WaitingForReplicas);
    let edges: Vec<_> = plan.edges.iter().map(|e| (e.from, e.to, e.reason)).collect();
    assert_eq!(
        edges,
        vec![(Phase::Pending, Phase::Provisioning, Reason::CredentialsReady)]
    );
    assert_eq!(plan.events.len(), 1, "one Event per edge: {:?}", plan.events);
    assert_eq!(
        plan.events[0].note,
        "Pending -> Provisioning: credentials are in place; creating the database"
    );
    // Should a child fail, the instance shows what was there before: no credentials yet.
    assert_eq!(plan.status_before_children.phase, Some(Phase::Pending));
    assert_eq!(plan.status_before_children.secret_name, None);
}

#[test]
fn an_instance_in_line_plans_no_write_and_no_event() {
    let (instance, world) = ready(plain());
    let plan = plan(&instance, &world);
    assert!(!plan.children.writes_anything(), "{:#?}", plan.children);
    assert_eq!(plan.status, None);
    assert!(plan.events.is_empty());
}

#[test]
fn a_child_changed_by_someone_else_is_applied_again() {
    let (instance, world) = ready(plain());

    let mut scaled = world.clone();
    let sts = scaled.statefulset.as_mut().expect("sts");
    sts.spec.replicas = Some(3);
    let plan_scaled = plan(&instance, &scaled);
    assert!(applies(&plan_scaled.children.statefulset));
    assert_eq!(plan_scaled.children.service, Step::InLine, "only the drifted child");

    let mut unlabelled = world.clone();
    unlabelled
        .service
        .as_mut()
        .expect("service")
        .labels_mut()
        .remove(resources::INSTANCE_LABEL);
    assert!(applies(&plan(&instance, &unlabelled).children.service));

    let mut annotated = world;
    let extra = BTreeMap::from([("team".to_owned(), "payments".to_owned())]);
    annotated.config_map.as_mut().expect("cm").metadata.annotations = Some(extra);
    assert_eq!(
        plan(&instance, &annotated).children.config_map,
        Step::InLine,
        "fields the operator does not set are the user's"
    );
}

#[test]
fn paused_and_invalid_instances_plan_no_child_write() {
    let (mut paused, world) = ready(plain());
    paused.spec.paused = true;
    paused.spec.storage.size = "5Gi".to_owned();
    let plan_paused = plan(&paused, &world);
    assert_eq!(plan_paused.children, Children::default());
    let status = plan_paused.status.expect("the Paused condition is new");
    let synced = status.conditions.iter().find(|c| c.type_ == "Synced").expect("Synced");
    assert_eq!((synced.status.as_str(), synced.reason.as_str()), ("False", "Paused"));

    let invalid = instance(
        json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "every day",
        "destination": {"pvc": {"size": "1Gi"}}}}),
    );
    let plan_invalid = plan(&invalid, &World::default());
    assert_eq!(plan_invalid.children, Children::default());
    assert_eq!(plan_invalid.transition.reason, Reason::InvalidSpec);
    let status = plan_invalid.status.expect("status");
    let synced = status.conditions.iter().find(|c| c.type_ == "Synced").expect("Synced");
    assert_eq!(synced.reason, "InvalidSpec");
    assert!(synced.message.contains("every day"), "{}", synced.message);
}

#[test]
fn turning_backups_off_deletes_the_cronjob_and_keeps_the_backup_volume() {
    let with_backups = json!({"storage": {"size": "1Gi"}, "backup": {"enabled": true, "schedule": "0 3 * * *",
        "destination": {"pvc": {"size": "2Gi"}}}});
    let (mut instance, world) = ready(instance(with_backups));
    assert!(world.cronjob.is_some() && world.backup_pvc.is_some());
    instance.spec.backup = None;
    let plan = plan(&instance, &world);
    assert_eq!(plan.children.backup_cronjob, Step::Delete("shop-backup".to_owned()));
    assert_eq!(plan.children.backup_volume, Step::InLine);
}

#[test]
fn data_volumes_grow_but_the_claim_template_keeps_its_size() {
    let (mut instance, mut world) = ready(plain());
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "data-shop-0"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}))
    .expect("pvc");
    world.data_pvcs = vec![claim];
    instance.spec.storage.size = "4Gi".to_owned();
    let plan = plan(&instance, &world);
    assert_eq!(
        plan.children.data_volume_growth,
        vec![VolumeGrowth {
            claim: "data-shop-0".to_owned(),
            size: "4Gi".to_owned()
        }]
    );
    assert_eq!(
        plan.children.statefulset,
        Step::InLine,
        "the immutable template is left as it is"
    );
}

#[test]
fn the_credentials_secret_follows_the_deletion_policy_and_is_never_rewritten() {
    let (mut instance, world) = ready(plain());
    assert_eq!(world.secret.as_ref().expect("secret").owner_references(), &[]);
    instance.spec.deletion_policy = crate::api::DeletionPolicy::Delete;
    let CredentialsStep::SetOwners(owners) = plan(&instance, &world).children.credentials else {
        panic!("the owners should change");
    };
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].uid, "u-1");
}

#[test]
fn a_named_root_password_is_used_or_its_absence_explained() {
    let named = instance(json!({"storage": {"size": "1Gi"}, "rootPasswordSecretRef": {"name": "root", "key": "pw"}}));
    let error = decide(&named, &World::default(), &settings(), &now()).expect_err("no Secret");
    assert_eq!(error.category(), ErrorCategory::RootPasswordUnavailable);
    assert!(
        error
            .to_string()
            .contains("Secret root named by spec.rootPasswordSecretRef does not exist")
    );

    let secret = Secret {
        data: Some(BTreeMap::from([("pw".to_owned(), ByteString(b"s3cret".to_vec()))])),
        ..Secret::default()
    };
    let world = World {
        root_password_secret: Some(secret),
        ..World::default()
    };
    assert_eq!(
        plan(&named, &world).children.credentials,
        CredentialsStep::Create {
            root_password: Some("s3cret".to_owned())
        }
    );
}

#[test]
fn a_restore_starts_once_when_the_new_server_is_ready() {
    let spec =
        json!({"storage": {"size": "1Gi"}, "restoreFrom": {"instance": "old", "pvc": {"claimName": "old-backups"}}});
    let mut restoring = instance(spec);
    let mut world = World::default();
    for _ in 0..3 {
        let plan = plan(&restoring, &world);
        assert_eq!(
            plan.children.restore_job,
            Step::InLine,
            "not before the server is ready"
        );
        world = stored(&mut restoring, world, plan);
    }
    rolled_out(&mut world, 1);
    let plan_ready = plan(&restoring, &world);
    assert!(applies(&plan_ready.children.restore_job));
    assert_eq!(plan_ready.transition.reason, Reason::Restoring);
    let world = stored(&mut restoring, world, plan_ready);
    assert_eq!(
        plan(&restoring, &world).children.restore_job,
        Step::InLine,
        "an existing restore Job is never rewritten"
    );
    let job: &Job = world.restore_job.as_ref().expect("job");
    assert_eq!(job.name_any(), resources::restore_job_name(&restoring));
}

#[test]
fn phase_changes_are_events_and_degraded_is_a_warning() {
    let (instance, mut world) = ready(plain());
    rolled_out(&mut world, 0);
    let plan = plan(&instance, &world);
    assert_eq!(plan.transition.to, Phase::Degraded);
    let [event] = plan.events.as_slice() else {
        panic!("one Event: {:?}", plan.events);
    };
    assert_eq!((event.kind, event.reason), (EventKind::Warning, "ReplicasNotReady"));
    assert!(
        event.note.starts_with("Ready -> Degraded: 0/1 replicas ready"),
        "{}",
        event.note
    );
}

/// The condition `type_` the plan writes, as (status, reason).
fn planned_condition(plan: &Plan, type_: &str) -> Option<(String, String)> {
    let status = plan.status.as_ref()?;
    let condition = status.conditions.iter().find(|c| c.type_ == type_)?;
    Some((condition.status.clone(), condition.reason.clone()))
}

/// The live StatefulSet as an older operator built it: another image for the init container.
fn built_by_an_older_operator(world: &mut World) {
    let sts = world.statefulset.as_mut().expect("sts");
    let pod = sts.spec.template.spec.as_mut().expect("pod spec");
    let init = pod
        .init_containers
        .as_mut()
        .and_then(|c| c.first_mut())
        .expect("init container");
    init.image = Some("localhost/mysqlinstance-operator:older".to_owned());
}

fn template_applied(plan: &Plan, world: &World) -> bool {
    match &plan.children.statefulset {
        Step::Apply(sts) => Some(&sts.spec.template) != world.statefulset.as_ref().map(|s| &s.spec.template),
        _ => false,
    }
}

#[test]
fn a_template_change_the_user_did_not_ask_for_waits_for_other_rollouts() {
    let (instance, mut world) = ready(plain());
    built_by_an_older_operator(&mut world);

    world.other_rollouts = 1;
    let held = plan(&instance, &world);
    assert!(!template_applied(&held, &world), "the live template is kept");
    assert_eq!(
        planned_condition(&held, "RolloutPending"),
        Some(("True".to_owned(), "WaitingForOtherRollouts".to_owned()))
    );

    world.other_rollouts = 0;
    let rolled = plan(&instance, &world);
    assert!(template_applied(&rolled, &world), "its turn: the new template rolls");
    assert_eq!(planned_condition(&rolled, "RolloutPending"), None);
}

#[test]
fn a_template_change_the_user_asked_for_rolls_at_once() {
    let (mut instance, mut world) = ready(plain());
    world.other_rollouts = 3;
    instance
        .spec
        .config
        .insert("max_connections".to_owned(), "300".to_owned());
    instance.metadata.generation = Some(2);
    let plan = plan(&instance, &world);
    assert!(template_applied(&plan, &world), "a spec edit is not held");
    assert_eq!(planned_condition(&plan, "RolloutPending"), None);
}

#[test]
fn a_server_upgrade_waits_for_ready_and_a_recent_backup() {
    let spec = json!({"engine": "MariaDB", "version": "10.11", "storage": {"size": "1Gi"},
        "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}});
    let (mut instance, world) = ready(instance(spec));
    instance.spec.version = "11.4".parse().expect("a version");
    instance.metadata.generation = Some(2);

    let no_backup = plan(&instance, &world);
    assert!(!template_applied(&no_backup, &world));
    if let Step::Apply(sts) = &no_backup.children.statefulset {
        assert_eq!(
            sts.labels().get("app.kubernetes.io/version").map(String::as_str),
            Some("10.11"),
            "the label keeps the running version while the upgrade is held"
        );
    }
    assert_eq!(
        planned_condition(&no_backup, "RolloutPending"),
        Some(("True".to_owned(), "WaitingForBackup".to_owned()))
    );

    let mut backed_up = instance.clone();
    let completed = Time(now().0 - jiff::SignedDuration::from_hours(2));
    backed_up.status.as_mut().expect("status").last_backup = Some(crate::api::LastBackup {
        name: "shop-x".to_owned(),
        completed_at: Some(completed),
        ..crate::api::LastBackup::default()
    });
    let upgrade = plan(&backed_up, &world);
    assert!(
        template_applied(&upgrade, &world),
        "a backup of 2 hours ago is recent enough"
    );

    let mut degraded = backed_up;
    degraded.status.as_mut().expect("status").phase = Some(Phase::Degraded);
    assert_eq!(
        planned_condition(&plan(&degraded, &world), "RolloutPending"),
        Some(("True".to_owned(), "WaitingForReady".to_owned()))
    );
}
