//! Shared test support: the real servers (MariaDB, MinIO), the seeded dataset, and running the operator
//! binary's `backup` / `restore` exactly as the CronJob does, capturing its result line.

pub mod dataset;
pub mod mariadb;
pub mod minio;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The binary under test.
pub fn operator() -> &'static str {
    env!("CARGO_BIN_EXE_mysqlinstance-operator")
}

/// What installs the servers the tests need.
pub const SETUP_HINT: &str = "run tests/backup/setup.sh (installs mariadb-server and mariadb-client from Debian and builds MinIO from the Go module proxy)";

/// Path of `program` on PATH; fails the test (never skips it) when it is missing.
pub fn require_on_path(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed: {SETUP_HINT}"))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// One run of the operator binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The result line, parsed (also checked to be what the termination-message file holds).
    pub result: Value,
}

impl Run {
    /// Fails with the whole run printed unless it succeeded.
    pub fn assert_success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "the run failed: {self:#?}");
        assert_eq!(self.result["status"], "success", "{self:#?}");
        self
    }

    /// Checks a failure the way a user sees it: non-zero exit, a failure result with this `reason`, and
    /// exactly one `error:` line on stderr that names the cause (`needle`).
    pub fn assert_failure(&self, reason: &str, needle: &str) -> &Self {
        assert_ne!(self.code, Some(0), "expected a failure: {self:#?}");
        assert_eq!(self.result["status"], "failure", "{self:#?}");
        assert_eq!(self.result["reason"], reason, "{self:#?}");
        let error = self.result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(needle),
            "the error should name the cause ({needle}): {error}"
        );
        let error_lines: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(
            error_lines.len(),
            1,
            "exactly one error line on stderr: {}",
            self.stderr
        );
        assert!(error_lines[0].contains(needle), "{}", error_lines[0]);
        eprintln!("{}", error_lines[0]);
        self
    }
}

/// Starts the operator binary with `args`, only the given environment on top of a scrubbed one (no AWS_*
/// from the host leaks in), and a termination-message file in `scratch`.
pub fn spawn_operator(args: &[String], env: &[(&str, String)], scratch: &Path) -> Child {
    let mut command = Command::new(operator());
    command.args(args).arg(format!(
        "--termination-log={}",
        scratch.join("termination-log").display()
    ));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v))).env("RUST_LOG", "info");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().expect("start the operator binary")
}

/// Waits for a started run and collects its result.
pub fn wait_operator(child: Child, scratch: &Path) -> Run {
    let output = child.wait_with_output().expect("wait for the operator binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be exactly one result line: {stdout:?}\nstderr: {stderr}"
    );
    let result: Value =
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("result line is not JSON ({e}): {stdout}"));
    let termination = std::fs::read_to_string(scratch.join("termination-log")).unwrap_or_default();
    assert_eq!(termination, lines[0], "the termination message is the result line");
    Run {
        code: output.status.code(),
        stdout,
        stderr,
        result,
    }
}

/// Runs the operator binary to completion.
pub fn run_operator(args: &[String], env: &[(&str, String)], scratch: &Path) -> Run {
    wait_operator(spawn_operator(args, env, scratch), scratch)
}

/// File names in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Waits until `check` holds, polling; fails with `what` after `seconds`.
pub fn wait_until(what: &str, seconds: u64, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Process ids of the children of `parent` (read from /proc, Linux only).
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c.to_owned()).unwrap_or_default();
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push((pid, comm));
        }
    }
    children
}

/// The command line of a process, arguments joined by spaces.
pub fn cmdline_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .unwrap_or_default()
}

/// Sends `signal` to one process.
pub fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}
