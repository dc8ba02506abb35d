//! History events as the management API shows them (`historyEvents` with `showHistory`),
//! in the Durable Functions shape: `EventType`, `Timestamp`, and per event `FunctionName`,
//! `Input`, `Result`, `ScheduledTime`, `OrchestrationStatus`, `FailureDetails`, ...

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::status::RuntimeStatus;

/// One history event on the wire. Fields an event does not have are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEventWire {
    /// The Durable Task Framework name of the event type (`TaskScheduled`, ...).
    #[serde(rename = "EventType")]
    pub event_type: String,
    /// The sequence number of a scheduled call (its `TaskScheduled` id).
    #[serde(rename = "EventId", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// When the event happened.
    #[serde(rename = "Timestamp", with = "super::time::millis")]
    pub timestamp: DateTime<Utc>,
    /// The called or started function.
    #[serde(
        rename = "FunctionName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub function_name: Option<String>,
    /// The event or entity operation's name.
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The other instance (a child, an event's target, an entity).
    #[serde(
        rename = "InstanceId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_id: Option<String>,
    /// The input (inputs of calls and events only with `showHistoryOutput`).
    #[serde(
        rename = "Input",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Value>,
    /// The result (only with `showHistoryOutput`).
    #[serde(
        rename = "Result",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<Value>,
    /// When the call this event answers was scheduled.
    #[serde(
        rename = "ScheduledTime",
        default,
        with = "super::time::optional_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_time: Option<DateTime<Utc>>,
    /// When a scheduled start begins.
    #[serde(
        rename = "ScheduledStartTime",
        default,
        with = "super::time::optional_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduled_start_time: Option<DateTime<Utc>>,
    /// The orchestration version an execution started with.
    #[serde(rename = "Version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When a timer fires.
    #[serde(
        rename = "FireAt",
        default,
        with = "super::time::optional_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub fire_at: Option<DateTime<Utc>>,
    /// The timer that fired.
    #[serde(rename = "TimerId", default, skip_serializing_if = "Option::is_none")]
    pub timer_id: Option<i64>,
    /// The call this event answers.
    #[serde(
        rename = "TaskScheduledId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub task_scheduled_id: Option<i64>,
    /// The entities a critical section locks.
    #[serde(rename = "LockSet", default, skip_serializing_if = "Option::is_none")]
    pub lock_set: Option<Vec<String>>,
    /// How the execution ended.
    #[serde(
        rename = "OrchestrationStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub orchestration_status: Option<RuntimeStatus>,
    /// The reason given with a request, or a failure's message.
    #[serde(rename = "Reason", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What failed.
    #[serde(
        rename = "FailureDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub failure_details: Option<FailureDetails>,
}

/// Reads a field that is present, null included, as `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl HistoryEventWire {
    /// An event of `kind` at `timestamp` with no other fields.
    fn bare(event: &HistoryEvent) -> Self {
        HistoryEventWire {
            event_type: event.kind.type_name().to_owned(),
            event_id: (event.event_id >= 0).then_some(event.event_id),
            timestamp: event.timestamp,
            function_name: None,
            name: None,
            instance_id: None,
            input: None,
            result: None,
            scheduled_time: None,
            scheduled_start_time: None,
            version: None,
            fire_at: None,
            timer_id: None,
            task_scheduled_id: None,
            lock_set: None,
            orchestration_status: None,
            reason: None,
            failure_details: None,
        }
    }
}

