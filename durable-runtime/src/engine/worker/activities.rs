//! One activity call leased to this worker: run it (or fail it as a poison message),
//! renew its lease while it runs, and report its result, with its instance's next turn
//! when that is live here.

use crate::engine::failpoints;
use std::sync::Arc;

use tracing::Instrument;

use super::invoke::{self, Running};
use super::turn::{self, FollowUp, Turn};
use super::{STORE_RETRY_DELAY, Shared};
use crate::engine::metrics::{Queue, StoreCall};
use crate::engine::remote::{RemoteActivity, RemoteWorkers};
use crate::history::{FailureDetails, HistoryEvent};
use crate::registry::InvocationResult;
use crate::store::{ActivityCompletion, ActivityWorkItem, StoreError, TurnClaim};
use crate::trace_context::TraceContext;

/// Runs one activity call, renewing its lease while it runs, and reports the result.
pub(super) async fn execute(
    shared: &Arc<Shared>,
    item: ActivityWorkItem,
    trace: Option<&TraceContext>,
) -> FollowUp {
    let poisoned = item.dequeue_count > shared.options.max_dequeue_count;
    let runnable = shared.runs_activity(&item.name) || shared.remote_activity(&item.name).is_some();
    if poisoned && runnable {
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
        if let Some(metrics) = &shared.options.metrics {
            metrics.poison_message(Queue::Activity);
        }
        return report(shared, &item, Err(failure)).await;
    }
    let call = invoke::Call {
        name: &item.name,
        instance_id: &item.instance_id,
        execution_id: &item.execution_id,
        task_id: item.task_id,
        attempt: item.dequeue_count,
        trace,
    };
    if let Err(error) = failpoints::point("activity.run.before").await {
        tracing::warn!(%error, activity = %item.name, "the call goes back to the store");
        let _ = shared.store.abandon_activity(&shared.owner, item.id).await;
        return FollowUp::Nothing;
    }
    if let Some(running) = invoke::start(shared, call, item.input.clone()) {
        return finish(shared, item, running).await;
    }
    if let Some(remote) = shared.remote_activity(&item.name).cloned() {
        return finish_remote(shared, item, remote).await;
    }
    let failure = FailureDetails::new(
        "ActivityNotFound",
        format!(
            "no activity named `{}` is registered in this host",
            item.name
        ),
    );
    report(shared, &item, Err(failure)).await
}

/// Waits for a started activity call, renewing its lease meanwhile, and reports the result.
pub(super) async fn finish(
    shared: &Arc<Shared>,
    item: ActivityWorkItem,
    mut running: Running,
) -> FollowUp {
    finish_with(shared, item, async move { running.finish().await }).await
}

/// Hands an activity call to a remote worker and reports its outcome like a local one's;
/// when no remote worker takes it, or the one that did leaves, the call goes back to the
/// store for another worker.
async fn finish_remote(
    shared: &Arc<Shared>,
    item: ActivityWorkItem,
    remote: Arc<dyn RemoteWorkers>,
) -> FollowUp {
    let call = RemoteActivity {
        name: item.name.clone(),
        input: item.input.clone(),
        instance_id: item.instance_id.clone(),
        execution_id: item.execution_id.clone(),
        task_id: item.task_id,
    };
    let (store, owner, id) = (shared.store.clone(), shared.owner.clone(), item.id);
    let limit = shared.options.action_limits.max_payload_bytes;
    let activity = item.name.clone();
    let outcome = async move {
        match remote.run_activity(call).await {
            Ok(outcome) => Some(crate::payload_limit::bounded_outcome(
                &activity, outcome, limit,
            )),
            Err(unavailable) => {
                tracing::info!(%unavailable, "the activity call goes back to the store for a remote worker");
                let _ = store.abandon_activity(&owner, id).await;
                None
            }
        }
    };
    finish_with(shared, item, outcome).await
}

