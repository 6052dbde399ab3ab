//! Running the MySQL client tools (`mysql`, `mysqldump`) against a server. The connection's credentials come
//! only from the option file, passed as the first argument (`--defaults-file` must be first), so no password is
//! ever on a command line or in an environment variable. Their errors are turned into one line naming the
//! cause: server unreachable, credentials rejected, or the tool's own last error.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::error::{BackupError, Result};

/// How much of a tool's stderr is kept to explain a failure.
const STDERR_TAIL: usize = 16 * 1024;

/// Schemas that belong to the server, not to the application: never dumped unless asked for by name.
pub const SYSTEM_DATABASES: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A host name or address and a TCP port.
    Tcp { host: String, port: u16 },
    /// A Unix socket (the server being initialized listens on nothing else).
    Socket(PathBuf),
}

/// A server to connect to.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Where the server listens.
    pub address: Address,
    /// MySQL option file with a `[client]` section holding user and password.
    pub defaults_file: PathBuf,
}

impl Connection {
    /// A server at `host:port`.
    pub fn tcp(host: impl Into<String>, port: u16, defaults_file: impl Into<PathBuf>) -> Self {
        Self {
            address: Address::Tcp {
                host: host.into(),
                port,
            },
            defaults_file: defaults_file.into(),
        }
    }

    /// `host:port` or the socket's path, for messages.
    pub fn address(&self) -> String {
        match &self.address {
            Address::Tcp { host, port } => format!("{host}:{port}"),
            Address::Socket(path) => path.display().to_string(),
        }
    }

    /// The connection arguments, `--defaults-file` first as the client tools require.
    pub fn args(&self) -> Vec<OsString> {
        let mut defaults = OsString::from("--defaults-file=");
        defaults.push(&self.defaults_file);
        let mut args = vec![defaults];
        match &self.address {
            Address::Tcp { host, port } => args.extend([
                format!("--host={host}").into(),
                format!("--port={port}").into(),
                // Never fall back to a Unix socket when the host is "localhost".
                "--protocol=TCP".into(),
            ]),
            Address::Socket(path) => {
                let mut socket = OsString::from("--socket=");
                socket.push(path);
                args.extend([socket, "--protocol=SOCKET".into()]);
            }
        }
        // Rows with large BLOBs must fit in one packet (the tools' defaults are 16-24 MiB).
        args.push("--max-allowed-packet=1G".into());
        args
    }

    /// Fails early, with the path in the message, if the option file cannot be read (the client tools'
    /// own message for this is easy to misread).
    pub fn check_option_file(&self) -> Result<()> {
        std::fs::File::open(&self.defaults_file)
            .map(drop)
            .map_err(|source| BackupError::OptionFile {
                path: self.defaults_file.display().to_string(),
                source,
            })
    }
}

/// Paths of the client tools.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The `mysql` client.
    pub mysql: String,
    /// `mysqldump` (or `mariadb-dump`).
    pub mysqldump: String,
}

/// Runs `sql` through the `mysql` client (on stdin, so statements are never on a command line) and returns
/// the rows of its result sets, columns split and batch escapes undone.
pub async fn query(mysql: &str, connection: &Connection, sql: &str) -> Result<Vec<Vec<String>>> {
    let mut command = Command::new(mysql);
    command
        .args(connection.args())
        .args([
            "--batch",
            "--skip-column-names",
            "--connect-timeout=10",
            "--default-character-set=utf8mb4",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| BackupError::ToolMissing {
        program: mysql.to_owned(),
        source,
    })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| BackupError::Internal("mysql stdin".to_owned()))?;
    let input = sql.to_owned();
    // Written concurrently with reading the output, so a large input cannot deadlock against a full pipe.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(input.as_bytes()).await;
    });
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| BackupError::io(format!("running {mysql}"), e))?;
    let _ = writer.await;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(classify_failure(mysql, connection, &stderr, output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout
        .lines()
        .map(|line| line.split('\t').map(unescape_batch).collect())
        .collect())
}

/// The first line of `program --version`, for the manifest.
pub async fn tool_version(program: &str) -> Result<String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| BackupError::ToolMissing {
            program: program.to_owned(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// Keeps the last [`STDERR_TAIL`] bytes of a tool's stderr.
pub async fn read_tail(mut stderr: impl AsyncRead + Unpin) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stderr.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buffer[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
        }
    }
    String::from_utf8_lossy(&tail).into_owned()
}

