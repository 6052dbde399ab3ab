//! What can go wrong in a plugin command, each message naming the cause and what to do about it.

use std::time::Duration;

/// A failed plugin command.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error(
        "cannot reach the cluster ({0}); check KUBECONFIG and the current context (kubectl config current-context)"
    )]
    NoCluster(#[source] kube::Error),

    #[error("no MySQLInstance {name} in namespace {namespace}; list them with kubectl get myi -n {namespace}")]
    InstanceNotFound { name: String, namespace: String },

    #[error("cannot {action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },

    #[error(
        "backups are not enabled on {name}: it has no backup CronJob; set spec.backup (enabled: true and a \
         destination) with kubectl edit myi {name} -n {namespace}, then run this again"
    )]
    BackupsNotEnabled { name: String, namespace: String },

    #[error("the backup Job {job} failed: {message}; see kubectl logs job/{job} -n {namespace}")]
    BackupFailed {
        job: String,
        namespace: String,
        message: String,
    },

    #[error("timed out after {} waiting for {what}; it goes on without the plugin: {hint}", humantime::format_duration(*after))]
    Timeout {
        what: String,
        after: Duration,
        hint: String,
    },

    #[error(
        "{name} has no spec.backup, so there is no backup location to restore from; restoring needs the \
         destination its backups were written to"
    )]
    NoBackupDestination { name: String },

    #[error("MySQLInstance {name} already exists in namespace {namespace}; choose another --to name")]
    AlreadyExists { name: String, namespace: String },

    #[error("the restore into {name} failed: {message}")]
    RestoreFailed { name: String, message: String },

    #[error(
        "no Secret {secret} in namespace {namespace}: the operator creates it while the instance is Pending; \
         see kubectl myi status {name} -n {namespace}"
    )]
    SecretNotFound {
        secret: String,
        name: String,
        namespace: String,
    },

    #[error("the Secret {secret} has no key {key}: it was not made by the operator, or was edited")]
    SecretKeyMissing { secret: String, key: String },

    #[error("cannot run kubectl ({0}): connect runs `kubectl exec`, so kubectl must be on PATH")]
    Kubectl(#[source] std::io::Error),

    #[error(
        "spec.paused of {name} is now {paused}, but the operator has not observed it within {} \
         (observedGeneration {observed:?}, generation {generation}); check that the operator is running",
        humantime::format_duration(*after)
    )]
    NotObserved {
        name: String,
        paused: bool,
        observed: Option<i64>,
        generation: i64,
        after: Duration,
    },

    #[error("{0}")]
    Invalid(String),
}

impl PluginError {
    /// An API call that failed while doing `action` ("read MySQLInstance db").
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        PluginError::Api {
            action: action.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_instance_says_how_to_list_them() {
        let error = PluginError::InstanceNotFound {
            name: "db".into(),
            namespace: "shop".into(),
        };
        assert_eq!(
            error.to_string(),
            "no MySQLInstance db in namespace shop; list them with kubectl get myi -n shop"
        );
    }

    #[test]
    fn timeouts_read_as_durations() {
        let error = PluginError::Timeout {
            what: "db to be Ready".into(),
            after: Duration::from_secs(90),
            hint: "watch it with kubectl get myi db -w".into(),
        };
        assert!(
            error
                .to_string()
                .starts_with("timed out after 1m 30s waiting for db to be Ready")
        );
    }
}
