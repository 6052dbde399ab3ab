//! `instance probe KIND`: the server pod's kubelet probes.
//!
//! - `startup` and `liveness` ask whether the server process answers the protocol at all: it is alive when a
//!   TCP connection to it gets the server's greeting or an error packet (a busy server answers "too many
//!   connections" and is alive); it is dead when nothing listens or nothing answers in time.
//! - `readiness` asks whether it serves clients: an authenticated `SELECT 1` over TCP with root's option file,
//!   through the engine's own client, so it fails against a server that refuses TCP or the credentials.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::InstanceError;
use crate::api::Engine;
use crate::backup::client::{self, Connection};
use crate::engine::on_path;
use crate::resources::{credential_keys, layout};

/// Under the probes' 5 s timeout, so a slow answer is reported by this process rather than killed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(4);

/// Which probe.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Startup,
    Readiness,
    Liveness,
}

/// Arguments of `instance probe`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Which probe to answer.
    pub kind: ProbeKind,
    /// The server's port on 127.0.0.1.
    #[arg(long, default_value_t = 3306)]
    pub port: u16,
    /// Root's option file (readiness).
    #[arg(long, default_value_t = format!("{}/{}", layout::CREDENTIALS_DIR, credential_keys::CLIENT_CNF))]
    pub defaults_file: String,
}

pub async fn run(args: ProbeArgs) -> Result<(), InstanceError> {
    match args.kind {
        ProbeKind::Startup | ProbeKind::Liveness => {
            let answer = tokio::time::timeout(ANSWER_TIMEOUT, greeting(args.port))
                .await
                .map_err(|_| {
                    InstanceError::ProbeFailed(format!(
                        "the server on 127.0.0.1:{} accepted no connection or sent no greeting within {}s",
                        args.port,
                        ANSWER_TIMEOUT.as_secs()
                    ))
                })??;
            if let Answer::Error { code, message } = answer {
                eprintln!("alive but busy: error {code}: {message}");
            }
            Ok(())
        }
        ProbeKind::Readiness => {
            let connection = Connection::tcp("127.0.0.1", args.port, PathBuf::from(&args.defaults_file));
            let client = Engine::of_clients(on_path).client();
            tokio::time::timeout(ANSWER_TIMEOUT, client::query(client, &connection, "SELECT 1"))
                .await
                .map_err(|_| {
                    InstanceError::ProbeFailed(format!(
                        "SELECT 1 over TCP did not answer within {}s",
                        ANSWER_TIMEOUT.as_secs()
                    ))
                })??;
            Ok(())
        }
    }
}

/// What a server says first on a new connection.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The handshake: it accepts connections.
    Greeting,
    /// An error packet instead (too many connections, host blocked): alive, but turning clients away.
    Error { code: u16, message: String },
}

async fn greeting(port: u16) -> Result<Answer, InstanceError> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| InstanceError::ProbeFailed(format!("nothing answers on 127.0.0.1:{port}: {e}")))?;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.map_err(|e| {
        InstanceError::ProbeFailed(format!("the server closed the connection before its greeting: {e}"))
    })?;
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; length.min(1024)];
    stream
        .read_exact(&mut payload)
        .await
        .map_err(|e| InstanceError::ProbeFailed(format!("the server's greeting was cut short: {e}")))?;
    parse_first_packet(&payload)
}

/// The first packet of the MySQL protocol: a handshake (protocol version 10) or an error packet (0xff).
fn parse_first_packet(payload: &[u8]) -> Result<Answer, InstanceError> {
    match payload {
        [10, ..] => Ok(Answer::Greeting),
        [0xff, low, high, message @ ..] => Ok(Answer::Error {
            code: u16::from_le_bytes([*low, *high]),
            message: String::from_utf8_lossy(message).into_owned(),
        }),
        _ => Err(InstanceError::ProbeFailed(
            "the process on the server port does not speak the MySQL protocol".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn greetings_and_busy_servers_are_alive() {
        assert_eq!(
            parse_first_packet(&[10, b'1', b'1', 0]).expect("greeting"),
            Answer::Greeting
        );
        let too_many = [&[0xff, 0x10, 0x04][..], b"Too many connections"].concat();
        assert_eq!(
            parse_first_packet(&too_many).expect("error packet"),
            Answer::Error {
                code: 1040,
                message: "Too many connections".into()
            }
        );
        assert!(parse_first_packet(b"HTTP/1.1 400").is_err());
    }

    /// A listener that sends `reply` to the first connection, or nothing when `None`.
    async fn fake_server(reply: Option<Vec<u8>>) -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            match reply {
                Some(bytes) => socket.write_all(&bytes).await.expect("write"),
                None => tokio::time::sleep(Duration::from_secs(10)).await,
            }
        });
        (port, task)
    }

    fn probe(kind: ProbeKind, port: u16) -> ProbeArgs {
        ProbeArgs {
            kind,
            port,
            defaults_file: "/nonexistent.cnf".into(),
        }
    }

    #[tokio::test]
    async fn liveness_tells_busy_from_dead() {
        let handshake = [&[5, 0, 0, 0][..], &[10, b'1', b'1', b'.', 0]].concat();
        let (port, task) = fake_server(Some(handshake)).await;
        run(probe(ProbeKind::Liveness, port))
            .await
            .expect("a greeting is alive");
        task.abort();

        let busy = [&[23, 0, 0, 0][..], &[0xff, 0x10, 0x04], b"Too many connections"].concat();
        let (port, task) = fake_server(Some(busy)).await;
        run(probe(ProbeKind::Liveness, port)).await.expect("busy is alive");
        task.abort();

        let (port, task) = fake_server(None).await;
        let hung = run(probe(ProbeKind::Startup, port)).await.expect_err("silence is dead");
        assert!(hung.to_string().contains("no greeting within 4s"), "{hung}");
        task.abort();

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let refused = run(probe(ProbeKind::Liveness, port))
            .await
            .expect_err("nothing listens");
        assert!(refused.to_string().contains("nothing answers"), "{refused}");
    }
}
