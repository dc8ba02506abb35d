//! The orchestration dispatcher: leases instances with new messages and runs their turns.

use std::sync::Arc;

use tokio::sync::watch;

use super::Shared;
use super::cache::Cached;
use super::dispatch::{Queue, dispatch};
use super::run_ahead::{Started, run_ahead};
use crate::history::{EventKind, FailureDetails, HistoryEvent, ParentInstance};
use crate::orchestration::critical_section::release_at_end;
use crate::orchestration::lifecycle;
use crate::orchestration::replay::{Execution, TurnOutput, failed_turn};
use crate::status::RuntimeStatus;
use crate::store::{
    ActivityWorkItem, InstanceRecord, NewActivity, NewExecution, NewInstance, NewTimer,
    OrchestrationWorkItem, OutboundMessage, QueuedMessage, ReplacePolicy, StoreError, TurnCommit,
};

pub(crate) async fn run(shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let queue = Queue {
        what: "orchestration",
        permits: shared.orchestration_permits.clone(),
        signal: |signals| &signals.orchestrations,
        fetch: |shared, max| {
            Box::pin(async move {
                shared
                    .store
                    .fetch_orchestrations(&shared.owner, shared.options.lease, max)
                    .await
            })
        },
        key: |item| item.instance.instance_id.clone(),
        run: |shared, item| Box::pin(async move { run_turn(&shared, item).await }),
        // Sleep no longer than until the next timer is due.
        idle_for: |shared| {
            Box::pin(async move {
                let wait = shared.options.poll_interval;
                match shared.store.next_due().await {
                    Ok(Some(due)) => {
                        wait.min((due - shared.clock.now()).to_std().unwrap_or_default())
                    }
                    _ => wait,
                }
            })
        },
        abandon: |shared, instance_id| {
            Box::pin(async move {
                let _ = shared
                    .store
                    .abandon_orchestration(&shared.owner, &instance_id)
                    .await;
            })
        },
    };
    dispatch(shared, stopped, queue).await;
}

/// Runs the turn of an instance the store leased to this worker outside the dispatcher (a
/// finished activity's instance), within the limit on concurrent turns.
pub(crate) async fn run_leased_turn(shared: &Arc<Shared>, item: OrchestrationWorkItem) {
    let Ok(permit) = shared.orchestration_permits.clone().acquire_owned().await else {
        return;
    };
    run_turn(shared, item).await;
    drop(permit);
}

