//! Values between this host's types and the protocol's: JSON payloads carried as text,
//! times, runtime statuses, failure details and errors.

use chrono::{DateTime, Utc};
use durable_runtime::history::FailureDetails;
use durable_runtime::{DurableError, RuntimeStatus};
use serde_json::Value;
use tonic::Status;

use super::proto;

/// A payload the protocol carries as JSON text: absent means null. `what` names it in
/// the error a text that is not JSON gets.
pub fn json_from_wire(text: Option<&str>, what: &str) -> Result<Value, Status> {
    match text {
        None | Some("") => Ok(Value::Null),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Status::invalid_argument(format!("{what} is not JSON: {e}"))),
    }
}

/// A payload as the protocol's JSON text: null is left out.
pub fn json_to_wire(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

/// A payload the protocol carries as JSON text, where this host keeps plain text (a
/// terminate reason): a JSON string gives its text, other JSON its own text.
pub fn text_from_wire(text: Option<&str>) -> String {
    match text {
        None => String::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(inner)) => inner,
            _ => text.to_owned(),
        },
    }
}

/// A protobuf time.
pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf time as a UTC time; `what` names it in the error an impossible one gets.
pub fn time_from_wire(
    time: Option<&prost_types::Timestamp>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, Status> {
    let Some(time) = time else {
        return Ok(None);
    };
    let nanos = u32::try_from(time.nanos)
        .map_err(|_| Status::invalid_argument(format!("{what} has negative nanoseconds")))?;
    DateTime::from_timestamp(time.seconds, nanos)
        .map(Some)
        .ok_or_else(|| Status::invalid_argument(format!("{what} is out of range")))
}

/// The protocol's status of an instance.
pub fn status_to_wire(status: RuntimeStatus) -> proto::OrchestrationStatus {
    use proto::OrchestrationStatus as Wire;
    match status {
        RuntimeStatus::Pending => Wire::Pending,
        RuntimeStatus::Running => Wire::Running,
        RuntimeStatus::Completed => Wire::Completed,
        RuntimeStatus::ContinuedAsNew => Wire::ContinuedAsNew,
        RuntimeStatus::Failed => Wire::Failed,
        RuntimeStatus::Terminated => Wire::Terminated,
        RuntimeStatus::Suspended => Wire::Suspended,
    }
}

/// This host's status for the protocol's; `Canceled`, which this host never gives, is
/// refused.
pub fn status_from_wire(value: i32) -> Result<RuntimeStatus, Status> {
    use proto::OrchestrationStatus as Wire;
    match Wire::try_from(value) {
        Ok(Wire::Pending) => Ok(RuntimeStatus::Pending),
        Ok(Wire::Running) => Ok(RuntimeStatus::Running),
        Ok(Wire::Completed) => Ok(RuntimeStatus::Completed),
        Ok(Wire::ContinuedAsNew) => Ok(RuntimeStatus::ContinuedAsNew),
        Ok(Wire::Failed) => Ok(RuntimeStatus::Failed),
        Ok(Wire::Terminated) => Ok(RuntimeStatus::Terminated),
        Ok(Wire::Suspended) => Ok(RuntimeStatus::Suspended),
        Ok(Wire::Canceled) | Err(_) => Err(Status::invalid_argument(format!(
            "orchestration status {value} is not one this host has (Running, Completed, \
             ContinuedAsNew, Failed, Terminated, Pending, Suspended)"
        ))),
    }
}

/// Statuses of a filter.
pub fn statuses_from_wire(values: &[i32]) -> Result<Vec<RuntimeStatus>, Status> {
    values
        .iter()
        .map(|&value| status_from_wire(value))
        .collect()
}

/// Failure details as the protocol's.
pub fn failure_to_wire(failure: &FailureDetails) -> proto::TaskFailureDetails {
    proto::TaskFailureDetails {
        error_type: failure.error_type.clone(),
        error_message: failure.error_message.clone(),
        stack_trace: failure.stack_trace.clone(),
        ..proto::TaskFailureDetails::default()
    }
}

/// The protocol's failure details as this host's: an inner failure becomes part of the
/// stack trace, so nothing the worker said is dropped.
pub fn failure_from_wire(failure: Option<&proto::TaskFailureDetails>) -> FailureDetails {
    let Some(failure) = failure else {
        return FailureDetails::new("Error", "the worker gave no failure details");
    };
    let mut stack_trace = failure.stack_trace.clone();
    let mut inner = failure.inner_failure.as_deref();
    while let Some(cause) = inner {
        let line = format!("caused by {}: {}", cause.error_type, cause.error_message);
        stack_trace = Some(match stack_trace {
            Some(trace) => format!("{trace}\n{line}"),
            None => line,
        });
        inner = cause.inner_failure.as_deref();
    }
    FailureDetails {
        error_type: failure.error_type.clone(),
        error_message: failure.error_message.clone(),
        stack_trace,
    }
}

/// What a client error means on the wire: the gRPC code a caller can act on, and the
/// error's message.
pub fn error_to_status(error: DurableError) -> Status {
    let message = error.to_string();
    match error {
        DurableError::InstanceNotFound(_) => Status::not_found(message),
        DurableError::InstanceAlreadyRunning(_) => Status::already_exists(message),
        DurableError::InstanceFinished(_) | DurableError::InvalidStatus(_) => {
            Status::failed_precondition(message)
        }
        DurableError::Timeout(_) => Status::deadline_exceeded(message),
        DurableError::Store(_) => Status::unavailable(message),
        DurableError::PayloadTooLarge(_) => Status::resource_exhausted(message),
        DurableError::InvalidInput(_)
        | DurableError::InvalidInstanceId(_)
        | DurableError::UnknownOrchestrator(_)
        | DurableError::UnknownEntity(_)
        | DurableError::Serialization(_) => Status::invalid_argument(message),
        _ => Status::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_json_text_and_absent_is_null() {
        assert_eq!(json_from_wire(None, "the input").ok(), Some(Value::Null));
        assert_eq!(
            json_from_wire(Some("{\"a\":1}"), "the input").ok(),
            Some(serde_json::json!({"a": 1}))
        );
        let error = json_from_wire(Some("not json"), "the input").err();
        assert!(error.is_some_and(|e| e.message().starts_with("the input is not JSON")));
        assert_eq!(json_to_wire(&Value::Null), None);
        assert_eq!(
            json_to_wire(&serde_json::json!("x")).as_deref(),
            Some("\"x\"")
        );
    }

    #[test]
    fn every_status_goes_to_the_wire_and_back() {
        for status in RuntimeStatus::ALL {
            let wire = status_to_wire(status) as i32;
            assert_eq!(status_from_wire(wire).ok(), Some(status));
        }
        assert!(status_from_wire(proto::OrchestrationStatus::Canceled as i32).is_err());
        assert!(status_from_wire(42).is_err());
    }

    #[test]
    fn inner_failures_are_kept_in_the_stack_trace() {
        let wire = proto::TaskFailureDetails {
            error_type: "ValueError".to_owned(),
            error_message: "bad".to_owned(),
            stack_trace: Some("line 1".to_owned()),
            inner_failure: Some(Box::new(proto::TaskFailureDetails {
                error_type: "KeyError".to_owned(),
                error_message: "k".to_owned(),
                ..proto::TaskFailureDetails::default()
            })),
            ..proto::TaskFailureDetails::default()
        };
        let failure = failure_from_wire(Some(&wire));
        assert_eq!(failure.error_type, "ValueError");
        assert_eq!(
            failure.stack_trace.as_deref(),
            Some("line 1\ncaused by KeyError: k")
        );
    }

    #[test]
    fn times_round_trip_to_the_nanosecond() {
        let now = Utc::now();
        let back = time_from_wire(Some(&timestamp(now)), "t").ok().flatten();
        assert_eq!(back, Some(now));
    }
}
