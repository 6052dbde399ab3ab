//! mysqlinstance-operator: a Kubernetes operator that runs MySQL and MariaDB databases.
//!
//! The pure core ([`decide`], [`fsm`], [`resources`]) decides and builds without a client; the thin shell
//! ([`controller`], [`telemetry`]) reads, writes and reports. The same binary runs inside the database pods
//! ([`instance`]: initialization and probes; [`backup`]: backups and restores), in the server's own image.

pub mod api;
pub mod backup;
pub mod controller;
pub mod decide;
#[cfg(test)]
mod docs_check;
pub mod engine;
pub mod error;
pub mod fsm;
pub mod instance;
pub mod resources;
pub mod telemetry;
