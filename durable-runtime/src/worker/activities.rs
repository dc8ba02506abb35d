//! The activity dispatcher: leases activity calls, runs them, reports their results.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::dispatch::{Queue, dispatch};
use super::{STORE_RETRY_DELAY, Shared};
use crate::activity::ActivityContext;
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::orchestration::replay::panic_failure;
use crate::registry::InvocationResult;
use crate::store::{ActivityWorkItem, StoreError};

pub(crate) async fn run(shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let queue = Queue {
        what: "activity",
        permits: shared.activity_permits.clone(),
        signal: |signals| &signals.activities,
        fetch: |shared, max| {
            Box::pin(async move {
                shared
                    .store
                    .fetch_activities(&shared.owner, shared.options.lease, max)
                    .await
            })
        },
        key: |item| item.id,
        run: |shared, item| Box::pin(async move { execute(&shared, item).await }),
        idle_for: |shared| Box::pin(async move { shared.options.poll_interval }),
        abandon: |shared, item_id| {
            Box::pin(async move {
                let _ = shared.store.abandon_activity(&shared.owner, item_id).await;
            })
        },
    };
    dispatch(shared, stopped, queue).await;
}

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

/// Starts activity `name` on its own task; `None` when no such activity is registered here.
pub(crate) fn start(
    shared: &Shared,
    name: &str,
    instance_id: &str,
    input: serde_json::Value,
    attempt: u32,
) -> Option<Running> {
    let descriptor = shared.registry.activity(name)?;
    let context = ActivityContext {
        instance_id: instance_id.to_owned(),
        name: name.to_owned(),
        attempt,
    };
    Some(Running(tokio::spawn((descriptor.invoke)(context, input))))
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
    at: chrono::DateTime<chrono::Utc>,
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

/// Runs one activity call, renewing its lease while it runs, and reports the result.
pub(crate) async fn execute(shared: &Arc<Shared>, item: ActivityWorkItem) {
    let poisoned = item.dequeue_count > shared.options.max_dequeue_count;
    if poisoned && shared.registry.activity(&item.name).is_some() {
        // Each earlier attempt ended with its worker gone (a crash): running it again would
        // only crash again, so the call fails instead.
        let failure = FailureDetails::new(
            "PoisonMessage",
            format!(
                "activity `{}` was handed to a worker {} times without finishing (the limit is {}); it is not run again",
                item.name,
                item.dequeue_count - 1,
                shared.options.max_dequeue_count
            ),
        );
        report(shared, &item, Err(failure)).await;
        return;
    }
    match start(
        shared,
        &item.name,
        &item.instance_id,
        item.input.clone(),
        item.dequeue_count,
    ) {
        Some(running) => finish(shared, item, running).await,
        None => {
            let failure = FailureDetails::new(
                "ActivityNotFound",
                format!(
                    "no activity named `{}` is registered in this host",
                    item.name
                ),
            );
            report(shared, &item, Err(failure)).await;
        }
    }
}

/// Waits for a started activity call, renewing its lease meanwhile, and reports the result.
async fn finish(shared: &Arc<Shared>, item: ActivityWorkItem, mut running: Running) {
    let renew_every = shared.options.lease / 3;
    let joined = loop {
        tokio::select! {
            joined = &mut running.0 => break joined,
            _ = tokio::time::sleep(renew_every) => {
                match shared.store.renew_activity(&shared.owner, item.id, shared.options.lease).await {
                    Ok(()) => {}
                    Err(StoreError::LeaseLost(_)) => {
                        tracing::warn!(activity = %item.name, "activity lease lost; another worker runs it");
                        return;
                    }
                    Err(error) => tracing::warn!(%error, "renewing an activity lease failed"),
                }
            }
        }
    };
    if let Some(outcome) = outcome_of(joined) {
        report(shared, &item, outcome).await;
    }
}

/// Reports an activity call's outcome: with its instance's next turn when that is live
/// here, otherwise on its own (running the next turn here when the store hands the
/// instance over).
async fn report(shared: &Arc<Shared>, item: &ActivityWorkItem, outcome: InvocationResult) {
    let event = result_event(item.task_id, outcome, shared.clock.now());
    if super::orchestrations::report_with_next_turn(shared, item, &event).await {
        return;
    }
    let mut pause = STORE_RETRY_DELAY / 5;
    loop {
        match shared
            .store
            .complete_activity_leasing(&shared.owner, item, event.clone(), shared.options.lease)
            .await
        {
            // The store handed the instance over: run its next turn here, no fetch needed.
            Ok(Some(work)) => {
                if shared.is_stopping() {
                    let _ = shared
                        .store
                        .abandon_orchestration(&shared.owner, &work.instance.instance_id)
                        .await;
                } else {
                    super::orchestrations::run_leased_turn(shared, work).await;
                }
                return;
            }
            Ok(None) => return,
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, retry_in = ?pause, "reporting an activity result failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(%error, activity = %item.name, "reporting an activity result failed; it will run again");
                return;
            }
        }
    }
}

/// Runs activities a turn leased to this worker (the fast path), each on its own task.
/// Calls already `started` in line (by a run-ahead) are not started again: their running
/// functions are waited for, keeping the permits they hold.
pub(crate) fn run_leased(
    shared: &Arc<Shared>,
    items: Vec<ActivityWorkItem>,
    mut started: Vec<super::run_ahead::Started>,
) {
    for item in items {
        let task_shared = shared.clone();
        let already = started
            .iter()
            .position(|s| s.task_id == item.task_id)
            .map(|index| started.swap_remove(index));
        shared.spawn_fast(Box::pin(async move {
            if let Some(already) = already {
                finish(&task_shared, item, already.running).await;
                drop(already.permit);
                return;
            }
            let Ok(permit) = task_shared.activity_permits.clone().acquire_owned().await else {
                return;
            };
            if task_shared.is_stopping() {
                let _ = task_shared
                    .store
                    .abandon_activity(&task_shared.owner, item.id)
                    .await;
                return;
            }
            execute(&task_shared, item).await;
            drop(permit);
        }));
    }
}