/// Runs one turn of a leased instance and commits it.
async fn run_turn(shared: &Arc<Shared>, item: OrchestrationWorkItem) {
    if item.instance.instance_id.starts_with('@') {
        super::entities::run_turn(shared, item).await;
        return;
    }
    let instance = item.instance;
    let now = shared.clock.now();
    // Messages for an earlier execution (a replaced instance, a continued-as-new one) are
    // consumed unread; external events (no execution) go to the current one.
    let (current, stale): (Vec<QueuedMessage>, Vec<QueuedMessage>) = item
        .messages
        .into_iter()
        .partition(|m| m.execution_id.is_empty() || m.execution_id == instance.execution_id);
    let mut consumed: Vec<i64> = stale.iter().map(|m| m.id).collect();
    let cached = shared.lock_cache().take(
        &instance.instance_id,
        &instance.execution_id,
        instance.history_length,
    );
    // A live orchestration needs no history, unless a request (terminate, rewind) reads it;
    // the store may have left it out.
    let needs_history = cached.is_none() || current.iter().any(|m| m.event.kind.is_control());
    let history = if needs_history && item.history.len() as u64 != instance.history_length {
        match shared.store.get_history(&instance.instance_id).await {
            Ok(history) => history,
            Err(error) => {
                tracing::warn!(instance_id = %instance.instance_id, %error, "cannot read the history; the turn will run again");
                let _ = shared
                    .store
                    .abandon_orchestration(&shared.owner, &instance.instance_id)
                    .await;
                return;
            }
        }
    } else {
        item.history
    };
    let poisoned = item.dequeue_count > shared.options.max_dequeue_count
        && !instance.status.is_terminal()
        && cached.is_none();
    let (turn, execution) = if poisoned {
        // Each earlier try of this turn ended with its worker gone (a crash): running it
        // again would only crash again, so the instance fails instead.
        consumed.extend(current.iter().map(|m| m.id));
        let failure = FailureDetails::new(
            "PoisonMessage",
            format!(
                "the turn of instance `{}` was started {} times without finishing (the limit is {}); the instance fails instead of running it again",
                instance.instance_id,
                item.dequeue_count - 1,
                shared.options.max_dequeue_count
            ),
        );
        tracing::error!(instance_id = %instance.instance_id, %failure, "poison message");
        let events = current.into_iter().map(|m| m.event).collect();
        let mut turn = failed_turn(now, events, &failure);
        release_at_end(&mut turn, &history, now);
        (turn, None)
    } else {
        plan_turn(
            shared,
            &instance,
            &history,
            cached,
            current,
            &mut consumed,
            now,
        )
    };
    // A turn handed out before without a commit may have crashed its host while running
    // ahead: this time it commits first, so its calls are counted towards their poison
    // limit (with the earlier hand-outs).
    let earlier_hand_outs = item.dequeue_count.saturating_sub(1);
    let (turn, execution, started) = match execution {
        Some(mut live) if earlier_hand_outs == 0 => {
            let (turn, started) = run_ahead(shared, &instance.instance_id, &mut live, turn).await;
            (turn, Some(live), started)
        }
        other => (turn, other, Vec::new()),
    };
    let parked = park(&instance, execution, &turn);
    let status = turn.status;
    let commit = to_commit(&instance, consumed, turn, earlier_hand_outs, now);
    let lease = shared.options.lease;
    match shared
        .store
        .commit_turn_leasing(&shared.owner, commit, lease)
        .await
    {
        Ok(leased) => after_commit(shared, &instance.name, status, parked, leased, started),
        Err(StoreError::LeaseLost(_)) => {
            tracing::warn!(instance_id = %instance.instance_id, "lease lost; another worker redoes this turn");
        }
        Err(error) => {
            tracing::warn!(instance_id = %instance.instance_id, %error, "commit failed; the turn will run again");
            let _ = shared
                .store
                .abandon_orchestration(&shared.owner, &instance.instance_id)
                .await;
        }
    }
}

/// What follows a committed turn of orchestrator `name` here: a completion is noted (see
/// [`super::eager_start`]), the live orchestration is parked for its next turn, and the
/// activities leased to this worker run (those already running ahead are waited for).
pub(super) fn after_commit(
    shared: &Arc<Shared>,
    name: &str,
    status: RuntimeStatus,
    parked: Option<Cached>,
    leased: Vec<ActivityWorkItem>,
    started: Vec<Started>,
) {
    shared.note_committed(name, status);
    if let Some(parked) = parked {
        shared
            .lock_cache()
            .put(parked.instance.instance_id.clone(), parked);
    }
    super::activities::run_leased(shared, leased, started);
}

/// The cache entry for an orchestration that lives on after `turn`, with the instance's
/// row as the turn leaves it; `None` when the execution ended or the turn reshaped its
/// history (continue-as-new, rewind).
pub(super) fn park(
    instance: &InstanceRecord,
    execution: Option<Execution>,
    turn: &TurnOutput,
) -> Option<Cached> {
    let execution = execution.filter(|_| {
        !turn.status.is_terminal()
            && turn.continue_as_new.is_none()
            && turn.truncate_history_to.is_none()
    })?;
    Some(Cached {
        execution,
        instance: InstanceRecord {
            status: turn.status,
            output: turn.output.clone(),
            custom_status: turn.custom_status.clone(),
            history_length: instance.history_length + turn.appended.len() as u64,
            ..instance.clone()
        },
    })
}

