//! Failure modes, each against the real thing: a server that is down, a wrong password, a database dropped
//! while mysqldump runs, mysqldump killed, the backup interrupted by SIGTERM, a destination that is read-only
//! or full, S3 unreachable or refusing the credentials, a corrupted backup and unknown or incomplete backups
//! on restore. Each must exit non-zero with one error line naming the cause and leave no file that looks
//! like a complete backup.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::mariadb::{MariaDb, ROOT_PASSWORD, running_as_root};
use crate::support::minio::{BUCKET, Minio};
use crate::support::{
    children_of, cmdline_of, dataset, files_in, free_port, kill, run_operator, spawn_operator, wait_operator,
    wait_until,
};

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(future)
}

fn backup_args(server: &MariaDb, destination: &str) -> Vec<String> {
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination={destination}"),
    ];
    args.extend(server.connection_args());
    args
}

/// A scratch directory with an empty `backups` directory in it.
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("backups");
    std::fs::create_dir(&dir).expect("backup dir");
    (scratch, dir)
}

fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

/// Neither a backup, a manifest nor a partial file is left (foreign files may be).
fn assert_nothing_written(dir: &Path) {
    let left: Vec<String> = files_in(dir)
        .into_iter()
        .filter(|f| f.contains(".sql.zst") || f.contains(".manifest.json"))
        .collect();
    assert!(left.is_empty(), "a failed backup left files behind: {left:?}");
}

/// Two databases, dumped in name order: `a_first` (whose table the tests lock to hold mysqldump mid-dump)
/// and `z_last`.
fn two_databases(server: &MariaDb) {
    server.sql(
        "CREATE DATABASE a_first; CREATE TABLE a_first.t (id INT PRIMARY KEY, v VARCHAR(20));
         USE a_first; INSERT INTO a_first.t SELECT seq, 'row' FROM seq_1_to_1000;
         CREATE DATABASE z_last; CREATE TABLE z_last.t (id INT PRIMARY KEY); INSERT INTO z_last.t VALUES (1);",
    );
}

/// Holds a WRITE lock on `a_first.t` until the returned session is closed: mysqldump has then written the
/// dump header and `a_first`'s schema and waits, mid-dump, for the table's rows.
fn hold_mysqldump_mid_dump(server: &MariaDb) -> crate::support::mariadb::Session {
    let mut lock = server.session();
    lock.send("LOCK TABLES a_first.t WRITE;");
    wait_until("the table lock", 30, || {
        server
            .sql("SHOW OPEN TABLES FROM a_first WHERE In_use > 0;")
            .contains('t')
    });
    lock
}

fn wait_for_mysqldump_blocked(server: &MariaDb) {
    wait_until("mysqldump to wait on the locked table", 60, || {
        server
            .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock';")
            .trim()
            != "0"
    });
}

fn mysqldump_child(operator_pid: u32) -> u32 {
    children_of(operator_pid)
        .into_iter()
        .find(|(_, comm)| comm.contains("dump"))
        .map(|(pid, _)| pid)
        .expect("mysqldump runs as a child of the backup")
}

#[test]
fn server_down() {
    let mut server = MariaDb::start();
    server.stop();
    let (scratch, dir) = scratch();
    let run = run_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    run.assert_failure(
        "ServerUnreachable",
        &format!("cannot connect to the MySQL server at 127.0.0.1:{}", server.port),
    );
    assert_nothing_written(&dir);
}

#[test]
fn wrong_password_fails_and_retention_does_not_run() {
    let server = MariaDb::start();
    dataset::seed(&server, false);
    let (scratch, dir) = scratch();
    // Old complete backups that `--keep-last=1` would delete if retention ran after a failure.
    for day in ["20200101T000000Z", "20200102T000000Z"] {
        std::fs::write(dir.join(format!("db-{day}.sql.zst")), "x").expect("old dump");
        std::fs::write(dir.join(format!("db-{day}.manifest.json")), "{}").expect("old manifest");
    }
    let before = files_in(&dir);
    let wrong = server.write_option_file(&scratch.path().join("wrong.cnf"), "not-the-password");
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination={}", file_url(&dir)),
        "--keep-last=1".to_owned(),
        "--host=127.0.0.1".to_owned(),
        format!("--port={}", server.port),
        format!("--defaults-file={}", wrong.display()),
    ];
    let run = run_operator(&args, &[], scratch.path());
    run.assert_failure(
        "AccessDenied",
        &format!("rejected the credentials in {}", wrong.display()),
    );
    assert!(run.stderr.contains("Access denied"), "{}", run.stderr);
    assert!(
        !run.stdout.contains("not-the-password") && !run.stderr.contains("not-the-password"),
        "the password leaked"
    );
    assert_eq!(files_in(&dir), before, "retention must not run after a failed backup");

    // A missing option file is named as such.
    args[6] = format!("--defaults-file={}", scratch.path().join("missing.cnf").display());
    let run = run_operator(&args, &[], scratch.path());
    run.assert_failure("OptionFileUnreadable", "missing.cnf");
}

