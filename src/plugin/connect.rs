//! `connect NAME`: the engine's client in the server pod through `kubectl exec`, logged in from an option file so
//! that no password is ever on a command line.
//!
//! As root the client reads the option file the pod already mounts (`client.cnf` of the credentials Secret). As
//! the application user there is no such file: a fixed `sh -c` script builds one in the pod's `/tmp` emptyDir from
//! the mounted password file and the user and database of the spec (umask 077, created exclusively), runs the
//! client with it and deletes it on exit. The password is read by the shell's own `$(...)` and written by the
//! `printf` builtin, so it is in no process's argv.

use std::io::IsTerminal;
use std::process::{Command, ExitCode};

use mysqlinstance_operator::api::{Engine, MySQLInstance};
use mysqlinstance_operator::resources::credential_keys as keys;
use mysqlinstance_operator::resources::layout::{CREDENTIALS_DIR, SOCKET, TMP_DIR};

use super::{PluginError, Target};

/// The server container of the StatefulSet's pods (src/resources/statefulset.rs).
pub const SERVER_CONTAINER: &str = "mysql";

/// Builds the application user's option file, runs the client (`$1`, with the socket `$2`, as user `$3` on
/// database `$4`, and the rest of the arguments), and removes the file however the session ends. Only the paths
/// are substituted in; the script never contains a credential.
fn app_user_script() -> String {
    format!(
        r#"set -eu
umask 077
f={TMP_DIR}/.myi-client-$$.cnf
trap 'rm -f "$f"' EXIT
trap 'exit 129' HUP TERM
trap : INT QUIT
client=$1 socket=$2 u=$3 d=$4
shift 4
p=$(sed -e 's/[\\"]/\\&/g' {CREDENTIALS_DIR}/{password})
set -C
printf '[client]\nuser="%s"\npassword="%s"\n' "$u" "$p" > "$f"
unset p
"$client" --defaults-extra-file="$f" --socket="$socket" "$@" ${{d:+"$d"}}
"#,
        password = keys::PASSWORD,
    )
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The MySQLInstance.
    name: String,
    /// Log in as root instead of the application user.
    #[arg(long)]
    root: bool,
    /// Print the kubectl command instead of running it.
    #[arg(long)]
    dry_run: bool,
    /// Arguments for the client after `--`, such as `-- -e "SELECT 1"`.
    #[arg(last = true)]
    client_args: Vec<String>,
}

