//! The state an orchestration's context shares with the replay engine.

use std::collections::HashMap;
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
    CallActivity { name: String, input: Value },
}

impl ActionKind {
    /// The call as the user wrote it, for non-determinism messages.
    pub fn describe(&self) -> String {
        match self {
            ActionKind::CallActivity { name, .. } => format!("call_activity(\"{name}\")"),
        }
    }
}

/// How a scheduled task ended.
#[derive(Debug, Clone)]
pub(crate) enum TaskOutcome {
    Completed(Value),
    Failed(FailureDetails),
}

/// A scheduled task whose outcome the orchestrator has not taken yet.
#[derive(Debug, Default)]
pub(crate) struct OpenTask {
    pub outcome: Option<TaskOutcome>,
    pub waker: Option<Waker>,
}

/// Everything the context knows; the engine writes it, durable futures read it.
#[derive(Debug)]
pub(crate) struct ReplayState {
    pub instance_id: String,
    pub execution_id: String,
    pub input: Value,
    pub current_time: DateTime<Utc>,
    pub is_replaying: bool,
    pub next_sequence: i64,
    pub pending: Vec<Action>,
    pub open_tasks: HashMap<i64, OpenTask>,
    pub guid_counter: u64,
}

/// The shared handle to [`ReplayState`].
pub(crate) type SharedState = Arc<Mutex<ReplayState>>;

/// Locks the state; a panic in user code never happens while it is held, so poisoning is
/// only a leftover of a panic elsewhere and the data is still consistent.
pub(crate) fn lock(state: &SharedState) -> MutexGuard<'_, ReplayState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
