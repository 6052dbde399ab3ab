//! Reading and writing backup files in a [`Location`]. A directory gets files written under a hidden
//! `.NAME.partial` name, fsynced and renamed into place only when complete; a bucket gets multipart uploads,
//! which S3 makes visible only when completed. Either way a reader never sees a partial file under a
//! backup's name, and an aborted write leaves nothing behind.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::error::{BackupError, Result};
use super::location::Location;
use super::naming::partial_file;

/// Size of each multipart part: S3 allows 10,000 parts, so this caps one backup at 160 GiB compressed.
const PART_SIZE: usize = 16 * 1024 * 1024;
/// Parts uploaded at the same time; with [`PART_SIZE`] this bounds upload memory to about 48 MiB.
const PARTS_IN_FLIGHT: usize = 2;
/// Read buffer when streaming a backup file back.
const READ_CHUNK: usize = 1024 * 1024;
/// Largest manifest read back (a manifest is a few hundred bytes).
const MANIFEST_LIMIT: usize = 1024 * 1024;

/// How to reach an S3-compatible store. Credentials and region come from the environment (`AWS_*`, as the
/// backup CronJob sets them from the Secret), never from arguments.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Endpoint URL of a non-AWS store, such as `http://minio.minio.svc:9000`.
    pub endpoint: Option<String>,
    /// Put the bucket in the path rather than the host name (most self-hosted stores need this).
    pub path_style: bool,
}

/// A place that holds backups, ready to read and write.
pub struct Repository {
    location: Location,
    backend: Backend,
}

enum Backend {
    File(PathBuf),
    S3 {
        store: Arc<AmazonS3>,
        prefix: String,
        endpoint: String,
    },
}

impl Repository {
    /// Opens `location`; nothing is contacted until the first request.
    pub fn open(location: &Location, s3: &S3Options) -> Result<Self> {
        let backend = match location {
            Location::File { dir } => Backend::File(dir.clone()),
            Location::S3 { bucket, prefix } => {
                let store = s3_store(bucket, s3).map_err(|e| BackupError::invalid("S3 settings", e.to_string()))?;
                let endpoint = s3.endpoint.clone().unwrap_or_else(|| "AWS S3".to_owned());
                Backend::S3 {
                    store: Arc::new(store),
                    prefix: prefix.clone(),
                    endpoint,
                }
            }
        };
        Ok(Repository {
            location: location.clone(),
            backend,
        })
    }

    /// Where this repository is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Checks that the location exists and can be listed (the directory is there; the bucket exists and the
    /// credentials work), so a backup fails before dumping rather than after.
    pub async fn check(&self) -> Result<()> {
        match &self.backend {
            Backend::File(dir) => match tokio::fs::metadata(dir).await {
                Ok(meta) if meta.is_dir() => Ok(()),
                Ok(_) => Err(self.destination_error(format!("{} is not a directory", dir.display()))),
                Err(e) if e.kind() == ErrorKind::NotFound => Err(self.destination_error(format!(
                    "directory {} does not exist (is the backup volume mounted?)",
                    dir.display()
                ))),
                Err(e) => Err(self.destination_error(e.to_string())),
            },
            Backend::S3 { .. } => self.list().await.map(|_| ()),
        }
    }

