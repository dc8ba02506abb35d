//! The state an orchestration's context shares with the replay engine.

use std::collections::{HashMap, VecDeque};
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::history::FailureDetails;

/// A scheduling call the orchestrator made, not yet matched against history.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub sequence: i64,
    pub kind: ActionKind,
    pub location: &'static Location<'static>,
}

/// What a scheduling call asked for.
#[derive(Debug, Clone)]
pub(crate) enum ActionKind {
    CallActivity {
        name: String,
        input: Value,
    },
    CallSubOrchestrator {
        name: String,
        instance_id: String,
        input: Value,
    },
    CreateTimer {
        fire_at: DateTime<Utc>,
    },
    SendEvent {
        instance_id: String,
        name: String,
        input: Value,
    },
    SignalEntity {
        request_id: String,
        instance_id: String,
        operation: String,
        input: Value,
        critical_section_id: Option<String>,
    },
    CallEntity {
        request_id: String,
        instance_id: String,
        operation: String,
        input: Value,
        critical_section_id: Option<String>,
    },
    LockEntities {
        critical_section_id: String,
        lock_set: Vec<String>,
    },
    UnlockEntity {
        critical_section_id: String,
        instance_id: String,
    },
}

impl ActionKind {
    /// The call as the user wrote it, for non-determinism messages.
    pub fn describe(&self) -> String {
        match self {
            ActionKind::CallActivity { name, .. } => format!("call_activity(\"{name}\")"),
            ActionKind::CallSubOrchestrator { name, .. } => {
                format!("call_sub_orchestrator(\"{name}\")")
            }
            ActionKind::CreateTimer { .. } => "create_timer(..)".to_owned(),
            ActionKind::SendEvent {
                instance_id, name, ..
            } => format!("raise_event(\"{instance_id}\", \"{name}\")"),
            ActionKind::SignalEntity {
                instance_id,
                operation,
                ..
            } => format!("signal_entity(\"{instance_id}\", \"{operation}\")"),
            ActionKind::CallEntity {
                instance_id,
                operation,
                ..
            } => format!("call_entity(\"{instance_id}\", \"{operation}\")"),
            ActionKind::LockEntities { lock_set, .. } => format!("lock({lock_set:?})"),
            ActionKind::UnlockEntity { instance_id, .. } => format!("unlock(\"{instance_id}\")"),
        }
    }
}

/// How a scheduled task ended.
#[derive(Debug, Clone)]
pub(crate) enum TaskOutcome {
    Completed(Value),
    Failed(FailureDetails),
}

/// What a durable future waits for: a numbered call, or an external event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum TaskKey {
    Call(i64),
    Event(u64),
}

/// A task whose outcome the orchestrator has not taken yet.
#[derive(Debug, Default)]
pub(crate) struct OpenTask {
    pub outcome: Option<TaskOutcome>,
    pub waker: Option<Waker>,
    /// When the outcome arrived, counted in delivered messages: `when_any` picks the
    /// earliest among ready tasks, as history orders them.
    pub delivered: u64,
}

/// An external event that arrived before anyone waited for it.
#[derive(Debug, Clone)]
pub(crate) struct BufferedEvent {
    /// The name folded to lower case (event names ignore case).
    pub folded: String,
    /// The name as sent.
    pub name: String,
    pub input: Value,
    /// Its place among delivered messages.
    pub delivered: u64,
}

/// A request to start the next execution when this one returns.
#[derive(Debug, Clone)]
pub(crate) struct ContinueAsNew {
    pub input: Value,
    pub preserve_unprocessed_events: bool,
}

