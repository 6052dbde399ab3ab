//! SIGTERM / SIGINT as a value the pipelines can wait on, so that a Job killed at its deadline (or a pod
//! deleted mid-backup) aborts the upload and removes the partial file instead of dying with it half-written.

use tokio::sync::watch;

/// Resolves once a termination signal has arrived.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

impl Shutdown {
    /// A shutdown that never comes (for callers that handle signals themselves).
    pub fn never() -> Self {
        // With the sender gone, `signalled` pends forever.
        let (_, rx) = watch::channel(None);
        Shutdown(rx)
    }

    /// Listens for SIGTERM and SIGINT from now on. Must be called inside a Tokio runtime.
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            let _ = tx.send(Some(name));
            // Keep the sender alive so receivers keep seeing the signal.
            std::future::pending::<()>().await;
        });
        Ok(Shutdown(rx))
    }

    /// Waits for a signal and returns its name.
    pub async fn signalled(&mut self) -> &'static str {
        loop {
            if let Some(name) = *self.0.borrow_and_update() {
                return name;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
