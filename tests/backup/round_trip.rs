//! Round trips: back up the seeded dataset (a million-row table included) to a directory and to MinIO,
//! restore each into a fresh server, and require CHECKSUM TABLE of every table, every row count and the
//! counts of routines, triggers, views and events to be equal.

use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::dataset::{BIG_ROWS, fingerprint, seed};
use crate::support::mariadb::MariaDb;
use crate::support::minio::{BUCKET, Minio};
use crate::support::{files_in, run_operator};

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(future)
}

#[test]
fn a_million_rows_round_trip_through_a_directory_and_s3() {
    let source = MariaDb::start();
    let minio = Minio::start();
    let seeding = Instant::now();
    seed(&source, true);
    eprintln!("seeded in {:.1?}", seeding.elapsed());
    let expected = fingerprint(&source);
    assert_eq!(expected.rows["`big`.`events`"], BIG_ROWS);
    for (object, count) in [
        ("shop routines", 2),
        ("shop triggers", 2),
        ("shop views", 2),
        ("shop events", 1),
    ] {
        assert_eq!(expected.objects.get(object), Some(&count), "{object} in {expected:?}");
    }

    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("backups");
    std::fs::create_dir(&dir).expect("backup dir");
    // A file that is not a backup: it must survive and be ignored.
    std::fs::write(dir.join("README.txt"), "not a backup").expect("foreign file");

    // Backup to a directory.
    let timer = Instant::now();
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination=file://{}", dir.display()),
    ];
    args.extend(source.connection_args());
    let run = run_operator(&args, &[], scratch.path());
    run.assert_success();
    eprintln!("backup to a directory: {:.1?}, {}", timer.elapsed(), run.stdout.trim());
    let result = &run.result;
    let name = result["name"].as_str().expect("name").to_owned();
    assert!(name.starts_with("db-") && name.ends_with("Z.sql.zst"), "{name}");
    assert_eq!(result["location"], format!("file://{}/{name}", dir.display()));
    let manifest_name = name.replace(".sql.zst", ".manifest.json");
    assert_eq!(
        files_in(&dir),
        vec!["README.txt".to_owned(), manifest_name.clone(), name.clone()]
    );
    let dump = std::fs::read(dir.join(&name)).expect("read the dump");
    assert_eq!(result["sizeBytes"], dump.len() as u64);
    assert_eq!(result["sha256"], hex::encode(Sha256::digest(&dump)));
    let raw = result["rawBytes"].as_u64().expect("rawBytes");
    assert!(
        raw > 50_000_000 && (dump.len() as u64) < raw / 4,
        "1M rows of SQL, compressed: {raw} -> {}",
        dump.len()
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(&manifest_name)).expect("manifest")).expect("JSON");
    assert_eq!(manifest["instance"], "db");
    assert_eq!(manifest["dumpFile"], name.as_str());
    assert_eq!(manifest["databases"], serde_json::json!(["big", "shop"]));
    assert_eq!(manifest["sha256"], result["sha256"]);
    assert_eq!(manifest["sizeBytes"], result["sizeBytes"]);
    assert_eq!(manifest["rawBytes"], result["rawBytes"]);
    assert!(
        manifest["serverVersion"]
            .as_str()
            .is_some_and(|v| v.contains("MariaDB")),
        "{manifest}"
    );
    assert!(
        manifest["tools"]["mysqldump"].as_str().is_some_and(|v| !v.is_empty()),
        "{manifest}"
    );
    // The dump itself is plain mysqldump output that ends with the trailer.
    let sql = zstd::decode_all(dump.as_slice()).expect("a valid zstd stream");
    assert_eq!(sql.len() as u64, raw);
    assert!(String::from_utf8_lossy(&sql[sql.len() - 200..]).contains("-- Dump completed"));

    // Backup to S3 (MinIO), multipart.
    let mut args = vec![
        "backup".to_owned(),
        "--instance=db".to_owned(),
        format!("--destination=s3://{BUCKET}/ns/db"),
    ];
    args.extend(source.connection_args());
    args.extend(minio.args());
    let timer = Instant::now();
    let s3_run = run_operator(&args, &minio.env(), scratch.path());
    s3_run.assert_success();
    eprintln!("backup to S3: {:.1?}, {}", timer.elapsed(), s3_run.stdout.trim());
    let s3_name = s3_run.result["name"].as_str().expect("name").to_owned();
    assert_eq!(s3_run.result["location"], format!("s3://{BUCKET}/ns/db/{s3_name}"));
    let keys = block_on(minio.keys("ns/db"));
    assert_eq!(
        keys,
        vec![
            format!("ns/db/{}", s3_name.replace(".sql.zst", ".manifest.json")),
            format!("ns/db/{s3_name}")
        ]
    );
    let object = block_on(minio.get(&format!("ns/db/{s3_name}")));
    assert_eq!(s3_run.result["sha256"], hex::encode(Sha256::digest(&object)));

    // Restore the directory backup by URL into a fresh server.
    let target = MariaDb::start();
    let mut args = vec![
        "restore".to_owned(),
        format!("--source=file://{}/{name}", dir.display()),
    ];
    args.extend(target.connection_args());
    let timer = Instant::now();
    let restored = run_operator(&args, &[], scratch.path());
    restored.assert_success();
    eprintln!(
        "restore from a directory: {:.1?}, {}",
        timer.elapsed(),
        restored.stdout.trim()
    );
    let actual = fingerprint(&target);
    assert_eq!(actual, expected, "the restored server differs from the source");
    assert_eq!(restored.result["tables"], expected.rows.len() as u64);
    assert_eq!(restored.result["rows"], expected.rows.values().sum::<u64>());
    assert_eq!(restored.result["databases"], serde_json::json!(["big", "shop"]));
    // Triggers, procedures and functions work after the restore, not just exist.
    target.sql("CALL shop.place_order(3, 1.00);");
    assert_eq!(target.sql("SELECT shop.order_count(3);").trim(), "1");
    assert_eq!(target.sql("SELECT COUNT(*) FROM shop.audit_log;").trim(), "4");

    // Restoring over it again is refused before anything is read.
    let again = run_operator(&args, &[], scratch.path());
    again.assert_failure("TargetNotEmpty", "already has tables in big");

    // Restore the newest S3 backup ("latest") into another fresh server.
    let target2 = MariaDb::start();
    let mut args = vec![
        "restore".to_owned(),
        "--source=latest".to_owned(),
        "--instance=db".to_owned(),
        format!("--repository=s3://{BUCKET}/ns/db"),
    ];
    args.extend(target2.connection_args());
    args.extend(minio.args());
    let timer = Instant::now();
    let restored = run_operator(&args, &minio.env(), scratch.path());
    restored.assert_success();
    eprintln!(
        "restore latest from S3: {:.1?}, {}",
        timer.elapsed(),
        restored.stdout.trim()
    );
    assert_eq!(restored.result["source"], s3_run.result["location"]);
    assert_eq!(
        fingerprint(&target2),
        expected,
        "the server restored from S3 differs from the source"
    );
}
