//! What remote workers answer, read as this host's terms: an orchestrator's actions as a
//! [`RemoteDecision`], an activity's result as an outcome; and the activity work item.

use durable_runtime::engine::registry::InvocationResult;
use durable_runtime::engine::remote::{
    RemoteAction, RemoteActionKind, RemoteActivity, RemoteDecision, RemoteOutcome,
};
use durable_runtime::history::{EventKind, FailureDetails, HistoryEvent};
use serde_json::Value;

use super::convert::{failure_from_wire, json_from_wire, text_from_wire, time_from_wire};
use super::proto;
use super::proto::orchestrator_action::OrchestratorActionType;

/// The activity work item of a remote call.
pub fn activity_request(call: &RemoteActivity) -> proto::ActivityRequest {
    proto::ActivityRequest {
        name: call.name.clone(),
        input: super::convert::json_to_wire(&call.input),
        orchestration_instance: Some(proto::OrchestrationInstance {
            instance_id: call.instance_id.clone(),
            execution_id: Some(call.execution_id.clone()),
        }),
        task_id: i32::try_from(call.task_id).unwrap_or(i32::MAX),
        ..proto::ActivityRequest::default()
    }
}

/// An activity's answer: its result (JSON text) or its failure.
pub fn activity_outcome(response: &proto::ActivityResponse) -> InvocationResult {
    if let Some(failure) = &response.failure_details {
        return Err(failure_from_wire(Some(failure)));
    }
    json_from_wire(response.result.as_deref(), "the activity's result")
        .map_err(|status| FailureDetails::new("SerializationError", status.message().to_owned()))
}

/// An orchestrator's answer to a turn of `instance_id`. An answer this host cannot read
/// fails the orchestration, naming what was wrong: running the turn again would give the
/// same answer.
pub fn decision(instance_id: &str, response: proto::OrchestratorResponse) -> RemoteDecision {
    let custom_status = match response.custom_status.as_deref() {
        None | Some("") => Value::Null,
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::from(text)),
    };
    let mut actions = Vec::with_capacity(response.actions.len());
    for action in response.actions {
        let id = i64::from(action.id);
        match action_kind(instance_id, id, action.orchestrator_action_type) {
            Ok(kind) => actions.push(RemoteAction { id, kind }),
            Err(message) => {
                let failure = FailureDetails::new("InvalidWorkerResponse", message);
                actions.push(RemoteAction {
                    id,
                    kind: RemoteActionKind::Complete(RemoteOutcome::Failed(failure)),
                });
                break;
            }
        }
    }
    RemoteDecision {
        actions,
        custom_status,
    }
}

fn json(text: Option<&str>, what: &str) -> Result<Value, String> {
    json_from_wire(text, what).map_err(|status| status.message().to_owned())
}

fn action_kind(
    instance_id: &str,
    id: i64,
    action: Option<OrchestratorActionType>,
) -> Result<RemoteActionKind, String> {
    use proto::send_entity_message_action::EntityMessageType;
    Ok(match action {
        None => return Err(format!("action {id} has no type")),
        Some(OrchestratorActionType::ScheduleTask(task)) => RemoteActionKind::CallActivity {
            input: json(task.input.as_deref(), "an activity's input")?,
            name: task.name,
        },
        Some(OrchestratorActionType::CreateSubOrchestration(child)) => {
            let instance_id = if child.instance_id.is_empty() {
                format!("{instance_id}:{id:04}")
            } else {
                child.instance_id
            };
            RemoteActionKind::CallSubOrchestrator {
                input: json(child.input.as_deref(), "a sub-orchestration's input")?,
                name: child.name,
                instance_id,
            }
        }
        Some(OrchestratorActionType::CreateTimer(timer)) => RemoteActionKind::CreateTimer {
            fire_at: time_from_wire(timer.fire_at.as_ref(), "a timer's fireAt")
                .map_err(|status| status.message().to_owned())?
                .ok_or_else(|| format!("timer {id} has no fireAt"))?,
        },
        Some(OrchestratorActionType::SendEvent(event)) => RemoteActionKind::SendEvent {
            instance_id: event
                .instance
                .map(|instance| instance.instance_id)
                .filter(|id| !id.is_empty())
                .ok_or_else(|| format!("event {id} names no instance"))?,
            input: json(event.data.as_deref(), "an event's data")?,
            name: event.name,
        },
        Some(OrchestratorActionType::TerminateOrchestration(terminate)) => {
            RemoteActionKind::TerminateInstance {
                instance_id: terminate.instance_id,
                reason: text_from_wire(terminate.reason.as_deref()),
                recursive: terminate.recurse,
            }
        }
        Some(OrchestratorActionType::CompleteOrchestration(complete)) => {
            RemoteActionKind::Complete(outcome(complete)?)
        }
        Some(OrchestratorActionType::SendEntityMessage(message)) => match message
            .entity_message_type
        {
            Some(EntityMessageType::EntityOperationSignaled(signal)) => {
                RemoteActionKind::SignalEntity {
                    instance_id: signal
                        .target_instance_id
                        .ok_or_else(|| format!("entity signal {id} names no entity"))?,
                    input: json(signal.input.as_deref(), "an entity operation's input")?,
                    request_id: signal.request_id,
                    operation: signal.operation,
                }
            }
            Some(EntityMessageType::EntityOperationCalled(call)) => RemoteActionKind::CallEntity {
                instance_id: call
                    .target_instance_id
                    .ok_or_else(|| format!("entity call {id} names no entity"))?,
                input: json(call.input.as_deref(), "an entity operation's input")?,
                request_id: call.request_id,
                operation: call.operation,
            },
            Some(_) => {
                return Err(format!(
                    "action {id}: entity locks (critical sections) from remote orchestrators are not supported by this host"
                ));
            }
            None => return Err(format!("entity message {id} has no type")),
        },
    })
}

