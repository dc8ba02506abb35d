//! Entity work for remote workers: a batch of operations as the protocol's
//! `EntityBatchRequest`, and the worker's `EntityBatchResult` read as this host's terms.

use super::convert::{failure_from_wire, json_from_wire, json_to_wire, time_from_wire};
use super::proto;
use super::proto::operation_action::OperationActionType;
use super::proto::operation_result::ResultType;
use durable_runtime::engine::remote::{
    RemoteEntityBatch, RemoteEntityResult, RemoteSignal, RemoteStart,
};
use durable_runtime::history::FailureDetails;

/// The work item of a batch.
pub fn entity_request(batch: &RemoteEntityBatch) -> proto::EntityBatchRequest {
    proto::EntityBatchRequest {
        instance_id: batch.instance_id.clone(),
        entity_state: batch.state.as_ref().and_then(json_to_wire),
        operations: batch
            .operations
            .iter()
            .map(|operation| proto::OperationRequest {
                operation: operation.operation.clone(),
                request_id: operation.request_id.clone(),
                input: json_to_wire(&operation.input),
                trace_context: None,
            })
            .collect(),
        properties: Default::default(),
    }
}

/// What the worker did with `batch`. A batch the worker failed as a whole, or an answer
/// this host cannot read, fails every operation and leaves the state as it was.
pub fn entity_result(
    batch: &RemoteEntityBatch,
    result: proto::EntityBatchResult,
) -> RemoteEntityResult {
    let failed = |failure: FailureDetails| RemoteEntityResult {
        results: vec![Err(failure); batch.operations.len()],
        state: batch.state.clone(),
        signals: Vec::new(),
        orchestrations: Vec::new(),
    };
    if let Some(failure) = &result.failure_details {
        return failed(failure_from_wire(Some(failure)));
    }
    match read(result) {
        Ok(read) => read,
        Err(message) => failed(FailureDetails::new("InvalidWorkerResponse", message)),
    }
}

fn read(result: proto::EntityBatchResult) -> Result<RemoteEntityResult, String> {
    let json = |text: Option<&str>, what: &str| {
        json_from_wire(text, what).map_err(|status| status.message().to_owned())
    };
    let state = match result.entity_state.as_deref() {
        None => None,
        Some(text) => Some(json(Some(text), "the entity's state")?),
    };
    let results = result
        .results
        .into_iter()
        .map(|result| match result.result_type {
            Some(ResultType::Success(success)) => {
                json(success.result.as_deref(), "an operation's result")
                    .map_err(|message| FailureDetails::new("SerializationError", message))
            }
            Some(ResultType::Failure(failure)) => {
                Err(failure_from_wire(failure.failure_details.as_ref()))
            }
            None => Err(FailureDetails::new(
                "InvalidWorkerResponse",
                "the operation's result has neither a success nor a failure",
            )),
        })
        .collect();
    let mut signals = Vec::new();
    let mut orchestrations = Vec::new();
    for action in result.actions {
        match action.operation_action_type {
            Some(OperationActionType::SendSignal(signal)) => signals.push(RemoteSignal {
                input: json(signal.input.as_deref(), "a signal's input")?,
                deliver_at: time_from_wire(signal.scheduled_time.as_ref(), "a signal's time")
                    .map_err(|status| status.message().to_owned())?,
                instance_id: signal.instance_id,
                operation: signal.name,
            }),
            Some(OperationActionType::StartNewOrchestration(start)) => {
                orchestrations.push(RemoteStart {
                    input: json(start.input.as_deref(), "an orchestration's input")?,
                    scheduled_start: time_from_wire(
                        start.scheduled_time.as_ref(),
                        "an orchestration's start time",
                    )
                    .map_err(|status| status.message().to_owned())?,
                    name: start.name,
                    instance_id: start.instance_id,
                })
            }
            None => return Err(format!("entity action {} has no type", action.id)),
        }
    }
    Ok(RemoteEntityResult {
        results,
        state,
        signals,
        orchestrations,
    })
}

#[cfg(test)]
mod tests {
    use durable_runtime::engine::remote::RemoteOperation;
    use serde_json::{Value, json};

    use super::*;

    fn batch() -> RemoteEntityBatch {
        RemoteEntityBatch {
            instance_id: "@tally@a".to_owned(),
            state: Some(json!(1)),
            operations: vec![
                RemoteOperation {
                    operation: "add".to_owned(),
                    request_id: "r1".to_owned(),
                    input: json!(2),
                },
                RemoteOperation {
                    operation: "get".to_owned(),
                    request_id: "r2".to_owned(),
                    input: Value::Null,
                },
            ],
        }
    }

    fn success(result: Option<&str>) -> proto::OperationResult {
        proto::OperationResult {
            result_type: Some(ResultType::Success(proto::OperationResultSuccess {
                result: result.map(str::to_owned),
                ..proto::OperationResultSuccess::default()
            })),
        }
    }

    #[test]
    fn the_request_carries_the_state_and_the_operations_in_order() {
        let request = entity_request(&batch());
        assert_eq!(request.instance_id, "@tally@a");
        assert_eq!(request.entity_state.as_deref(), Some("1"));
        let operations: Vec<(&str, &str, Option<&str>)> = request
            .operations
            .iter()
            .map(|o| {
                (
                    o.operation.as_str(),
                    o.request_id.as_str(),
                    o.input.as_deref(),
                )
            })
            .collect();
        assert_eq!(operations, [("add", "r1", Some("2")), ("get", "r2", None)]);
    }

    #[test]
    fn results_state_and_actions_are_read() {
        let result = proto::EntityBatchResult {
            results: vec![success(None), success(Some("3"))],
            entity_state: Some("3".to_owned()),
            actions: vec![proto::OperationAction {
                id: 0,
                operation_action_type: Some(OperationActionType::SendSignal(
                    proto::SendSignalAction {
                        instance_id: "@tally@b".to_owned(),
                        name: "add".to_owned(),
                        input: Some("1".to_owned()),
                        ..proto::SendSignalAction::default()
                    },
                )),
            }],
            ..proto::EntityBatchResult::default()
        };
        let read = entity_result(&batch(), result);
        assert_eq!(read.results, vec![Ok(Value::Null), Ok(json!(3))]);
        assert_eq!(read.state, Some(json!(3)));
        assert_eq!(read.signals.len(), 1);
        assert_eq!(read.signals[0].instance_id, "@tally@b");
        assert_eq!(read.signals[0].input, json!(1));
    }

    #[test]
    fn a_failed_or_unreadable_batch_fails_every_operation_and_keeps_the_state() {
        let failed = proto::EntityBatchResult {
            failure_details: Some(proto::TaskFailureDetails {
                error_type: "Boom".to_owned(),
                error_message: "the entity broke".to_owned(),
                ..proto::TaskFailureDetails::default()
            }),
            ..proto::EntityBatchResult::default()
        };
        let read = entity_result(&batch(), failed);
        assert_eq!(read.results.len(), 2);
        assert!(read.results.iter().all(|r| r.is_err()));
        assert_eq!(read.state, Some(json!(1)));

        let unreadable = proto::EntityBatchResult {
            entity_state: Some("{not json".to_owned()),
            ..proto::EntityBatchResult::default()
        };
        let read = entity_result(&batch(), unreadable);
        assert!(read.results.iter().all(|r| {
            r.as_ref()
                .is_err_and(|f| f.error_type == "InvalidWorkerResponse")
        }));
        assert_eq!(read.state, Some(json!(1)), "the state stays");
    }
}