    /// Names of the files directly in the directory or under the prefix, hidden partial files included.
    pub async fn list(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::File(dir) => {
                let mut entries = tokio::fs::read_dir(dir)
                    .await
                    .map_err(|e| self.destination_error(e.to_string()))?;
                let mut names = Vec::new();
                while let Some(entry) = entries
                    .next_entry()
                    .await
                    .map_err(|e| self.destination_error(e.to_string()))?
                {
                    if let Some(name) = entry.file_name().to_str() {
                        names.push(name.to_owned());
                    }
                }
                Ok(names)
            }
            Backend::S3 { store, prefix, .. } => {
                let prefix_path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let listing = store
                    .list_with_delimiter(prefix_path.as_ref())
                    .await
                    .map_err(|e| self.s3_error(e))?;
                Ok(listing
                    .objects
                    .into_iter()
                    .filter_map(|o| o.location.filename().map(str::to_owned))
                    .collect())
            }
        }
    }

    /// Whether `file` exists.
    pub async fn exists(&self, file: &str) -> Result<bool> {
        match &self.backend {
            Backend::File(dir) => tokio::fs::try_exists(dir.join(file))
                .await
                .map_err(|e| self.destination_error(e.to_string())),
            Backend::S3 { store, .. } => match store.head(&self.object(file)).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.s3_error(e)),
            },
        }
    }

    /// Reads a small file (a manifest); `None` when it does not exist.
    pub async fn read_small(&self, file: &str) -> Result<Option<Vec<u8>>> {
        let mut stream = match self.open_read(file).await {
            Ok(stream) => stream,
            Err(BackupError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
            if bytes.len() > MANIFEST_LIMIT {
                return Err(BackupError::Corrupted {
                    name: file.to_owned(),
                    detail: format!("larger than {MANIFEST_LIMIT} bytes, so not a manifest"),
                });
            }
        }
        Ok(Some(bytes))
    }

    /// Writes a small file completely or not at all.
    pub async fn write_small(&self, file: &str, bytes: Vec<u8>) -> Result<()> {
        match &self.backend {
            Backend::File(_) => {
                let mut upload = self.create(file).await?;
                upload.write(Bytes::from(bytes)).await?;
                upload.finish().await
            }
            Backend::S3 { store, .. } => store
                .put(&self.object(file), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| self.s3_error(e)),
        }
    }

    /// Deletes `file`; a file that is already gone is not an error.
    pub async fn delete(&self, file: &str) -> Result<()> {
        match &self.backend {
            Backend::File(dir) => match tokio::fs::remove_file(dir.join(file)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.destination_error(format!("cannot delete {file}: {e}"))),
            },
            Backend::S3 { store, .. } => match store.delete(&self.object(file)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.s3_error(e)),
            },
        }
    }

    /// Streams `file`; [`BackupError::NotFound`] when it does not exist.
    pub async fn open_read(&self, file: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        let not_found = || BackupError::NotFound {
            name: file.to_owned(),
            repository: self.location.to_string(),
        };
        match &self.backend {
            Backend::File(dir) => {
                let handle = match tokio::fs::File::open(dir.join(file)).await {
                    Ok(handle) => handle,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found()),
                    Err(e) => return Err(BackupError::io(format!("opening {}", self.location.url_of(file)), e)),
                };
                let url = self.location.url_of(file);
                Ok(ReaderStream::with_capacity(handle, READ_CHUNK)
                    .map_err(move |e| BackupError::io(format!("reading {url}"), e))
                    .boxed())
            }
            Backend::S3 { store, .. } => {
                let result = match store.get(&self.object(file)).await {
                    Ok(result) => result,
                    Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
                    Err(e) => return Err(self.s3_error(e)),
                };
                let context = self.error_context();
                Ok(result.into_stream().map_err(move |e| context.s3_error(e)).boxed())
            }
        }
    }

    /// Starts writing `file`: nothing appears under its name until [`Upload::finish`].
    pub async fn create(&self, file: &str) -> Result<Upload> {
        match &self.backend {
            Backend::File(dir) => {
                let partial = dir.join(partial_file(file));
                let handle = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&partial)
                    .await
                    .map_err(|e| match e.kind() {
                        ErrorKind::AlreadyExists => self.destination_error(format!(
                            "{} exists: another backup of the same second is being written",
                            partial.display()
                        )),
                        _ => self.write_error(&e),
                    })?;
                Ok(Upload {
                    url: self.location.url_of(file),
                    inner: UploadInner::File {
                        file: Some(handle),
                        guard: PartialGuard(Some(partial)),
                        target: dir.join(file),
                        dir: dir.clone(),
                        context: self.error_context(),
                    },
                })
            }
            Backend::S3 { store, .. } => {
                let upload = store
                    .put_multipart(&self.object(file))
                    .await
                    .map_err(|e| self.s3_error(e))?;
                Ok(Upload {
                    url: self.location.url_of(file),
                    inner: UploadInner::S3 {
                        writer: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
                        context: self.error_context(),
                    },
                })
            }
        }
    }

    fn object(&self, file: &str) -> ObjectPath {
        match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => ObjectPath::from(format!("{prefix}/{file}")),
            _ => ObjectPath::from(file),
        }
    }

    fn error_context(&self) -> ErrorContext {
        let endpoint = match &self.backend {
            Backend::S3 { endpoint, .. } => endpoint.clone(),
            Backend::File(_) => String::new(),
        };
        ErrorContext {
            location: self.location.to_string(),
            endpoint,
        }
    }

    fn destination_error(&self, detail: String) -> BackupError {
        BackupError::Destination {
            location: self.location.to_string(),
            detail,
        }
    }

    fn write_error(&self, error: &std::io::Error) -> BackupError {
        self.error_context().write_error(error)
    }

    fn s3_error(&self, error: object_store::Error) -> BackupError {
        self.error_context().s3_error(error)
    }
}

