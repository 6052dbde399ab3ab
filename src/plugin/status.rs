//! `status NAME`: one screen about an instance, rendered purely from the instance and its Events (no secrets).

use std::fmt::Write as _;
use std::process::ExitCode;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::ListParams;
use mysqlinstance_operator::api::MySQLInstance;

use super::{PluginError, Target};

/// Events shown.
const EVENTS_SHOWN: usize = 10;

/// One Event, reduced to what is shown.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// When it last happened.
    pub at: Option<Timestamp>,
}

impl EventLine {
    /// An Event as the core v1 API serves it, whether it was written through core v1 or events.k8s.io/v1 (whose
    /// Events have an eventTime and a series instead of the timestamps).
    pub fn of(event: &Event) -> Self {
        let at = event
            .series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref())
            .map(|t| t.0)
            .or_else(|| event.last_timestamp.as_ref().map(|t| t.0))
            .or_else(|| event.event_time.as_ref().map(|t| t.0))
            .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0));
        Self {
            type_: event.type_.clone().unwrap_or_default(),
            reason: event.reason.clone().unwrap_or_default(),
            message: event.message.clone().unwrap_or_default().trim().to_owned(),
            at,
        }
    }
}

pub async fn run(target: &Target, name: &str) -> Result<ExitCode, PluginError> {
    let instance = target.instance(name).await?;
    let mut selector = format!("involvedObject.kind=MySQLInstance,involvedObject.name={name}");
    if let Some(uid) = instance.uid() {
        selector.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let events = target
        .api::<Event>()
        .list(&ListParams::default().fields(&selector))
        .await
        .map_err(|e| PluginError::api(format!("list the Events of {name}"), e))?;
    let lines: Vec<EventLine> = events.items.iter().map(EventLine::of).collect();
    print!("{}", render(&instance, &lines, Timestamp::now()));
    Ok(ExitCode::SUCCESS)
}

/// The status screen of `instance` at `now`, with the newest of `events` (in any order).
pub fn render(instance: &MySQLInstance, events: &[EventLine], now: Timestamp) -> String {
    let status = instance.status.clone().unwrap_or_default();
    let spec = &instance.spec;
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "{:<22}{value}", format!("{label}:"));
    };
    field("Name", &instance.name_any());
    field("Namespace", &instance.namespace().unwrap_or_default());
    field("Engine", &format!("{} {}", spec.engine, spec.version));
    field(
        "Phase",
        &status.phase.map_or_else(|| "<none yet>".to_owned(), |p| p.to_string()),
    );
    let ready = status
        .ready
        .clone()
        .unwrap_or_else(|| format!("{}/{}", status.ready_replicas, spec.replicas));
    field("Ready replicas", &ready);
    field("Endpoint", status.endpoint.as_deref().unwrap_or("<none yet>"));
    if spec.paused {
        field(
            "Paused",
            "yes: spec.paused is true, no changes are made to the children",
        );
    }
    if let Some(secret) = &status.secret_name {
        field(
            "Credentials",
            &format!("Secret {secret} (kubectl myi credentials {})", instance.name_any()),
        );
    }
    if let Some(at) = &status.restored_at {
        field("Restored at", &format!("{} ({} ago)", at.0, age(at.0, now)));
    }
    if let Some(source) = &spec.restore_from {
        field("Restore from", &format!("{} backup {}", source.instance, source.backup));
    }
    if let (Some(generation), Some(observed)) = (instance.metadata.generation, status.observed_generation)
        && observed < generation
    {
        field(
            "Observed generation",
            &format!("{observed} (the operator has not caught up with generation {generation} yet)"),
        );
    }

    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  <none yet>\n");
    } else {
        let mut rows = vec![row(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"])];
        rows.extend(status.conditions.iter().map(|c| {
            row([
                c.type_.as_str(),
                c.status.as_str(),
                c.reason.as_str(),
                &age(c.last_transition_time.0, now),
                c.message.as_str(),
            ])
        }));
        out.push_str(&table(&rows));
    }

    out.push_str("\nBackups:\n");
    match (&spec.backup, &status.last_backup) {
        (None, _) => out.push_str("  not configured (set spec.backup to schedule backups)\n"),
        (Some(backup), last) => {
            let schedule = if !backup.enabled {
                "disabled (spec.backup.enabled is false)".to_owned()
            } else if backup.suspend {
                format!("{} UTC, suspended", backup.schedule)
            } else {
                format!("{} UTC", backup.schedule)
            };
            let mut rows = vec![vec!["Schedule:".to_owned(), schedule]];
            match last {
                None => rows.push(vec!["Last backup:".to_owned(), "<none yet>".to_owned()]),
                Some(last) => {
                    rows.push(vec!["Last backup:".to_owned(), last.name.clone()]);
                    let completed = last
                        .completed_at
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |t| format!("{} ({} ago)", t.0, age(t.0, now)));
                    rows.push(vec!["Completed at:".to_owned(), completed]);
                    rows.push(vec![
                        "Size:".to_owned(),
                        last.size_bytes.map_or_else(|| "-".to_owned(), size),
                    ]);
                    rows.push(vec![
                        "SHA-256:".to_owned(),
                        last.sha256.as_deref().map_or_else(|| "-".to_owned(), short_sha),
                    ]);
                    rows.push(vec![
                        "Location:".to_owned(),
                        last.location.clone().unwrap_or_else(|| "-".to_owned()),
                    ]);
                }
            }
            rows.push(vec![
                "Consecutive failures:".to_owned(),
                status.consecutive_backup_failures.to_string(),
            ]);
            out.push_str(&table(&rows));
        }
    }

    let mut newest: Vec<&EventLine> = events.iter().collect();
    newest.sort_by_key(|e| std::cmp::Reverse(e.at));
    newest.truncate(EVENTS_SHOWN);
    let _ = writeln!(out, "\nEvents (newest {EVENTS_SHOWN}):");
    if newest.is_empty() {
        out.push_str("  <none>\n");
    } else {
        let mut rows = vec![row(["TYPE", "REASON", "AGE", "MESSAGE"])];
        rows.extend(newest.iter().map(|e| {
            row([
                e.type_.as_str(),
                e.reason.as_str(),
                &e.at.map_or_else(|| "-".to_owned(), |at| age(at, now)),
                e.message.as_str(),
            ])
        }));
        out.push_str(&table(&rows));
    }
    out
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Rows indented by two spaces, every column but the last padded to its widest cell.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// How long ago `then` was, as kubectl prints ages: `45s`, `3m20s`, `42m`, `5h`, `3d`.
pub fn age(then: Timestamp, now: Timestamp) -> String {
    let seconds = now.as_second().saturating_sub(then.as_second()).max(0);
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 120 {
        format!("{seconds}s")
    } else if minutes < 10 {
        format!("{minutes}m{}s", seconds % 60)
    } else if hours < 3 {
        format!("{minutes}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else {
        format!("{days}d")
    }
}

/// A byte count in binary units: `1.0 MiB`.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
    }
}

