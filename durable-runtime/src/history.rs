//! The persisted history of an orchestration: events named as in the Durable Task Framework.
//!
//! This is a storage format: every field has an explicit serde name, and a round-trip test
//! against committed fixtures (`tests/fixtures/history.json`) keeps old histories readable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::RuntimeStatus;

/// Why a task or an orchestration failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDetails {
    /// The error's type, e.g. `TaskFailed`, `panic` or the user's error type name.
    #[serde(rename = "ErrorType")]
    pub error_type: String,
    /// The error's message.
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    /// More detail, when there is any (a panic's location, an inner failure).
    #[serde(
        rename = "StackTrace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stack_trace: Option<String>,
}

impl FailureDetails {
    /// Failure details with a type and a message.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        FailureDetails {
            error_type: error_type.into(),
            error_message: error_message.into(),
            stack_trace: None,
        }
    }
}

impl std::fmt::Display for FailureDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// The parent of a sub-orchestration: where its result goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentInstance {
    /// The parent's instance id.
    #[serde(rename = "instanceId")]
    pub instance_id: String,
    /// The parent's execution that made the call.
    #[serde(rename = "executionId")]
    pub execution_id: String,
    /// The call's sequence number in the parent's history.
    #[serde(rename = "taskScheduledId")]
    pub task_scheduled_id: i64,
}

/// One event of an orchestration's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// For scheduling events, the sequence number of the call that produced it; `-1` otherwise.
    #[serde(rename = "eventId")]
    pub event_id: i64,
    /// When the event was recorded.
    #[serde(rename = "timestamp")]
    pub timestamp: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The kinds of history events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "eventType")]
