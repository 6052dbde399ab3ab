//! The streaming run backup and restore share: a client tool (mysqldump or mysql) at one end of a pipe, a
//! pipeline thread (zstd, see [`super::pipeline`]) at the other, and chunks pumped between that thread and the
//! repository until the stream ends, a side fails or a signal arrives. On a failure the tool is killed, so a
//! truncated stream is never taken for a complete one.

use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Stdio};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client;
use super::error::{BackupError, Result};
use super::pipeline::{PipelineError, StreamStats};
use super::repository::Upload;
use super::signal::Shutdown;

/// Which of the tool's standard streams carries the data.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ToolPipe {
    /// The tool writes the data (mysqldump).
    Stdout,
    /// The tool reads the data (mysql).
    Stdin,
}

/// A client tool running with its data on a pipe and the tail of its stderr being collected.
pub(crate) struct Tool {
    program: String,
    child: Child,
    stderr_tail: JoinHandle<String>,
}

impl Tool {
    /// Starts `command` (`program` with its arguments) and returns it with the tool's end of the data pipe.
    pub(crate) fn spawn(mut command: Command, program: &str, pipe: ToolPipe) -> Result<(Self, OwnedFd)> {
        let (stdin, stdout) = match pipe {
            ToolPipe::Stdout => (Stdio::null(), Stdio::piped()),
            ToolPipe::Stdin => (Stdio::piped(), Stdio::null()),
        };
        let mut child = command
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BackupError::ToolMissing {
                program: program.to_owned(),
                source,
            })?;
        let data = match pipe {
            ToolPipe::Stdout => child.stdout.take().map(|out| out.into_owned_fd()),
            ToolPipe::Stdin => child.stdin.take().map(|into| into.into_owned_fd()),
        }
        .ok_or_else(|| BackupError::Internal(format!("{program} has no {pipe:?} pipe")))?
        .map_err(|e| BackupError::io(format!("connecting to {program}"), e))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| BackupError::Internal(format!("{program} has no stderr pipe")))?;
        let tool = Tool {
            program: program.to_owned(),
            child,
            stderr_tail: tokio::spawn(client::read_tail(stderr)),
        };
        Ok((tool, data))
    }
}

/// Where pumped chunks go.
pub(crate) trait ChunkSink {
    /// Takes one chunk; `Ok(false)` when the other side stopped reading and will say why itself.
    async fn accept(&mut self, chunk: Bytes) -> Result<bool>;
}

impl ChunkSink for &mut Upload {
    async fn accept(&mut self, chunk: Bytes) -> Result<bool> {
        self.write(chunk).await.map(|()| true)
    }
}

impl ChunkSink for mpsc::Sender<Bytes> {
    async fn accept(&mut self, chunk: Bytes) -> Result<bool> {
        // A closed queue means the pipeline thread stopped (mysql exited or the data is bad): its result says
        // which.
        Ok(self.send(chunk).await.is_ok())
    }
}

/// How a streaming run ended, when neither side nor a signal failed it.
pub(crate) struct Finished {
    /// How the tool exited.
    pub status: ExitStatus,
    /// The end of the tool's stderr.
    pub stderr: String,
    /// What the pipeline thread saw.
    pub pipeline: std::result::Result<StreamStats, PipelineError>,
}

/// Pumps `source` into `sink` until the source ends, then waits for the pipeline thread and the tool. A
/// failing source or sink, or a signal, kills the tool and is the result.
pub(crate) async fn pump<S, K>(
    mut tool: Tool,
    pipeline: JoinHandle<std::result::Result<StreamStats, PipelineError>>,
    mut source: S,
    mut sink: K,
    mut shutdown: Shutdown,
) -> Result<Finished>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
    K: ChunkSink,
{
    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            why = shutdown.signalled() => {
                failure = Some(BackupError::Interrupted(why));
                break;
            }
            item = source.next() => match item {
                Some(Ok(chunk)) => match sink.accept(chunk).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                },
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
                None => break,
            },
        }
    }
    // Closing the queue stops the pipeline thread; killing the tool unblocks it if it waits on the pipe, and
    // keeps mysql from applying a truncated stream as if it were complete.
    drop(source);
    drop(sink);
    if failure.is_some() {
        let _ = tool.child.start_kill();
    }
    let pipeline = pipeline
        .await
        .map_err(|e| BackupError::Internal(format!("pipeline thread: {e}")))?;
    let status = tool
        .child
        .wait()
        .await
        .map_err(|e| BackupError::io(format!("waiting for {}", tool.program), e))?;
    let stderr = tool.stderr_tail.await.unwrap_or_default();
    match failure {
        Some(error) => Err(error),
        None => Ok(Finished {
            status,
            stderr,
            pipeline,
        }),
    }
}

/// The chunks a pipeline thread sends, as a stream that never fails.
pub(crate) fn received(mut rx: mpsc::Receiver<Bytes>) -> impl Stream<Item = Result<Bytes>> + Unpin {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|chunk| chunk.map(Ok)))
}
