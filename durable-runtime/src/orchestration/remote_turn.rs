//! A turn a remote worker decided (an orchestrator of another language's SDK, which
//! replays itself): the messages it took and the actions it answered with, recorded in
//! the history's turn layout and turned into work as a Rust turn's actions are.

use std::panic::Location;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::critical_section::release_at_end;
use super::replay::{NextExecution, TurnOutput, failed_turn, record_action};
use super::state::{Action, ActionKind, ActionLimits};
use crate::engine::remote::{RemoteActionKind, RemoteDecision, RemoteOutcome};
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::status::RuntimeStatus;

/// The turn that records `decision` over `messages` at `now`. `history` is the
/// execution's recorded history, read for the entity locks a finished execution still
/// holds.
pub(crate) fn remote_turn(
    now: DateTime<Utc>,
    history: &[HistoryEvent],
    messages: Vec<HistoryEvent>,
    decision: RemoteDecision,
    limits: ActionLimits,
) -> TurnOutput {
    if decision.actions.len() > limits.per_turn {
        let failure = FailureDetails::new(
            "TooManyActions",
            format!(
                "the orchestrator scheduled {} actions in one turn; the limit is {} (maxOrchestrationActions)",
                decision.actions.len(),
                limits.per_turn
            ),
        );
        let mut turn = failed_turn(now, messages, &failure);
        release_at_end(&mut turn, history, now);
        return turn;
    }
    if let Some(failure) = oversized(&decision, limits.max_payload_bytes) {
        let mut turn = failed_turn(now, messages, &failure);
        release_at_end(&mut turn, history, now);
        return turn;
    }
    let mut turn = TurnOutput::finished(Vec::new(), RuntimeStatus::Running, Value::Null);
    turn.custom_status = decision.custom_status;
    let mut appended = messages;
    appended.push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
    let mut outcome = None;
    for action in decision.actions {
        let kind = match action.kind {
            RemoteActionKind::Complete(ended) => {
                // The first completion ends the execution; anything after it is moot.
                outcome.get_or_insert(ended);
                continue;
            }
            RemoteActionKind::TerminateInstance {
                instance_id,
                reason,
                recursive,
            } => {
                let request =
                    HistoryEvent::new(now, EventKind::ExecutionTerminated { reason, recursive });
                turn.control.push((instance_id, request));
                continue;
            }
            RemoteActionKind::CallActivity { name, input } => {
                ActionKind::CallActivity { name, input }
            }
            RemoteActionKind::CallSubOrchestrator {
                name,
                instance_id,
                input,
            } => ActionKind::CallSubOrchestrator {
                name,
                instance_id,
                input,
            },
            RemoteActionKind::CreateTimer { fire_at } => ActionKind::CreateTimer { fire_at },
            RemoteActionKind::SendEvent {
                instance_id,
                name,
                input,
            } => ActionKind::SendEvent {
                instance_id,
                name,
                input,
            },
            RemoteActionKind::SignalEntity {
                request_id,
                instance_id,
                operation,
                input,
            } => ActionKind::SignalEntity {
                request_id,
                instance_id,
                operation,
                input,
                critical_section_id: None,
            },
            RemoteActionKind::CallEntity {
                request_id,
                instance_id,
                operation,
                input,
            } => ActionKind::CallEntity {
                request_id,
                instance_id,
                operation,
                input,
                critical_section_id: None,
            },
        };
        let action = Action {
            sequence: action.id,
            kind,
            location: Location::caller(),
        };
        appended.push(record_action(&mut turn, action, now));
    }
    if let Some(ended) = outcome {
        let (status, result, failure) = match ended {
            RemoteOutcome::Completed(output) => {
                turn.output = output.clone();
                (RuntimeStatus::Completed, output, None)
            }
            RemoteOutcome::Failed(failure) => {
                turn.output = serde_json::to_value(&failure).unwrap_or(Value::Null);
                (RuntimeStatus::Failed, Value::Null, Some(failure))
            }
            RemoteOutcome::ContinuedAsNew {
                input,
                carried_events,
            } => {
                turn.continue_as_new = Some(NextExecution {
                    input: input.clone(),
                    carried_events,
                });
                (RuntimeStatus::ContinuedAsNew, input, None)
            }
        };
        turn.status = status;
        appended.push(HistoryEvent::new(
            now,
            EventKind::ExecutionCompleted {
                status,
                result,
                failure,
            },
        ));
    }
    appended.push(HistoryEvent::new(now, EventKind::OrchestratorCompleted));
    turn.appended = appended;
    if turn.status != RuntimeStatus::Running {
        // The execution ended: locks it still holds, or asked for, are released.
        release_at_end(&mut turn, history, now);
    }
    turn
}

