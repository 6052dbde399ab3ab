//! `restore NAME --to NEW`: a new instance with NAME's spec, seeded from one of NAME's backups, followed until Ready.

use std::process::ExitCode;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::PostParams;
use mysqlinstance_operator::api::{MySQLInstance, Phase, RestorePvc, RestoreSource};
use mysqlinstance_operator::resources::backup_pvc_name;

use super::{FIELD_MANAGER, POLL, PluginError, Target, WaitArgs};

/// Condition reasons after which waiting for Ready is pointless: the user has to act.
const TERMINAL_REASONS: &[&str] = &["RestoreFailed", "InvalidSpec"];

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The instance whose backup to restore (its spec is copied too).
    name: String,
    /// Name of the new instance; it must not exist.
    #[arg(long = "to", value_name = "NEW")]
    to: String,
    /// Which backup of NAME: its name (such as db-20261125T030000Z) or `latest`.
    #[arg(long, default_value = "latest", value_name = "BACKUPNAME|latest")]
    backup: String,
    /// Turn scheduled backups off on the new instance (by default it keeps NAME's backup settings and writes
    /// its own backups, named after itself).
    #[arg(long)]
    no_backups: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

pub async fn run(target: &Target, args: &RestoreArgs) -> Result<ExitCode, PluginError> {
    let source = target.instance(&args.name).await?;
    let api = target.api::<MySQLInstance>();
    let exists = api
        .get_opt(&args.to)
        .await
        .map_err(|e| PluginError::api(format!("read MySQLInstance {}", args.to), e))?;
    if exists.is_some() {
        return Err(already_exists(target, &args.to));
    }
    let new = restored_instance(&source, &args.to, &args.backup, !args.no_backups)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    api.create(&params, &new).await.map_err(|e| match e {
        kube::Error::Api(status) if status.code == 409 => already_exists(target, &args.to),
        e => PluginError::api(format!("create MySQLInstance {}", args.to), e),
    })?;
    println!(
        "mysqlinstance/{} created, restoring backup {} of {}",
        args.to, args.backup, args.name
    );
    if !args.wait.waits() {
        println!("follow it with: kubectl myi status {} -n {}", args.to, target.namespace);
        return Ok(ExitCode::SUCCESS);
    }
    follow(target, args).await?;
    println!("{} is Ready", args.to);
    Ok(ExitCode::SUCCESS)
}

fn already_exists(target: &Target, name: &str) -> PluginError {
    PluginError::AlreadyExists {
        name: name.to_owned(),
        namespace: target.namespace.clone(),
    }
}

