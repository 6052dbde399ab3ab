//! `pause NAME` / `resume NAME`: merge-patches spec.paused and shows the Paused condition once the operator saw it.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use mysqlinstance_operator::api::MySQLInstance;

use super::{FIELD_MANAGER, POLL, PluginError, Target};

/// How long to wait for the operator to observe the new generation.
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(target: &Target, name: &str, paused: bool) -> Result<ExitCode, PluginError> {
    // A clear "not found" rather than the patch's 404.
    target.instance(name).await?;
    let api = target.api::<MySQLInstance>();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = serde_json::json!({"spec": {"paused": paused}});
    let patched = api
        .patch(name, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| PluginError::api(format!("set spec.paused of {name}"), e))?;
    let generation = patched.metadata.generation.unwrap_or_default();
    println!(
        "mysqlinstance/{name} {}: spec.paused is {paused}",
        if paused { "paused" } else { "resumed" }
    );
    let deadline = Instant::now() + OBSERVE_TIMEOUT;
    loop {
        let instance = target.instance(name).await?;
        let observed = instance.status.as_ref().and_then(|s| s.observed_generation);
        if observed.is_some_and(|o| o >= generation) {
            println!("{}", paused_line(&instance));
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() >= deadline {
            return Err(PluginError::NotObserved {
                name: name.to_owned(),
                paused,
                observed,
                generation,
                after: OBSERVE_TIMEOUT,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The Paused condition as the operator reports it (it is present only while paused).
pub fn paused_line(instance: &MySQLInstance) -> String {
    let status = instance.status.clone().unwrap_or_default();
    let phase = status.phase.map_or_else(|| "<none>".to_owned(), |p| p.to_string());
    match status.conditions.iter().find(|c| c.type_ == "Paused") {
        Some(c) => format!(
            "condition Paused={} ({}: {}); phase {phase}",
            c.status, c.reason, c.message
        ),
        None => format!("condition Paused: absent (the operator manages the children again); phase {phase}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paused_condition_is_shown_or_said_to_be_gone() {
        let mut instance: MySQLInstance = serde_json::from_value(serde_json::json!({
            "apiVersion": "mysqlinstance.io/v1alpha1", "kind": "MySQLInstance",
            "metadata": {"name": "db"},
            "spec": {"storage": {"size": "1Gi"}, "paused": true},
            "status": {"phase": "Ready", "conditions": [{"type": "Paused", "status": "True", "reason": "Paused",
                "message": "spec.paused is true", "lastTransitionTime": "2026-11-25T03:00:00Z"}]}
        }))
        .expect("fixture");
        assert_eq!(
            paused_line(&instance),
            "condition Paused=True (Paused: spec.paused is true); phase Ready"
        );
        if let Some(status) = instance.status.as_mut() {
            status.conditions.clear();
        }
        assert!(paused_line(&instance).starts_with("condition Paused: absent"));
    }
}