/// What error messages need to name the place, kept apart from the repository so streams can own it.
#[derive(Clone, Debug)]
struct ErrorContext {
    location: String,
    endpoint: String,
}

impl ErrorContext {
    fn write_error(&self, error: &std::io::Error) -> BackupError {
        if error.kind() == ErrorKind::StorageFull || error.kind() == ErrorKind::QuotaExceeded {
            BackupError::DestinationFull {
                location: self.location.clone(),
                detail: error.to_string(),
            }
        } else {
            BackupError::Destination {
                location: self.location.clone(),
                detail: error.to_string(),
            }
        }
    }

    /// Sorts an S3 error into unreachable / credentials / other by the object store's own types: its error
    /// variant, the kind of the HTTP transport error in its chain, and the S3 error code of the response
    /// (object_store reports a refused list request as a generic error around the server's reply).
    fn s3_error(&self, error: object_store::Error) -> BackupError {
        let detail = compact_s3_detail(&error_chain(&error));
        let location = self.location.clone();
        match S3Failure::of(&error) {
            S3Failure::CredentialsRejected => BackupError::S3AccessDenied { location, detail },
            S3Failure::Unreachable => BackupError::S3Unreachable {
                endpoint: self.endpoint.clone(),
                detail,
            },
            S3Failure::Other => BackupError::S3 { location, detail },
        }
    }
}

/// S3 error codes that mean the credentials or their permissions were refused
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>).
const CREDENTIAL_ERROR_CODES: [&str; 4] = [
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
];

/// What an S3 failure means for the user.
#[derive(Debug, PartialEq, Eq)]
enum S3Failure {
    CredentialsRejected,
    Unreachable,
    Other,
}

impl S3Failure {
    fn of(error: &object_store::Error) -> Self {
        if matches!(
            error,
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }
        ) {
            return S3Failure::CredentialsRejected;
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(http) = current.downcast_ref::<HttpError>() {
                return match http.kind() {
                    HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Request => S3Failure::Unreachable,
                    _ => S3Failure::Other,
                };
            }
            cause = current.source();
        }
        let chain = error_chain(error);
        if xml_tag(&chain, "Code").is_some_and(|code| CREDENTIAL_ERROR_CODES.contains(&code.as_str())) {
            S3Failure::CredentialsRejected
        } else {
            S3Failure::Other
        }
    }
}

/// The text of the first `<name>` element of an S3 error response.
fn xml_tag(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].to_owned())
}

