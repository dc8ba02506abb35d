//! Instance statuses and the status payload of the Durable Functions HTTP API.
//!
//! [`OrchestrationStatus`] is a wire format: its field names are the ones Durable Functions
//! clients read (`runtimeStatus`, `historyEvents`, ...).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::history::{EventKind, HistoryEvent};

/// The runtime status of an orchestration instance, named as in Durable Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Created, not yet started by a worker.
    Pending,
    /// Started and not finished.
    Running,
    /// Finished with an output.
    Completed,
    /// Restarted itself with `continue_as_new`; the next execution is about to run.
    ContinuedAsNew,
    /// Finished with an unhandled error.
    Failed,
    /// Stopped by a terminate request.
    Terminated,
    /// Paused by a suspend request.
    Suspended,
}

impl RuntimeStatus {
    /// Every status, in the order of the enum.
    pub const ALL: [RuntimeStatus; 7] = [
        RuntimeStatus::Pending,
        RuntimeStatus::Running,
        RuntimeStatus::Completed,
        RuntimeStatus::ContinuedAsNew,
        RuntimeStatus::Failed,
        RuntimeStatus::Terminated,
        RuntimeStatus::Suspended,
    ];

    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Pending => "Pending",
            RuntimeStatus::Running => "Running",
            RuntimeStatus::Completed => "Completed",
            RuntimeStatus::ContinuedAsNew => "ContinuedAsNew",
            RuntimeStatus::Failed => "Failed",
            RuntimeStatus::Terminated => "Terminated",
            RuntimeStatus::Suspended => "Suspended",
        }
    }

    /// Completed, Failed or Terminated: nothing more will happen to this execution.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RuntimeStatus::Completed | RuntimeStatus::Failed | RuntimeStatus::Terminated
        )
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuntimeStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuntimeStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown runtime status `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

/// The status of one instance, as the `GET /instances/{id}` route returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestrationStatus {
    /// The orchestrator's name.
    pub name: String,
    /// The instance id.
    pub instance_id: String,
    /// Where the instance stands.
    pub runtime_status: RuntimeStatus,
    /// The input (null when not asked for).
    pub input: Value,
    /// The custom status the orchestrator set.
    pub custom_status: Value,
    /// The output when finished (a failure's details when it failed).
    pub output: Value,
    /// When the instance was created.
    #[serde(with = "wire_time")]
    pub created_time: DateTime<Utc>,
    /// When the instance last changed.
    #[serde(with = "wire_time")]
    pub last_updated_time: DateTime<Utc>,
    /// The history, when asked for (`showHistory=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_events: Option<Vec<Value>>,
}

