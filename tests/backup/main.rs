//! Backup and restore against real servers: MariaDB from Debian's packages and MinIO built from the Go
//! module proxy, each started by the test on a free 127.0.0.1 port with a temporary data directory, and the
//! operator binary run exactly as the backup CronJob runs it. Install the servers with
//! `tests/backup/setup.sh`; a test whose server is missing fails and says so (it never skips).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed expectation is a failed test.

mod failures;
mod retention;
mod round_trip;
mod support;