pub async fn run(target: &Target, args: &ConnectArgs) -> Result<ExitCode, PluginError> {
    let instance = target.instance(&args.name).await?;
    if !args.root && instance.spec.user.is_none() {
        return Err(PluginError::Invalid(format!(
            "{} has no application user (spec.user is not set): connect with --root",
            args.name
        )));
    }
    let session = Session {
        namespace: target.namespace.clone(),
        pod: format!("{}-0", args.name),
        engine: engine_of(&instance),
        root: args.root,
        user: instance.spec.user.clone().unwrap_or_default(),
        database: instance.spec.database.clone().unwrap_or_default(),
        tty: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
        client_args: args.client_args.clone(),
    };
    let argv = kubectl_exec_argv(&session);
    if args.dry_run {
        let quoted: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
        println!("kubectl {}", quoted.join(" "));
        return Ok(ExitCode::SUCCESS);
    }
    let status = Command::new("kubectl")
        .args(&argv)
        .status()
        .map_err(PluginError::Kubectl)?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// The engine whose client to run: the instance's `spec.engine` (the schema ties the version to it).
pub fn engine_of(instance: &MySQLInstance) -> Engine {
    instance.spec.engine
}

/// One client session to open.
#[derive(Clone, Debug)]
pub struct Session {
    pub namespace: String,
    pub pod: String,
    pub engine: Engine,
    pub root: bool,
    /// The application user and database (`spec.user`, `spec.database`); not secrets.
    pub user: String,
    pub database: String,
    /// Allocate a terminal (`-t`): only when the plugin itself runs on one.
    pub tty: bool,
    pub client_args: Vec<String>,
}

/// The arguments of `kubectl` that open `session`: `exec -i [-t] -n NS POD -c mysql -- ...`.
pub fn kubectl_exec_argv(session: &Session) -> Vec<String> {
    let mut argv = vec!["exec".to_owned(), "-i".to_owned()];
    if session.tty {
        argv.push("-t".to_owned());
    }
    argv.extend([
        "-n".to_owned(),
        session.namespace.clone(),
        session.pod.clone(),
        "-c".to_owned(),
        SERVER_CONTAINER.to_owned(),
        "--".to_owned(),
    ]);
    let client = session.engine.client().to_owned();
    if session.root {
        argv.extend([
            client,
            format!("--defaults-extra-file={CREDENTIALS_DIR}/{}", keys::CLIENT_CNF),
            format!("--socket={SOCKET}"),
        ]);
    } else {
        argv.extend([
            "sh".to_owned(),
            "-c".to_owned(),
            app_user_script(),
            "kubectl-myi-connect".to_owned(),
            client,
            SOCKET.to_owned(),
            session.user.clone(),
            session.database.clone(),
        ]);
    }
    argv.extend(session.client_args.iter().cloned());
    argv
}

/// `arg` as a POSIX shell word: unchanged when it is made of safe characters, single-quoted otherwise.
pub fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(engine: Engine, root: bool) -> Session {
        Session {
            namespace: "shop".into(),
            pod: "db-0".into(),
            engine,
            root,
            user: "app".into(),
            database: "shop".into(),
            tty: true,
            client_args: Vec::new(),
        }
    }

    #[test]
    fn root_uses_the_mounted_option_file() {
        assert_eq!(
            kubectl_exec_argv(&session(Engine::MariaDB, true)),
            [
                "exec",
                "-i",
                "-t",
                "-n",
                "shop",
                "db-0",
                "-c",
                "mysql",
                "--",
                "mariadb",
                "--defaults-extra-file=/etc/mysql/credentials/client.cnf",
                "--socket=/var/run/mysqld/mysqld.sock"
            ]
        );
        let mut mysql = session(Engine::MySQL, true);
        mysql.tty = false;
        mysql.client_args = vec!["-e".into(), "SELECT 1".into()];
        let argv = kubectl_exec_argv(&mysql);
        assert_eq!(&argv[..2], ["exec", "-i"], "no -t without a terminal");
        assert_eq!(argv[8], "mysql", "MySQL's client");
        assert_eq!(&argv[argv.len() - 2..], ["-e", "SELECT 1"]);
    }

    #[test]
    fn the_app_user_gets_a_private_temporary_option_file_that_is_removed() {
        let argv = kubectl_exec_argv(&session(Engine::MySQL, false));
        assert_eq!(&argv[9..12], ["sh", "-c", app_user_script().as_str()]);
        assert_eq!(
            &argv[12..],
            [
                "kubectl-myi-connect",
                "mysql",
                "/var/run/mysqld/mysqld.sock",
                "app",
                "shop"
            ]
        );
        let script = &argv[11];
        assert!(script.contains("umask 077"), "{script}");
        assert!(script.contains("set -C"), "created exclusively: {script}");
        assert!(script.contains("f=/tmp/.myi-client-$$.cnf"), "{script}");
        assert!(script.contains("trap 'rm -f \"$f\"' EXIT"), "{script}");
        assert!(script.contains("/etc/mysql/credentials/password"), "{script}");
        assert!(script.contains("--defaults-extra-file=\"$f\""), "{script}");
    }

    #[test]
    fn dry_run_words_survive_the_shell() {
        assert_eq!(
            shell_quote("--socket=/var/run/mysqld/mysqld.sock"),
            "--socket=/var/run/mysqld/mysqld.sock"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("SELECT 1"), "'SELECT 1'");
    }

    #[test]
    fn no_password_is_ever_on_the_command_line() {
        for engine in [Engine::MySQL, Engine::MariaDB] {
            for root in [true, false] {
                let argv = kubectl_exec_argv(&session(engine, root));
                for arg in &argv {
                    // The password is only ever named as a file to read, never given as a value.
                    assert!(!arg.contains("--password") && !arg.contains("-p"), "{arg}");
                    assert!(!arg.contains("MYSQL_PWD"), "{arg}");
                }
                let script = argv.join(" ");
                // The only command that sees the password file is sed, which reads it by name; the value goes
                // through the printf builtin into the 0600 file, never into an argument of an executed program.
                assert!(!script.contains("password=$p") && !script.contains("echo"), "{script}");
            }
        }
    }
}
