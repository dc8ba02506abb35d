//! This host's history events as the protocol's `HistoryEvent`s, in the protocol's
//! layout of a turn: this host records a turn as `[messages] OrchestratorStarted [actions]
//! OrchestratorCompleted`, the protocol (and the SDKs' replay, which takes the turn's time
//! from `OrchestratorStarted`) as `OrchestratorStarted [messages] [actions]
//! OrchestratorCompleted`.

use durable_runtime::RuntimeStatus;
use durable_runtime::engine::remote::RemoteTurn;
use durable_runtime::history::{EventKind, HistoryEvent};
use durable_runtime::trace_context::TraceContext;
use serde_json::Value;

use super::convert::{failure_to_wire, json_to_wire, status_to_wire, timestamp};
use super::proto;
use super::proto::history_event::EventType;

/// The events of one instance's history as the protocol has them, each turn's
/// `OrchestratorStarted` first. `instance_id` is the instance's own id, which its
/// `ExecutionStarted` names.
pub fn history_to_wire(instance_id: &str, events: &[HistoryEvent]) -> Vec<proto::HistoryEvent> {
    let mut wire = Vec::with_capacity(events.len());
    let mut turn_start = 0;
    for event in events {
        let converted = event_to_wire(instance_id, event, events);
        match event.kind {
            EventKind::OrchestratorStarted => wire.insert(turn_start, converted),
            EventKind::OrchestratorCompleted => {
                wire.push(converted);
                turn_start = wire.len();
            }
            _ => wire.push(converted),
        }
    }
    wire
}

/// The work item of a remote orchestration turn: the recorded history as past events,
/// and as new events the turn's `OrchestratorStarted` (its time) with its messages.
pub fn turn_request(turn: &RemoteTurn) -> proto::OrchestratorRequest {
    // Entity answers look their request ids up in the whole history, messages included.
    let everything: Vec<HistoryEvent> = turn.past.iter().chain(&turn.new).cloned().collect();
    let started = HistoryEvent::new(turn.now, EventKind::OrchestratorStarted);
    let new_events = std::iter::once(&started)
        .chain(&turn.new)
        .map(|event| event_to_wire(&turn.instance_id, event, &everything))
        .collect();
    proto::OrchestratorRequest {
        instance_id: turn.instance_id.clone(),
        execution_id: Some(turn.execution_id.clone()),
        past_events: history_to_wire(&turn.instance_id, &turn.past),
        new_events,
        ..proto::OrchestratorRequest::default()
    }
}

/// One event; `history` is the whole history it belongs to, where an entity's answer
/// finds the request id of the call it answers.
fn event_to_wire(
    instance_id: &str,
    event: &HistoryEvent,
    history: &[HistoryEvent],
) -> proto::HistoryEvent {
    proto::HistoryEvent {
        event_id: i32::try_from(event.event_id).unwrap_or(-1),
        timestamp: Some(timestamp(event.timestamp)),
        event_type: Some(kind_to_wire(instance_id, &event.kind, history)),
    }
}

fn trace_to_wire(trace: Option<&TraceContext>) -> Option<proto::TraceContext> {
    trace.map(|trace| proto::TraceContext {
        trace_parent: trace.traceparent.clone(),
        trace_state: trace.tracestate.clone(),
    })
}

