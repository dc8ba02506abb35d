//! The error type of the public API.

use crate::history::FailureDetails;
use crate::instance_id::InvalidInstanceId;
use crate::store::StoreError;

/// Everything that can go wrong in an orchestrator or a client call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DurableError {
    /// A called activity (or, later, sub-orchestration) failed; an orchestrator may catch this.
    #[error("task `{name}` failed: {details}")]
    TaskFailed {
        /// The called function's name.
        name: String,
        /// The failure as the function reported it.
        details: FailureDetails,
    },
    /// The orchestrator's code no longer matches its recorded history.
    #[error("{0}")]
    NonDeterminism(String),
    /// A value could not be converted to or from JSON.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// No orchestrator of that name is registered in this host.
    #[error("no orchestrator named `{0}` is registered in this host")]
    UnknownOrchestrator(String),
    /// The instance id breaks the id rules.
    #[error(transparent)]
    InvalidInstanceId(#[from] InvalidInstanceId),
    /// No instance has that id.
    #[error("no instance with id `{0}` exists")]
    InstanceNotFound(String),
    /// An instance with that id is still running.
    #[error("an instance with id `{0}` is already running")]
    InstanceAlreadyRunning(String),
    /// An external event did not arrive before its timeout.
    #[error("the event `{name}` did not arrive within {timeout:?}")]
    EventTimeout {
        /// The event's name.
        name: String,
        /// How long the orchestration waited.
        timeout: std::time::Duration,
    },
    /// The instance's status does not allow the request (rewinding a running instance).
    #[error("{0}")]
    InvalidStatus(String),
    /// A request's argument is malformed (a continuation token this host did not give
    /// out, say).
    #[error("{0}")]
    InvalidInput(String),
    /// The instance has finished and takes no more events or commands.
    #[error("instance `{0}` has already finished")]
    InstanceFinished(String),
    /// Waiting for an instance took longer than allowed.
    #[error("instance `{0}` did not finish within the timeout")]
    Timeout(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No entity function with this name is registered, or the name cannot be one.
    #[error("no entity named `{0}` is registered")]
    UnknownEntity(String),
    /// A critical section's rules were broken: locking inside a section, or calling an
    /// entity the section does not lock.
    #[error("locking rules violated: {0}")]
    LockingRulesViolation(String),
    /// A payload is over the payload limit (see [`crate::payload_limit`]).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An error raised by user code.
    #[error("{0}")]
    Custom(String),
}

impl DurableError {
    /// An error with a message of your own, for orchestrators that fail on purpose.
    pub fn custom(message: impl Into<String>) -> Self {
        DurableError::Custom(message.into())
    }

    /// The failure details of a failed task, when this is one.
    pub fn task_failure(&self) -> Option<&FailureDetails> {
        match self {
            DurableError::TaskFailed { details, .. } => Some(details),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for DurableError {
    fn from(error: serde_json::Error) -> Self {
        DurableError::Serialization(error.to_string())
    }
}

impl From<String> for DurableError {
    fn from(message: String) -> Self {
        DurableError::Custom(message)
    }
}

impl From<&str> for DurableError {
    fn from(message: &str) -> Self {
        DurableError::Custom(message.to_owned())
    }
}

impl FailureDetails {
    /// How an orchestrator's unhandled error is recorded as the instance's failure.
    pub fn from_error(error: &DurableError) -> FailureDetails {
        let error_type = match error {
            DurableError::TaskFailed { .. } => "TaskFailedException",
            DurableError::NonDeterminism(_) => "NonDeterministicOrchestrationError",
            DurableError::Serialization(_) => "SerializationError",
            DurableError::UnknownOrchestrator(_) => "UnknownOrchestrator",
            DurableError::UnknownEntity(_) => "UnknownEntity",
            DurableError::InvalidInstanceId(_) => "InvalidInstanceId",
            DurableError::InstanceNotFound(_) => "InstanceNotFound",
            DurableError::InstanceAlreadyRunning(_) => "InstanceAlreadyRunning",
            DurableError::Timeout(_) => "Timeout",
            DurableError::EventTimeout { .. } => "EventTimeout",
            DurableError::InstanceFinished(_) => "InstanceFinished",
            DurableError::InvalidStatus(_) => "InvalidStatus",
            DurableError::InvalidInput(_) => "InvalidInput",
            DurableError::Store(_) => "StoreError",
            DurableError::LockingRulesViolation(_) => "LockingRulesViolation",
            DurableError::PayloadTooLarge(_) => "PayloadTooLarge",
            DurableError::Custom(_) => "OrchestrationError",
        };
        FailureDetails {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
            stack_trace: match error {
                DurableError::TaskFailed { details, .. } => Some(format!(
                    "caused by {}: {}",
                    details.error_type, details.error_message
                )),
                _ => None,
            },
        }
    }
}