/// Everything the context knows; the engine writes it, durable futures read it.
#[derive(Debug)]
pub(crate) struct ReplayState {
    pub instance_id: String,
    pub execution_id: String,
    pub input: Value,
    /// The orchestration that started this one as a sub-orchestration.
    pub parent: Option<crate::history::ParentInstance>,
    /// The trace the instance joins.
    pub trace_context: Option<crate::trace_context::TraceContext>,
    /// The orchestration version the instance started with.
    pub version: Option<String>,
    pub current_time: DateTime<Utc>,
    pub is_replaying: bool,
    pub next_sequence: i64,
    pub pending: Vec<Action>,
    pub open_tasks: HashMap<TaskKey, OpenTask>,
    /// External events that arrived before anyone waited for them, in arrival order.
    pub event_buffer: VecDeque<BufferedEvent>,
    /// Messages delivered so far, to order outcomes.
    pub deliveries: u64,
    /// Waits on external events, per folded name, oldest first.
    pub event_waiters: HashMap<String, VecDeque<u64>>,
    pub next_waiter: u64,
    pub guid_counter: u64,
    pub custom_status: Value,
    pub continue_as_new: Option<ContinueAsNew>,
    /// Lock requests not yet released, granted or not: released when the execution ends.
    pub lock_requests: Vec<LockRequest>,
    /// The critical section the orchestration is in (its locks were granted).
    pub critical_section: Option<LockRequest>,
    /// How many actions the orchestration may schedule, and how large its payloads.
    pub limits: ActionLimits,
    /// Set when the orchestrator went over [`ReplayState::limits`]: its turn schedules
    /// nothing and fails the instance with this.
    pub over_limit: Option<FailureDetails>,
    /// Set when the orchestrator set a custom status over the payload limit: the poll
    /// that did it fails the instance with this.
    pub oversized_custom_status: Option<FailureDetails>,
}

/// How much one orchestration may schedule and keep: actions (calls, timers, events,
/// entity messages) in one turn and in one execution's whole history (Durable Functions'
/// `maxOrchestrationActions`), and the size of its output and custom status. Going over
/// fails the instance before anything is committed, so one runaway orchestrator cannot
/// exhaust the host's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionLimits {
    /// Most actions one turn schedules.
    pub per_turn: usize,
    /// Most actions one execution schedules in all.
    pub per_execution: u64,
    /// Largest output or custom status, in bytes of JSON (see [`crate::payload_limit`]).
    pub max_payload_bytes: usize,
}

impl Default for ActionLimits {
    fn default() -> Self {
        ActionLimits {
            per_turn: 100_000,
            per_execution: 100_000,
            max_payload_bytes: crate::payload_limit::DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

/// The panic that stops an orchestrator going over its [`ActionLimits`]: unwinding is the
/// one way out of user code that keeps scheduling in a loop.
pub(crate) struct ActionLimitExceeded;

/// A critical section: its id and the entities it locks (instance ids, sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockRequest {
    pub critical_section_id: String,
    pub lock_set: Vec<String>,
}

impl ReplayState {
    pub fn new(instance_id: &str) -> Self {
        ReplayState {
            instance_id: instance_id.to_owned(),
            execution_id: String::new(),
            input: Value::Null,
            parent: None,
            trace_context: None,
            version: None,
            current_time: DateTime::<Utc>::UNIX_EPOCH,
            is_replaying: false,
            next_sequence: 0,
            pending: Vec::new(),
            open_tasks: HashMap::new(),
            event_buffer: VecDeque::new(),
            deliveries: 0,
            event_waiters: HashMap::new(),
            next_waiter: 0,
            guid_counter: 0,
            custom_status: Value::Null,
            continue_as_new: None,
            lock_requests: Vec::new(),
            critical_section: None,
            limits: ActionLimits::default(),
            over_limit: None,
            oversized_custom_status: None,
        }
    }
}

/// The shared handle to [`ReplayState`].
pub(crate) type SharedState = Arc<Mutex<ReplayState>>;

/// Locks the state; a panic in user code never happens while it is held, so poisoning is
/// only a leftover of a panic elsewhere and the data is still consistent.
pub(crate) fn lock(state: &SharedState) -> MutexGuard<'_, ReplayState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