/// A history as the `historyEvents` array of the status payload. Inputs of calls and
/// events and results are left out unless `show_output` is set, as with
/// `showHistoryOutput`; an answer names the function it answers and when it was called.
pub fn history_to_wire(history: &[HistoryEvent], show_output: bool) -> Vec<HistoryEventWire> {
    let scheduled = |id: i64| {
        history.iter().find_map(|e| match &e.kind {
            EventKind::TaskScheduled { name, .. }
            | EventKind::SubOrchestrationInstanceCreated { name, .. }
                if e.event_id == id =>
            {
                Some((name.clone(), e.timestamp))
            }
            _ => None,
        })
    };
    let shown = |value: &Value| show_output.then(|| value.clone());
    history
        .iter()
        .map(|event| {
            let mut wire = HistoryEventWire::bare(event);
            let answers = |task_scheduled_id: i64, wire: &mut HistoryEventWire| {
                wire.task_scheduled_id = Some(task_scheduled_id);
                if let Some((name, at)) = scheduled(task_scheduled_id) {
                    wire.function_name = Some(name);
                    wire.scheduled_time = Some(at);
                }
            };
            match &event.kind {
                EventKind::ExecutionStarted {
                    name,
                    input,
                    scheduled_start,
                    version,
                    ..
                } => {
                    wire.function_name = Some(name.clone());
                    wire.input = Some(input.clone());
                    wire.scheduled_start_time = *scheduled_start;
                    wire.version = version.clone();
                }
                EventKind::TaskScheduled { name, input } => {
                    wire.function_name = Some(name.clone());
                    wire.input = shown(input);
                }
                EventKind::SubOrchestrationInstanceCreated {
                    name,
                    instance_id,
                    input,
                } => {
                    wire.function_name = Some(name.clone());
                    wire.instance_id = Some(instance_id.clone());
                    wire.input = shown(input);
                }
                EventKind::TimerCreated { fire_at } => wire.fire_at = Some(*fire_at),
                EventKind::TimerFired { timer_id, fire_at } => {
                    wire.timer_id = Some(*timer_id);
                    wire.fire_at = Some(*fire_at);
                }
                EventKind::EventRaised { name, input } => {
                    wire.name = Some(name.clone());
                    wire.input = shown(input);
                }
                EventKind::EventSent {
                    instance_id,
                    name,
                    input,
                } => {
                    wire.name = Some(name.clone());
                    wire.instance_id = Some(instance_id.clone());
                    wire.input = shown(input);
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
                    wire.name = Some(operation.clone());
                    wire.instance_id = Some(target_instance_id.clone());
                    wire.input = shown(input);
                }
                EventKind::EntityLockRequested { lock_set, .. } => {
                    wire.lock_set = Some(lock_set.clone());
                }
                EventKind::EntityLockGranted {
                    task_scheduled_id, ..
                } => wire.task_scheduled_id = Some(*task_scheduled_id),
                EventKind::EntityUnlockSent {
                    target_instance_id, ..
                } => wire.instance_id = Some(target_instance_id.clone()),
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
                    answers(*task_scheduled_id, &mut wire);
                    wire.result = shown(result);
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
                    answers(*task_scheduled_id, &mut wire);
                    wire.reason = Some(failure.error_message.clone());
                    wire.failure_details = Some(failure.clone());
                }
                EventKind::ExecutionCompleted {
                    status,
                    result,
                    failure,
                } => {
                    wire.orchestration_status = Some(*status);
                    wire.result = shown(result);
                    wire.failure_details = failure.clone();
                }
                EventKind::ExecutionTerminated { reason, .. }
                | EventKind::ExecutionSuspended { reason }
                | EventKind::ExecutionResumed { reason }
                | EventKind::ExecutionRewound { reason } => wire.reason = Some(reason.clone()),
                EventKind::OrchestratorStarted | EventKind::OrchestratorCompleted => {}
            }
            wire
        })
        .collect()
}

/// Reads a history back from its wire form (`history --json`, or `historyEvents` with
/// `showHistory=true&showHistoryOutput=true`) into the events replay reads. What the wire
/// leaves out and replay does not read is filled in empty: execution ids, request and
/// critical-section ids, the parent. Refused, naming the event: an unknown `EventType`,
/// and a field replay needs that is missing (results and inputs, when the history was
/// exported without `showHistoryOutput`).
pub fn history_from_wire(events: &[HistoryEventWire]) -> Result<Vec<HistoryEvent>, String> {
    events
        .iter()
        .enumerate()
        .map(|(position, wire)| {
            event_from_wire(wire).map_err(|missing| {
                format!(
                    "event {position} ({}) has no {missing}; export the history with its \
                     inputs and results (`history --json`, or showHistoryOutput=true)",
                    wire.event_type
                )
            })
        })
        .collect()
}

