//! Retention, as a pure function from a directory listing to the files to delete. It runs only after a
//! successful backup and only ever selects files of this instance that it can prove are its own complete
//! backups (dump and manifest both present, name parsed) or its own stale partial files; the backup just
//! written and everything it does not recognise are never selected.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::naming::{BackupName, FileKind, classify};

/// Partial files younger than this may belong to a backup that is still running; older ones are leftovers
/// of a run that was killed (the backup Job's deadline is 6 hours).
pub const STALE_PARTIAL_AGE: SignedDuration = SignedDuration::from_hours(24);

/// What to keep. A backup is kept if any rule keeps it; with no rule, every backup is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep the newest N complete backups.
    pub keep_last: Option<u32>,
    /// Keep complete backups younger than this.
    pub max_age: Option<SignedDuration>,
}

/// The complete backups and partial files of one instance, read from a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Backups with both their dump and their manifest, oldest first.
    pub complete: Vec<BackupName>,
    /// Hidden partial files (file name, backup they belong to).
    pub partial: Vec<(String, BackupName)>,
}

/// Sorts the files of a listing into this instance's complete backups and partial files; files of other
/// instances, dumps without a manifest (a run that died between the two) and foreign files are left out.
pub fn inventory(files: &[String], instance: &str) -> Inventory {
    let mut dumps = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    let mut partial = Vec::new();
    for file in files {
        match classify(file) {
            FileKind::Dump(name) if name.instance == instance => {
                dumps.insert(name);
            }
            FileKind::Manifest(name) if name.instance == instance => {
                manifests.insert(name);
            }
            FileKind::Partial(name) if name.instance == instance => partial.push((file.clone(), name)),
            _ => {}
        }
    }
    Inventory {
        complete: dumps.intersection(&manifests).cloned().collect(),
        partial,
    }
}

/// A file to delete, in the order given: a backup's dump before its manifest, so that a run interrupted
/// half-way leaves a manifest (still recognised as this instance's, deleted next time) rather than an
/// anonymous dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// A complete backup that no rule keeps.
    Backup(BackupName),
    /// A partial file older than [`STALE_PARTIAL_AGE`].
    StalePartial(String),
}

/// Which files to delete after `just_written` was written successfully at `now`.
pub fn plan(inventory: &Inventory, policy: &Policy, now: Timestamp, just_written: &BackupName) -> Vec<Deletion> {
    let mut deletions = Vec::new();
    if policy.keep_last.is_some() || policy.max_age.is_some() {
        // The listing may not show the new backup yet (eventually consistent stores); it counts all the same.
        let mut newest_first: Vec<&BackupName> = inventory.complete.iter().collect();
        if !newest_first.contains(&just_written) {
            newest_first.push(just_written);
        }
        newest_first.sort_by(|a, b| b.cmp(a));
        let keep_last = policy.keep_last.map_or(0, |n| n as usize);
        for (index, backup) in newest_first.into_iter().enumerate() {
            let young = policy
                .max_age
                .is_some_and(|max_age| now.duration_since(backup.taken_at) < max_age);
            if backup != just_written && index >= keep_last && !young {
                deletions.push(Deletion::Backup(backup.clone()));
            }
        }
    }
    let stale: BTreeSet<&String> = inventory
        .partial
        .iter()
        .filter(|(_, name)| name != just_written && now.duration_since(name.taken_at) >= STALE_PARTIAL_AGE)
        .map(|(file, _)| file)
        .collect();
    deletions.extend(stale.into_iter().map(|file| Deletion::StalePartial(file.clone())));
    deletions
}

