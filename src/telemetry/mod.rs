//! Telemetry: Prometheus metrics, the HTTP server for `/metrics` and health probes, the controller's progress
//! behind `/healthz`, and logs and traces.

pub mod health;
pub mod metrics;
pub mod server;
pub mod traces;
