//! The rules every store applies the same way: which instance takes which message, what a
//! creation queues, what a taken child id answers, when an entity row goes.

use chrono::{DateTime, Utc};

use super::{NewInstance, NewTimer, OutboundMessage, StoreError, TurnCommit};
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::instance_id::is_entity_id;
use crate::status::RuntimeStatus;

/// The `ExecutionStarted` event that begins an instance's execution.
pub(crate) fn execution_started(instance: &NewInstance) -> HistoryEvent {
    HistoryEvent::new(
        instance.created_at,
        EventKind::ExecutionStarted {
            name: instance.name.clone(),
            input: instance.input.clone(),
            execution_id: instance.execution_id.clone(),
            parent: instance.parent.clone(),
            scheduled_start: instance.scheduled_start,
            parent_trace_context: instance.trace_context.clone(),
            version: instance.version.clone(),
        },
    )
}

/// What a parent receives when a sub-orchestration cannot be created because its id is
/// taken by a running instance.
pub(crate) fn child_conflict(child: &NewInstance, now: DateTime<Utc>) -> Option<OutboundMessage> {
    let parent = child.parent.as_ref()?;
    Some(OutboundMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: Some(parent.execution_id.clone()),
        event: HistoryEvent::new(
            now,
            EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id: parent.task_scheduled_id,
                failure: FailureDetails::new(
                    "InstanceAlreadyRunning",
                    format!(
                        "cannot start sub-orchestration `{}`: an instance with id `{}` is already running",
                        child.name, child.instance_id
                    ),
                ),
            },
        ),
    })
}

/// Whether a commit leaves an entity without state (Pending), unlocked and with nothing
/// waiting for a lock: the store then removes the entity when nothing is queued for it.
pub(crate) fn is_removed_entity(commit: &TurnCommit) -> bool {
    is_entity_id(&commit.instance_id)
        && commit.status == RuntimeStatus::Pending
        && commit.custom_status.is_null()
}

/// Whether a commit queues work for orchestration dispatchers: messages, new instances,
/// timers (an idle dispatcher sleeps until the next one), a new execution.
pub(crate) fn queues_orchestration_work(turn: &TurnCommit) -> bool {
    !turn.messages.is_empty()
        || !turn.children.is_empty()
        || !turn.timers.is_empty()
        || turn.continue_as_new.is_some()
}

/// The `TimerFired` message of a timer.
pub(crate) fn timer_fired(timer: &NewTimer) -> HistoryEvent {
    HistoryEvent::new(
        timer.fire_at,
        EventKind::TimerFired {
            timer_id: timer.timer_id,
            fire_at: timer.fire_at,
        },
    )
}

/// Whether a message may be queued for an instance in `status`: external events and
/// results only while it runs, a rewind only when it failed, entity operations always.
pub(crate) fn accepts(status: RuntimeStatus, event: &HistoryEvent) -> bool {
    match event.kind {
        EventKind::ExecutionRewound { .. } => status == RuntimeStatus::Failed,
        _ if event.kind.is_entity_operation() => true,
        _ => !status.is_terminal(),
    }
}

/// Why an instance in `status` does not take `event`, if it does not.
pub(crate) fn refusal(
    instance_id: &str,
    status: RuntimeStatus,
    event: &HistoryEvent,
) -> Result<(), StoreError> {
    if accepts(status, event) {
        Ok(())
    } else if status.is_terminal() && !matches!(event.kind, EventKind::ExecutionRewound { .. }) {
        Err(StoreError::Finished(instance_id.to_owned()))
    } else {
        Err(StoreError::WrongStatus {
            instance_id: instance_id.to_owned(),
            status,
        })
    }
}