/// Turns a failed client tool run into the error that names its cause.
pub fn classify_failure(program: &str, connection: &Connection, stderr: &str, status: ExitStatus) -> BackupError {
    let detail = error_line(stderr).unwrap_or_else(|| describe_status(status));
    let address = connection.address();
    match error_code(&detail) {
        // CR_CONNECTION_ERROR, CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST, CR_SERVER_LOST (at connect).
        Some(2002 | 2003 | 2005) => BackupError::ServerUnreachable { address, detail },
        Some(2013) if detail.contains("connect") => BackupError::ServerUnreachable { address, detail },
        // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR.
        Some(1045 | 1044) => BackupError::AccessDenied {
            address,
            defaults_file: connection.defaults_file.display().to_string(),
            detail,
        },
        _ => BackupError::ClientFailed {
            program: program.to_owned(),
            address,
            detail,
        },
    }
}

/// The line of a tool's stderr that says what went wrong: the last error line, else the last line that is
/// not a warning.
pub fn error_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let is_error = |l: &&&str| l.starts_with("ERROR") || l.contains("Got error") || l.contains("error:");
    lines
        .iter()
        .rev()
        .find(is_error)
        .or_else(|| {
            lines
                .iter()
                .rev()
                .find(|l| !l.contains("[Warning]") && !l.starts_with("Warning"))
        })
        .map(|l| l.to_string())
}

/// The MySQL error number in `ERROR 1045 (28000): …` (mysql) or `Got error: 1049: …` (mysqldump).
pub fn error_code(line: &str) -> Option<u32> {
    let digits = |s: &str| {
        s.trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    if let Some(rest) = line.split("Got error:").nth(1) {
        return digits(rest);
    }
    line.find("ERROR ").and_then(|at| digits(&line[at + "ERROR ".len()..]))
}

/// "exited with status 2" / "was killed by signal 9 (SIGKILL)".
pub fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal} ({})", signal_name(signal)),
        (None, None) => "ended without an exit status".to_owned(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// Undoes the escaping of `mysql --batch` output (`\t`, `\n`, `\\`, `\0`).
pub fn unescape_batch(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A string literal for SQL (quotes and backslashes escaped).
pub fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A quoted identifier for SQL.
pub fn sql_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_both_tools() {
        assert_eq!(
            error_code("ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)"),
            Some(2002)
        );
        assert_eq!(
            error_code("mysqldump: Got error: 1049: \"Unknown database 'shop'\" when selecting the database"),
            Some(1049)
        );
        assert_eq!(error_code("mysqldump: Couldn't execute 'SHOW TABLES'"), None);
    }

    #[test]
    fn the_error_line_skips_warnings() {
        let stderr = "mysql: [Warning] something\nERROR 1045 (28000): Access denied for user 'root'@'localhost'\n";
        assert_eq!(
            error_line(stderr).as_deref(),
            Some("ERROR 1045 (28000): Access denied for user 'root'@'localhost'")
        );
        assert_eq!(
            error_line("Warning: x\nplain failure\n").as_deref(),
            Some("plain failure")
        );
        assert_eq!(error_line(""), None);
    }

    #[test]
    fn failures_are_classified() {
        use std::os::unix::process::ExitStatusExt;
        let connection = Connection::tcp("h", 1, "/c.cnf");
        let status = ExitStatus::from_raw(1 << 8);
        let unreachable = classify_failure("mysql", &connection, "ERROR 2002 (HY000): Can't connect", status);
        assert_eq!(unreachable.reason(), "ServerUnreachable");
        let denied = classify_failure("mysql", &connection, "ERROR 1045 (28000): Access denied", status);
        assert_eq!(denied.reason(), "AccessDenied");
        assert!(denied.to_string().contains("/c.cnf"), "{denied}");
        let other = classify_failure("mysql", &connection, "ERROR 1064 (42000): syntax", status);
        assert_eq!(other.reason(), "ClientFailed");
        assert_eq!(
            describe_status(ExitStatus::from_raw(9)),
            "was killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn batch_output_is_unescaped_and_sql_is_quoted() {
        assert_eq!(unescape_batch(r"a\tb\nc\\d\0"), "a\tb\nc\\d\0");
        assert_eq!(sql_string(r"it's \ here"), r"'it\'s \\ here'");
        assert_eq!(sql_identifier("we`ird"), "`we``ird`");
    }

    #[test]
    fn the_option_file_comes_first() {
        let connection = Connection::tcp("h", 3306, "/etc/c.cnf");
        let args = connection.args();
        assert_eq!(args[0], "--defaults-file=/etc/c.cnf");
        assert!(args.iter().all(|a| !a.to_string_lossy().contains("password")));
        let socket = Connection {
            address: Address::Socket("/run/init.sock".into()),
            defaults_file: "/tmp/root.cnf".into(),
        };
        let args = socket.args();
        assert_eq!(args[0], "--defaults-file=/tmp/root.cnf");
        assert!(args.contains(&"--socket=/run/init.sock".into()) && args.contains(&"--protocol=SOCKET".into()));
    }
}