/// Reports a finished activity together with its instance's next turn, in one commit,
/// when the live orchestration waits for nothing but this result (a chain of calls): the
/// turn is computed here from the result alone. False when that does not apply or the
/// store declined (the instance is busy or moved on); the caller then reports the result
/// the usual way.
pub(crate) async fn report_with_next_turn(
    shared: &Arc<Shared>,
    item: &ActivityWorkItem,
    result: &HistoryEvent,
) -> bool {
    if shared.is_stopping() {
        return false;
    }
    let taken = shared.lock_cache().take_waiting_only_for(
        &item.instance_id,
        &item.execution_id,
        item.task_id,
    );
    let Some(Cached {
        mut execution,
        instance,
    }) = taken
    else {
        return false;
    };
    let now = shared.clock.now();
    let turn = execution.run_turn(now, vec![result.clone()]);
    let (turn, started) = run_ahead(shared, &instance.instance_id, &mut execution, turn).await;
    let parked = park(&instance, Some(execution), &turn);
    let status = turn.status;
    let commit = to_commit(&instance, Vec::new(), turn, 0, now);
    match shared
        .store
        .complete_activity_with_turn(&shared.owner, item, commit, shared.options.lease)
        .await
    {
        Ok(Some(leased)) => {
            after_commit(shared, &instance.name, status, parked, leased, started);
            true
        }
        // The execution ran ahead of the store and is dropped; the next turn replays.
        Ok(None) => false,
        Err(error) => {
            tracing::warn!(instance_id = %instance.instance_id, %error, "reporting a result with the next turn failed; reporting it alone");
            false
        }
    }
}

