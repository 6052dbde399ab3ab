//! Drift: whether a live child still carries every field the operator wants it to have.
//!
//! The desired object is compared with the live one as JSON: every field the operator sets must be present
//! with the same value; fields it does not set (defaults the API server fills in, labels, annotations and
//! list entries added by others) are left alone. So an unchanged child costs no write, and a field someone
//! changed or removed is put back on the next reconcile.

use serde::Serialize;
use serde_json::Value;

/// Keys whose values are resource quantities: the API server stores them in canonical form ("1024Mi"
/// becomes "1Gi"), so they are compared by value.
const QUANTITY_MAPS: &[&str] = &["requests", "limits", "capacity"];

/// Whether `live` carries everything of `desired`.
pub fn in_line<K: Serialize>(desired: &K, live: &K) -> Result<bool, serde_json::Error> {
    Ok(contains(
        &serde_json::to_value(live)?,
        &serde_json::to_value(desired)?,
        false,
    ))
}

/// `quantities` says that `desired` is a map of resource quantities.
fn contains(live: &Value, desired: &Value, quantities: bool) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(live), Value::Object(desired)) => {
            desired.iter().all(|(key, want)| match (live.get(key), want) {
                (Some(Value::String(have)), Value::String(want)) if quantities => same_quantity(have, want),
                (Some(have), want) => contains(have, want, QUANTITY_MAPS.contains(&key.as_str())),
                (None, want) => is_empty(want),
            })
        }
        (Value::Array(live), Value::Array(desired)) => list_contains(live, desired),
        _ => live == desired,
    }
}

/// Lists of named entries (containers, ports, env, volumes) are maps keyed by name for server-side apply:
/// every desired entry must be in the live list, others may be there too. Other lists must match
/// position by position.
fn list_contains(live: &[Value], desired: &[Value]) -> bool {
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    if !desired.is_empty() && desired.iter().all(|v| name(v).is_some()) {
        return desired.iter().all(|want| {
            live.iter()
                .find(|have| name(have) == name(want))
                .is_some_and(|have| contains(have, want, false))
        });
    }
    live.len() == desired.len() && live.iter().zip(desired).all(|(have, want)| contains(have, want, false))
}

/// The API server drops empty maps and lists it would store as absent.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// A quantity map: `{"storage": "1Gi"}` against `{"storage": "1024Mi"}`.
fn same_quantity(have: &str, want: &str) -> bool {
    have == want || crate::resources::compare_quantities(have, want) == Some(std::cmp::Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(live: Value, desired: Value) -> bool {
        in_line(&desired, &live).expect("serializable")
    }

    #[test]
    fn fields_the_api_server_adds_are_not_drift() {
        let desired =
            json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "mysql", "image": "m"}]}}}});
        let live = json!({"spec": {"replicas": 1, "revisionHistoryLimit": 10, "template": {"spec": {
            "dnsPolicy": "ClusterFirst",
            "containers": [{"name": "mysql", "image": "m", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"readyReplicas": 1}});
        assert!(check(live, desired));
    }

    #[test]
    fn a_changed_or_removed_field_is_drift() {
        let desired = json!({"metadata": {"labels": {"app": "mysql"}}, "spec": {"replicas": 1}});
        assert!(!check(
            json!({"metadata": {"labels": {"app": "mysql"}}, "spec": {"replicas": 3}}),
            desired.clone()
        ));
        assert!(!check(
            json!({"metadata": {"labels": {}}, "spec": {"replicas": 1}}),
            desired.clone()
        ));
        assert!(!check(json!({"metadata": {}, "spec": {"replicas": 1}}), desired));
    }

    #[test]
    fn named_lists_match_by_name_and_tolerate_entries_of_others() {
        let desired = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let reordered_with_extra =
            json!({"env": [{"name": "X", "value": "9"}, {"name": "B", "value": "2"}, {"name": "A", "value": "1"}]});
        assert!(check(reordered_with_extra, desired.clone()));
        assert!(!check(
            json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}),
            desired.clone()
        ));
        assert!(!check(json!({"env": [{"name": "A", "value": "1"}]}), desired));
        assert!(!check(json!({"args": ["a", "b", "c"]}), json!({"args": ["a", "b"]})));
        assert!(check(json!({"args": ["a", "b"]}), json!({"args": ["a", "b"]})));
    }

    #[test]
    fn quantities_compare_by_value_and_empty_values_match_absent_fields() {
        assert!(check(
            json!({"requests": {"storage": "1Gi"}}),
            json!({"requests": {"storage": "1024Mi"}})
        ));
        assert!(check(
            json!({"limits": {"cpu": "1"}}),
            json!({"limits": {"cpu": "1000m"}})
        ));
        assert!(!check(
            json!({"requests": {"storage": "2Gi"}}),
            json!({"requests": {"storage": "1Gi"}})
        ));
        assert!(
            !check(json!({"name": "1Gi"}), json!({"name": "1024Mi"})),
            "only quantity maps"
        );
        assert!(check(
            json!({"spec": {}}),
            json!({"spec": {"volumes": [], "labels": {}, "x": null}})
        ));
        assert!(check(json!({"emptyDir": {}}), json!({"emptyDir": {}})));
        // Found by the fuzzer: sizes beyond what Kubernetes stores panicked the comparison.
        assert!(!check(
            json!({"requests": {"storage": "9223372036854775807"}}),
            json!({"requests": {"storage": "100000000000000000000Ei"}})
        ));
        assert!(!check(json!({}), json!({"emptyDir": {"medium": "Memory"}})));
    }
}