/// The request id of the entity call recorded as event `task_scheduled_id`.
fn entity_request_id(history: &[HistoryEvent], task_scheduled_id: i64) -> String {
    history
        .iter()
        .find_map(|event| match &event.kind {
            EventKind::EntityOperationCalled { request_id, .. }
                if event.event_id == task_scheduled_id =>
            {
                Some(request_id.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

fn kind_to_wire(instance_id: &str, kind: &EventKind, history: &[HistoryEvent]) -> EventType {
    match kind {
        EventKind::ExecutionStarted {
            name,
            input,
            execution_id,
            parent,
            scheduled_start,
            parent_trace_context,
            version,
        } => EventType::ExecutionStarted(proto::ExecutionStartedEvent {
            name: name.clone(),
            version: version.clone(),
            input: json_to_wire(input),
            orchestration_instance: Some(proto::OrchestrationInstance {
                instance_id: instance_id.to_owned(),
                execution_id: Some(execution_id.clone()),
            }),
            parent_instance: parent.as_ref().map(|parent| proto::ParentInstanceInfo {
                task_scheduled_id: i32::try_from(parent.task_scheduled_id).unwrap_or(-1),
                orchestration_instance: Some(proto::OrchestrationInstance {
                    instance_id: parent.instance_id.clone(),
                    execution_id: Some(parent.execution_id.clone()),
                }),
                ..proto::ParentInstanceInfo::default()
            }),
            scheduled_start_timestamp: scheduled_start.map(timestamp),
            parent_trace_context: trace_to_wire(parent_trace_context.as_ref()),
            ..proto::ExecutionStartedEvent::default()
        }),
        EventKind::ExecutionTerminated { reason, recursive } => {
            EventType::ExecutionTerminated(proto::ExecutionTerminatedEvent {
                input: json_to_wire(&Value::String(reason.clone())),
                recurse: *recursive,
            })
        }
        EventKind::ExecutionSuspended { reason } => {
            EventType::ExecutionSuspended(proto::ExecutionSuspendedEvent {
                input: Some(reason.clone()),
            })
        }
        EventKind::ExecutionResumed { reason } => {
            EventType::ExecutionResumed(proto::ExecutionResumedEvent {
                input: Some(reason.clone()),
            })
        }
        EventKind::ExecutionRewound { reason } => {
            EventType::ExecutionRewound(proto::ExecutionRewoundEvent {
                reason: Some(reason.clone()),
            })
        }
        EventKind::OrchestratorStarted => {
            EventType::OrchestratorStarted(proto::OrchestratorStartedEvent {})
        }
        EventKind::OrchestratorCompleted => {
            EventType::OrchestratorCompleted(proto::OrchestratorCompletedEvent {})
        }
        EventKind::TaskScheduled { name, input } => {
            EventType::TaskScheduled(proto::TaskScheduledEvent {
                name: name.clone(),
                input: json_to_wire(input),
                ..proto::TaskScheduledEvent::default()
            })
        }
        EventKind::TaskCompleted {
            task_scheduled_id,
            result,
        } => EventType::TaskCompleted(proto::TaskCompletedEvent {
            task_scheduled_id: i32::try_from(*task_scheduled_id).unwrap_or(-1),
            result: json_to_wire(result),
        }),
        EventKind::TaskFailed {
            task_scheduled_id,
            failure,
        } => EventType::TaskFailed(proto::TaskFailedEvent {
            task_scheduled_id: i32::try_from(*task_scheduled_id).unwrap_or(-1),
            failure_details: Some(failure_to_wire(failure)),
        }),
        EventKind::SubOrchestrationInstanceCreated {
            name,
            instance_id,
            input,
        } => EventType::SubOrchestrationInstanceCreated(
            proto::SubOrchestrationInstanceCreatedEvent {
                instance_id: instance_id.clone(),
                name: name.clone(),
                input: json_to_wire(input),
                ..proto::SubOrchestrationInstanceCreatedEvent::default()
            },
        ),
        EventKind::SubOrchestrationInstanceCompleted {
            task_scheduled_id,
            result,
        } => EventType::SubOrchestrationInstanceCompleted(
            proto::SubOrchestrationInstanceCompletedEvent {
                task_scheduled_id: i32::try_from(*task_scheduled_id).unwrap_or(-1),
                result: json_to_wire(result),
            },
        ),
        EventKind::SubOrchestrationInstanceFailed {
            task_scheduled_id,
            failure,
        } => {
            EventType::SubOrchestrationInstanceFailed(proto::SubOrchestrationInstanceFailedEvent {
                task_scheduled_id: i32::try_from(*task_scheduled_id).unwrap_or(-1),
                failure_details: Some(failure_to_wire(failure)),
            })
        }
        EventKind::TimerCreated { fire_at } => EventType::TimerCreated(proto::TimerCreatedEvent {
            fire_at: Some(timestamp(*fire_at)),
        }),
        EventKind::TimerFired { timer_id, fire_at } => {
            EventType::TimerFired(proto::TimerFiredEvent {
                fire_at: Some(timestamp(*fire_at)),
                timer_id: i32::try_from(*timer_id).unwrap_or(-1),
            })
        }
        EventKind::EventRaised { name, input } => EventType::EventRaised(proto::EventRaisedEvent {
            name: name.clone(),
            input: json_to_wire(input),
        }),
        EventKind::EventSent {
            instance_id,
            name,
            input,
        } => EventType::EventSent(proto::EventSentEvent {
            instance_id: instance_id.clone(),
            name: name.clone(),
            input: json_to_wire(input),
        }),
        EventKind::EntityOperationSignaled {
            request_id,
            target_instance_id,
            operation,
            input,
            ..
        } => EventType::EntityOperationSignaled(proto::EntityOperationSignaledEvent {
            request_id: request_id.clone(),
            operation: operation.clone(),
            input: json_to_wire(input),
            target_instance_id: Some(target_instance_id.clone()),
            ..proto::EntityOperationSignaledEvent::default()
        }),
        EventKind::EntityOperationCalled {
            request_id,
            target_instance_id,
            operation,
            input,
            caller,
            ..
        } => EventType::EntityOperationCalled(proto::EntityOperationCalledEvent {
            request_id: request_id.clone(),
            operation: operation.clone(),
            input: json_to_wire(input),
            parent_instance_id: caller.as_ref().map(|c| c.instance_id.clone()),
            parent_execution_id: caller.as_ref().map(|c| c.execution_id.clone()),
            target_instance_id: Some(target_instance_id.clone()),
            ..proto::EntityOperationCalledEvent::default()
        }),
        EventKind::EntityLockRequested {
            critical_section_id,
            lock_set,
            position,
            caller,
        } => EventType::EntityLockRequested(proto::EntityLockRequestedEvent {
            critical_section_id: critical_section_id.clone(),
            lock_set: lock_set.clone(),
            position: i32::try_from(*position).unwrap_or(i32::MAX),
            parent_instance_id: caller.as_ref().map(|c| c.instance_id.clone()),
        }),
        EventKind::EntityLockGranted {
            critical_section_id,
            ..
        } => EventType::EntityLockGranted(proto::EntityLockGrantedEvent {
            critical_section_id: critical_section_id.clone(),
        }),
        EventKind::EntityUnlockSent {
            critical_section_id,
            target_instance_id,
        } => EventType::EntityUnlockSent(proto::EntityUnlockSentEvent {
            critical_section_id: critical_section_id.clone(),
            target_instance_id: Some(target_instance_id.clone()),
            ..proto::EntityUnlockSentEvent::default()
        }),
        EventKind::EntityOperationCompleted {
            task_scheduled_id,
            result,
        } => EventType::EntityOperationCompleted(proto::EntityOperationCompletedEvent {
            request_id: entity_request_id(history, *task_scheduled_id),
            output: json_to_wire(result),
        }),
        EventKind::EntityOperationFailed {
            task_scheduled_id,
            failure,
        } => EventType::EntityOperationFailed(proto::EntityOperationFailedEvent {
            request_id: entity_request_id(history, *task_scheduled_id),
            failure_details: Some(failure_to_wire(failure)),
        }),
        EventKind::ExecutionCompleted {
            status,
            result,
            failure,
        } => EventType::ExecutionCompleted(proto::ExecutionCompletedEvent {
            orchestration_status: status_to_wire(*status) as i32,
            result: match status {
                RuntimeStatus::Failed => None,
                _ => json_to_wire(result),
            },
            failure_details: failure.as_ref().map(failure_to_wire),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind) -> HistoryEvent {
        HistoryEvent::new(chrono::Utc::now(), kind)
    }

    fn names(events: &[proto::HistoryEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e.event_type {
                Some(EventType::OrchestratorStarted(_)) => "started",
                Some(EventType::OrchestratorCompleted(_)) => "completed",
                Some(EventType::ExecutionStarted(_)) => "execution",
                Some(EventType::TaskScheduled(_)) => "scheduled",
                Some(EventType::TaskCompleted(_)) => "result",
                _ => "other",
            })
            .collect()
    }

    #[test]
    fn each_turn_begins_with_its_orchestrator_started() {
        let history = vec![
            event(EventKind::ExecutionStarted {
                name: "Py".to_owned(),
                input: Value::Null,
                execution_id: "e1".to_owned(),
                parent: None,
                scheduled_start: None,
                parent_trace_context: None,
                version: None,
            }),
            event(EventKind::OrchestratorStarted),
            event(EventKind::TaskScheduled {
                name: "A".to_owned(),
                input: Value::Null,
            }),
            event(EventKind::OrchestratorCompleted),
            event(EventKind::TaskCompleted {
                task_scheduled_id: 0,
                result: Value::from(1),
            }),
            event(EventKind::OrchestratorStarted),
            event(EventKind::OrchestratorCompleted),
        ];
        assert_eq!(
            names(&history_to_wire("i", &history)),
            [
                "started",
                "execution",
                "scheduled",
                "completed",
                "started",
                "result",
                "completed"
            ]
        );
    }
}
