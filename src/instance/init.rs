//! `instance init`: initializes the data directory of a new server, in a staging directory that becomes the
//! data directory only by a final rename, once the server is installed, root and the application user have
//! their passwords and the database exists. A pod killed half-way leaves only the staging directory, which
//! the next attempt deletes and redoes; the data directory, once there, is never touched again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};

use super::InstanceError;
use crate::api::Engine;
use crate::backup::client::{self, Address, Connection, sql_identifier, sql_string};
use crate::engine::on_path;
use crate::resources::{client_option_file, credential_keys, layout};

/// Name of the file in the data directory recording that the operator initialized it, and how.
pub const MARKER: &str = ".mysqlinstance-initialized";
/// How long the temporary server may take to accept connections.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the temporary server may take to shut down cleanly.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(120);

/// Arguments of `instance init`. The defaults are the server pod's layout.
#[derive(clap::Args, Debug, Clone)]
pub struct InitArgs {
    /// The engine the instance's spec asks for; the image's server binary must be of this engine.
    #[arg(long)]
    pub engine: Engine,
    /// A database to create.
    #[arg(long)]
    pub database: Option<String>,
    /// An application user to create, with all privileges on --database, password from the Secret.
    #[arg(long)]
    pub user: Option<String>,
    /// The server's option file.
    #[arg(long, default_value = layout::CONFIG_FILE)]
    pub config: PathBuf,
    /// Where the credentials Secret is mounted.
    #[arg(long, default_value = layout::CREDENTIALS_DIR)]
    pub credentials: PathBuf,
    /// The data volume; the data directory is its subdirectory `data`.
    #[arg(long, default_value = layout::VOLUME_ROOT)]
    pub volume: PathBuf,
    /// Where the temporary server's socket goes.
    #[arg(long, default_value = layout::RUN_DIR)]
    pub run_dir: PathBuf,
    /// Scratch space.
    #[arg(long, default_value = layout::TMP_DIR)]
    pub tmp_dir: PathBuf,
}

/// What the marker records.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Marker {
    engine: Engine,
    server_version: String,
}