/// Decides what the turn does: a rewind, a termination, nothing (finished instances), or
/// a run of the orchestrator over the messages it may take. Returns the live orchestration
/// too when the orchestrator ran, so it can be kept for the next turn.
fn plan_turn(
    shared: &Shared,
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    cached: Option<Execution>,
    messages: Vec<QueuedMessage>,
    consumed: &mut Vec<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> (TurnOutput, Option<Execution>) {
    let unchanged = || {
        let mut turn = TurnOutput::finished(Vec::new(), instance.status, instance.output.clone());
        turn.custom_status = instance.custom_status.clone();
        turn
    };
    let find = |is: fn(&EventKind) -> bool| {
        messages
            .iter()
            .find(|m| is(&m.event.kind))
            .map(|m| m.event.clone())
    };
    if instance.status == RuntimeStatus::Failed
        && let Some(request) = find(|k| matches!(k, EventKind::ExecutionRewound { .. }))
    {
        consumed.extend(messages.iter().map(|m| m.id));
        let turn = match lifecycle::rewind(now, history, request) {
            Ok(turn) => turn,
            Err(failure) => {
                tracing::warn!(instance_id = %instance.instance_id, %failure, "rewind refused");
                unchanged()
            }
        };
        return (turn, None);
    }
    if instance.status.is_terminal() {
        // A finished instance takes no more events; late results are dropped.
        consumed.extend(messages.iter().map(|m| m.id));
        return (unchanged(), None);
    }
    if let Some(request) = find(|k| matches!(k, EventKind::ExecutionTerminated { .. })) {
        consumed.extend(messages.iter().map(|m| m.id));
        let mut turn = lifecycle::terminate(now, history, request);
        release_at_end(&mut turn, history, now);
        return (turn, None);
    }
    let (taken, events, suspended) =
        lifecycle::take_messages(instance.status == RuntimeStatus::Suspended, messages);
    consumed.extend(taken);
    let mut execution = None;
    let mut turn = match shared.registry.orchestrator(&instance.name) {
        None => failed_turn(
            now,
            events,
            &FailureDetails::new(
                "OrchestratorNotFound",
                format!(
                    "no orchestrator named `{}` is registered in this host",
                    instance.name
                ),
            ),
        ),
        Some(descriptor) => {
            let rebuilt = match cached {
                Some(live) => Ok(live),
                None => {
                    let mut rebuilt = Execution::new(&instance.instance_id, descriptor.invoke);
                    rebuilt.replay(history).map(|()| rebuilt)
                }
            };
            match rebuilt {
                Ok(mut live) => {
                    let turn = live.run_turn(now, events);
                    execution = Some(live);
                    turn
                }
                Err(failure) => {
                    tracing::error!(instance_id = %instance.instance_id, %failure, "orchestration failed on replay");
                    let mut turn = failed_turn(now, events, &failure);
                    release_at_end(&mut turn, history, now);
                    turn
                }
            }
        }
    };
    if suspended && !turn.status.is_terminal() {
        turn.status = RuntimeStatus::Suspended;
    }
    (turn, execution)
}

/// Turns what the engine produced into the store's commit: work, timers, children,
/// messages, and the result for a parent when the instance finished.
pub(super) fn to_commit(
    instance: &InstanceRecord,
    consumed: Vec<i64>,
    turn: TurnOutput,
    earlier_hand_outs: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> TurnCommit {
    let finished = turn.status.is_terminal() && !instance.status.is_terminal();
    let mut messages: Vec<OutboundMessage> = turn
        .events
        .into_iter()
        .map(|sent| OutboundMessage {
            instance_id: sent.instance_id,
            execution_id: None,
            event: HistoryEvent::new(
                now,
                EventKind::EventRaised {
                    name: sent.name,
                    input: sent.input,
                },
            ),
        })
        .collect();
    messages.extend(turn.entity_operations.into_iter().map(|sent| {
        let mut event = sent.event;
        if let EventKind::EntityOperationCalled { caller, .. }
        | EventKind::EntityLockRequested { caller, .. } = &mut event.kind
        {
            *caller = Some(ParentInstance {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                task_scheduled_id: event.event_id,
            });
        }
        OutboundMessage {
            instance_id: sent.instance_id,
            execution_id: None,
            event,
        }
    }));
    messages.extend(
        turn.control
            .into_iter()
            .map(|(child, event)| OutboundMessage {
                instance_id: child,
                execution_id: None,
                event,
            }),
    );
    messages.extend(turn.requeued.into_iter().map(|event| OutboundMessage {
        instance_id: instance.instance_id.clone(),
        execution_id: Some(instance.execution_id.clone()),
        event,
    }));
    if finished && let Some(parent) = &instance.parent {
        let kind = match turn.status {
            RuntimeStatus::Completed => EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id: parent.task_scheduled_id,
                result: turn.output.clone(),
            },
            _ => EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id: parent.task_scheduled_id,
                failure: serde_json::from_value(turn.output.clone()).unwrap_or_else(|_| {
                    FailureDetails::new(
                        "SubOrchestrationFailed",
                        format!(
                            "sub-orchestration `{}` ended {}",
                            instance.instance_id, turn.status
                        ),
                    )
                }),
            },
        };
        messages.push(OutboundMessage {
            instance_id: parent.instance_id.clone(),
            execution_id: Some(parent.execution_id.clone()),
            event: HistoryEvent::new(now, kind),
        });
    }
    TurnCommit {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        expected_history_length: instance.history_length,
        consumed,
        appended: turn.appended,
        status: turn.status,
        output: turn.output,
        custom_status: turn.custom_status,
        activities: turn
            .activities
            .into_iter()
            .map(|a| NewActivity {
                task_id: a.task_id,
                name: a.name,
                input: a.input,
                earlier_hand_outs,
            })
            .chain(turn.retried_activities)
            .collect(),
        truncate_history_to: turn.truncate_history_to,
        timers: turn
            .timers
            .into_iter()
            .map(|(timer_id, fire_at)| NewTimer { timer_id, fire_at })
            .collect(),
        children: turn
            .children
            .into_iter()
            .map(|child| NewInstance {
                instance_id: child.instance_id,
                name: child.name,
                execution_id: uuid::Uuid::new_v4().simple().to_string(),
                input: child.input,
                created_at: now,
                parent: Some(ParentInstance {
                    instance_id: instance.instance_id.clone(),
                    execution_id: instance.execution_id.clone(),
                    task_scheduled_id: child.task_id,
                }),
                scheduled_start: None,
                replace: ReplacePolicy::NonRunning,
            })
            .collect(),
        messages,
        continue_as_new: turn.continue_as_new.map(|next| NewExecution {
            execution_id: uuid::Uuid::new_v4().simple().to_string(),
            input: next.input,
            carried_events: next.carried_events,
        }),
    }
}
