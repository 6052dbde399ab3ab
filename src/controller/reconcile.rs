//! The top-level reconcile: observe -> decide -> build and apply -> status -> events and metrics.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use opentelemetry::trace::{TraceContextExt, TraceId};
use tracing::{Instrument, field, info, info_span, warn};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::observe::World;
use super::{Context, RESYNC, apply, status};
use crate::api::{MySQLInstance, Phase};
use crate::error::{Error, Result};
use crate::fsm::{self, Transition};

/// Reconciles one instance, recording duration, errors and a Warning Event on failure.
pub async fn reconcile(instance: Arc<MySQLInstance>, ctx: Arc<Context>) -> Result<Action> {
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
        Err(error) => {
            let reason: &'static str = error.category().into();
            span.in_scope(|| warn!(category = reason, %error, "reconcile failed"));
            ctx.metrics.reconcile_errors.with_label_values(&[reason]).inc();
            publish(
                &ctx,
                &instance,
                EventType::Warning,
                reason,
                error.to_string(),
                "Reconcile",
            )
            .await;
            Err(error)
        }
    }
}

async fn reconcile_instance(instance: &MySQLInstance, ctx: &Context) -> Result<()> {
    let namespace = instance
        .namespace()
        .ok_or(Error::MissingObjectField("metadata.namespace"))?;
    let span = tracing::Span::current();

    let world = info_span!("observe")
        .in_scope(|| World::read(&ctx.client, instance, &namespace))
        .await?;
    let observed = world.observed(instance);
    let phase = instance.status.as_ref().and_then(|s| s.phase).unwrap_or(Phase::Pending);
    let transition = info_span!("decide").in_scope(|| fsm::step(phase, &observed));
    span.record("phase", field::display(transition.to));

    let mut writes = 0;
    if !observed.paused && observed.spec_error.is_none() {
        writes += apply::children(ctx, instance, &namespace, &world, &observed)
            .instrument(info_span!("apply"))
            .await?;
    }

    let now = Time(Timestamp::now());
    let desired = status::desired(instance, &world, &observed, &transition, &now);
    let api: Api<MySQLInstance> = Api::namespaced(ctx.client.clone(), &namespace);
    if status::write_if_changed(&api, instance, desired)
        .instrument(info_span!("status"))
        .await?
    {
        writes += 1;
    }
    span.record("writes", writes);

    if transition.changes_phase() {
        record_transition(ctx, instance, &transition).await;
    }
    Ok(())
}

async fn record_transition(ctx: &Context, instance: &MySQLInstance, transition: &Transition) {
    let (from, to): (&'static str, &'static str) = (transition.from.into(), transition.to.into());
    ctx.metrics.phase_transitions.with_label_values(&[from, to]).inc();
    info!(from, to, reason = %transition.reason, detail = %transition.message, "phase transition");
    let type_ = if transition.to == Phase::Degraded {
        EventType::Warning
    } else {
        EventType::Normal
    };
    let note = format!("{from} -> {to}: {}", transition.message);
    publish(ctx, instance, type_, transition.reason.into(), note, "PhaseTransition").await;
}

/// Events are best effort: failing to publish one must not fail the reconcile.
async fn publish(ctx: &Context, instance: &MySQLInstance, type_: EventType, reason: &str, note: String, action: &str) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &instance.object_ref(&())).await {
        warn!(%error, "could not publish an Event");
    }
}
