//! Starting an activity function on a task of its own and reading its outcome: what the
//! activity path and running ahead share.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::Shared;
use crate::activity::ActivityContext;
use crate::engine::metrics::Metrics;
use crate::history::{EventKind, HistoryEvent};
use crate::orchestration::replay::panic_failure;
use crate::registry::{BoxFuture, InvocationResult};
use crate::trace_context::TraceContext;

/// An activity function running on its own task; dropping it aborts the task (a
/// dispatcher aborted during shutdown, a run-ahead whose commit failed).
pub(crate) struct Running(JoinHandle<InvocationResult>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Running {
    /// A call that already finished with `outcome`, to be reported like a running one.
    pub(crate) fn settled(outcome: InvocationResult) -> Running {
        Running(tokio::spawn(async move { outcome }))
    }

    /// Waits for the function: its outcome, or `None` when its task was cancelled.
    pub(crate) async fn finish(&mut self) -> Option<InvocationResult> {
        outcome_of((&mut self.0).await)
    }

    /// Waits for the function, up to `deadline`: its outcome, or the still running
    /// function back. `None` when its task was cancelled.
    pub(crate) async fn finish_by(
        mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<InvocationResult>, Running> {
        match tokio::time::timeout_at(deadline, &mut self.0).await {
            Ok(joined) => Ok(outcome_of(joined)),
            Err(_) => Err(self),
        }
    }
}

/// Which call an activity run answers, for its context and its span.
pub(crate) struct Call<'a> {
    /// The activity's name.
    pub name: &'a str,
    /// The calling instance.
    pub instance_id: &'a str,
    /// The calling execution.
    pub execution_id: &'a str,
    /// The call's sequence number (`TaskScheduled`'s event id).
    pub task_id: i64,
    /// Which hand-out of the call this is (1 for the first).
    pub attempt: u32,
    /// The trace the instance joins.
    pub trace: Option<&'a TraceContext>,
}

/// The metrics label of an activity a test double stands in for.
const TEST_DOUBLE_LABEL: &str = "test double";

/// Starts the activity `call` names on its own task, in a span of its own (a child of the
/// current span, or else of the call's trace) and measured; `None` when no such activity
/// is registered here.
pub(crate) fn start(shared: &Shared, call: Call<'_>, input: serde_json::Value) -> Option<Running> {
    let Call {
        name,
        instance_id,
        execution_id,
        task_id,
        attempt,
        trace,
    } = call;
    // A call that already ran ahead of a commit that did not happen takes its result.
    if let Some(outcome) =
        shared
            .lock_kept_results()
            .take(instance_id, execution_id, task_id, name, &input)
    {
        tracing::debug!(%instance_id, task_id, activity = name, "a kept result answers the call");
        return Some(Running::settled(outcome));
    }
    let context = || ActivityContext {
        instance_id: instance_id.to_owned(),
        name: name.to_owned(),
        attempt,
    };
    // A test double stands in for any activity, the built-in HTTP one included.
    let (label, work): (&'static str, BoxFuture<InvocationResult>) =
        if let Some(double) = shared.registry.activity_double(name) {
            (TEST_DOUBLE_LABEL, double(context(), input))
        } else if name == crate::http::ACTIVITY_NAME {
            let settings = shared.options.http.clone();
            (
                crate::http::ACTIVITY_NAME,
                Box::pin(async move { crate::http::run(&settings, input).await }),
            )
        } else {
            let descriptor = shared.registry.activity(name)?;
            (descriptor.name, (descriptor.invoke)(context(), input))
        };
    let span = tracing::info_span!(
        "activity",
        %instance_id,
        %execution_id,
        activity = label,
        task_id,
        attempt,
        trace_id = tracing::field::Empty,
    );
    if tracing::Span::current().is_none() {
        crate::trace_context::attach(&span, trace);
    } else if let Some(trace) = trace {
        // A child of the current span (a turn running ahead), which joined the trace.
        span.record("trace_id", trace.trace_id());
    }
    let metrics = shared.options.metrics.clone();
    let limit = shared.options.action_limits.max_payload_bytes;
    let activity = name.to_owned();
    let bounded = async move {
        let outcome = measured(metrics, label, work).await;
        crate::payload_limit::bounded_outcome(&activity, outcome, limit)
    };
    Some(Running(tokio::spawn(bounded.instrument(span))))
}

/// Runs an activity function and counts its run; a panic is its failure.
async fn measured(
    metrics: Option<Arc<Metrics>>,
    label: &'static str,
    work: BoxFuture<InvocationResult>,
) -> InvocationResult {
    let began = std::time::Instant::now();
    let outcome = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(panic_failure(panic)),
    };
    if let Some(metrics) = metrics {
        metrics.activity_finished(label, outcome.is_ok(), began.elapsed());
    }
    outcome
}

/// A joined activity task as an outcome: a panic becomes a failure; `None` when the task
/// was cancelled.
fn outcome_of(
    joined: Result<InvocationResult, tokio::task::JoinError>,
) -> Option<InvocationResult> {
    match joined {
        Ok(result) => Some(result),
        Err(error) if error.is_panic() => Some(Err(panic_failure(error.into_panic()))),
        Err(_) => None,
    }
}

/// The history event that answers call `task_id` with its outcome.
pub(crate) fn result_event(
    task_id: i64,
    outcome: InvocationResult,
    at: DateTime<Utc>,
) -> HistoryEvent {
    let kind = match outcome {
        Ok(result) => EventKind::TaskCompleted {
            task_scheduled_id: task_id,
            result,
        },
        Err(failure) => EventKind::TaskFailed {
            task_scheduled_id: task_id,
            failure,
        },
    };
    HistoryEvent::new(at, kind)
}
