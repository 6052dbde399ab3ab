//! Faults of the local control plane (tests/cluster/cluster.sh): restart a component, pause one with SIGSTOP,
//! and the CPU time of a process from /proc.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kube::Client;

use crate::support::wait_for;

const CLUSTER_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cluster/cluster.sh");

/// The cluster of `KUBECONFIG`, started by `tests/cluster/cluster.sh up DIR` (its kubeconfig is DIR/kubeconfig).
pub struct ControlPlane {
    dir: PathBuf,
}

impl ControlPlane {
    /// The cluster of `KUBECONFIG` when cluster.sh started it.
    pub fn find() -> Option<Self> {
        let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG")?);
        let dir = kubeconfig.parent()?.to_path_buf();
        dir.join("pids").is_file().then_some(Self { dir })
    }

    /// The components of DIR/pids that are no longer running (a scenario's result means little without
    /// them: with no scheduler, no pod is ever Ready).
    pub fn dead_components(&self) -> Vec<String> {
        let pids = std::fs::read_to_string(self.dir.join("pids")).unwrap_or_default();
        pids.lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (name, pid, start) = (
                    fields.next()?,
                    fields.next()?.parse().ok()?,
                    fields.next()?.parse().ok(),
                );
                let alive = stat_field(pid, 22) == start && stat_field_text(pid, 3).as_deref() != Some("Z");
                (!alive).then(|| name.to_owned())
            })
            .collect()
    }

    pub fn from_env() -> Self {
        let kubeconfig = PathBuf::from(std::env::var_os("KUBECONFIG").expect("KUBECONFIG is set"));
        let dir = kubeconfig.parent().expect("KUBECONFIG has a directory").to_path_buf();
        assert!(
            dir.join("commands/kube-apiserver").is_file() && dir.join("pids").is_file(),
            "the control-plane scenario needs a kwok cluster from tests/cluster/cluster.sh up DIR \
             (KUBECONFIG=DIR/kubeconfig): no {}/commands/kube-apiserver",
            dir.display()
        );
        Self { dir }
    }

    /// `cluster.sh restart DIR NAME`: stops the component and starts it again with its command line.
    pub async fn restart(&self, name: &str) {
        let output = tokio::process::Command::new(CLUSTER_SH)
            .arg("restart")
            .arg(&self.dir)
            .arg(name)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("cluster.sh runs");
        assert!(
            output.status.success(),
            "cluster.sh restart {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The PID of the component `name` from DIR/pids, checked against its recorded start time.
    pub fn pid_of(&self, name: &str) -> u32 {
        let pids = std::fs::read_to_string(self.dir.join("pids")).expect("DIR/pids");
        let (pid, start) = pids
            .lines()
            .rev()
            .find_map(|line| {
                let mut fields = line.split_whitespace();
                if fields.next()? != name {
                    return None;
                }
                Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
            })
            .unwrap_or_else(|| panic!("no {name} in {}/pids", self.dir.display()));
        assert_eq!(
            stat_field(pid, 22),
            Some(start),
            "{name} (pid {pid}) is not the process recorded in DIR/pids"
        );
        pid
    }

    /// Stops `name` with SIGSTOP until the guard is dropped (SIGCONT), also when the test panics.
    pub fn pause(&self, name: &str) -> Paused {
        let pid = self.pid_of(name);
        signal(pid, "-STOP");
        Paused { pid }
    }
}

/// A process stopped with SIGSTOP; continued when dropped.
pub struct Paused {
    pid: u32,
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal(self.pid, "-CONT");
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: u32, n: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after "pid (comm) "; comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n - 3)?.parse().ok()
}

/// Field `n` (1-based, at least 3) of /proc/PID/stat as text.
fn stat_field_text(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(n - 3).map(str::to_owned)
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of `pid`, in seconds; `None` once the process is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let ticks = stat_field(pid, 14)? + stat_field(pid, 15)?;
    Some(ticks as f64 / TICKS_PER_SECOND)
}

/// The PID of the operator process serving its metrics on `port` (its command line names the address).
pub fn pid_serving(port: u16) -> u32 {
    let wanted = format!("--metrics-address=127.0.0.1:{port}");
    let found = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == wanted.as_bytes()))
        });
    found.unwrap_or_else(|| panic!("no process runs with {wanted}"))
}

/// Waits until the apiserver answers /readyz; returns when it did.
pub async fn wait_ready(client: &Client, timeout: Duration) -> Instant {
    wait_for("kube-apiserver /readyz", timeout, || async {
        let request = http::Request::get("/readyz").body(Vec::new()).ok()?;
        let body = client.request_text(request).await.ok()?;
        (body.trim() == "ok").then(Instant::now)
    })
    .await
}