#[test]
fn database_dropped_mid_dump() {
    let server = MariaDb::start();
    two_databases(&server);
    let (scratch, dir) = scratch();
    let lock = hold_mysqldump_mid_dump(&server);
    let child = spawn_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    wait_for_mysqldump_blocked(&server);
    // mysqldump has not reached z_last yet, so nothing stops the drop.
    server.sql("DROP DATABASE z_last;");
    lock.close();
    let run = wait_operator(child, scratch.path());
    run.assert_failure("DumpFailed", "a database was dropped while the dump was running");
    assert!(
        run.result["error"].as_str().unwrap_or_default().contains("z_last"),
        "{:?}",
        run.result
    );
    assert_nothing_written(&dir);
}

#[test]
fn mysqldump_killed_mid_dump_and_no_password_on_any_command_line() {
    let server = MariaDb::start();
    two_databases(&server);
    let (scratch, dir) = scratch();
    let lock = hold_mysqldump_mid_dump(&server);
    let child = spawn_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    wait_for_mysqldump_blocked(&server);
    let operator_pid = child.id();
    let mysqldump = mysqldump_child(operator_pid);
    for pid in [operator_pid, mysqldump] {
        let cmdline = cmdline_of(pid);
        assert!(
            !cmdline.contains(ROOT_PASSWORD) && !cmdline.contains("--password"),
            "password on a command line: {cmdline}"
        );
    }
    let partial: Vec<String> = files_in(&dir);
    assert_eq!(partial.len(), 1, "one hidden partial file while dumping: {partial:?}");
    assert!(
        partial[0].starts_with(".db-") && partial[0].ends_with(".sql.zst.partial"),
        "{partial:?}"
    );
    kill(mysqldump, "KILL");
    let run = wait_operator(child, scratch.path());
    lock.close();
    run.assert_failure("DumpFailed", "mysqldump was killed by signal 9 (SIGKILL)");
    assert_nothing_written(&dir);
}