fn outcome(complete: proto::CompleteOrchestrationAction) -> Result<RemoteOutcome, String> {
    use proto::OrchestrationStatus as Wire;
    match Wire::try_from(complete.orchestration_status) {
        Ok(Wire::Completed) => Ok(RemoteOutcome::Completed(json(
            complete.result.as_deref(),
            "the orchestration's output",
        )?)),
        Ok(Wire::Failed) => Ok(RemoteOutcome::Failed(failure_from_wire(
            complete.failure_details.as_ref(),
        ))),
        Ok(Wire::ContinuedAsNew) => {
            let carried_events = complete
                .carryover_events
                .into_iter()
                .filter_map(carried_event)
                .collect::<Result<Vec<_>, String>>()?;
            Ok(RemoteOutcome::ContinuedAsNew {
                input: json(complete.result.as_deref(), "the next execution's input")?,
                carried_events,
            })
        }
        _ => Err(format!(
            "an orchestration cannot end itself with status {}",
            complete.orchestration_status
        )),
    }
}

/// An event carried over to the next execution: external events only.
fn carried_event(event: proto::HistoryEvent) -> Option<Result<HistoryEvent, String>> {
    let Some(proto::history_event::EventType::EventRaised(raised)) = event.event_type else {
        return None;
    };
    let at = event
        .timestamp
        .as_ref()
        .and_then(|t| {
            time_from_wire(Some(t), "an event's timestamp")
                .ok()
                .flatten()
        })
        .unwrap_or_else(chrono::Utc::now);
    Some(
        json(raised.input.as_deref(), "a carried event's data").map(|input| {
            HistoryEvent::new(
                at,
                EventKind::EventRaised {
                    name: raised.name,
                    input,
                },
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: i32, kind: OrchestratorActionType) -> proto::OrchestratorAction {
        proto::OrchestratorAction {
            id,
            orchestrator_action_type: Some(kind),
        }
    }

    #[test]
    fn actions_are_read_with_their_ids() {
        let response = proto::OrchestratorResponse {
            actions: vec![
                action(
                    0,
                    OrchestratorActionType::ScheduleTask(proto::ScheduleTaskAction {
                        name: "SayHello".to_owned(),
                        input: Some("\"Tokyo\"".to_owned()),
                        ..proto::ScheduleTaskAction::default()
                    }),
                ),
                action(
                    1,
                    OrchestratorActionType::CompleteOrchestration(
                        proto::CompleteOrchestrationAction {
                            orchestration_status: proto::OrchestrationStatus::Completed as i32,
                            result: Some("[1,2]".to_owned()),
                            ..proto::CompleteOrchestrationAction::default()
                        },
                    ),
                ),
            ],
            custom_status: Some("{\"step\":1}".to_owned()),
            ..proto::OrchestratorResponse::default()
        };
        let decision = decision("i", response);
        assert_eq!(decision.custom_status, serde_json::json!({"step": 1}));
        assert_eq!(
            decision.actions,
            vec![
                RemoteAction {
                    id: 0,
                    kind: RemoteActionKind::CallActivity {
                        name: "SayHello".to_owned(),
                        input: Value::from("Tokyo"),
                    },
                },
                RemoteAction {
                    id: 1,
                    kind: RemoteActionKind::Complete(RemoteOutcome::Completed(serde_json::json!(
                        [1, 2]
                    ))),
                },
            ]
        );
    }

    #[test]
    fn an_unreadable_action_fails_the_orchestration() {
        let response = proto::OrchestratorResponse {
            actions: vec![action(
                4,
                OrchestratorActionType::ScheduleTask(proto::ScheduleTaskAction {
                    name: "A".to_owned(),
                    input: Some("not json".to_owned()),
                    ..proto::ScheduleTaskAction::default()
                }),
            )],
            ..proto::OrchestratorResponse::default()
        };
        let decision = decision("i", response);
        match &decision.actions[..] {
            [
                RemoteAction {
                    kind: RemoteActionKind::Complete(RemoteOutcome::Failed(failure)),
                    ..
                },
            ] => {
                assert_eq!(failure.error_type, "InvalidWorkerResponse");
                assert!(failure.error_message.contains("not JSON"));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn an_activity_failure_is_its_outcome() {
        let response = proto::ActivityResponse {
            failure_details: Some(proto::TaskFailureDetails {
                error_type: "ValueError".to_owned(),
                error_message: "bad".to_owned(),
                ..proto::TaskFailureDetails::default()
            }),
            ..proto::ActivityResponse::default()
        };
        let outcome = activity_outcome(&response);
        assert!(outcome.is_err_and(|f| f.error_message == "bad"));
        let ok = proto::ActivityResponse {
            result: Some("\"Hello\"".to_owned()),
            ..proto::ActivityResponse::default()
        };
        assert_eq!(activity_outcome(&ok).ok(), Some(Value::from("Hello")));
    }
}
