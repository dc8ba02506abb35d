//! What operators do to an instance, as history: terminate, suspend and resume, rewind.
//!
//! Pure functions like the replay engine: history and requests in, the turn to commit out.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::replay::{ScheduledActivity, TurnOutput};
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::status::RuntimeStatus;
use crate::store::QueuedMessage;

/// Sub-orchestrations that were started and have not reported back.
fn open_children(history: &[HistoryEvent]) -> Vec<(i64, String)> {
    history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::SubOrchestrationInstanceCreated { instance_id, .. } => {
                let answered = history.iter().any(|e| {
                    matches!(&e.kind,
                        EventKind::SubOrchestrationInstanceCompleted { task_scheduled_id, .. }
                        | EventKind::SubOrchestrationInstanceFailed { task_scheduled_id, .. }
                        if *task_scheduled_id == event.event_id)
                });
                (!answered).then(|| (event.event_id, instance_id.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Ends an instance that was asked to terminate; with `recursive`, its running children
/// are asked too. No user code runs.
pub(crate) fn terminate(
    now: DateTime<Utc>,
    history: &[HistoryEvent],
    request: HistoryEvent,
) -> TurnOutput {
    let (reason, recursive) = match &request.kind {
        EventKind::ExecutionTerminated { reason, recursive } => (reason.clone(), *recursive),
        _ => (String::new(), false),
    };
    let mut turn = TurnOutput::finished(
        vec![
            request.clone(),
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            HistoryEvent::new(
                now,
                EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Terminated,
                    result: Value::String(reason),
                    failure: None,
                },
            ),
            HistoryEvent::new(now, EventKind::OrchestratorCompleted),
        ],
        RuntimeStatus::Terminated,
        Value::Null,
    );
    if let EventKind::ExecutionCompleted { result, .. } = &turn.appended[2].kind {
        turn.output = result.clone();
    }
    if recursive {
        for (_, child) in open_children(history) {
            turn.control.push((child, request.clone()));
        }
    }
    turn
}

/// Splits a turn's messages by suspension: while the instance is suspended only requests
/// are taken; everything else stays queued until it resumes. Returns the taken messages'
/// ids, their events in order, and whether the instance is suspended after them.
pub(crate) fn take_messages(
    suspended: bool,
    messages: Vec<QueuedMessage>,
) -> (Vec<i64>, Vec<HistoryEvent>, bool) {
    let mut suspended = suspended;
    let mut taken = Vec::new();
    let mut events = Vec::new();
    for message in messages {
        match message.event.kind {
            EventKind::ExecutionSuspended { .. } => suspended = true,
            EventKind::ExecutionResumed { .. } => suspended = false,
            _ if suspended => continue,
            _ => {}
        }
        taken.push(message.id);
        events.push(message.event);
    }
    (taken, events, suspended)
}

/// Rewinds a failed instance to just before the turn that failed it: that turn is cut from
/// history; its failed activities run again, its failed children are rewound, and its
/// other messages are queued again, so the orchestration resumes from the point of failure.
pub(crate) fn rewind(
    now: DateTime<Utc>,
    history: &[HistoryEvent],
    request: HistoryEvent,
) -> Result<TurnOutput, FailureDetails> {
    let last_started = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::OrchestratorStarted))
        .ok_or_else(|| {
            FailureDetails::new("RewindFailed", "the instance has no turns to rewind")
        })?;
    let turn_begin = history[..last_started]
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::OrchestratorCompleted))
        .map_or(0, |end| end + 1);
    // The failing turn released entity locks (the guard dropped as the code failed, or
    // the engine releasing them at the end): resuming before that turn would run the rest
    // of the critical section without the locks.
    let released_locks = history[turn_begin..]
        .iter()
        .any(|e| matches!(e.kind, EventKind::EntityUnlockSent { .. }));
    if released_locks {
        return Err(FailureDetails::new(
            "RewindFailed",
            "the failure released the entity locks of a critical section; rewinding would \
             continue the section without them (start the orchestration again instead)",
        ));
    }
    let kept = &history[..turn_begin];
    let scheduled = |id: i64| kept.iter().find(|e| e.event_id == id).map(|e| &e.kind);
    let mut turn = TurnOutput::finished(
        vec![
            request.clone(),
            HistoryEvent::new(now, EventKind::OrchestratorStarted),
            HistoryEvent::new(now, EventKind::OrchestratorCompleted),
        ],
        RuntimeStatus::Running,
        Value::Null,
    );
    turn.truncate_history_to = Some(turn_begin as u64);
    for message in &history[turn_begin..last_started] {
        match &message.kind {
            EventKind::TaskFailed {
                task_scheduled_id, ..
            } => match scheduled(*task_scheduled_id) {
                Some(EventKind::TaskScheduled { name, input }) => {
                    turn.retried_activities.push(ScheduledActivity {
                        task_id: *task_scheduled_id,
                        name: name.clone(),
                        input: input.clone(),
                    })
                }
                _ => turn.requeued.push(message.clone()),
            },
            EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id, ..
            } => match scheduled(*task_scheduled_id) {
                Some(EventKind::SubOrchestrationInstanceCreated { instance_id, .. }) => {
                    turn.control.push((instance_id.clone(), request.clone()));
                }
                _ => turn.requeued.push(message.clone()),
            },
            _ => turn.requeued.push(message.clone()),
        }
    }
    Ok(turn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_id: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id,
            timestamp: DateTime::<Utc>::UNIX_EPOCH,
            kind,
        }
    }

    fn failed_turn(released: Option<i64>) -> Vec<HistoryEvent> {
        let mut history = vec![
            event(-1, EventKind::OrchestratorStarted),
            event(-1, EventKind::OrchestratorCompleted),
            event(
                -1,
                EventKind::TaskFailed {
                    task_scheduled_id: 0,
                    failure: FailureDetails::new("Custom", "boom"),
                },
            ),
            event(-1, EventKind::OrchestratorStarted),
        ];
        if let Some(event_id) = released {
            history.push(event(
                event_id,
                EventKind::EntityUnlockSent {
                    critical_section_id: "i:0".to_owned(),
                    target_instance_id: "@account@a".to_owned(),
                },
            ));
        }
        history.extend([
            event(
                -1,
                EventKind::ExecutionCompleted {
                    status: RuntimeStatus::Failed,
                    result: Value::Null,
                    failure: Some(FailureDetails::new("Custom", "boom")),
                },
            ),
            event(-1, EventKind::OrchestratorCompleted),
        ]);
        history
    }

    fn request() -> HistoryEvent {
        event(
            -1,
            EventKind::ExecutionRewound {
                reason: String::new(),
            },
        )
    }

    #[test]
    fn a_failure_that_released_section_locks_is_not_rewound() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        for released_by in [-1, 3] {
            let refused = rewind(now, &failed_turn(Some(released_by)), request()).err();
            assert_eq!(
                refused.map(|f| f.error_type),
                Some("RewindFailed".to_owned())
            );
        }
        assert!(rewind(now, &failed_turn(None), request()).is_ok());
    }
}