pub enum EventKind {
    /// The instance was started with this input.
    #[serde(rename = "ExecutionStarted")]
    ExecutionStarted {
        /// The orchestrator's name.
        #[serde(rename = "name")]
        name: String,
        /// The input, as JSON.
        #[serde(rename = "input")]
        input: Value,
        /// Which execution of the instance this starts.
        #[serde(rename = "executionId")]
        execution_id: String,
        /// The orchestration that started this one as a sub-orchestration.
        #[serde(
            rename = "parentInstance",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        parent: Option<ParentInstance>,
        /// When a scheduled start was asked for, the time the instance begins.
        #[serde(
            rename = "scheduledStartTime",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        scheduled_start: Option<DateTime<Utc>>,
        /// The W3C trace context the instance joins (Durable Task's `parentTraceContext`).
        #[serde(
            rename = "parentTraceContext",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        parent_trace_context: Option<crate::trace_context::TraceContext>,
        /// The orchestration version the instance started with (Durable Task's `version`).
        #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
    /// A terminate request arrived.
    #[serde(rename = "ExecutionTerminated")]
    ExecutionTerminated {
        /// Why, as the requester said.
        #[serde(rename = "reason")]
        reason: String,
        /// Whether sub-orchestrations are terminated too.
        #[serde(rename = "recursive", default)]
        recursive: bool,
    },
    /// A suspend request arrived.
    #[serde(rename = "ExecutionSuspended")]
    ExecutionSuspended {
        /// Why, as the requester said.
        #[serde(rename = "reason")]
        reason: String,
    },
    /// A resume request arrived.
    #[serde(rename = "ExecutionResumed")]
    ExecutionResumed {
        /// Why, as the requester said.
        #[serde(rename = "reason")]
        reason: String,
    },
    /// A rewind request arrived: the failed instance retries from its point of failure.
    #[serde(rename = "ExecutionRewound")]
    ExecutionRewound {
        /// Why, as the requester said.
        #[serde(rename = "reason")]
        reason: String,
    },
    /// A turn began; its timestamp is the orchestration's current time.
    #[serde(rename = "OrchestratorStarted")]
    OrchestratorStarted,
    /// A turn ended.
    #[serde(rename = "OrchestratorCompleted")]
    OrchestratorCompleted,
    /// The orchestrator called an activity.
    #[serde(rename = "TaskScheduled")]
    TaskScheduled {
        /// The activity's name.
        #[serde(rename = "name")]
        name: String,
        /// The activity's input.
        #[serde(rename = "input")]
        input: Value,
    },
    /// An activity returned.
    #[serde(rename = "TaskCompleted")]
    TaskCompleted {
        /// The `event_id` of the matching `TaskScheduled`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// The activity's output.
        #[serde(rename = "result")]
        result: Value,
    },
    /// An activity failed or panicked.
    #[serde(rename = "TaskFailed")]
    TaskFailed {
        /// The `event_id` of the matching `TaskScheduled`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// Why it failed.
        #[serde(rename = "failureDetails")]
        failure: FailureDetails,
    },
    /// The orchestrator started a sub-orchestration.
    #[serde(rename = "SubOrchestrationInstanceCreated")]
    SubOrchestrationInstanceCreated {
        /// The child orchestrator's name.
        #[serde(rename = "name")]
        name: String,
        /// The child's instance id.
        #[serde(rename = "instanceId")]
        instance_id: String,
        /// The child's input.
        #[serde(rename = "input")]
        input: Value,
    },
    /// A sub-orchestration completed.
    #[serde(rename = "SubOrchestrationInstanceCompleted")]
    SubOrchestrationInstanceCompleted {
        /// The `event_id` of the matching `SubOrchestrationInstanceCreated`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// The child's output.
        #[serde(rename = "result")]
        result: Value,
    },
    /// A sub-orchestration failed.
    #[serde(rename = "SubOrchestrationInstanceFailed")]
    SubOrchestrationInstanceFailed {
        /// The `event_id` of the matching `SubOrchestrationInstanceCreated`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// Why the child failed.
        #[serde(rename = "failureDetails")]
        failure: FailureDetails,
    },
    /// The orchestrator created a durable timer.
    #[serde(rename = "TimerCreated")]
    TimerCreated {
        /// When the timer fires.
        #[serde(rename = "fireAt")]
        fire_at: DateTime<Utc>,
    },
    /// A durable timer fired.
    #[serde(rename = "TimerFired")]
    TimerFired {
        /// The `event_id` of the matching `TimerCreated`.
        #[serde(rename = "timerId")]
        timer_id: i64,
        /// When it was due.
        #[serde(rename = "fireAt")]
        fire_at: DateTime<Utc>,
    },
    /// An external event arrived.
    #[serde(rename = "EventRaised")]
    EventRaised {
        /// The event's name.
        #[serde(rename = "name")]
        name: String,
        /// The event's data.
        #[serde(rename = "input")]
        input: Value,
    },
    /// The orchestrator sent an event to another instance.
    #[serde(rename = "EventSent")]
    EventSent {
        /// The receiving instance.
        #[serde(rename = "instanceId")]
        instance_id: String,
        /// The event's name.
        #[serde(rename = "name")]
        name: String,
        /// The event's data.
        #[serde(rename = "input")]
        input: Value,
    },
    /// An entity operation was signaled (one-way): the message an entity receives, and the
    /// action an orchestration records when it signals one.
    #[serde(rename = "EntityOperationSignaled")]
    EntityOperationSignaled {
        /// The operation's id, unique per request.
        #[serde(rename = "requestId")]
        request_id: String,
        /// The entity's instance id (`@name@key`).
        #[serde(rename = "targetInstanceId")]
        target_instance_id: String,
        /// The operation's name.
        #[serde(rename = "operation")]
        operation: String,
        /// The operation's input.
        #[serde(rename = "input")]
        input: Value,
        /// The critical section the operation was sent from, when the sender holds the
        /// entity's lock: only such operations run while the entity is locked.
        #[serde(
            rename = "criticalSectionId",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        critical_section_id: Option<String>,
    },
    /// An entity operation was called (two-way): the message an entity receives, with the
    /// caller to answer, and the action an orchestration records when it calls one.
    #[serde(rename = "EntityOperationCalled")]
    EntityOperationCalled {
        /// The operation's id, unique per request.
        #[serde(rename = "requestId")]
        request_id: String,
        /// The entity's instance id (`@name@key`).
        #[serde(rename = "targetInstanceId")]
        target_instance_id: String,
        /// The operation's name.
        #[serde(rename = "operation")]
        operation: String,
        /// The operation's input.
        #[serde(rename = "input")]
        input: Value,
        /// The critical section the operation was sent from, when the sender holds the
        /// entity's lock: only such operations run while the entity is locked.
        #[serde(
            rename = "criticalSectionId",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        critical_section_id: Option<String>,
        /// Where the response goes; left out of the caller's own history.
        #[serde(
            rename = "parentInstance",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        caller: Option<ParentInstance>,
    },
    /// An orchestration asked for the locks of a set of entities (a critical section).
    /// The request visits the entities one at a time in the set's order, each locking
    /// itself for the section before passing it on; the last one answers with
    /// [`EventKind::EntityLockGranted`]. The fixed order keeps two sections from deadlocking.
    #[serde(rename = "EntityLockRequested")]
    EntityLockRequested {
        /// The critical section's id, unique per request.
        #[serde(rename = "criticalSectionId")]
        critical_section_id: String,
        /// The entities' instance ids, sorted and without duplicates.
        #[serde(rename = "lockSet")]
        lock_set: Vec<String>,
        /// The entity of the set this message is for.
        #[serde(rename = "position")]
        position: usize,
        /// Where the grant goes; left out of the caller's own history.
        #[serde(
            rename = "parentInstance",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        caller: Option<ParentInstance>,
    },
    /// Every entity of a critical section is locked for the orchestration that asked.
    #[serde(rename = "EntityLockGranted")]
    EntityLockGranted {
        /// The `event_id` of the matching `EntityLockRequested`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// The critical section.
        #[serde(rename = "criticalSectionId")]
        critical_section_id: String,
    },
    /// An orchestration released an entity it had locked (or asked to lock): the entity
    /// runs the operations that waited for the lock.
    #[serde(rename = "EntityUnlockSent")]
    EntityUnlockSent {
        /// The critical section being ended.
        #[serde(rename = "criticalSectionId")]
        critical_section_id: String,
        /// The entity's instance id.
        #[serde(rename = "targetInstanceId")]
        target_instance_id: String,
    },
    /// An entity operation an orchestration called returned.
    #[serde(rename = "EntityOperationCompleted")]
    EntityOperationCompleted {
        /// The `event_id` of the matching `EntityOperationCalled`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// The operation's return value.
        #[serde(rename = "result")]
        result: Value,
    },
    /// An entity operation an orchestration called failed or panicked.
    #[serde(rename = "EntityOperationFailed")]
    EntityOperationFailed {
        /// The `event_id` of the matching `EntityOperationCalled`.
        #[serde(rename = "taskScheduledId")]
        task_scheduled_id: i64,
        /// Why it failed.
        #[serde(rename = "failureDetails")]
        failure: FailureDetails,
    },
    /// The orchestration finished.
    #[serde(rename = "ExecutionCompleted")]
    ExecutionCompleted {
        /// Completed or Failed.
        #[serde(rename = "orchestrationStatus")]
        status: RuntimeStatus,
        /// The output when completed.
        #[serde(rename = "result", default)]
        result: Value,
        /// Why it failed, when it failed.
        #[serde(
            rename = "failureDetails",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        failure: Option<FailureDetails>,
    },
}

impl EventKind {
    /// Requests about the instance itself (terminate, suspend, resume, rewind): they reach
    /// a suspended instance, and a rewind reaches a failed one.
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            EventKind::ExecutionTerminated { .. }
                | EventKind::ExecutionSuspended { .. }
                | EventKind::ExecutionResumed { .. }
                | EventKind::ExecutionRewound { .. }
        )
    }

    /// Messages for an entity (signals, calls, lock requests, unlocks): they reach an
    /// entity whatever its status, and create it when it does not exist.
    pub fn is_entity_operation(&self) -> bool {
        matches!(
            self,
            EventKind::EntityOperationSignaled { .. }
                | EventKind::EntityOperationCalled { .. }
                | EventKind::EntityLockRequested { .. }
                | EventKind::EntityUnlockSent { .. }
        )
    }

    /// The Durable Task Framework name of the event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ExecutionStarted { .. } => "ExecutionStarted",
            EventKind::ExecutionTerminated { .. } => "ExecutionTerminated",
            EventKind::ExecutionSuspended { .. } => "ExecutionSuspended",
            EventKind::ExecutionResumed { .. } => "ExecutionResumed",
            EventKind::ExecutionRewound { .. } => "ExecutionRewound",
            EventKind::OrchestratorStarted => "OrchestratorStarted",
            EventKind::OrchestratorCompleted => "OrchestratorCompleted",
            EventKind::TaskScheduled { .. } => "TaskScheduled",
            EventKind::TaskCompleted { .. } => "TaskCompleted",
            EventKind::TaskFailed { .. } => "TaskFailed",
            EventKind::SubOrchestrationInstanceCreated { .. } => "SubOrchestrationInstanceCreated",
            EventKind::SubOrchestrationInstanceCompleted { .. } => {
                "SubOrchestrationInstanceCompleted"
            }
            EventKind::SubOrchestrationInstanceFailed { .. } => "SubOrchestrationInstanceFailed",
            EventKind::TimerCreated { .. } => "TimerCreated",
            EventKind::TimerFired { .. } => "TimerFired",
            EventKind::EventRaised { .. } => "EventRaised",
            EventKind::EventSent { .. } => "EventSent",
            EventKind::EntityOperationSignaled { .. } => "EntityOperationSignaled",
            EventKind::EntityOperationCalled { .. } => "EntityOperationCalled",
            EventKind::EntityLockRequested { .. } => "EntityLockRequested",
            EventKind::EntityLockGranted { .. } => "EntityLockGranted",
            EventKind::EntityUnlockSent { .. } => "EntityUnlockSent",
            EventKind::EntityOperationCompleted { .. } => "EntityOperationCompleted",
            EventKind::EntityOperationFailed { .. } => "EntityOperationFailed",
            EventKind::ExecutionCompleted { .. } => "ExecutionCompleted",
        }
    }
}