/// The useful part of an S3 error chain: the HTTP status with the server's error code and message, or the
/// transport error (and how often it was retried), without the request URL and the XML around them.
fn compact_s3_detail(chain: &str) -> String {
    let tag = |name: &str| xml_tag(chain, name);
    if let Some(code) = tag("Code") {
        let status = chain
            .split_once("status code: ")
            .and_then(|(_, rest)| rest.split_once(':'))
            .map(|(status, _)| format!("HTTP {} ", status.trim()))
            .unwrap_or_default();
        let message = tag("Message").map(|m| format!(": {m}")).unwrap_or_default();
        return format!("{status}{code}{message}");
    }
    if let Some((head, cause)) = chain.rsplit_once(" - ") {
        let retries = head
            .split_once("after ")
            .and_then(|(_, r)| r.split_once(','))
            .map(|(r, _)| format!(" (after {r})"));
        return format!("{}{}", cause.trim(), retries.unwrap_or_default());
    }
    chain.to_owned()
}

/// An error and its causes on one line, each cause once (object_store repeats its source in its message).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ").replace('\n', " ")
}

fn s3_store(bucket: &str, options: &S3Options) -> object_store::Result<AmazonS3> {
    // Few, quick retries: a transient error is retried, but an unreachable store fails the backup within
    // seconds instead of the library's default three minutes.
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    };
    let allow_http = options.endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(10))
        // One part (16 MiB) must fit in one request on a slow link.
        .with_timeout(Duration::from_secs(300));
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry)
        .with_client_options(client)
        .with_virtual_hosted_style_request(!options.path_style);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(if options.path_style {
            endpoint.clone()
        } else {
            virtual_host(endpoint, bucket)
        });
    }
    builder.build()
}

/// `https://host:port` → `https://bucket.host:port`: object_store expects a virtual-hosted endpoint to name
/// the bucket already.
fn virtual_host(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

/// A file being written. Dropped without [`Upload::finish`] it leaves nothing under the file's name (a
/// directory's partial file is removed; an S3 multipart upload that was never completed is invisible).
pub struct Upload {
    url: String,
    inner: UploadInner,
}

enum UploadInner {
    File {
        file: Option<tokio::fs::File>,
        guard: PartialGuard,
        target: PathBuf,
        dir: PathBuf,
        context: ErrorContext,
    },
    S3 {
        writer: WriteMultipart,
        context: ErrorContext,
    },
}

impl Upload {
    /// The URL the file will have once finished.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Appends `chunk`, waiting while the store is behind (this is what bounds memory).
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        match &mut self.inner {
            UploadInner::File { file, context, .. } => {
                let handle = file
                    .as_mut()
                    .ok_or_else(|| BackupError::Internal("write after finish".to_owned()))?;
                handle.write_all(&chunk).await.map_err(|e| context.write_error(&e))
            }
            UploadInner::S3 { writer, context } => {
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| context.s3_error(e))?;
                writer.put(chunk);
                Ok(())
            }
        }
    }

    /// Makes the file durable and visible under its name.
    pub async fn finish(self) -> Result<()> {
        match self.inner {
            UploadInner::File {
                mut file,
                mut guard,
                target,
                dir,
                context,
            } => {
                let mut handle = file
                    .take()
                    .ok_or_else(|| BackupError::Internal("finish twice".to_owned()))?;
                let partial = guard
                    .0
                    .clone()
                    .ok_or_else(|| BackupError::Internal("no partial file".to_owned()))?;
                handle.flush().await.map_err(|e| context.write_error(&e))?;
                // fsync before the rename, and the directory after it: after a crash the name then points
                // either nowhere or at the complete file, never at a torn one.
                handle.sync_all().await.map_err(|e| context.write_error(&e))?;
                drop(handle);
                tokio::fs::rename(&partial, &target)
                    .await
                    .map_err(|e| context.write_error(&e))?;
                guard.0 = None;
                sync_dir(&dir).await.map_err(|e| context.write_error(&e))
            }
            UploadInner::S3 { writer, context } => writer.finish().await.map(|_| ()).map_err(|e| context.s3_error(e)),
        }
    }

    /// Throws away what was written.
    pub async fn abort(self) {
        match self.inner {
            UploadInner::File { file, guard, .. } => {
                drop(file);
                drop(guard);
            }
            UploadInner::S3 { writer, .. } => {
                if let Err(error) = writer.abort().await {
                    tracing::warn!(url = %self.url, %error, "could not abort the multipart upload; a bucket lifecycle rule for incomplete uploads removes it");
                }
            }
        }
    }
}