pub async fn run(args: InitArgs) -> Result<(), InstanceError> {
    let image_engine = Engine::of_server(on_path).ok_or(InstanceError::NoServer)?;
    if image_engine != args.engine {
        return Err(InstanceError::EngineMismatch {
            spec: args.engine,
            image: image_engine,
        });
    }
    let engine = args.engine;
    let datadir = args.volume.join("data");
    if datadir.exists() {
        let marker = read_marker(&datadir)?;
        if marker.engine != engine {
            return Err(InstanceError::DataDirectoryEngine {
                path: datadir.display().to_string(),
                found: marker.engine,
                expected: engine,
            });
        }
        check_not_a_downgrade(engine, &marker.server_version).await?;
        eprintln!(
            "the data directory {} is initialized ({} {}); nothing to do",
            datadir.display(),
            marker.engine,
            marker.server_version
        );
        return Ok(());
    }
    let staging = args.volume.join("data.initializing");
    if staging.exists() {
        eprintln!(
            "an earlier initialization was interrupted: deleting {} and starting over",
            staging.display()
        );
        std::fs::remove_dir_all(&staging)
            .map_err(|e| InstanceError::io(format!("deleting {}", staging.display()), e))?;
    }
    create_private_dir(&staging)?;
    let started = Instant::now();
    install(engine, &args, &staging).await?;
    let root_password = read_secret(&args.credentials, credential_keys::ROOT_PASSWORD)?;
    let user_password = match &args.user {
        Some(_) => Some(read_secret(&args.credentials, credential_keys::PASSWORD)?),
        None => None,
    };
    let mut server = TemporaryServer::start(engine, &args, &staging).await?;
    let server_version = server.version().await?;
    // On an error the server is dropped, which kills it: the staging directory is redone anyway.
    secure(&server, &args, &root_password, user_password.as_deref()).await?;
    server.authenticate(&root_password)?;
    server.stop().await?;
    let marker = Marker { engine, server_version };
    let json = serde_json::to_vec(&marker).map_err(|e| InstanceError::io("writing the marker", e.into()))?;
    write_synced(&staging.join(MARKER), &json)?;
    std::fs::rename(&staging, &datadir)
        .map_err(|e| InstanceError::io(format!("renaming {} to {}", staging.display(), datadir.display()), e))?;
    sync_dir(&args.volume)?;
    eprintln!(
        "initialized {} ({} {}) in {:.1}s",
        datadir.display(),
        engine,
        marker.server_version,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Refuses a server binary of an older major.minor than the one that initialized (or last upgraded) the data
/// directory: an older server cannot open a newer data dictionary, and trying may damage it. The spec's version
/// is guarded by the schema; this catches `spec.image` pointing at an older server.
async fn check_not_a_downgrade(engine: Engine, data_version: &str) -> Result<(), InstanceError> {
    let output = Command::new(engine.server())
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| InstanceError::io(format!("running {} --version", engine.server()), e))?;
    let banner = String::from_utf8_lossy(&output.stdout);
    let image_version = banner.split("Ver ").nth(1).unwrap_or_default();
    match (major_minor(image_version), major_minor(data_version)) {
        (Some(image), Some(data)) if image < data => Err(InstanceError::Downgrade {
            data: data_version.to_owned(),
            image: image_version.split_whitespace().next().unwrap_or_default().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// `(10, 11)` from `10.11.19-MariaDB-0+deb12u1` or `8.4.7`.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn read_marker(datadir: &Path) -> Result<Marker, InstanceError> {
    let path = datadir.join(MARKER);
    let foreign = || InstanceError::ForeignDataDirectory {
        path: datadir.display().to_string(),
        marker: MARKER,
    };
    let bytes = std::fs::read(&path).map_err(|_| foreign())?;
    serde_json::from_slice(&bytes).map_err(|_| foreign())
}

/// A password file of the mounted Secret, exactly as stored.
fn read_secret(dir: &Path, key: &str) -> Result<String, InstanceError> {
    let path = dir.join(key);
    std::fs::read_to_string(&path).map_err(|source| InstanceError::Credentials {
        path: path.display().to_string(),
        source,
    })
}

fn create_private_dir(path: &Path) -> Result<(), InstanceError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o750)
        .create(path)
        .map_err(|e| InstanceError::io(format!("creating {}", path.display()), e))
}

/// Writes `path` readable by its owner only (it may hold root's password) and flushes it to disk.
fn write_synced(path: &Path, contents: &[u8]) -> Result<(), InstanceError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    write().map_err(|e| InstanceError::io(format!("writing {}", path.display()), e))
}

fn sync_dir(path: &Path) -> Result<(), InstanceError> {
    std::fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| InstanceError::io(format!("syncing {}", path.display()), e))
}

