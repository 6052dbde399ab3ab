//! The top-level reconcile, in one direction: observe -> decide -> apply -> status -> Events and metrics.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Resource, ResourceExt};
use opentelemetry::trace::{TraceContextExt, TraceId};
use tracing::{Instrument, field, info, info_span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::apply::{self, Applied, ChildFailure};
use super::observe::observe;
use super::{Context, RESYNC};
use crate::api::{MySQLInstance, MySQLInstanceStatus};
use crate::decide::{self, EventKind, Plan, PlannedEvent};
use crate::error::{Error, Result};

/// Reconciles one instance, recording duration, errors, a `Synced=False` condition and a Warning Event on
/// failure.
pub async fn reconcile(instance: Arc<MySQLInstance>, ctx: Arc<Context>) -> Result<Action> {
    let _running = ctx.progress.start();
    let span = info_span!(
        "reconcile",
        namespace = field::Empty,
        instance = %instance.name_any(),
        phase = field::Empty,
        writes = field::Empty,
        trace_id = field::Empty,
    );
    // Puts the trace id in every log line of this reconcile, so logs lead to the trace.
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != TraceId::INVALID {
        span.record("trace_id", field::display(trace_id));
    }
    if let Some(ns) = instance.namespace() {
        span.record("namespace", ns.as_str());
    }
    let started = Instant::now();
    let result = reconcile_instance(&instance, &ctx).instrument(span.clone()).await;
    let outcome = if result.is_ok() { "success" } else { "error" };
    ctx.metrics
        .reconcile_duration
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            ctx.forget_failures(&instance);
            Ok(Action::requeue(RESYNC))
        }
        Err(failure) => {
            let reason = failure.error.category().as_str();
            span.in_scope(|| {
                warn!(category = reason, error = %failure.error, failed_children = failure.children.len(), "reconcile failed");
            });
            ctx.metrics.reconcile_errors.with_label_values(&[reason]).inc();
            report_failure(&ctx, &instance, &failure).instrument(span).await;
            Err(failure.error)
        }
    }
}

/// A failed reconcile, with the status it had planned to write (if it got that far).
struct Failure {
    planned_status: Option<MySQLInstanceStatus>,
    /// What the retry policy and the metric go by.
    error: Error,
    /// One `(reason, note)` per child that failed, when that is what went wrong (the others were applied).
    children: Vec<(&'static str, String)>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            planned_status: None,
            error,
            children: Vec::new(),
        }
    }
}

impl Failure {
    /// The failure of a reconcile in which `failures` children failed; `None` when none did. Its error is one
    /// worth retrying when there is one, so a transient failure of one child is not left waiting behind a
    /// refusal of another.
    fn of_children(planned_status: Option<MySQLInstanceStatus>, mut failures: Vec<ChildFailure>) -> Option<Self> {
        let children = failures
            .iter()
            .map(|f| (f.error.category().as_str(), format!("{}: {}", f.child, f.error)))
            .collect();
        let retried = failures.iter().position(|f| !f.error.is_terminal()).unwrap_or(0);
        (!failures.is_empty()).then(|| Self {
            planned_status,
            error: failures.swap_remove(retried).error,
            children,
        })
    }

    /// The reason and message of the Synced condition, and the Events: one per failed child, or the error.
    fn notes(&self) -> Vec<(&'static str, String)> {
        if self.children.is_empty() {
            vec![(self.error.category().as_str(), self.error.to_string())]
        } else {
            self.children.clone()
        }
    }
}

async fn reconcile_instance(instance: &MySQLInstance, ctx: &Context) -> Result<(), Failure> {
    let namespace = instance
        .namespace()
        .ok_or(Error::MissingObjectField("metadata.namespace"))?;
    let span = tracing::Span::current();

    let world = observe(ctx, instance, &namespace)
        .instrument(info_span!("observe"))
        .await?;
    let now = Time(Timestamp::now());
    let Plan {
        transition,
        edges,
        children,
        status,
        status_before_children,
        events,
    } = info_span!("decide").in_scope(|| decide::decide(instance, &world, &ctx.settings, &now))?;
    span.record("phase", field::display(transition.to));

    let Applied { mut writes, failures } = apply::children(ctx, instance, &namespace, children)
        .instrument(info_span!("apply"))
        .await;
    if let Some(failure) = Failure::of_children(Some(status_before_children), failures) {
        return Err(failure);
    }
    if let Some(status) = &status {
        writes += apply::status(ctx, instance, &namespace, status)
            .instrument(info_span!("status"))
            .await?;
    }
    span.record("writes", writes);

    for edge in edges {
        let (from, to): (&'static str, &'static str) = (edge.from.into(), edge.to.into());
        ctx.metrics.phase_transitions.with_label_values(&[from, to]).inc();
        info!(from, to, reason = %edge.reason, detail = %edge.message, "phase transition");
    }
    for event in events {
        publish(ctx, instance, event).await;
    }
    Ok(())
}

/// Shows the failure on the instance: `Synced=False` with the error's category and every failed child in its
/// message (and `Progressing=False` when retrying cannot help), and a Warning Event per failure.
async fn report_failure(ctx: &Context, instance: &MySQLInstance, failure: &Failure) {
    let notes = failure.notes();
    let reason = failure.error.category().as_str();
    if let Some(namespace) = instance.namespace() {
        let now = Time(Timestamp::now());
        let message = notes
            .iter()
            .map(|(_, note)| note.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let status = decide::status::after_failure(
            instance,
            failure.planned_status.clone(),
            reason,
            message,
            failure.error.is_terminal(),
            &now,
        );
        if instance.status.as_ref() != Some(&status)
            && let Err(status_error) = apply::status(ctx, instance, &namespace, &status).await
        {
            warn!(error = %status_error, "could not show the failure in the status");
        }
    }
    for (reason, note) in notes {
        publish(
            ctx,
            instance,
            PlannedEvent::new(EventKind::Warning, reason, "Reconcile", note),
        )
        .await;
    }
}

/// Events are best effort: failing to publish one must not fail the reconcile.
async fn publish(ctx: &Context, instance: &MySQLInstance, event: PlannedEvent) {
    let event = Event {
        type_: match event.kind {
            EventKind::Normal => EventType::Normal,
            EventKind::Warning => EventType::Warning,
        },
        reason: event.reason.to_owned(),
        note: Some(event.note),
        action: event.action.to_owned(),
        secondary: None,
    };
    let published = match event.type_ {
        EventType::Warning => ctx.recorder.publish(&event, &instance.object_ref(&())).await,
        EventType::Normal => {
            let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
            recorder.publish(&event, &instance.object_ref(&())).await
        }
    };
    if let Err(error) = published {
        warn!(%error, "could not publish an Event");
    }
}
