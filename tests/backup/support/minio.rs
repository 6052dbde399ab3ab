//! A real MinIO server (built from the Go module proxy by tests/backup/build-minio.sh, pinned in
//! versions.env) on a free 127.0.0.1 port with a temporary data directory, plus an S3 client for checking
//! what the backups left in the bucket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tempfile::TempDir;

use super::{SETUP_HINT, free_port, wait_until};

pub const ACCESS_KEY: &str = "myi-test-access";
pub const SECRET_KEY: &str = "myi-test-secret-key";
/// The bucket every server starts with.
pub const BUCKET: &str = "backups";

/// A running MinIO, stopped and deleted when dropped.
pub struct Minio {
    pub port: u16,
    _dir: TempDir,
    child: Child,
}

/// Where build-minio.sh puts the pinned MinIO (or `MINIO_BIN`).
fn minio_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MINIO_BIN") {
        return PathBuf::from(path);
    }
    let version = include_str!("../versions.env")
        .lines()
        .find_map(|line| line.strip_prefix("MINIO_VERSION="))
        .expect("MINIO_VERSION in tests/backup/versions.env")
        .trim();
    let cache = std::env::var_os("MYI_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/mysqlinstance-operator")
    });
    let path = cache.join(format!("bin/minio-{version}/minio"));
    assert!(
        path.is_file(),
        "MinIO {version} is not built ({} is missing): {SETUP_HINT}",
        path.display()
    );
    path
}

impl Minio {
    /// Starts MinIO with one bucket, [`BUCKET`]; returns once it is live.
    pub fn start() -> Minio {
        let binary = minio_binary();
        let dir = tempfile::Builder::new()
            .prefix("myi-minio-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        // A top-level directory of a fresh single-drive MinIO is a bucket.
        std::fs::create_dir_all(data.join(BUCKET)).expect("create the bucket directory");
        // A port picked free can be taken before MinIO binds it (other tests run in parallel): retry.
        for _ in 0..3 {
            let port = free_port();
            let console = free_port();
            let mut child = Command::new(&binary)
                .args(["server", "--quiet", "--address", &format!("127.0.0.1:{port}")])
                .args(["--console-address", &format!("127.0.0.1:{console}")])
                .arg(&data)
                .env("MINIO_ROOT_USER", ACCESS_KEY)
                .env("MINIO_ROOT_PASSWORD", SECRET_KEY)
                .env("MINIO_BROWSER", "off")
                .env("MINIO_UPDATE", "off")
                .env("HOME", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("minio.log")).expect("minio log"))
                .spawn()
                .expect("start minio");
            let mut exited = false;
            wait_until("MinIO to become live", 60, || {
                exited = matches!(child.try_wait(), Ok(Some(_)));
                exited || health(port)
            });
            if !exited {
                return Minio { port, _dir: dir, child };
            }
            let log = std::fs::read_to_string(dir.path().join("minio.log")).unwrap_or_default();
            eprintln!("minio exited at start, retrying on another port: {log}");
        }
        panic!("minio did not start in 3 attempts");
    }

    /// `--s3-endpoint=…` and `--s3-path-style` for the operator.
    pub fn args(&self) -> Vec<String> {
        vec![
            format!("--s3-endpoint=http://127.0.0.1:{}", self.port),
            "--s3-path-style".to_owned(),
        ]
    }

    /// The credentials environment of the backup Job.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    /// A client for checking the bucket.
    pub fn store(&self) -> Arc<AmazonS3> {
        // The HTTP client needs a process-wide rustls provider, as in the operator binary.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(
            AmazonS3Builder::new()
                .with_bucket_name(BUCKET)
                .with_endpoint(format!("http://127.0.0.1:{}", self.port))
                .with_allow_http(true)
                .with_access_key_id(ACCESS_KEY)
                .with_secret_access_key(SECRET_KEY)
                .with_region("us-east-1")
                .build()
                .expect("S3 client"),
        )
    }

    /// Keys under `prefix`, sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = ObjectPath::from(prefix);
        let mut keys: Vec<String> = self
            .store()
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("list the bucket");
        keys.sort();
        keys
    }

    /// Writes an object.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.store()
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .expect("put an object");
    }

    /// Reads an object.
    pub async fn get(&self, key: &str) -> Vec<u8> {
        let result = self.store().get(&ObjectPath::from(key)).await.expect("get an object");
        result.bytes().await.expect("read the object").to_vec()
    }

    /// Multipart uploads started but neither completed nor aborted, counted from MinIO's own listing.
    pub async fn open_uploads(&self) -> usize {
        // object_store has no API for ListMultipartUploads; MinIO keeps them under .minio.sys/multipart.
        let root = self._dir.path().join("data/.minio.sys/multipart");
        count_files(&root)
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| if e.path().is_dir() { count_files(&e.path()) } else { 1 })
        .sum()
}

impl Drop for Minio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET /minio/health/live answers 200.
fn health(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = format!("GET /minio/health/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}