/// The failure of a turn that sends a payload over the limit: its custom status, an
/// action's input, its output or its next execution's input. Nothing of it is kept.
fn oversized(decision: &RemoteDecision, limit: usize) -> Option<FailureDetails> {
    let over = |what: String, value: &Value| {
        crate::payload_limit::over_limit(value, limit)
            .map(|size| crate::payload_limit::failure(&what, size, limit))
    };
    if let Some(failure) = over("the custom status".to_owned(), &decision.custom_status) {
        return Some(failure);
    }
    decision.actions.iter().find_map(|action| {
        let id = action.id;
        match &action.kind {
            RemoteActionKind::CallActivity { name, input } => over(
                format!("the input of activity `{name}` (action {id})"),
                input,
            ),
            RemoteActionKind::CallSubOrchestrator { name, input, .. } => over(
                format!("the input of sub-orchestration `{name}` (action {id})"),
                input,
            ),
            RemoteActionKind::SendEvent { name, input, .. } => {
                over(format!("the data of event `{name}` (action {id})"), input)
            }
            RemoteActionKind::SignalEntity {
                operation, input, ..
            }
            | RemoteActionKind::CallEntity {
                operation, input, ..
            } => over(
                format!("the input of entity operation `{operation}` (action {id})"),
                input,
            ),
            RemoteActionKind::Complete(RemoteOutcome::Completed(output)) => {
                over("the output".to_owned(), output)
            }
            RemoteActionKind::Complete(RemoteOutcome::ContinuedAsNew { input, .. }) => {
                over("the continue-as-new input".to_owned(), input)
            }
            RemoteActionKind::Complete(RemoteOutcome::Failed(_))
            | RemoteActionKind::CreateTimer { .. }
            | RemoteActionKind::TerminateInstance { .. } => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::remote::RemoteAction;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    fn started() -> HistoryEvent {
        HistoryEvent::new(
            at(0),
            EventKind::ExecutionStarted {
                name: "Py".to_owned(),
                input: Value::Null,
                execution_id: "e1".to_owned(),
                parent: None,
                scheduled_start: None,
                parent_trace_context: None,
                version: None,
            },
        )
    }

    #[test]
    fn actions_are_recorded_with_their_ids_and_become_work() {
        let decision = RemoteDecision {
            actions: vec![
                RemoteAction {
                    id: 0,
                    kind: RemoteActionKind::CallActivity {
                        name: "SayHello".to_owned(),
                        input: Value::from("Tokyo"),
                    },
                },
                RemoteAction {
                    id: 1,
                    kind: RemoteActionKind::CreateTimer { fire_at: at(60) },
                },
            ],
            custom_status: Value::from("working"),
        };
        let turn = remote_turn(
            at(1),
            &[],
            vec![started()],
            decision,
            ActionLimits::default(),
        );
        let kinds: Vec<&str> = turn.appended.iter().map(|e| e.kind.type_name()).collect();
        assert_eq!(
            kinds,
            [
                "ExecutionStarted",
                "OrchestratorStarted",
                "TaskScheduled",
                "TimerCreated",
                "OrchestratorCompleted"
            ]
        );
        assert_eq!(turn.appended[2].event_id, 0);
        assert_eq!(turn.appended[3].event_id, 1);
        assert_eq!(turn.activities.len(), 1);
        assert_eq!(turn.activities[0].task_id, 0);
        assert_eq!(turn.timers, vec![(1, at(60))]);
        assert_eq!(turn.status, RuntimeStatus::Running);
        assert_eq!(turn.custom_status, Value::from("working"));
    }

    #[test]
    fn a_completion_ends_the_execution_with_its_output() {
        let decision = RemoteDecision {
            actions: vec![RemoteAction {
                id: 3,
                kind: RemoteActionKind::Complete(RemoteOutcome::Completed(Value::from(7))),
            }],
            custom_status: Value::Null,
        };
        let turn = remote_turn(at(1), &[], Vec::new(), decision, ActionLimits::default());
        assert_eq!(turn.status, RuntimeStatus::Completed);
        assert_eq!(turn.output, Value::from(7));
        let completed = turn
            .appended
            .iter()
            .find(|e| e.kind.type_name() == "ExecutionCompleted");
        assert!(completed.is_some());
        assert_eq!(
            turn.appended.last().map(|e| e.kind.type_name()),
            Some("OrchestratorCompleted")
        );
    }

    #[test]
    fn a_failure_keeps_its_details_as_the_output() {
        let failure = FailureDetails::new("ValueError", "bad city");
        let decision = RemoteDecision {
            actions: vec![RemoteAction {
                id: 0,
                kind: RemoteActionKind::Complete(RemoteOutcome::Failed(failure.clone())),
            }],
            custom_status: Value::Null,
        };
        let turn = remote_turn(at(1), &[], Vec::new(), decision, ActionLimits::default());
        assert_eq!(turn.status, RuntimeStatus::Failed);
        assert_eq!(turn.output["ErrorMessage"], "bad city");
    }

    #[test]
    fn too_many_actions_fail_the_orchestration() {
        let actions = (0..3)
            .map(|id| RemoteAction {
                id,
                kind: RemoteActionKind::CreateTimer { fire_at: at(60) },
            })
            .collect();
        let limits = ActionLimits {
            per_turn: 2,
            ..ActionLimits::default()
        };
        let decision = RemoteDecision {
            actions,
            custom_status: Value::Null,
        };
        let turn = remote_turn(at(1), &[], Vec::new(), decision, limits);
        assert_eq!(turn.status, RuntimeStatus::Failed);
        assert!(turn.timers.is_empty());
    }

    #[test]
    fn a_payload_over_the_limit_fails_the_orchestration_and_schedules_nothing() {
        let limits = ActionLimits {
            max_payload_bytes: 16,
            ..ActionLimits::default()
        };
        let call = |input: &str| RemoteAction {
            id: 0,
            kind: RemoteActionKind::CallActivity {
                name: "SayHello".to_owned(),
                input: Value::from(input),
            },
        };
        let decision = RemoteDecision {
            actions: vec![call("a city name well over sixteen bytes")],
            custom_status: Value::Null,
        };
        let turn = remote_turn(at(1), &[], Vec::new(), decision, limits);
        assert_eq!(turn.status, RuntimeStatus::Failed);
        assert!(turn.activities.is_empty());
        assert_eq!(turn.output["ErrorType"], "PayloadTooLarge");
        assert!(
            turn.output["ErrorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("activity `SayHello`"))
        );

        let status = RemoteDecision {
            actions: vec![call("Tokyo")],
            custom_status: Value::from("a custom status over the limit"),
        };
        let turn = remote_turn(at(1), &[], Vec::new(), status, limits);
        assert_eq!(turn.status, RuntimeStatus::Failed);
        assert!(turn.activities.is_empty());

        let within = RemoteDecision {
            actions: vec![call("Tokyo")],
            custom_status: Value::Null,
        };
        let turn = remote_turn(at(1), &[], Vec::new(), within, limits);
        assert_eq!(turn.status, RuntimeStatus::Running);
        assert_eq!(turn.activities.len(), 1);
    }
}