/// Waits for an activity call's outcome (`None`: it was cancelled or handed back),
/// renewing its lease meanwhile, and reports it.
async fn finish_with(
    shared: &Arc<Shared>,
    item: ActivityWorkItem,
    outcome: impl std::future::Future<Output = Option<InvocationResult>>,
) -> FollowUp {
    let renew_every = shared.options.lease / 3;
    tokio::pin!(outcome);
    let outcome = loop {
        tokio::select! {
            outcome = &mut outcome => break outcome,
            _ = tokio::time::sleep(renew_every) => {
                let renewed = match failpoints::point("lease.renew").await {
                    Ok(()) => shared.store.renew_activity(&shared.owner, item.id, shared.options.lease).await,
                    Err(injected) => Err(injected),
                };
                match renewed {
                    Ok(()) => {}
                    Err(StoreError::LeaseLost(_)) => {
                        tracing::warn!(activity = %item.name, "activity lease lost; another worker runs it");
                        return FollowUp::Nothing;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "renewing an activity lease failed");
                        if let Some(metrics) = &shared.options.metrics {
                            metrics.store_error(StoreCall::RenewLease);
                        }
                    }
                }
            }
        }
    };
    if let Err(error) = failpoints::point("activity.run.after").await {
        // The result is lost, as with a crash: the call runs again after its lease.
        tracing::warn!(%error, activity = %item.name, "the result is not reported");
        return FollowUp::Nothing;
    }
    match outcome {
        Some(outcome) => report(shared, &item, outcome).await,
        None => FollowUp::Nothing,
    }
}

/// Reports an activity call's outcome: with its instance's next turn when that is live
/// here, otherwise on its own (taking the instance for its next turn when it is free).
async fn report(
    shared: &Arc<Shared>,
    item: &ActivityWorkItem,
    outcome: InvocationResult,
) -> FollowUp {
    let event = invoke::result_event(item.task_id, outcome, shared.clock.now());
    if let Some(follow_up) = report_with_next_turn(shared, item, &event).await {
        return follow_up;
    }
    let mut pause = STORE_RETRY_DELAY / 5;
    loop {
        let completion = ActivityCompletion {
            item: item.clone(),
            result: event.clone(),
            lease_instance: Some(shared.options.lease),
            versions: shared.options.versioning.fetch_filter(),
            names: shared.orchestrator_names(),
        };
        match shared
            .store
            .complete_activity(&shared.owner, completion)
            .await
        {
            // The store handed the instance over: its next turn runs here, no fetch needed.
            Ok(Some(work)) if shared.is_stopping() => {
                let _ = shared
                    .store
                    .abandon_orchestration(&shared.owner, &work.instance.instance_id)
                    .await;
                return FollowUp::Nothing;
            }
            Ok(Some(work)) => return FollowUp::Turn(Box::new(work)),
            Ok(None) => return FollowUp::Nothing,
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, retry_in = ?pause, "reporting an activity result failed; retrying");
                if let Some(metrics) = &shared.options.metrics {
                    metrics.store_error(StoreCall::CompleteActivity);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(%error, activity = %item.name, "reporting an activity result failed; it will run again");
                if let Some(metrics) = &shared.options.metrics {
                    metrics.store_error(StoreCall::CompleteActivity);
                }
                return FollowUp::Nothing;
            }
        }
    }
}

/// Reports a finished activity together with its instance's next turn, in one commit,
/// when the live orchestration waits for nothing but this result (a chain of calls): the
/// turn is computed here from the result alone. `None` when that does not apply or the
/// store declined (the instance is busy or moved on); the caller then reports the result
/// the usual way.
async fn report_with_next_turn(
    shared: &Arc<Shared>,
    item: &ActivityWorkItem,
    result: &HistoryEvent,
) -> Option<FollowUp> {
    if shared.is_stopping() {
        return None;
    }
    let began = std::time::Instant::now();
    let taken = shared.lock_cache().take_waiting_only_for(
        &item.instance_id,
        &item.execution_id,
        item.task_id,
    )?;
    let now = shared.clock.now();
    let mut execution = taken.execution;
    let trace = execution.trace_context();
    let span = turn::span(&taken.instance, trace.as_ref());
    let output = span.in_scope(|| execution.run_turn(now, vec![result.clone()]));
    let turn = Turn {
        instance: taken.instance,
        output,
        execution: Some(execution),
        consumed: Vec::new(),
        earlier_hand_outs: 0,
        now,
        began,
        trace,
    };
    let committed = turn::commit(shared, turn, TurnClaim::CompletesActivity(item.clone()))
        .instrument(span)
        .await;
    match committed {
        Ok(leased) => Some(FollowUp::Activities(leased)),
        // The execution ran ahead of the store and is dropped; the next turn replays.
        Err(StoreError::LeaseLost(_)) => None,
        Err(error) => {
            tracing::warn!(instance_id = %item.instance_id, %error, "reporting a result with the next turn failed; reporting it alone");
            None
        }
    }
}
