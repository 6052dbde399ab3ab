//! The operator's one error type. Each variant has a PascalCase category that becomes the Event reason and
//! the `reason` label of `mysqlinstance_reconcile_errors_total`.

use strum::IntoStaticStr;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    KubeApi(#[from] kube::Error),

    #[error("could not serialize a child resource: {0}")]
    Serialization(#[from] serde_json::Error),

    #[error("the instance has no {0}; it must be namespaced and stored by the apiserver")]
    MissingObjectField(&'static str),

    #[error("could not read the root password: {0}")]
    RootPassword(String),

    #[error("the OS random number generator failed: {0}")]
    Random(#[from] getrandom::Error),
}

/// The category of an [`Error`], used as Event reason and metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, strum::EnumIter)]
pub enum ErrorCategory {
    KubeApiError,
    SerializationError,
    MissingObjectField,
    RootPasswordUnavailable,
    RandomSourceFailed,
}

impl Error {
    /// The category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::KubeApi(_) => ErrorCategory::KubeApiError,
            Error::Serialization(_) => ErrorCategory::SerializationError,
            Error::MissingObjectField(_) => ErrorCategory::MissingObjectField,
            Error::RootPassword(_) => ErrorCategory::RootPasswordUnavailable,
            Error::Random(_) => ErrorCategory::RandomSourceFailed,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