/// Parses a maximum age such as `7d`, `36h` or `90m` (the CRD's `retention.maxAge`; any positive
/// [humantime](https://docs.rs/humantime) duration is accepted here).
pub fn parse_max_age(text: &str) -> Result<SignedDuration, String> {
    let invalid = |why: String| format!("'{text}' is not a duration such as 7d, 36h or 90m: {why}");
    let duration = humantime::parse_duration(text).map_err(|e| invalid(e.to_string()))?;
    if duration.is_zero() {
        return Err(invalid("it must be longer than zero".to_owned()));
    }
    SignedDuration::try_from(duration).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    fn day(d: u32) -> Timestamp {
        let d = i8::try_from(d).expect("a day of the month");
        jiff::civil::datetime(2024, 1, d, 12, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .expect("valid time")
            .timestamp()
    }

    fn files_of(name: &BackupName) -> [String; 2] {
        [name.dump_file(), name.manifest_file()]
    }

    fn backups(instance: &str, days: &[u32]) -> Vec<BackupName> {
        days.iter().map(|d| BackupName::new(instance, day(*d))).collect()
    }

    fn deleted_backups(deletions: &[Deletion]) -> Vec<u32> {
        deletions
            .iter()
            .filter_map(|d| match d {
                Deletion::Backup(name) => Some(name.taken_at.to_zoned(TimeZone::UTC).day().unsigned_abs().into()),
                Deletion::StalePartial(_) => None,
            })
            .collect()
    }

    fn listing(names: &[BackupName]) -> Vec<String> {
        names.iter().flat_map(files_of).collect()
    }

    #[test]
    fn keep_last_deletes_the_oldest_beyond_n() {
        let all = backups("db", &[1, 2, 3, 4, 5]);
        let inv = inventory(&listing(&all), "db");
        let policy = Policy {
            keep_last: Some(2),
            max_age: None,
        };
        let plan = plan(&inv, &policy, day(5), &all[4]);
        assert_eq!(deleted_backups(&plan), vec![3, 2, 1]);
    }

    #[test]
    fn max_age_deletes_only_older_backups() {
        let all = backups("db", &[1, 2, 3, 4, 5]);
        let inv = inventory(&listing(&all), "db");
        let policy = Policy {
            keep_last: None,
            max_age: Some(SignedDuration::from_hours(2 * 24)),
        };
        // Day 3 is exactly 2 days old: not younger than maxAge, so it goes.
        assert_eq!(deleted_backups(&plan(&inv, &policy, day(5), &all[4])), vec![3, 2, 1]);
    }

    #[test]
    fn both_rules_keep_the_union() {
        let all = backups("db", &[1, 2, 3, 10]);
        let inv = inventory(&listing(&all), "db");
        // keepLast 3 keeps 10, 3, 2; maxAge keeps nothing older than day 9; only day 1 goes.
        let policy = Policy {
            keep_last: Some(3),
            max_age: Some(SignedDuration::from_hours(24)),
        };
        assert_eq!(deleted_backups(&plan(&inv, &policy, day(10), &all[3])), vec![1]);
    }

    #[test]
    fn no_policy_deletes_no_backup() {
        let all = backups("db", &[1, 2, 3]);
        let inv = inventory(&listing(&all), "db");
        assert!(plan(&inv, &Policy::default(), day(28), &all[2]).is_empty());
    }

    #[test]
    fn the_backup_just_written_is_never_deleted_even_if_the_clock_says_it_is_old() {
        let all = backups("db", &[1, 2, 3]);
        let inv = inventory(&listing(&all), "db");
        let policy = Policy {
            keep_last: Some(1),
            max_age: Some(SignedDuration::from_mins(1)),
        };
        // `just_written` is day 1 (a clock that jumped back): it stays; day 3 is the newest, day 2 goes.
        assert_eq!(deleted_backups(&plan(&inv, &policy, day(28), &all[0])), vec![2]);
    }

    #[test]
    fn the_backup_just_written_counts_even_if_the_listing_does_not_show_it_yet() {
        let all = backups("db", &[1, 2, 3]);
        let inv = inventory(&listing(&all[..2]), "db");
        let policy = Policy {
            keep_last: Some(2),
            max_age: None,
        };
        assert_eq!(deleted_backups(&plan(&inv, &policy, day(3), &all[2])), vec![1]);
    }

    #[test]
    fn dumps_without_manifest_other_instances_and_foreign_files_are_never_deleted() {
        let mine = backups("db", &[5, 6]);
        let mut files = listing(&mine);
        let orphan = BackupName::new("db", day(1));
        files.push(orphan.dump_file());
        let lone_manifest = BackupName::new("db", day(2));
        files.push(lone_manifest.manifest_file());
        for other in backups("db-2", &[1, 2]).iter().chain(&backups("d", &[1])) {
            files.extend(files_of(other));
        }
        files.extend([
            "notes.txt".to_owned(),
            "db.sql.zst".to_owned(),
            "db-1.manifest.json".to_owned(),
        ]);
        let inv = inventory(&files, "db");
        assert_eq!(inv.complete, mine);
        let policy = Policy {
            keep_last: Some(1),
            max_age: None,
        };
        assert_eq!(
            plan(&inv, &policy, day(6), &mine[1]),
            vec![Deletion::Backup(mine[0].clone())]
        );
    }

    #[test]
    fn stale_partial_files_of_this_instance_are_cleaned_up() {
        let now = day(10);
        let old = BackupName::new("db", day(8));
        let fresh = BackupName::new("db", now - SignedDuration::from_hours(2));
        let other = BackupName::new("db-2", day(1));
        let files = vec![
            format!(".{}.partial", old.dump_file()),
            format!(".{}.partial", old.manifest_file()),
            format!(".{}.partial", fresh.dump_file()),
            format!(".{}.partial", other.dump_file()),
        ];
        let inv = inventory(&files, "db");
        let just = BackupName::new("db", now);
        let plan = plan(&inv, &Policy::default(), now, &just);
        assert_eq!(
            plan,
            vec![
                Deletion::StalePartial(format!(".{}.partial", old.manifest_file())),
                Deletion::StalePartial(format!(".{}.partial", old.dump_file())),
            ]
        );
    }

    #[test]
    fn max_age_parses_the_crd_format() {
        assert_eq!(parse_max_age("7d"), Ok(SignedDuration::from_hours(7 * 24)));
        assert_eq!(parse_max_age("36h"), Ok(SignedDuration::from_hours(36)));
        assert_eq!(parse_max_age("90m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(parse_max_age("1.5d"), Ok(SignedDuration::from_hours(36)));
        for bad in ["", "d", "0d", "-1d", "7", "7dd", "99999999999999999d"] {
            assert!(parse_max_age(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Whatever the listing and policy: the new backup, the newest keepLast, every backup younger than
        /// maxAge and every file that is not this instance's complete backup or stale partial survive.
        #[test]
        fn retention_never_deletes_what_it_must_keep(
            days in proptest::collection::btree_set(1u32..28, 1..12),
            other_days in proptest::collection::btree_set(1u32..28, 0..6),
            keep_last in proptest::option::of(1u32..6),
            max_age_days in proptest::option::of(1i64..20),
            just_index in any::<prop::sample::Index>(),
        ) {
            let mine = backups("db", &days.iter().copied().collect::<Vec<_>>());
            let others = backups("db-x", &other_days.iter().copied().collect::<Vec<_>>());
            let just = just_index.get(&mine).clone();
            let mut files = listing(&mine);
            files.extend(listing(&others));
            let now = day(28);
            let policy = Policy { keep_last, max_age: max_age_days.map(|d| SignedDuration::from_hours(d * 24)) };
            let plan = plan(&inventory(&files, "db"), &policy, now, &just);
            let deleted: Vec<&BackupName> = plan.iter().filter_map(|d| match d {
                Deletion::Backup(name) => Some(name),
                Deletion::StalePartial(_) => None,
            }).collect();
            prop_assert!(!deleted.contains(&&just));
            for name in &deleted {
                prop_assert_eq!(name.instance.as_str(), "db");
                prop_assert!(mine.contains(name));
                if let Some(max_age) = policy.max_age {
                    prop_assert!(now.duration_since(name.taken_at) >= max_age);
                }
            }
            if let Some(n) = keep_last {
                let mut newest: Vec<&BackupName> = mine.iter().collect();
                newest.sort_by(|a, b| b.cmp(a));
                for kept in newest.into_iter().take(n as usize) {
                    prop_assert!(!deleted.contains(&kept));
                }
            }
            if keep_last.is_none() && max_age_days.is_none() {
                prop_assert!(deleted.is_empty());
            }
        }
    }
}
