//! Retention against a real directory and a real bucket: after a successful backup, only this instance's
//! complete backups beyond the policy go; the new backup, backups without a manifest, other instances'
//! backups (even with a name that starts the same) and foreign files stay.

use crate::support::dataset;
use crate::support::mariadb::MariaDb;
use crate::support::minio::{BUCKET, Minio};
use crate::support::{files_in, run_operator};

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(future)
}

/// Names of old files planted next to the backups: (file, whether retention with keepLast 2 deletes it).
fn planted() -> Vec<(String, bool)> {
    let mut files = Vec::new();
    for (day, deleted) in [("01", true), ("02", true), ("03", true), ("04", false)] {
        files.push((format!("db-202001{day}T000000Z.sql.zst"), deleted));
        files.push((format!("db-202001{day}T000000Z.manifest.json"), deleted));
    }
    files.extend([
        // A dump whose manifest never arrived: not provably complete, never deleted.
        ("db-20191231T000000Z.sql.zst".to_owned(), false),
        // Another instance whose name starts with this one's.
        ("db-2-20200101T000000Z.sql.zst".to_owned(), false),
        ("db-2-20200101T000000Z.manifest.json".to_owned(), false),
        ("notes.txt".to_owned(), false),
        ("db.sql.zst".to_owned(), false),
        // A partial file from a run killed long ago: cleaned up.
        (".db-20200101T000000Z.sql.zst.partial".to_owned(), true),
    ]);
    files
}

#[test]
fn retention_in_a_directory() {
    let server = MariaDb::start();
    dataset::seed(&server, false);
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("backups");
    std::fs::create_dir(&dir).expect("backup dir");
    for (file, _) in planted() {
        std::fs::write(dir.join(&file), "old").expect("plant a file");
    }
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination=file://{}", dir.display()),
    ];
    args.extend(server.connection_args());
    args.push("--keep-last=2".to_owned());
    let run = run_operator(&args, &[], scratch.path());
    run.assert_success();
    assert_eq!(run.result["pruned"], 3);
    let name = run.result["name"].as_str().expect("name").to_owned();
    let mut expected: Vec<String> = planted()
        .into_iter()
        .filter(|(_, deleted)| !deleted)
        .map(|(f, _)| f)
        .collect();
    expected.push(name.clone());
    expected.push(name.replace(".sql.zst", ".manifest.json"));
    expected.sort();
    assert_eq!(files_in(&dir), expected);

    // maxAge alone: the 2020 backup is older than 30 days and goes; the new one (and the one just written)
    // are younger and stay. A new backup needs a new second for its name.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination=file://{}", dir.display()),
    ];
    args.extend(server.connection_args());
    args.push("--max-age=30d".to_owned());
    let run = run_operator(&args, &[], scratch.path());
    run.assert_success();
    assert_eq!(run.result["pruned"], 1);
    let files = files_in(&dir);
    assert!(!files.contains(&"db-20200104T000000Z.sql.zst".to_owned()), "{files:?}");
    assert!(
        files.contains(&name),
        "the previous backup is young and stays: {files:?}"
    );
    assert!(files.contains(&"db-20191231T000000Z.sql.zst".to_owned()), "{files:?}");
}

#[test]
fn retention_in_a_bucket() {
    let server = MariaDb::start();
    let minio = Minio::start();
    dataset::seed(&server, false);
    let scratch = tempfile::tempdir().expect("tempdir");
    let planted: Vec<(String, bool)> = planted().into_iter().filter(|(f, _)| !f.starts_with('.')).collect();
    for (file, _) in &planted {
        block_on(minio.put(&format!("ns/db/{file}"), b"old".to_vec()));
    }
    // Same names one level down belong to another prefix: untouched.
    block_on(minio.put("ns/db/archive/db-20200101T000000Z.sql.zst", b"old".to_vec()));
    block_on(minio.put("ns/db/archive/db-20200101T000000Z.manifest.json", b"old".to_vec()));
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination=s3://{BUCKET}/ns/db"),
    ];
    args.extend(server.connection_args());
    args.extend(minio.args());
    args.push("--keep-last=2".to_owned());
    let run = run_operator(&args, &minio.env(), scratch.path());
    run.assert_success();
    assert_eq!(run.result["pruned"], 3);
    let name = run.result["name"].as_str().expect("name").to_owned();
    let mut expected: Vec<String> = planted
        .into_iter()
        .filter(|(_, deleted)| !deleted)
        .map(|(f, _)| format!("ns/db/{f}"))
        .collect();
    expected.push(format!("ns/db/{name}"));
    expected.push(format!("ns/db/{}", name.replace(".sql.zst", ".manifest.json")));
    expected.push("ns/db/archive/db-20200101T000000Z.manifest.json".to_owned());
    expected.push("ns/db/archive/db-20200101T000000Z.sql.zst".to_owned());
    expected.sort();
    assert_eq!(block_on(minio.keys("ns/db")), expected);
}