/// The new instance `new_name`: `source`'s spec (engine, version, image, storage, resources, config, root password
/// reference, database, user, deletionPolicy, backup settings) with `restoreFrom` pointing at `backup` of
/// `source` in the destination `source` writes its backups to. With `keep_backups`, the new instance keeps the
/// backup settings: its backups are named after itself (and go to its own `NEW-backups` claim for a PVC
/// destination), so they never mix with the source's; otherwise they are turned off (the destination kept, so
/// turning them on is one field). It is never paused, whatever the source is.
pub fn restored_instance(
    source: &MySQLInstance,
    new_name: &str,
    backup: &str,
    keep_backups: bool,
) -> Result<MySQLInstance, PluginError> {
    let name = source.name_any();
    if new_name == name {
        return Err(PluginError::Invalid(format!(
            "--to must name a new instance, not {name} itself: a restore only ever seeds a new instance"
        )));
    }
    let mut spec = source.spec.clone();
    let backup_spec = spec
        .backup
        .as_mut()
        .ok_or_else(|| PluginError::NoBackupDestination { name: name.clone() })?;
    let destination = backup_spec.destination.clone();
    if !keep_backups {
        backup_spec.enabled = false;
    }
    spec.restore_from = Some(RestoreSource {
        instance: name.clone(),
        backup: backup.to_owned(),
        pvc: destination.pvc.as_ref().map(|_| RestorePvc {
            claim_name: backup_pvc_name(source),
        }),
        s3: if destination.pvc.is_some() {
            None
        } else {
            destination.s3.clone()
        },
    });
    spec.paused = false;
    Ok(MySQLInstance {
        metadata: ObjectMeta {
            name: Some(new_name.to_owned()),
            namespace: source.namespace(),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// Follows the new instance, printing each phase it enters, until it is Ready or its restore failed.
async fn follow(target: &Target, args: &RestoreArgs) -> Result<(), PluginError> {
    let api = target.api::<MySQLInstance>();
    let deadline = Instant::now() + args.wait.timeout;
    let mut last: Option<(Option<Phase>, String)> = None;
    loop {
        let instance = api
            .get(&args.to)
            .await
            .map_err(|e| PluginError::api(format!("read MySQLInstance {}", args.to), e))?;
        let status = instance.status.clone().unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        let reason = ready.map(|c| c.reason.clone()).unwrap_or_default();
        let now = (status.phase, reason.clone());
        if last.as_ref() != Some(&now) {
            let phase = status.phase.map_or_else(|| "<none yet>".to_owned(), |p| p.to_string());
            let detail = ready
                .map(|c| format!(" ({}: {})", c.reason, c.message))
                .unwrap_or_default();
            println!("{} phase {phase}{detail}", jiff::Timestamp::now().strftime("%H:%M:%S"));
            last = Some(now);
        }
        if status.phase == Some(Phase::Ready) && status.restored_at.is_some() {
            return Ok(());
        }
        if let Some(condition) = ready.filter(|c| TERMINAL_REASONS.contains(&c.reason.as_str())) {
            return Err(PluginError::RestoreFailed {
                name: args.to.clone(),
                message: condition.message.clone(),
            });
        }
        if Instant::now() >= deadline {
            return Err(PluginError::Timeout {
                what: format!("{} to be restored and Ready", args.to),
                after: args.wait.timeout,
                hint: format!("follow it with kubectl myi status {} -n {}", args.to, target.namespace),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(destination: serde_json::Value) -> MySQLInstance {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mysqlinstance.io/v1alpha1",
            "kind": "MySQLInstance",
            "metadata": {"name": "db", "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
                         "labels": {"team": "a"}},
            "spec": {
                "engine": "MariaDB", "version": "11.4", "image": "registry.example/mariadb:11.4",
                "storage": {"size": "5Gi", "storageClassName": "fast"},
                "resources": {"requests": {"cpu": "500m"}},
                "config": {"max_connections": "500"},
                "rootPasswordSecretRef": {"name": "root", "key": "pw"},
                "database": "shop", "user": "app", "deletionPolicy": "Delete", "paused": true,
                "backup": {"enabled": true, "schedule": "0 4 * * *", "retention": {"keepLast": 3},
                           "destination": destination}
            },
            "status": {"phase": "Ready"}
        }))
        .expect("fixture")
    }

    #[test]
    fn the_new_instance_copies_the_spec_and_restores_from_the_source_backup_volume() {
        let old = source(serde_json::json!({"pvc": {"size": "2Gi"}}));
        let new = restored_instance(&old, "copy", "latest", true).expect("built");
        assert_eq!(new.name_any(), "copy");
        assert_eq!(new.namespace().as_deref(), Some("shop"));
        assert!(new.metadata.uid.is_none() && new.metadata.resource_version.is_none() && new.status.is_none());
        let restore = new.spec.restore_from.clone().expect("restoreFrom");
        assert_eq!(restore.instance, "db");
        assert_eq!(restore.backup, "latest");
        assert_eq!(restore.pvc.map(|p| p.claim_name).as_deref(), Some("db-backups"));
        assert_eq!(restore.s3, None);
        assert!(!new.spec.paused, "a restored copy is not paused");
        let mut expected = old.spec.clone();
        expected.restore_from = new.spec.restore_from.clone();
        expected.paused = false;
        assert_eq!(new.spec, expected, "everything else is copied, backups included");
    }

    #[test]
    fn s3_backups_are_read_from_the_same_bucket_and_prefix() {
        let s3 = serde_json::json!({"s3": {"bucket": "backups", "prefix": "prod/db", "endpoint": "http://127.0.0.1:9000",
                                            "forcePathStyle": true, "credentialsSecret": "s3"}});
        let old = source(s3);
        let new = restored_instance(&old, "copy", "db-20261125T030000Z", false).expect("built");
        let restore = new.spec.restore_from.clone().expect("restoreFrom");
        assert_eq!(restore.backup, "db-20261125T030000Z");
        assert_eq!(restore.pvc, None);
        assert_eq!(
            restore.s3,
            old.spec.backup.as_ref().and_then(|b| b.destination.s3.clone())
        );
        let backup = new.spec.backup.expect("backup settings kept");
        assert!(!backup.enabled, "--no-backups turns them off");
        assert_eq!(backup.destination, old.spec.backup.expect("b").destination);
    }

    #[test]
    fn without_backups_or_onto_itself_there_is_nothing_to_restore() {
        let mut old = source(serde_json::json!({"pvc": {"size": "2Gi"}}));
        let itself = restored_instance(&old, "db", "latest", true).expect_err("onto itself");
        assert!(itself.to_string().contains("new instance"), "{itself}");
        old.spec.backup = None;
        let none = restored_instance(&old, "copy", "latest", true).expect_err("no backups");
        assert!(none.to_string().contains("db has no spec.backup"), "{none}");
    }
}