/// Removes a partial file when dropped, unless it was renamed into place.
struct PartialGuard(Option<PathBuf>);

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(error) = std::fs::remove_file(&path)
            && error.kind() != ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "could not remove the partial backup file");
        }
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_upload_appears_only_when_finished_and_abort_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::File {
            dir: dir.path().to_owned(),
        };
        let repo = Repository::open(&location, &S3Options::default()).expect("opens");
        repo.check().await.expect("directory is usable");

        let mut upload = repo.create("a.sql.zst").await.expect("creates");
        upload.write(Bytes::from_static(b"hello ")).await.expect("writes");
        upload.write(Bytes::from_static(b"world")).await.expect("writes");
        assert_eq!(repo.list().await.expect("lists"), vec![".a.sql.zst.partial".to_owned()]);
        assert!(!repo.exists("a.sql.zst").await.expect("exists"));
        upload.finish().await.expect("finishes");
        assert_eq!(repo.list().await.expect("lists"), vec!["a.sql.zst".to_owned()]);
        assert_eq!(
            repo.read_small("a.sql.zst").await.expect("reads"),
            Some(b"hello world".to_vec())
        );

        let mut upload = repo.create("b.sql.zst").await.expect("creates");
        upload.write(Bytes::from_static(b"partial")).await.expect("writes");
        upload.abort().await;
        let dropped = repo.create("c.sql.zst").await.expect("creates");
        drop(dropped);
        assert_eq!(repo.list().await.expect("lists"), vec!["a.sql.zst".to_owned()]);

        repo.delete("a.sql.zst").await.expect("deletes");
        repo.delete("a.sql.zst").await.expect("deleting a missing file is fine");
        assert!(matches!(
            repo.open_read("a.sql.zst").await,
            Err(BackupError::NotFound { .. })
        ));
        assert_eq!(repo.read_small("a.sql.zst").await.expect("reads"), None);
    }

    #[tokio::test]
    async fn a_missing_directory_is_reported_by_name() {
        let location = Location::File {
            dir: "/nonexistent/backups".into(),
        };
        let repo = Repository::open(&location, &S3Options::default()).expect("opens");
        let error = repo.check().await.expect_err("missing directory");
        assert!(
            error.to_string().contains("/nonexistent/backups does not exist"),
            "{error}"
        );
    }

    #[test]
    fn s3_errors_are_compacted() {
        let denied = "Generic S3 error: Error performing list request: Error performing GET http://h/b?list-type=2 in 3ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?> <Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match.</Message><BucketName>b</BucketName></Error>";
        assert_eq!(
            compact_s3_detail(denied),
            "HTTP 403 Forbidden SignatureDoesNotMatch: The signature does not match."
        );
        let refused = "Generic S3 error: Error performing list request: Error performing GET http://h/b in 1.1s, after 4 retries, max_retries: 4, retry_timeout: 60s  - HTTP error: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(
            compact_s3_detail(refused),
            "HTTP error: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111) (after 4 retries)"
        );
        assert_eq!(compact_s3_detail("plain"), "plain");
    }

    #[test]
    fn virtual_hosted_endpoints_name_the_bucket() {
        assert_eq!(
            virtual_host("https://s3.example.com:9000", "b"),
            "https://b.s3.example.com:9000"
        );
    }
}