/// Creates the system tables in `staging`, with a root account that has no password yet and can only be
/// reached over the temporary server's socket.
async fn install(engine: Engine, args: &InitArgs, staging: &Path) -> Result<(), InstanceError> {
    let defaults = defaults_file_arg(&args.config);
    let datadir = format!("--datadir={}", staging.display());
    let tmpdir = format!("--tmpdir={}", args.tmp_dir.display());
    let (program, arguments): (&str, Vec<String>) = match engine {
        Engine::MariaDB => (
            "mariadb-install-db",
            vec![
                defaults,
                datadir,
                tmpdir,
                "--auth-root-authentication-method=normal".into(),
                "--skip-test-db".into(),
                "--skip-name-resolve".into(),
            ],
        ),
        Engine::MySQL => (
            "mysqld",
            vec![defaults, datadir, tmpdir, "--initialize-insecure".into()],
        ),
    };
    eprintln!("creating the system tables with {program}");
    let output = Command::new(program)
        .args(&arguments)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| InstanceError::io(format!("running {program}"), e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{stderr}");
    Err(InstanceError::Tool {
        program: program.to_owned(),
        detail: client::error_line(&format!("{stdout}\n{stderr}"))
            .unwrap_or_else(|| client::describe_status(output.status)),
    })
}

fn defaults_file_arg(config: &Path) -> String {
    format!("--defaults-file={}", config.display())
}

/// The server started on the staging directory with networking off: only this process reaches it.
struct TemporaryServer {
    child: Child,
    connection: Connection,
    client: &'static str,
}

impl TemporaryServer {
    async fn start(engine: Engine, args: &InitArgs, staging: &Path) -> Result<Self, InstanceError> {
        let socket = args.run_dir.join("initialize.sock");
        let mut command = Command::new(engine.server());
        command
            .arg(defaults_file_arg(&args.config))
            .arg(format!("--datadir={}", staging.display()))
            .arg("--skip-networking")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--pid-file={}", args.run_dir.join("initialize.pid").display()))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if engine == Engine::MySQL {
            command.arg("--mysqlx=OFF");
        }
        let child = command
            .spawn()
            .map_err(|e| InstanceError::io(format!("starting {}", engine.server()), e))?;
        // Root has no password until `secure` sets one; this option file only names the user.
        let defaults_file = args.tmp_dir.join("initialize-root.cnf");
        write_synced(&defaults_file, b"[client]\nuser = root\n")?;
        let mut server = Self {
            child,
            connection: Connection {
                address: Address::Socket(socket),
                defaults_file,
            },
            client: engine.client(),
        };
        server.wait_until_accepting().await?;
        Ok(server)
    }

    async fn wait_until_accepting(&mut self) -> Result<(), InstanceError> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| InstanceError::io("watching the temporary server", e))?
            {
                return Err(InstanceError::TemporaryServer {
                    detail: format!("{} (its log is above)", client::describe_status(status)),
                });
            }
            if Instant::now() > deadline {
                return Err(InstanceError::TemporaryServer {
                    detail: format!("did not accept connections within {}s", SERVER_START_TIMEOUT.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            if self.execute("SELECT 1").await.is_ok() {
                return Ok(());
            }
        }
    }

    /// From now on log in with root's new password.
    fn authenticate(&mut self, root_password: &str) -> Result<(), InstanceError> {
        write_synced(
            &self.connection.defaults_file,
            client_option_file("root", root_password).as_bytes(),
        )
    }

    async fn execute(&self, sql: &str) -> Result<Vec<Vec<String>>, InstanceError> {
        Ok(client::query(self.client, &self.connection, sql).await?)
    }

    async fn version(&self) -> Result<String, InstanceError> {
        let rows = self.execute("SELECT VERSION()").await?;
        Ok(rows.into_iter().flatten().next().unwrap_or_default())
    }

    /// A clean shutdown, so the data directory is consistent before it is renamed into place.
    async fn stop(mut self) -> Result<(), InstanceError> {
        // The connection may close before the client reads the reply; the exit status below is what counts.
        let _ = self.execute("SHUTDOWN").await;
        match tokio::time::timeout(SERVER_STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(InstanceError::TemporaryServer {
                detail: format!("{} while shutting down", client::describe_status(status)),
            }),
            Ok(Err(e)) => Err(InstanceError::io("waiting for the temporary server", e)),
            Err(_) => Err(InstanceError::TemporaryServer {
                detail: format!("did not shut down within {}s", SERVER_STOP_TIMEOUT.as_secs()),
            }),
        }
    }
}

/// Gives root its password (reachable from other pods, for backups and restores), drops every other
/// password-less account, creates the database and the application user.
async fn secure(
    server: &TemporaryServer,
    args: &InitArgs,
    root_password: &str,
    user_password: Option<&str>,
) -> Result<(), InstanceError> {
    let passwordless = server
        .execute("SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
        .await?;
    let accounts: Vec<(String, String)> = passwordless
        .into_iter()
        .filter_map(|row| match row.as_slice() {
            [user, host] => Some((user.clone(), host.clone())),
            _ => None,
        })
        .collect();
    let sql = setup_sql(
        &accounts,
        root_password,
        args.database.as_deref(),
        args.user.as_deref().zip(user_password),
    );
    server.execute(&sql).await?;
    eprintln!(
        "root password set{}{}",
        args.database
            .as_deref()
            .map(|d| format!(", database {d} created"))
            .unwrap_or_default(),
        args.user
            .as_deref()
            .map(|u| format!(", user {u} created"))
            .unwrap_or_default(),
    );
    Ok(())
}

/// The statements `secure` runs (on stdin, never on a command line). Backslash escapes are on for the
/// session, whatever `sql_mode` the user configured, because the literals are escaped that way.
fn setup_sql(
    drop_accounts: &[(String, String)],
    root_password: &str,
    database: Option<&str>,
    user: Option<(&str, &str)>,
) -> String {
    let account = |user: &str, host: &str| format!("{}@{}", sql_string(user), sql_string(host));
    let mut sql = vec!["SET SESSION sql_mode = ''".to_owned()];
    sql.extend(
        drop_accounts
            .iter()
            .map(|(u, h)| format!("DROP USER {}", account(u, h))),
    );
    let root_pw = sql_string(root_password);
    sql.push(format!(
        "ALTER USER {} IDENTIFIED BY {root_pw}",
        account("root", "localhost")
    ));
    sql.push(format!("CREATE USER {} IDENTIFIED BY {root_pw}", account("root", "%")));
    sql.push(format!(
        "GRANT ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION",
        account("root", "%")
    ));
    if let Some(database) = database {
        sql.push(format!("CREATE DATABASE IF NOT EXISTS {}", sql_identifier(database)));
    }
    if let Some((user, password)) = user {
        sql.push(format!(
            "CREATE USER {} IDENTIFIED BY {}",
            account(user, "%"),
            sql_string(password)
        ));
        if let Some(database) = database {
            sql.push(format!(
                "GRANT ALL PRIVILEGES ON {}.* TO {}",
                sql_identifier(database),
                account(user, "%")
            ));
        }
    }
    sql.push("FLUSH PRIVILEGES".to_owned());
    sql.iter().map(|s| format!("{s};\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_sql_sets_every_password_and_quotes_every_literal() {
        let sql = setup_sql(
            &[("root".into(), "127.0.0.1".into()), ("".into(), "localhost".into())],
            r#"it's "x" \ y"#,
            Some("shop"),
            Some(("app", "pw'")),
        );
        assert_eq!(
            sql,
            "SET SESSION sql_mode = '';\n\
             DROP USER 'root'@'127.0.0.1';\n\
             DROP USER ''@'localhost';\n\
             ALTER USER 'root'@'localhost' IDENTIFIED BY 'it\\'s \"x\" \\\\ y';\n\
             CREATE USER 'root'@'%' IDENTIFIED BY 'it\\'s \"x\" \\\\ y';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
             CREATE DATABASE IF NOT EXISTS `shop`;\n\
             CREATE USER 'app'@'%' IDENTIFIED BY 'pw\\'';\n\
             GRANT ALL PRIVILEGES ON `shop`.* TO 'app'@'%';\n\
             FLUSH PRIVILEGES;\n"
        );
        let bare = setup_sql(&[], "r", None, None);
        assert!(!bare.contains("DATABASE") && !bare.contains("'%' IDENTIFIED BY 'r';\nGRANT ALL PRIVILEGES ON `"));
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert_eq!(major_minor("10.11.19-MariaDB-0+deb12u1"), Some((10, 11)));
        assert_eq!(major_minor("8.4.7"), Some((8, 4)));
        assert_eq!(
            major_minor("11.4.8-MariaDB-ubu2404 for debian-linux-gnu"),
            Some((11, 4))
        );
        assert!(major_minor("8.0.44") < major_minor("8.4.7"));
        assert!(major_minor("10.11.19") < major_minor("11.4.8"));
        assert_eq!(major_minor("garbage"), None);
    }

    #[test]
    fn a_data_directory_without_the_marker_is_refused_not_adopted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = read_marker(dir.path()).expect_err("no marker");
        assert!(
            error.to_string().contains("was not initialized by the operator"),
            "{error}"
        );
        std::fs::write(
            dir.path().join(MARKER),
            br#"{"engine":"MariaDB","server_version":"10.11.6-MariaDB"}"#,
        )
        .expect("write");
        assert_eq!(
            read_marker(dir.path()).expect("marker"),
            Marker {
                engine: Engine::MariaDB,
                server_version: "10.11.6-MariaDB".into()
            }
        );
    }
}