/// One event from its wire form; `Err` names the missing field.
fn event_from_wire(wire: &HistoryEventWire) -> Result<HistoryEvent, &'static str> {
    let text = |value: &Option<String>, field: &'static str| value.clone().ok_or(field);
    let value = |value: &Option<Value>, field: &'static str| value.clone().ok_or(field);
    let answered = || wire.task_scheduled_id.ok_or("TaskScheduledId");
    let failure = || wire.failure_details.clone().ok_or("FailureDetails");
    let reason = || wire.reason.clone().unwrap_or_default();
    let kind = match wire.event_type.as_str() {
        "ExecutionStarted" => EventKind::ExecutionStarted {
            name: text(&wire.function_name, "FunctionName")?,
            input: value(&wire.input, "Input")?,
            execution_id: String::new(),
            parent: None,
            scheduled_start: wire.scheduled_start_time,
            parent_trace_context: None,
            version: wire.version.clone(),
        },
        "ExecutionTerminated" => EventKind::ExecutionTerminated {
            reason: reason(),
            recursive: false,
        },
        "ExecutionSuspended" => EventKind::ExecutionSuspended { reason: reason() },
        "ExecutionResumed" => EventKind::ExecutionResumed { reason: reason() },
        "ExecutionRewound" => EventKind::ExecutionRewound { reason: reason() },
        "OrchestratorStarted" => EventKind::OrchestratorStarted,
        "OrchestratorCompleted" => EventKind::OrchestratorCompleted,
        "TaskScheduled" => EventKind::TaskScheduled {
            name: text(&wire.function_name, "FunctionName")?,
            input: value(&wire.input, "Input")?,
        },
        "TaskCompleted" => EventKind::TaskCompleted {
            task_scheduled_id: answered()?,
            result: value(&wire.result, "Result")?,
        },
        "TaskFailed" => EventKind::TaskFailed {
            task_scheduled_id: answered()?,
            failure: failure()?,
        },
        "SubOrchestrationInstanceCreated" => EventKind::SubOrchestrationInstanceCreated {
            name: text(&wire.function_name, "FunctionName")?,
            instance_id: text(&wire.instance_id, "InstanceId")?,
            input: value(&wire.input, "Input")?,
        },
        "SubOrchestrationInstanceCompleted" => EventKind::SubOrchestrationInstanceCompleted {
            task_scheduled_id: answered()?,
            result: value(&wire.result, "Result")?,
        },
        "SubOrchestrationInstanceFailed" => EventKind::SubOrchestrationInstanceFailed {
            task_scheduled_id: answered()?,
            failure: failure()?,
        },
        "TimerCreated" => EventKind::TimerCreated {
            fire_at: wire.fire_at.ok_or("FireAt")?,
        },
        "TimerFired" => EventKind::TimerFired {
            timer_id: wire.timer_id.ok_or("TimerId")?,
            fire_at: wire.fire_at.ok_or("FireAt")?,
        },
        "EventRaised" => EventKind::EventRaised {
            name: text(&wire.name, "Name")?,
            input: value(&wire.input, "Input")?,
        },
        "EventSent" => EventKind::EventSent {
            instance_id: text(&wire.instance_id, "InstanceId")?,
            name: text(&wire.name, "Name")?,
            input: value(&wire.input, "Input")?,
        },
        "EntityOperationSignaled" => EventKind::EntityOperationSignaled {
            request_id: String::new(),
            target_instance_id: text(&wire.instance_id, "InstanceId")?,
            operation: text(&wire.name, "Name")?,
            input: value(&wire.input, "Input")?,
            critical_section_id: None,
        },
        "EntityOperationCalled" => EventKind::EntityOperationCalled {
            request_id: String::new(),
            target_instance_id: text(&wire.instance_id, "InstanceId")?,
            operation: text(&wire.name, "Name")?,
            input: value(&wire.input, "Input")?,
            critical_section_id: None,
            caller: None,
        },
        "EntityLockRequested" => EventKind::EntityLockRequested {
            critical_section_id: String::new(),
            lock_set: wire.lock_set.clone().ok_or("LockSet")?,
            position: 0,
            caller: None,
        },
        "EntityLockGranted" => EventKind::EntityLockGranted {
            task_scheduled_id: answered()?,
            critical_section_id: String::new(),
        },
        "EntityUnlockSent" => EventKind::EntityUnlockSent {
            critical_section_id: String::new(),
            target_instance_id: text(&wire.instance_id, "InstanceId")?,
        },
        "EntityOperationCompleted" => EventKind::EntityOperationCompleted {
            task_scheduled_id: answered()?,
            result: value(&wire.result, "Result")?,
        },
        "EntityOperationFailed" => EventKind::EntityOperationFailed {
            task_scheduled_id: answered()?,
            failure: failure()?,
        },
        "ExecutionCompleted" => EventKind::ExecutionCompleted {
            status: wire.orchestration_status.ok_or("OrchestrationStatus")?,
            result: wire.result.clone().unwrap_or(Value::Null),
            failure: wire.failure_details.clone(),
        },
        _ => return Err("known EventType"),
    };
    Ok(HistoryEvent {
        event_id: wire.event_id.unwrap_or(-1),
        timestamp: wire.timestamp,
        kind,
    })
}
