//! Workers in other processes: the official Durable Task SDKs (Python, JavaScript, ...)
//! connected to a host, running orchestrators and activities that no Rust function here
//! has. The engine sees them only through [`RemoteWorkers`]; the host's gRPC service
//! implements it.
//!
//! A remote orchestrator replays its own history: a turn sends it the recorded history
//! and the turn's new messages, and it answers with the actions it took, which the engine
//! records and commits as it does a Rust turn's. A remote activity is a call handed over
//! and its outcome reported back; the lease on it is renewed meanwhile, as for a local
//! one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::history::{FailureDetails, HistoryEvent};
use crate::registry::InvocationResult;

/// Which names connected workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// Any name: a worker that said nothing about what it runs takes every name.
    Any,
    /// These names only (none when no worker is connected).
    Names(Vec<String>),
}

/// One orchestration turn for a remote worker.
#[derive(Debug, Clone)]
pub struct RemoteTurn {
    /// The instance.
    pub instance_id: String,
    /// Its current execution.
    pub execution_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The turn's time: the orchestration's current time.
    pub now: DateTime<Utc>,
    /// The execution's recorded history.
    pub past: Vec<HistoryEvent>,
    /// The messages the turn delivers, in order.
    pub new: Vec<HistoryEvent>,
}

/// What a remote orchestrator did in a turn.
#[derive(Debug, Clone, Default)]
pub struct RemoteDecision {
    /// The actions it took this turn, each with its sequence number.
    pub actions: Vec<RemoteAction>,
    /// Its custom status after the turn.
    pub custom_status: Value,
}

/// One action of a remote turn.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteAction {
    /// The action's sequence number: the event id of what it records, and what the
    /// answer to it names.
    pub id: i64,
    /// What it does.
    pub kind: RemoteActionKind,
}

/// What a remote action does.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteActionKind {
    /// Calls an activity.
    CallActivity {
        /// The activity's name.
        name: String,
        /// Its input.
        input: Value,
    },
    /// Starts a sub-orchestration.
    CallSubOrchestrator {
        /// The child's orchestrator.
        name: String,
        /// The child's instance id.
        instance_id: String,
        /// Its input.
        input: Value,
    },
    /// Creates a durable timer.
    CreateTimer {
        /// When it fires.
        fire_at: DateTime<Utc>,
    },
    /// Sends an event to another instance.
    SendEvent {
        /// The receiving instance.
        instance_id: String,
        /// The event's name.
        name: String,
        /// Its data.
        input: Value,
    },
    /// Signals an entity operation (one-way).
    SignalEntity {
        /// The operation's id.
        request_id: String,
        /// The entity (`@name@key`).
        instance_id: String,
        /// The operation.
        operation: String,
        /// Its input.
        input: Value,
    },
    /// Calls an entity operation (two-way).
    CallEntity {
        /// The operation's id.
        request_id: String,
        /// The entity (`@name@key`).
        instance_id: String,
        /// The operation.
        operation: String,
        /// Its input.
        input: Value,
    },
    /// Terminates another instance.
    TerminateInstance {
        /// The instance.
        instance_id: String,
        /// Why: its output.
        reason: String,
        /// Its sub-orchestrations too.
        recursive: bool,
    },
    /// Ends the execution.
    Complete(RemoteOutcome),
}

/// How a remote orchestration ended its execution.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteOutcome {
    /// Completed with an output.
    Completed(Value),
    /// Failed.
    Failed(FailureDetails),
    /// Continues as new with this input, carrying these events (`EventRaised`) over.
    ContinuedAsNew {
        /// The next execution's input.
        input: Value,
        /// Unprocessed external events the next execution receives first.
        carried_events: Vec<HistoryEvent>,
    },
}

/// One activity call for a remote worker.
#[derive(Debug, Clone)]
pub struct RemoteActivity {
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// The calling instance.
    pub instance_id: String,
    /// The calling execution.
    pub execution_id: String,
    /// The call's sequence number.
    pub task_id: i64,
}

/// A batch of entity operations for a remote worker, in queue order.
#[derive(Debug, Clone)]
pub struct RemoteEntityBatch {
    /// The entity (`@name@key`).
    pub instance_id: String,
    /// Its state before the batch; `None`: it has none.
    pub state: Option<Value>,
    /// The operations, in the order they run.
    pub operations: Vec<RemoteOperation>,
}

/// One entity operation of a remote batch.
#[derive(Debug, Clone)]
pub struct RemoteOperation {
    /// The operation's name.
    pub operation: String,
    /// The request's id.
    pub request_id: String,
    /// Its input.
    pub input: Value,
}

/// What a remote entity did with a batch.
#[derive(Debug, Clone, Default)]
pub struct RemoteEntityResult {
    /// One result per operation, in order: its return value or its failure (a failed
    /// operation's changes are already rolled back by the worker).
    pub results: Vec<Result<Value, FailureDetails>>,
    /// The state after the batch; `None`: deleted (or never set).
    pub state: Option<Value>,
    /// Signals the operations sent to other entities.
    pub signals: Vec<RemoteSignal>,
    /// Orchestrations the operations started.
    pub orchestrations: Vec<RemoteStart>,
}

/// A signal a remote entity sent.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSignal {
    /// The receiving entity (`@name@key`).
    pub instance_id: String,
    /// The operation.
    pub operation: String,
    /// Its input.
    pub input: Value,
    /// When to deliver it; `None`: at once.
    pub deliver_at: Option<DateTime<Utc>>,
}

/// An orchestration a remote entity started.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteStart {
    /// The orchestrator.
    pub name: String,
    /// The new instance's id.
    pub instance_id: String,
    /// Its input.
    pub input: Value,
    /// When it starts; `None`: at once.
    pub scheduled_start: Option<DateTime<Utc>>,
}

/// No connected worker took the work, or the one that did left before answering: the
/// work goes back to the store for another worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RemoteUnavailable(pub String);

/// The remote workers a host has connected.
#[async_trait]
pub trait RemoteWorkers: Send + Sync + std::fmt::Debug + 'static {
    /// The orchestrators connected workers run now.
    fn orchestrators(&self) -> Served;

    /// The activities connected workers run now.
    fn activities(&self) -> Served;

    /// The entities connected workers run now (their names, any case).
    fn entities(&self) -> Served;

    /// Runs one batch of operations on a connected worker that runs the entity.
    async fn run_entity_batch(
        &self,
        batch: RemoteEntityBatch,
    ) -> Result<RemoteEntityResult, RemoteUnavailable>;

    /// Runs one turn on a connected worker that runs `turn.name`.
    async fn run_turn(&self, turn: RemoteTurn) -> Result<RemoteDecision, RemoteUnavailable>;

    /// Runs one activity call on a connected worker that runs `call.name`.
    async fn run_activity(
        &self,
        call: RemoteActivity,
    ) -> Result<InvocationResult, RemoteUnavailable>;
}
