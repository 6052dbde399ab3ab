//! The operator's one error type.
//!
//! Each variant is a category: its name is the Event reason, the `reason` label of
//! `mysqlinstance_reconcile_errors_total` and the condition reason of `Synced=False`. [`ErrorCategory`] is
//! derived from the variants, so there is no second list of names to keep in step. Kubernetes API errors are
//! sorted into categories by their HTTP status when they are converted, so a conflict, a rejected object and
//! an unavailable API server each have their own reason and retry policy.

use std::time::Duration;

use strum::{EnumDiscriminants, EnumIter, IntoStaticStr};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error, EnumDiscriminants)]
#[strum_discriminants(name(ErrorCategory), derive(IntoStaticStr, EnumIter, Hash))]
pub enum Error {
    /// 409: someone else changed the object between our read and our write.
    #[error("the API server reported a conflict: {0}")]
    ApiConflict(#[source] kube::Error),

    /// 400 or 422: the API server refused an object the operator built from the spec.
    #[error("the API server rejected a child built from the spec: {0}")]
    ApiRejected(#[source] kube::Error),

    /// 401 or 403: the operator's ServiceAccount may not do what it needs.
    #[error("the operator is not allowed to do this; check its RBAC: {0}")]
    ApiForbidden(#[source] kube::Error),

    /// 429, 5xx or no answer at all.
    #[error("the API server is unavailable: {0}")]
    ApiUnavailable(#[source] kube::Error),

    /// Any other failure of an API request.
    #[error("Kubernetes API request failed: {0}")]
    ApiRequestFailed(#[source] kube::Error),

    /// The watch caches the operator reads from have not listed their objects yet.
    #[error("the operator's watch of {0} has not synced yet; check its RBAC and the API server")]
    CacheNotSynced(&'static str),

    #[error("could not serialize a child resource: {0}")]
    Serialization(#[from] serde_json::Error),

    #[error("the instance has no {0}; it must be namespaced and stored by the API server")]
    MissingObjectField(&'static str),

    #[error("could not read the root password: {0}")]
    RootPasswordUnavailable(String),

    #[error("the OS random number generator failed: {0}")]
    RandomSourceFailed(#[from] getrandom::Error),
}

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        let code = match &error {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        };
        match code {
            Some(409) => Error::ApiConflict(error),
            Some(400 | 422) => Error::ApiRejected(error),
            Some(401 | 403) => Error::ApiForbidden(error),
            Some(429 | 500..=599) => Error::ApiUnavailable(error),
            Some(_) => Error::ApiRequestFailed(error),
            // No status at all: the request did not get an answer.
            None if matches!(error, kube::Error::HyperError(_) | kube::Error::Service(_)) => {
                Error::ApiUnavailable(error)
            }
            None => Error::ApiRequestFailed(error),
        }
    }
}

impl Error {
    /// The category of this error: Event reason, metric label and condition reason.
    pub fn category(&self) -> ErrorCategory {
        ErrorCategory::from(self)
    }

    /// The same request would fail again until someone changes the instance: retrying on a timer only
    /// repeats the Event. The controller waits for a change of the instance or its children instead.
    pub fn is_terminal(&self) -> bool {
        self.category().is_terminal()
    }
}

impl ErrorCategory {
    /// See [`Error::is_terminal`].
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ErrorCategory::ApiRejected | ErrorCategory::Serialization | ErrorCategory::MissingObjectField
        )
    }

    /// The category's name, as it appears in Events, conditions and metrics.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the user should do about it; the runbook's table is generated from this.
    pub fn what_to_do(self) -> &'static str {
        match self {
            ErrorCategory::ApiConflict => {
                "Nothing: another writer changed the object at the same moment; the next reconcile, within \
                 seconds, reads the new version."
            }
            ErrorCategory::ApiRejected => {
                "Read the message: the API server names the field it refused. Change the spec (or the \
                 operator's flags) so the child is valid; the operator retries when the instance changes."
            }
            ErrorCategory::ApiForbidden => {
                "Give the operator's ServiceAccount the verbs of deploy/operator.yaml; the message names the \
                 verb and resource."
            }
            ErrorCategory::ApiUnavailable => {
                "Check the API server's health and load; the operator backs off up to 5 minutes and retries."
            }
            ErrorCategory::ApiRequestFailed => {
                "Read the message and the operator log; the operator retries with backoff."
            }
            ErrorCategory::CacheNotSynced => {
                "Check the operator log for watch errors (usually RBAC: list and watch on the kinds of \
                 deploy/operator.yaml)."
            }
            ErrorCategory::Serialization => "A bug in the operator: report it with the message.",
            ErrorCategory::MissingObjectField => "A bug or a misbehaving API server: report it with the message.",
            ErrorCategory::RootPasswordUnavailable => {
                "Create the Secret named by spec.rootPasswordSecretRef with the named key; the operator \
                 retries with backoff."
            }
            ErrorCategory::RandomSourceFailed => "Check the node's kernel entropy source (getrandom).",
        }
    }
}

/// How long to wait before retrying after the `failures`-th failure in a row: 1 s, 2 s, 4 s ... capped at
/// `cap`.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(16)).min(cap)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    fn api_error(code: u16) -> Error {
        kube::Error::Api(kube::core::Status::failure("refused", "Reason").with_code(code).boxed()).into()
    }

    #[test]
    fn api_errors_are_sorted_by_their_status_code() {
        let cases = [
            (409, ErrorCategory::ApiConflict),
            (422, ErrorCategory::ApiRejected),
            (400, ErrorCategory::ApiRejected),
            (403, ErrorCategory::ApiForbidden),
            (429, ErrorCategory::ApiUnavailable),
            (500, ErrorCategory::ApiUnavailable),
            (503, ErrorCategory::ApiUnavailable),
            (404, ErrorCategory::ApiRequestFailed),
        ];
        for (code, category) in cases {
            assert_eq!(api_error(code).category(), category, "HTTP {code}");
        }
    }

    #[test]
    fn only_errors_a_retry_cannot_fix_are_terminal() {
        assert!(api_error(422).is_terminal());
        assert!(!api_error(409).is_terminal());
        assert!(!api_error(500).is_terminal());
        assert!(!Error::RootPasswordUnavailable("absent".into()).is_terminal());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cap = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=11).map(|n| backoff(n, cap).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    /// docs/runbooks/MySQLInstanceReconcileErrors.md carries this table; regenerate it by running
    /// `MYI_WRITE_DOCS=1 cargo test --lib error_table`.
    #[test]
    fn error_table_in_the_runbook_matches_the_enum() {
        let mut table = String::from("| reason | retried | what to do |\n|---|---|---|\n");
        for category in ErrorCategory::iter() {
            let retried = if category.is_terminal() {
                "when the instance changes"
            } else {
                "with backoff"
            };
            table.push_str(&format!(
                "| `{}` | {retried} | {} |\n",
                category.as_str(),
                category.what_to_do()
            ));
        }
        crate::docs_check::generated_section("docs/runbooks/MySQLInstanceReconcileErrors.md", "error-reasons", &table);
    }
}
