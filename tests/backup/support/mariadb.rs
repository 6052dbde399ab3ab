//! A real MariaDB server (Debian's `mariadbd`) on a free 127.0.0.1 port with its own temporary data
//! directory and a root password, reached over TCP through an option file exactly as the backup Job does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{free_port, require_on_path};

/// Root password of every test server. It has a space, a `#` and a quote, which an option file must quote
/// and a command line would mangle.
pub const ROOT_PASSWORD: &str = "s3cret #pw'x";

/// A running server, stopped and deleted when dropped.
pub struct MariaDb {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl MariaDb {
    /// Initialises a data directory and starts the server; returns once it accepts the root password.
    pub fn start() -> MariaDb {
        let mariadbd = require_on_path("mariadbd");
        let install_db = require_on_path("mariadb-install-db");
        require_on_path("mysql");
        require_on_path("mysqldump");
        let dir = tempfile::Builder::new()
            .prefix("myi-mariadb-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        let as_root = is_root();
        let mut install = Command::new(install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--innodb-log-file-size=16M")
            // Bootstraps running at the same time in the shared /tmp collide on their temporary tables
            // ("Unknown table 'mysql.tmp_user_sys'"): seen in about 1 of 10 parallel runs, none in 15 with this.
            .arg(format!("--tmpdir={}", dir.path().display()));
        if as_root {
            install.arg("--user=root");
        }
        let output = install.output().expect("run mariadb-install-db");
        assert!(
            output.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );

        // A port picked free can be taken before mariadbd binds it (other tests run in parallel): retry.
        let mut attempt = 0;
        let server = loop {
            attempt += 1;
            let port = free_port();
            let mut command = Command::new(&mariadbd);
            command
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", dir.path().join("mysqld.sock").display()))
                .arg(format!("--pid-file={}", dir.path().join("mysqld.pid").display()))
                .arg(format!("--log-error={}", dir.path().join("error.log").display()))
                .arg(format!("--tmpdir={}", dir.path().display()))
                .arg(format!("--port={port}"))
                .arg("--bind-address=127.0.0.1")
                .args([
                    "--skip-name-resolve",
                    "--skip-log-bin",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_unicode_ci",
                    // Small and fast: the tests need correctness, not durability across power loss.
                    "--innodb-buffer-pool-size=192M",
                    "--innodb-log-file-size=16M",
                    "--innodb-flush-log-at-trx-commit=2",
                    "--innodb-doublewrite=0",
                    "--performance-schema=OFF",
                    "--max-connections=40",
                    // Events are dumped and restored, never run: a firing event would change the data compared.
                    "--event-scheduler=OFF",
                ]);
            if as_root {
                command.arg("--user=root");
            }
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = command.spawn().expect("start mariadbd");
            let socket = dir.path().join("mysqld.sock");
            let deadline = Instant::now() + Duration::from_secs(60);
            let exited = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break Some(status);
                }
                let ready = Command::new("mysql")
                    .args([
                        "--no-defaults",
                        "--user=root",
                        &format!("--socket={}", socket.display()),
                    ])
                    .args(["-e", "SELECT 1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ready {
                    break None;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("mariadbd did not accept connections within 60 s");
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let Some(status) = exited else {
                break MariaDb {
                    port,
                    dir,
                    child: Some(child),
                };
            };
            let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
            let port_taken = log.contains("Address already in use") || log.contains("Bind on TCP/IP port");
            assert!(port_taken && attempt < 3, "mariadbd exited with {status}:\n{log}");
        };
        let socket = server.dir.path().join("mysqld.sock");
        // Over the socket without a password (fresh install), give root a password for TCP from 127.0.0.1.
        let escaped = ROOT_PASSWORD.replace('\\', "\\\\").replace('\'', "\\'");
        let setup: String = ["localhost", "127.0.0.1"]
            .iter()
            .map(|host| {
                format!(
                    "CREATE USER IF NOT EXISTS 'root'@'{host}';\n\
                     ALTER USER 'root'@'{host}' IDENTIFIED BY '{escaped}';\n\
                     GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION;\n"
                )
            })
            .collect();
        let mut mysql = Command::new("mysql")
            .args([
                "--no-defaults",
                "--user=root",
                &format!("--socket={}", socket.display()),
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mysql");
        mysql
            .stdin
            .take()
            .expect("stdin")
            .write_all(setup.as_bytes())
            .expect("write setup");
        let output = mysql.wait_with_output().expect("wait for mysql");
        assert!(
            output.status.success(),
            "setting the root password failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        server.write_option_file(&server.defaults_file(), ROOT_PASSWORD);
        server
    }

    /// The option file with the right credentials (what the operator mounts into the backup Job).
    pub fn defaults_file(&self) -> PathBuf {
        self.dir.path().join("client.cnf")
    }

    /// Writes a `[client]` option file with `password` and returns its path.
    pub fn write_option_file(&self, path: &Path, password: &str) -> PathBuf {
        let quoted = password.replace('\\', "\\\\").replace('"', "\\\"");
        std::fs::write(path, format!("[client]\nuser = root\npassword = \"{quoted}\"\n")).expect("write client.cnf");
        set_mode(path, 0o600);
        path.to_owned()
    }

    /// Connection arguments for the operator's `backup` / `restore`.
    pub fn connection_args(&self) -> Vec<String> {
        vec![
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", self.port),
            format!("--defaults-file={}", self.defaults_file().display()),
        ]
    }

    fn client(&self) -> Command {
        let mut command = Command::new("mysql");
        command
            .arg(format!("--defaults-file={}", self.defaults_file().display()))
            .args(["--host=127.0.0.1", &format!("--port={}", self.port), "--protocol=TCP"])
            .args(["--batch", "--skip-column-names", "--default-character-set=utf8mb4"]);
        command
    }

    /// Runs SQL (on stdin, so DELIMITER works) and returns the output; fails the test on an SQL error.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql).unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
    }

    /// Runs SQL and returns the output or the error.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let mut child = self
            .client()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mysql");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = sql.to_owned();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let output = child.wait_with_output().expect("wait for mysql");
        let _ = writer.join();
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A connection that stays open (for LOCK TABLES) until [`Session::close`].
    pub fn session(&self) -> Session {
        let child = self
            .client()
            .arg("--unbuffered")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run mysql");
        Session { child }
    }

    /// Stops the server (for tests of a server that goes away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An open client connection fed statement by statement.
pub struct Session {
    child: Child,
}

impl Session {
    /// Sends one statement; it runs asynchronously (check its effect on the server).
    pub fn send(&mut self, sql: &str) {
        let stdin: &mut ChildStdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(sql.as_bytes()).expect("write to the session");
        stdin.write_all(b"\n").expect("write to the session");
        stdin.flush().expect("flush the session");
    }

    /// Ends the session (closing the connection releases its locks).
    pub fn close(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether the tests run as root (some failure modes need to mount a filesystem).
pub fn running_as_root() -> bool {
    is_root()
}
