//! The subcommands the operator binary runs inside the server pod (`instance init`, `instance probe`), run
//! here against Debian's real MariaDB exactly as the pod runs them, with the pod's volumes as directories:
//! the data directory initialized beside `lost+found`, passwords of every printable character, the
//! database and user with their grants, idempotence, an interrupted initialization redone, foreign data
//! refused, and probes that tell a live server from a dead one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed expectation is a failed test.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mysqlinstance_operator::resources::client_option_file;
use tempfile::TempDir;

/// Every printable ASCII character, quotes, backslash and spaces included.
fn every_printable() -> String {
    (0x20u8..0x7f).map(char::from).collect()
}

const APP_PASSWORD: &str = r#" app's "pw" \ with # and ; "#;

/// The server pod's volumes as directories, and its my.cnf (the ConfigMap's, with these paths).
struct Pod {
    dir: TempDir,
    port: u16,
}

impl Pod {
    fn new(root_password: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("myi-pod-").tempdir().expect("tempdir");
        let pod = Pod { dir, port: free_port() };
        for sub in ["volume", "credentials", "run", "tmp"] {
            std::fs::create_dir(pod.path(sub)).expect("mkdir");
        }
        // What an ext4 cloud disk holds at its root, and what makes `--initialize` abort when it is the datadir.
        std::fs::create_dir(pod.path("volume/lost+found")).expect("lost+found");
        let cnf = format!(
            "[mysqld]\ndatadir = {}\nsocket = {}\npid-file = {}\nport = {}\ntmpdir = {}\n\
             bind-address = 127.0.0.1\ncharacter-set-server = utf8mb4\ncollation-server = utf8mb4_unicode_ci\n\
             skip-name-resolve = ON\ninnodb-buffer-pool-size = 64M\ninnodb-log-file-size = 16M\n\
             performance-schema = OFF\n{}",
            pod.path("volume/data").display(),
            pod.path("run/mysqld.sock").display(),
            pod.path("run/mysqld.pid").display(),
            pod.port,
            pod.path("tmp").display(),
            // mariadbd refuses to run as root unless told to; in the pod it runs as uid 999.
            if is_root() { "user = root\n" } else { "" },
        );
        std::fs::write(pod.path("my.cnf"), cnf).expect("my.cnf");
        // The credentials Secret's files, as the operator writes them.
        std::fs::write(pod.path("credentials/root-password"), root_password).expect("root-password");
        std::fs::write(pod.path("credentials/password"), APP_PASSWORD).expect("password");
        std::fs::write(
            pod.path("credentials/client.cnf"),
            client_option_file("root", root_password),
        )
        .expect("client.cnf");
        std::fs::write(pod.path("app.cnf"), client_option_file("app", APP_PASSWORD)).expect("app.cnf");
        pod
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// The operator binary as the pod runs it, with PATH reaching Debian's /usr/sbin/mariadbd.
    fn operator(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mysqlinstance-operator"));
        let path = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{path}:/usr/sbin:/usr/local/sbin"));
        command
    }

    fn init_command(&self, engine: &str) -> Command {
        let mut command = self.operator();
        command.args([
            "instance",
            "init",
            &format!("--engine={engine}"),
            "--database=shop",
            "--user=app",
        ]);
        for (flag, sub) in [
            ("--config", "my.cnf"),
            ("--credentials", "credentials"),
            ("--volume", "volume"),
            ("--run-dir", "run"),
            ("--tmp-dir", "tmp"),
        ] {
            command.arg(format!("{flag}={}", self.path(sub).display()));
        }
        command
    }

    fn init(&self) -> Output {
        self.init_command("MariaDB").output().expect("run instance init")
    }

    fn probe(&self, kind: &str) -> Output {
        self.operator()
            .args(["instance", "probe", kind, &format!("--port={}", self.port)])
            .arg(format!(
                "--defaults-file={}",
                self.path("credentials/client.cnf").display()
            ))
            .output()
            .expect("run instance probe")
    }

    /// The main container: the server binary with the pod's only option file.
    fn start_server(&self) -> Server {
        let child = Command::new(sbin("mariadbd"))
            .arg(format!("--defaults-file={}", self.path("my.cnf").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.probe("startup").status.success() {
            assert!(Instant::now() < deadline, "the startup probe never passed");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    /// Runs SQL as the user of `option_file` over TCP; the output, or the error.
    fn sql_as(&self, option_file: &Path, sql: &str) -> Result<String, String> {
        let output = Command::new("mariadb")
            .arg(format!("--defaults-file={}", option_file.display()))
            .args(["--host=127.0.0.1", &format!("--port={}", self.port), "--protocol=TCP"])
            .args(["--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("run mariadb");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sbin(program: &str) -> PathBuf {
    ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed: run tests/backup/setup.sh"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn init_makes_a_server_that_root_and_the_app_reach_with_any_printable_password() {
    let root_password = every_printable();
    let pod = Pod::new(&root_password);
    let init = pod.init();
    assert!(init.status.success(), "init failed: {}", stderr(&init));
    assert!(pod.path("volume/data/.mysqlinstance-initialized").is_file());
    assert!(pod.path("volume/lost+found").is_dir(), "lost+found is left alone");
    assert!(!pod.path("volume/data.initializing").exists());

    let _server = pod.start_server();
    let ready = pod.probe("readiness");
    assert!(ready.status.success(), "readiness: {}", stderr(&ready));
    assert!(pod.probe("liveness").status.success());

    let root = pod.path("credentials/client.cnf");
    assert_eq!(
        pod.sql_as(&root, "SELECT CURRENT_USER()").expect("root over TCP"),
        "root@%"
    );
    let app = pod.path("app.cnf");
    assert_eq!(
        pod.sql_as(&app, "SELECT CURRENT_USER()").expect("app over TCP"),
        "app@%"
    );
    let grants = pod.sql_as(&app, "SHOW GRANTS").expect("grants");
    assert!(
        grants.contains("GRANT ALL PRIVILEGES ON `shop`.* TO `app`@`%`"),
        "{grants}"
    );
    pod.sql_as(
        &app,
        "CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)",
    )
    .expect("the app writes its database");
    let denied = pod
        .sql_as(&app, "SELECT COUNT(*) FROM mysql.user")
        .expect_err("no access to mysql");
    assert!(denied.contains("denied"), "{denied}");
    let accounts = pod
        .sql_as(
            &root,
            "SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User IN ('root', 'app', '') ORDER BY 1",
        )
        .expect("accounts");
    assert_eq!(
        accounts, "app@%\nroot@%\nroot@localhost",
        "no password-less root or anonymous accounts"
    );
    let wrong = pod.path("wrong.cnf");
    std::fs::write(&wrong, client_option_file("root", "not the password")).expect("write");
    assert!(pod.sql_as(&wrong, "SELECT 1").is_err(), "a wrong password is refused");
}

#[test]
fn init_is_idempotent_and_redoes_an_interrupted_initialization() {
    let pod = Pod::new("root pw");
    // A pod killed during initialization: the whole process group goes, as with a container.
    let mut interrupted = pod
        .init_command("MariaDB")
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn init");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pod.path("volume/data.initializing/mysql").exists() {
        assert!(Instant::now() < deadline, "initialization never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = i32::try_from(interrupted.id()).expect("pid fits");
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status();
    let _ = interrupted.wait();
    assert!(
        !pod.path("volume/data").exists(),
        "a half initialization is never accepted"
    );

    let redone = pod.init();
    assert!(redone.status.success(), "{}", stderr(&redone));
    assert!(stderr(&redone).contains("interrupted"), "{}", stderr(&redone));
    let marker = pod.path("volume/data/.mysqlinstance-initialized");
    let first = std::fs::metadata(&marker).and_then(|m| m.modified()).expect("marker");

    let again = pod.init();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("nothing to do"), "{}", stderr(&again));
    let second = std::fs::metadata(&marker).and_then(|m| m.modified()).expect("marker");
    assert_eq!(first, second, "an initialized data directory is not touched again");

    let _server = pod.start_server();
    let root = pod.path("credentials/client.cnf");
    assert_eq!(pod.sql_as(&root, "SELECT 1").expect("the redone server works"), "1");
}

#[test]
fn init_refuses_foreign_data_and_the_wrong_engine_with_what_to_do() {
    let pod = Pod::new("pw");
    std::fs::create_dir(pod.path("volume/data")).expect("mkdir");
    std::fs::write(pod.path("volume/data/ibdata1"), b"someone else's").expect("write");
    let foreign = pod.init();
    assert!(!foreign.status.success());
    let message = stderr(&foreign);
    assert!(
        message.contains("was not initialized by the operator") && message.contains("move it out"),
        "{message}"
    );
    assert!(
        pod.path("volume/data/ibdata1").is_file(),
        "foreign data is never deleted"
    );

    let mismatch = pod.init_command("MySQL").output().expect("run init");
    let message = stderr(&mismatch);
    assert!(!mismatch.status.success());
    assert!(
        message.contains("spec.engine is MySQL but the image carries the MariaDB server"),
        "{message}"
    );
}

#[test]
fn init_refuses_a_server_older_than_the_data_directory() {
    let pod = Pod::new("pw");
    assert!(pod.init().status.success());
    // As if a newer server had written (or upgraded) this data directory, and spec.image went back.
    let marker = pod.path("volume/data/.mysqlinstance-initialized");
    std::fs::write(&marker, br#"{"engine":"MariaDB","server_version":"99.1.0-MariaDB"}"#).expect("marker");
    let older = pod.init();
    assert!(!older.status.success(), "a downgrade must not start");
    let message = stderr(&older);
    assert!(
        message.contains("written by server 99.1.0-MariaDB") && message.contains("downgrades are refused"),
        "{message}"
    );
}

#[test]
fn probes_tell_a_dead_server_and_refused_credentials() {
    let pod = Pod::new("pw");
    assert!(pod.init().status.success());
    let server = pod.start_server();
    std::fs::write(pod.path("credentials/client.cnf"), client_option_file("root", "wrong")).expect("write");
    let refused = pod.probe("readiness");
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("rejected the credentials"),
        "{}",
        stderr(&refused)
    );
    assert!(pod.probe("liveness").status.success(), "alive even when not ready");
    drop(server);
    let dead = pod.probe("liveness");
    assert!(!dead.status.success());
    assert!(stderr(&dead).contains("nothing answers"), "{}", stderr(&dead));
}
