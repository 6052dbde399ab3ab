//! The subcommands the operator binary runs inside the server pod, from the server's own image: `place`
//! (copy the binary out of the operator image), `init` (initialize the data directory, set the passwords,
//! create the database and user) and `probe` (startup, readiness and liveness). The pod's contract with the
//! image is only "the engine's server binary and client tools are on PATH".

mod init;
mod probe;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::api::Engine;
use crate::backup::BackupError;
use crate::resources::layout;

pub use init::InitArgs;
pub use probe::{ProbeArgs, ProbeKind};

/// `mysqlinstance-operator instance ...`.
#[derive(clap::Subcommand, Debug)]
pub enum InstanceCommand {
    /// Copy this binary to PATH (atomically, mode 0555): what the init container of every server and runner
    /// pod runs from the operator image.
    Place {
        /// Where to put the binary.
        #[arg(default_value = layout::PLACED_BINARY)]
        to: PathBuf,
    },
    /// Initialize the data directory unless it already is: idempotent, and an interrupted initialization is
    /// redone from scratch, never half-accepted.
    Init(InitArgs),
    /// Answer a kubelet probe: exit 0 when the server passes it, else 1 with the reason on stderr.
    Probe(ProbeArgs),
}

/// Why a subcommand inside the server pod failed. Each message names the cause and what to change.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("{action}: {source}")]
    Io { action: String, source: std::io::Error },

    #[error("the image has neither mariadbd nor mysqld on PATH: use an image of the engine's server in spec.image")]
    NoServer,

    #[error(
        "spec.engine is {spec} but the image carries the {image} server: set spec.engine: {image}, or use a {spec} image"
    )]
    EngineMismatch { spec: Engine, image: Engine },

    #[error(
        "the data directory {path} was initialized by {found}, not {expected}: use a {found} image, or restore a backup into a new instance"
    )]
    DataDirectoryEngine {
        path: String,
        found: Engine,
        expected: Engine,
    },

    #[error(
        "{path} exists but was not initialized by the operator (no {marker}): move it out of the volume, or restore a backup into a new instance"
    )]
    ForeignDataDirectory { path: String, marker: &'static str },

    #[error(
        "the data directory was written by server {data}, and this image's server is the older {image}: downgrades are refused (an older server cannot open newer data); use an image of {data} or newer, or restore a backup into a new instance"
    )]
    Downgrade { data: String, image: String },

    #[error("cannot read {path} ({source}); is the credentials Secret mounted?")]
    Credentials { path: String, source: std::io::Error },

    #[error("{program} failed: {detail}")]
    Tool { program: String, detail: String },

    #[error("the temporary server for initialization {detail}")]
    TemporaryServer { detail: String },

    #[error(transparent)]
    Client(#[from] BackupError),

    #[error("{0}")]
    ProbeFailed(String),
}

impl InstanceError {
    fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        InstanceError::Io {
            action: action.into(),
            source,
        }
    }
}

/// Runs an `instance` subcommand; failures end with one `error:` line on stderr and exit code 1.
pub fn run(command: InstanceCommand) -> ExitCode {
    let result = match command {
        InstanceCommand::Place { to } => place(&to),
        InstanceCommand::Init(args) => on_runtime(init::run(args)),
        InstanceCommand::Probe(args) => on_runtime(probe::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn on_runtime(work: impl Future<Output = Result<(), InstanceError>>) -> Result<(), InstanceError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| InstanceError::io("starting the async runtime", e))?
        .block_on(work)
}

/// Copies the running binary to `to` through a temporary name, so a reader never sees half a binary.
fn place(to: &Path) -> Result<(), InstanceError> {
    use std::os::unix::fs::PermissionsExt;
    let me = std::env::current_exe().map_err(|e| InstanceError::io("finding this binary", e))?;
    let partial = to.with_extension("partial");
    std::fs::copy(&me, &partial).map_err(|e| InstanceError::io(format!("copying to {}", partial.display()), e))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o555))
        .map_err(|e| InstanceError::io(format!("making {} executable", partial.display()), e))?;
    std::fs::rename(&partial, to).map_err(|e| InstanceError::io(format!("moving it to {}", to.display()), e))?;
    eprintln!("placed {} at {}", me.display(), to.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_copies_an_executable_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let to = dir.path().join("mysqlinstance-operator");
        place(&to).expect("placed");
        let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read self");
        assert_eq!(std::fs::read(&to).expect("read copy"), me);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&to).expect("meta").permissions().mode() & 0o777,
            0o555
        );
        assert!(!to.with_extension("partial").exists());
    }
}
