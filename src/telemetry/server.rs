//! The HTTP server: `/metrics`, `/healthz` (the controller makes progress) and `/readyz` (the instance cache has
//! synced, or this replica is a standby waiting for the lease).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube::runtime::reflector::Store;
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::health::Progress;
use super::metrics::Metrics;
use crate::api::MySQLInstance;

/// What the server reads.
pub struct State {
    pub metrics: Arc<Metrics>,
    pub store: Store<MySQLInstance>,
    pub ready: AtomicBool,
    pub progress: Arc<Progress>,
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn route(state: &State, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => match state.metrics.render(&state.store.state()) {
            Ok(body) => respond(StatusCode::OK, "text/plain; version=0.0.4", body),
            Err(error) => respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("encoding metrics failed: {error}\n"),
            ),
        },
        "/healthz" => match state.progress.stalled(SystemTime::now()) {
            None => respond(StatusCode::OK, "text/plain", "ok\n".to_owned()),
            Some(quiet) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!(
                    "stuck: {} reconciles running, none started or finished for {}s\n",
                    state.progress.running(),
                    quiet.as_secs()
                ),
            ),
        },
        "/readyz" if state.ready.load(Ordering::Relaxed) => respond(StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "instance cache not synced yet\n".to_owned(),
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_owned(),
        ),
    }
}

/// Binds `address` and serves until the process ends. Returns the bound address (port 0 picks a free one).
pub async fn bind(address: SocketAddr, state: Arc<State>) -> std::io::Result<(SocketAddr, impl Future<Output = ()>)> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    info!(address = %bound, "serving /metrics, /healthz and /readyz");
    let serve = async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(connection) => connection,
                Err(error) => {
                    warn!(%error, "accepting a connection failed");
                    continue;
                }
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let response = route(&state, request.uri().path());
                    async move { Ok::<_, Infallible>(response) }
                });
                if let Err(error) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    warn!(%error, "serving a connection failed");
                }
            });
        }
    };
    Ok((bound, serve))
}
