//! End-to-end tests on the local control plane (tests/cluster): the real kube-apiserver, controller-manager,
//! scheduler and kwok fake nodes, with the operator binary running as a process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed expectation is a failed test.

mod support;

mod backups;
mod children;
mod deletion;
mod drift;
mod leader;
mod lifecycle;
mod observability;
mod plugin;
mod restart;
mod validation;