/// The first 12 hex digits of a SHA-256, enough to tell backups apart at a glance.
pub fn short_sha(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn ready_instance() -> MySQLInstance {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mysqlinstance.io/v1alpha1",
            "kind": "MySQLInstance",
            "metadata": {"name": "db", "namespace": "shop", "generation": 2},
            "spec": {
                "engine": "MariaDB", "version": "11.4", "storage": {"size": "1Gi"},
                "backup": {"enabled": true, "schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}
            },
            "status": {
                "phase": "Ready", "observedGeneration": 2, "readyReplicas": 1, "ready": "1/1",
                "endpoint": "db.shop.svc:3306", "secretName": "db-credentials",
                "consecutiveBackupFailures": 0,
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "AllReplicasReady",
                     "message": "1/1 replicas ready", "lastTransitionTime": "2026-11-25T03:00:00Z"},
                    {"type": "BackupSucceeded", "status": "True", "reason": "BackupCompleted",
                     "message": "the newest backup completed", "lastTransitionTime": "2026-11-25T03:10:00Z"}
                ],
                "lastBackup": {
                    "name": "db-20261125T030000Z.sql.zst", "completedAt": "2026-11-25T03:00:08Z",
                    "sizeBytes": 1048576, "sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "location": "file:///backups/db-20261125T030000Z.sql.zst", "durationSeconds": 8.0
                }
            }
        }))
        .expect("fixture parses")
    }

    fn event(reason: &str, at: &str) -> EventLine {
        EventLine {
            type_: "Normal".into(),
            reason: reason.into(),
            message: format!("{reason} happened"),
            at: Some(ts(at)),
        }
    }

    #[test]
    fn a_ready_instance_shows_phase_conditions_last_backup_and_events() {
        let events = [
            event("Provisioning", "2026-11-25T02:59:00Z"),
            event("Ready", "2026-11-25T03:00:00Z"),
        ];
        let text = render(&ready_instance(), &events, ts("2026-11-25T03:30:00Z"));
        let expected = "\
Name:                 db
Namespace:            shop
Engine:               MariaDB 11.4
Phase:                Ready
Ready replicas:       1/1
Endpoint:             db.shop.svc:3306
Credentials:          Secret db-credentials (kubectl myi credentials db)

Conditions:
  TYPE             STATUS  REASON            AGE  MESSAGE
  Ready            True    AllReplicasReady  30m  1/1 replicas ready
  BackupSucceeded  True    BackupCompleted   20m  the newest backup completed

Backups:
  Schedule:              0 3 * * * UTC
  Last backup:           db-20261125T030000Z.sql.zst
  Completed at:          2026-11-25T03:00:08Z (29m ago)
  Size:                  1.0 MiB (1048576 bytes)
  SHA-256:               0123456789ab
  Location:              file:///backups/db-20261125T030000Z.sql.zst
  Consecutive failures:  0

Events (newest 10):
  TYPE    REASON        AGE  MESSAGE
  Normal  Ready         30m  Ready happened
  Normal  Provisioning  31m  Provisioning happened
";
        assert_eq!(text, expected);
    }

    #[test]
    fn only_the_ten_newest_events_are_shown_newest_first() {
        let events: Vec<EventLine> = (0..15)
            .map(|i| event(&format!("E{i:02}"), &format!("2026-11-25T03:{i:02}:00Z")))
            .collect();
        let text = render(&ready_instance(), &events, ts("2026-11-25T04:00:00Z"));
        assert!(text.contains("E14") && text.contains("E05"), "{text}");
        assert!(!text.contains("E04"), "older than the 10 newest: {text}");
        assert!(text.find("E14") < text.find("E05"), "newest first: {text}");
    }

    #[test]
    fn a_new_instance_shows_what_is_not_there_yet_and_never_a_secret() {
        let mut instance = ready_instance();
        instance.status = None;
        instance.spec.backup = None;
        instance.spec.paused = true;
        let text = render(&instance, &[], ts("2026-11-25T04:00:00Z"));
        assert!(text.contains("Phase:                <none yet>"), "{text}");
        assert!(text.contains("Paused:               yes"), "{text}");
        assert!(text.contains("not configured (set spec.backup"), "{text}");
        assert!(text.contains("Events (newest 10):\n  <none>\n"), "{text}");
        assert!(!text.to_lowercase().contains("password"), "{text}");
    }

    #[test]
    fn events_of_either_api_have_a_time() {
        let modern: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db.1", "creationTimestamp": "2026-11-25T03:00:00Z"},
            "involvedObject": {"kind": "MySQLInstance", "name": "db"},
            "type": "Warning", "reason": "BackupFailed", "message": " it failed \n",
            "eventTime": "2026-11-25T03:00:01.000000Z",
            "series": {"count": 3, "lastObservedTime": "2026-11-25T03:05:00.000000Z"}
        }))
        .expect("event");
        let line = EventLine::of(&modern);
        assert_eq!(line.at, Some(ts("2026-11-25T03:05:00Z")));
        assert_eq!(line.message, "it failed");
        let legacy: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db.2"}, "involvedObject": {"name": "db"},
            "lastTimestamp": "2026-11-25T03:07:00Z"
        }))
        .expect("event");
        assert_eq!(EventLine::of(&legacy).at, Some(ts("2026-11-25T03:07:00Z")));
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = ts("2026-11-25T12:00:00Z");
        let ago = |s: i64| age(Timestamp::from_second(now.as_second() - s).expect("ts"), now);
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(200), "3m20s");
        assert_eq!(ago(42 * 60), "42m");
        assert_eq!(ago(5 * 3600), "5h");
        assert_eq!(ago(3 * 86_400), "3d");
        assert_eq!(ago(-10), "0s", "clock skew is not a negative age");
        assert_eq!(size(512), "512 B");
    }
}
