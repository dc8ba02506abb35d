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

/// Aborts the activity's task when the dispatcher's task is aborted during shutdown.
struct AbortOnDrop(JoinHandle<InvocationResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one activity call, renewing its lease while it runs, and reports the result.
pub(crate) async fn execute(shared: &Arc<Shared>, item: ActivityWorkItem) {
    let poisoned = item.dequeue_count > shared.options.max_dequeue_count;
    let outcome = match shared.registry.activity(&item.name) {
        // Each earlier attempt ended with its worker gone (a crash): running it again would
        // only crash again, so the call fails instead.
        Some(_) if poisoned => Err(FailureDetails::new(
            "PoisonMessage",
            format!(
                "activity `{}` was handed to a worker {} times without finishing (the limit is {}); it is not run again",
                item.name,
                item.dequeue_count - 1,
                shared.options.max_dequeue_count
            ),
        )),
        None => Err(FailureDetails::new(
            "ActivityNotFound",
            format!(
                "no activity named `{}` is registered in this host",
                item.name
            ),
        )),
        Some(descriptor) => {
            let context = ActivityContext {
                instance_id: item.instance_id.clone(),
                name: item.name.clone(),
                attempt: item.dequeue_count,
            };
            let mut task = AbortOnDrop(tokio::spawn((descriptor.invoke)(
                context,
                item.input.clone(),
            )));
            let renew_every = shared.options.lease / 3;
            let joined = loop {
                tokio::select! {
                    joined = &mut task.0 => break joined,
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
            match joined {
                Ok(result) => result,
                Err(error) if error.is_panic() => Err(panic_failure(error.into_panic())),
                Err(_) => return,
            }
        }
    };
    let now = shared.clock.now();
    let event = HistoryEvent::new(
        now,
        match outcome {
            Ok(result) => EventKind::TaskCompleted {
                task_scheduled_id: item.task_id,
                result,
            },
            Err(failure) => EventKind::TaskFailed {
                task_scheduled_id: item.task_id,
                failure,
            },
        },
    );
    if super::orchestrations::report_with_next_turn(shared, &item, &event).await {
        return;
    }
    let mut pause = STORE_RETRY_DELAY / 5;
    loop {
        match shared
            .store
            .complete_activity_leasing(&shared.owner, &item, event.clone(), shared.options.lease)
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
pub(crate) fn run_leased(shared: &Arc<Shared>, items: Vec<ActivityWorkItem>) {
    for item in items {
        let task_shared = shared.clone();
        shared.spawn_fast(Box::pin(async move {
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