impl HistoryEvent {
    /// An event that is not tied to a call (event id `-1`).
    pub fn new(timestamp: DateTime<Utc>, kind: EventKind) -> Self {
        HistoryEvent {
            event_id: -1,
            timestamp,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_fixture_round_trips() {
        let text = include_str!("../tests/fixtures/history.json");
        let events: Vec<HistoryEvent> = serde_json::from_str(text).expect("fixture parses");
        assert_eq!(events.len(), 7);
        assert!(matches!(events[0].kind, EventKind::ExecutionStarted { .. }));
        let written = serde_json::to_value(&events).expect("serializes");
        let original: Value = serde_json::from_str(text).expect("fixture is JSON");
        assert_eq!(written, original);
    }

    #[test]
    fn committed_entity_fixture_round_trips() {
        let text = include_str!("../tests/fixtures/entity_events.json");
        let events: Vec<HistoryEvent> = serde_json::from_str(text).expect("fixture parses");
        assert_eq!(events.len(), 5);
        assert!(events[0].kind.is_entity_operation());
        assert!(matches!(
            &events[2].kind,
            EventKind::EntityOperationCalled {
                caller: Some(caller),
                ..
            } if caller.task_scheduled_id == 1
        ));
        let written = serde_json::to_value(&events).expect("serializes");
        let original: Value = serde_json::from_str(text).expect("fixture is JSON");
        assert_eq!(written, original);
    }
}