/// Timestamps on the wire: RFC 3339, UTC, whole seconds, as Durable Functions writes them.
pub(crate) mod wire_time {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

fn wire_timestamp(t: &DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Renders a history as the `historyEvents` array of the Durable Functions status payload:
/// `EventType`, `Timestamp`, and per event `FunctionName`, `Input`, `Result`, `ScheduledTime`,
/// `OrchestrationStatus`, `FailureDetails`. Outputs and results are left out unless
/// `show_output` is set, as with `showHistoryOutput`.
pub fn history_to_wire(history: &[HistoryEvent], show_output: bool) -> Vec<Value> {
    let scheduled = |id: i64| {
        history.iter().find_map(|e| match &e.kind {
            EventKind::TaskScheduled { name, .. }
            | EventKind::SubOrchestrationInstanceCreated { name, .. }
                if e.event_id == id =>
            {
                Some((name, e.timestamp))
            }
            _ => None,
        })
    };
    history
        .iter()
        .map(|event| {
            let mut obj = Map::new();
            obj.insert("EventType".into(), event.kind.type_name().into());
            if event.event_id >= 0 {
                obj.insert("EventId".into(), event.event_id.into());
            }
            obj.insert("Timestamp".into(), wire_timestamp(&event.timestamp));
            match &event.kind {
                EventKind::ExecutionStarted {
                    name,
                    input,
                    scheduled_start,
                    ..
                } => {
                    obj.insert("FunctionName".into(), name.clone().into());
                    obj.insert("Input".into(), input.clone());
                    if let Some(at) = scheduled_start {
                        obj.insert("ScheduledStartTime".into(), wire_timestamp(at));
                    }
                }
                EventKind::TaskScheduled { name, input } => {
                    obj.insert("FunctionName".into(), name.clone().into());
                    if show_output {
                        obj.insert("Input".into(), input.clone());
                    }
                }
                EventKind::SubOrchestrationInstanceCreated {
                    name,
                    instance_id,
                    input,
                } => {
                    obj.insert("FunctionName".into(), name.clone().into());
                    obj.insert("InstanceId".into(), instance_id.clone().into());
                    if show_output {
                        obj.insert("Input".into(), input.clone());
                    }
                }
                EventKind::TimerCreated { fire_at } => {
                    obj.insert("FireAt".into(), wire_timestamp(fire_at));
                }
                EventKind::TimerFired { timer_id, fire_at } => {
                    obj.insert("TimerId".into(), (*timer_id).into());
                    obj.insert("FireAt".into(), wire_timestamp(fire_at));
                }
                EventKind::EventRaised { name, input } => {
                    obj.insert("Name".into(), name.clone().into());
                    if show_output {
                        obj.insert("Input".into(), input.clone());
                    }
                }
                EventKind::EventSent {
                    instance_id,
                    name,
                    input,
                } => {
                    obj.insert("Name".into(), name.clone().into());
                    obj.insert("InstanceId".into(), instance_id.clone().into());
                    if show_output {
                        obj.insert("Input".into(), input.clone());
                    }
                }
                EventKind::EntityOperationSignaled {
                    target_instance_id,
                    operation,
                    input,
                    ..
                }
                | EventKind::EntityOperationCalled {
                    target_instance_id,
                    operation,
                    input,
                    ..
                } => {
                    obj.insert("Name".into(), operation.clone().into());
                    obj.insert("InstanceId".into(), target_instance_id.clone().into());
                    if show_output {
                        obj.insert("Input".into(), input.clone());
                    }
                }
                EventKind::EntityLockRequested { lock_set, .. } => {
                    obj.insert("LockSet".into(), lock_set.clone().into());
                }
                EventKind::EntityLockGranted {
                    task_scheduled_id, ..
                } => {
                    obj.insert("TaskScheduledId".into(), (*task_scheduled_id).into());
                }
                EventKind::EntityUnlockSent {
                    target_instance_id, ..
                } => {
                    obj.insert("InstanceId".into(), target_instance_id.clone().into());
                }
                EventKind::TaskCompleted {
                    task_scheduled_id,
                    result,
                }
                | EventKind::EntityOperationCompleted {
                    task_scheduled_id,
                    result,
                }
                | EventKind::SubOrchestrationInstanceCompleted {
                    task_scheduled_id,
                    result,
                } => {
                    obj.insert("TaskScheduledId".into(), (*task_scheduled_id).into());
                    if let Some((name, at)) = scheduled(*task_scheduled_id) {
                        obj.insert("FunctionName".into(), name.clone().into());
                        obj.insert("ScheduledTime".into(), wire_timestamp(&at));
                    }
                    if show_output {
                        obj.insert("Result".into(), result.clone());
                    }
                }
                EventKind::TaskFailed {
                    task_scheduled_id,
                    failure,
                }
                | EventKind::EntityOperationFailed {
                    task_scheduled_id,
                    failure,
                }
                | EventKind::SubOrchestrationInstanceFailed {
                    task_scheduled_id,
                    failure,
                } => {
                    obj.insert("TaskScheduledId".into(), (*task_scheduled_id).into());
                    if let Some((name, at)) = scheduled(*task_scheduled_id) {
                        obj.insert("FunctionName".into(), name.clone().into());
                        obj.insert("ScheduledTime".into(), wire_timestamp(&at));
                    }
                    obj.insert("Reason".into(), failure.error_message.clone().into());
                    obj.insert(
                        "FailureDetails".into(),
                        serde_json::to_value(failure).unwrap_or(Value::Null),
                    );
                }
                EventKind::ExecutionCompleted {
                    status,
                    result,
                    failure,
                } => {
                    obj.insert("OrchestrationStatus".into(), status.as_str().into());
                    if show_output {
                        obj.insert("Result".into(), result.clone());
                    }
                    if let Some(failure) = failure {
                        obj.insert(
                            "FailureDetails".into(),
                            serde_json::to_value(failure).unwrap_or(Value::Null),
                        );
                    }
                }
                EventKind::ExecutionTerminated { reason, .. }
                | EventKind::ExecutionSuspended { reason }
                | EventKind::ExecutionResumed { reason }
                | EventKind::ExecutionRewound { reason } => {
                    obj.insert("Reason".into(), reason.clone().into());
                }
                EventKind::OrchestratorStarted | EventKind::OrchestratorCompleted => {}
            }
            Value::Object(obj)
        })
        .collect()
}
