//! mysqlinstance-operator: a Kubernetes operator that runs MySQL databases.
//!
//! The pure core ([`fsm`], [`resources`]) decides and builds without a client; the thin shell
//! ([`controller`], [`telemetry`]) reads, writes and reports.

pub mod api;
pub mod backup;
pub mod controller;
pub mod error;
pub mod fsm;
pub mod resources;
pub mod telemetry;
