//! Telemetry: Prometheus metrics, the HTTP server for `/metrics` and health probes, and logs and traces.

pub mod metrics;
pub mod server;
pub mod traces;