#[test]
fn sigterm_mid_upload_aborts_the_s3_multipart_upload() {
    let server = MariaDb::start();
    let minio = Minio::start();
    two_databases(&server);
    let (scratch, _) = scratch();
    let lock = hold_mysqldump_mid_dump(&server);
    let mut args = backup_args(&server, &format!("s3://{BUCKET}/ns/db"));
    args.extend(minio.args());
    let child = spawn_operator(&args, &minio.env(), scratch.path());
    wait_for_mysqldump_blocked(&server);
    kill(child.id(), "TERM");
    let run = wait_operator(child, scratch.path());
    lock.close();
    run.assert_failure("Interrupted", "interrupted by SIGTERM");
    assert!(
        block_on(minio.keys("ns")).is_empty(),
        "nothing may be visible in the bucket"
    );
    assert_eq!(
        block_on(minio.open_uploads()),
        0,
        "the multipart upload must be aborted"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, options: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs on {} failed (this test needs root, as CI has)",
            path.display()
        );
        Tmpfs(path.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn destination_unwritable() {
    let server = MariaDb::start();
    dataset::seed(&server, false);
    let (scratch, dir) = scratch();
    // Root ignores permission bits, so as root the directory is a read-only mount.
    let _mount = if running_as_root() {
        Some(Tmpfs::mount(&dir, "ro,size=1m"))
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        None
    };
    let run = run_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    run.assert_failure(
        "DestinationUnusable",
        &format!("destination {} is not usable", file_url(&dir)),
    );
    assert_nothing_written(&dir);

    // A destination that is not there at all (volume not mounted) is named too.
    let missing = scratch.path().join("not-mounted");
    let run = run_operator(&backup_args(&server, &file_url(&missing)), &[], scratch.path());
    run.assert_failure("DestinationUnusable", "does not exist");
}

#[test]
fn destination_full() {
    assert!(
        running_as_root(),
        "this test fills a small tmpfs and must run as root (CI does)"
    );
    let server = MariaDb::start();
    // Random bytes do not compress: about 2 MiB of backup for a 256 KiB volume.
    server.sql(
        "CREATE DATABASE blobs; CREATE TABLE blobs.t (id INT PRIMARY KEY, b BLOB);
         USE blobs; INSERT INTO blobs.t SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_2000;",
    );
    let (scratch, dir) = scratch();
    let _mount = Tmpfs::mount(&dir, "size=256k");
    let run = run_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    run.assert_failure("DestinationFull", &format!("destination {} is full", file_url(&dir)));
    assert_nothing_written(&dir);
}

#[test]
fn s3_unreachable() {
    let server = MariaDb::start();
    dataset::seed(&server, false);
    let (scratch, _) = scratch();
    let port = free_port();
    let mut args = backup_args(&server, &format!("s3://{BUCKET}/ns/db"));
    args.extend([
        format!("--s3-endpoint=http://127.0.0.1:{port}"),
        "--s3-path-style".to_owned(),
    ]);
    let env = [
        ("AWS_ACCESS_KEY_ID", "key".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "secret".to_owned()),
    ];
    let run = run_operator(&args, &env, scratch.path());
    run.assert_failure(
        "S3Unreachable",
        &format!("S3 endpoint http://127.0.0.1:{port} is unreachable"),
    );
}

#[test]
fn s3_wrong_credentials() {
    let server = MariaDb::start();
    let minio = Minio::start();
    dataset::seed(&server, false);
    let (scratch, _) = scratch();
    let mut args = backup_args(&server, &format!("s3://{BUCKET}/ns/db"));
    args.extend(minio.args());
    let mut env = minio.env();
    env[1].1 = "wrong-secret-key".to_owned();
    let run = run_operator(&args, &env, scratch.path());
    run.assert_failure(
        "S3AccessDenied",
        &format!("S3 rejected the credentials for s3://{BUCKET}/ns/db"),
    );
    assert!(
        !run.stderr.contains("wrong-secret-key") && !run.stdout.contains("wrong-secret-key"),
        "the secret leaked"
    );
    assert!(block_on(minio.keys("ns")).is_empty());

    // A bucket that does not exist is a clear S3 error too.
    let mut args = backup_args(&server, "s3://no-such-bucket/db");
    args.extend(minio.args());
    let run = run_operator(&args, &minio.env(), scratch.path());
    run.assert_failure("S3Failed", "no-such-bucket");
}

#[test]
fn corrupted_backup_is_refused_before_anything_is_restored() {
    let server = MariaDb::start();
    dataset::seed(&server, false);
    let (scratch, dir) = scratch();
    let run = run_operator(&backup_args(&server, &file_url(&dir)), &[], scratch.path());
    run.assert_success();
    let name = run.result["name"].as_str().expect("name").to_owned();
    let path = dir.join(&name);
    let mut bytes = std::fs::read(&path).expect("read the dump");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).expect("corrupt the dump");

    server.sql("DROP DATABASE shop;");
    let mut args = vec!["restore".to_owned(), format!("--source={}/{name}", file_url(&dir))];
    args.extend(server.connection_args());
    let run = run_operator(&args, &[], scratch.path());
    run.assert_failure("BackupCorrupted", &format!("backup {name} is corrupted"));
    assert!(
        run.result["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was restored"),
        "{:?}",
        run.result
    );
    assert_eq!(
        server.sql("SHOW DATABASES LIKE 'shop';").trim(),
        "",
        "nothing may be written before verification"
    );
}

#[test]
fn unknown_and_incomplete_backups_on_restore() {
    let (scratch, dir) = scratch();
    // No server is contacted before the backup is found, but the option file must exist.
    let cnf = scratch.path().join("client.cnf");
    std::fs::write(&cnf, "[client]\nuser = root\npassword = \"x\"\n").expect("client.cnf");
    let port = free_port();
    let target = [
        "--host=127.0.0.1".to_owned(),
        format!("--port={port}"),
        format!("--defaults-file={}", cnf.display()),
    ];
    let restore = |source: &str, extra: &[&str]| {
        let mut args = vec!["restore".to_owned(), format!("--source={source}")];
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend(target.iter().cloned());
        run_operator(&args, &[], scratch.path())
    };
    let repository = format!("--repository={}", file_url(&dir));
    let repository = repository.as_str();

    restore("db-20200101T000000Z", &[repository]).assert_failure(
        "BackupNotFound",
        &format!("backup db-20200101T000000Z.sql.zst not found in {}", file_url(&dir)),
    );
    restore(&format!("{}/db-20200101T000000Z.sql.zst", file_url(&dir)), &[])
        .assert_failure("BackupNotFound", "db-20200101T000000Z.sql.zst not found");
    restore("latest", &[repository, "--instance=db"]).assert_failure(
        "BackupNotFound",
        &format!("no complete backup of instance db in {}", file_url(&dir)),
    );
    restore("latest", &[repository]).assert_failure("InvalidArgument", "--instance");

    // A dump without its manifest never completed: refused, and "latest" does not pick it.
    std::fs::write(dir.join("db-20200102T000000Z.sql.zst"), "partial").expect("orphan dump");
    restore("db-20200102T000000Z.sql.zst", &[repository])
        .assert_failure("BackupIncomplete", "db-20200102T000000Z.manifest.json is missing");
    restore("latest", &[repository, "--instance=db"]).assert_failure("BackupNotFound", "no complete backup");
}
