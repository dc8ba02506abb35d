//! Replaying recorded histories against the current code: what a host does with every
//! running instance after a deploy, done in a test, so a change that would break running
//! instances fails there, with the call and its source line.

use serde_json::Value;

use crate::engine::registry::Registry;
use crate::history::{EventKind, HistoryEvent};
use crate::orchestration::replay::{Execution, Invoker, recorded_call, recorded_turns};
use crate::wire::{HistoryEventWire, history_from_wire};

/// How a replay runs the recorded turns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// The whole history at once, as a host replays an instance it has no live copy of
    /// (after a restart or a deploy, or with the cache off).
    #[default]
    Whole,
    /// One turn after another on one live orchestration, as a host with the cache on runs
    /// them; each turn must schedule what history recorded for it. Turns from a
    /// terminate, suspend, resume or rewind request end the live part, and the rest is
    /// checked as a whole.
    TurnByTurn,
}

/// How to replay a history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// How the turns run.
    pub mode: ReplayMode,
    /// The instance id the orchestration sees (`ctx.instance_id()`, and through it
    /// `new_guid` and `random_u64`); the status JSON's `instanceId` when it has one,
    /// otherwise `replayed`.
    pub instance_id: Option<String>,
}

/// Why a recorded history does not replay on the current code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The code no longer makes the calls the history recorded: the message names the
    /// first call that differs and where the code makes it.
    #[error("{0}")]
    NonDeterministic(String),
    /// The history is not one this can read.
    #[error("the history cannot be replayed: {0}")]
    BadHistory(String),
    /// No orchestrator of that name is linked into the test.
    #[error("no orchestrator named `{0}` is linked into this binary")]
    UnknownOrchestrator(String),
}

/// Replays a recorded history of `orchestrator` on the code linked into the test, as a
/// host does after a deploy. `history` is the JSON of `history --json` (an array of
/// events) or of a status with `showHistory=true&showHistoryOutput=true` (its
/// `historyEvents`); results and inputs must be in it.
///
/// ```no_run
/// let recorded = std::fs::read_to_string("tests/histories/HelloCities.json").unwrap();
/// if let Err(error) = durable_runtime::testing::replay(&recorded, "HelloCities") {
///     panic!("running HelloCities instances would break: {error}");
/// }
/// ```
pub fn replay(history: &str, orchestrator: &str) -> Result<(), ReplayError> {
    replay_with(history, orchestrator, &ReplayOptions::default())
}

/// [`replay`] with options: turn by turn, another instance id.
pub fn replay_with(
    history: &str,
    orchestrator: &str,
    options: &ReplayOptions,
) -> Result<(), ReplayError> {
    let registry = Registry::discover().map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        ReplayError::BadHistory(format!(
            "the linked functions are not valid: {}",
            messages.join("; ")
        ))
    })?;
    let invoke = registry
        .orchestrator(orchestrator)
        .ok_or_else(|| ReplayError::UnknownOrchestrator(orchestrator.to_owned()))?
        .invoke;
    let (recorded_id, events) = read_history(history)?;
    let instance_id = options
        .instance_id
        .clone()
        .or(recorded_id)
        .unwrap_or_else(|| "replayed".to_owned());
    match options.mode {
        ReplayMode::Whole => replay_whole(&instance_id, invoke, &events),
        ReplayMode::TurnByTurn => replay_turn_by_turn(&instance_id, invoke, &events),
    }
}

/// The instance id (when the JSON is a status) and the events of an exported history.
fn read_history(json: &str) -> Result<(Option<String>, Vec<HistoryEvent>), ReplayError> {
    let bad = |message: String| ReplayError::BadHistory(message);
    let value: Value = serde_json::from_str(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let (instance_id, events) = match value {
        Value::Array(_) => (None, value),
        Value::Object(mut status) => {
            let events = status.remove("historyEvents").ok_or_else(|| {
                bad("a status without historyEvents (ask for showHistory=true)".to_owned())
            })?;
            let id = status
                .get("instanceId")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (id, events)
        }
        _ => return Err(bad("neither an array of events nor a status".to_owned())),
    };
    let wire: Vec<HistoryEventWire> =
        serde_json::from_value(events).map_err(|e| bad(format!("an event does not read: {e}")))?;
    Ok((instance_id, history_from_wire(&wire).map_err(bad)?))
}

fn replay_whole(
    instance_id: &str,
    invoke: Invoker,
    events: &[HistoryEvent],
) -> Result<(), ReplayError> {
    Execution::new(instance_id, invoke)
        .replay(events)
        .map_err(|failure| match failure.error_type.as_str() {
            "NonDeterministicOrchestrationError" => {
                ReplayError::NonDeterministic(failure.error_message)
            }
            _ => ReplayError::BadHistory(failure.error_message),
        })
}

fn replay_turn_by_turn(
    instance_id: &str,
    invoke: Invoker,
    events: &[HistoryEvent],
) -> Result<(), ReplayError> {
    let mut live = Execution::new(instance_id, invoke);
    for (number, turn) in recorded_turns(events).enumerate() {
        let turn =
            turn.map_err(|what| ReplayError::BadHistory(format!("the history has {what}")))?;
        let messages = turn.messages();
        if messages.iter().any(|m| is_request(&m.kind)) {
            // Requests are the worker's to act on, not the orchestrator's.
            break;
        }
        let now = turn.started_at();
        let output = live.run_turn(now, messages.to_vec());
        if let Some(difference) = difference(turn.recorded(), &output.appended) {
            // The whole replay names the call's source line, when it finds it too.
            replay_whole(instance_id, invoke, events)?;
            return Err(ReplayError::NonDeterministic(format!(
                "turn {number} at {now}: {difference}"
            )));
        }
    }
    replay_whole(instance_id, invoke, events)
}

/// Operator requests, which the worker handles around the orchestrator.
fn is_request(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ExecutionTerminated { .. }
            | EventKind::ExecutionSuspended { .. }
            | EventKind::ExecutionResumed { .. }
            | EventKind::ExecutionRewound { .. }
    )
}

/// How a live turn's events differ from the recorded ones, in the calls they make and how
/// the execution ends; `None` when they agree.
fn difference(recorded: &[HistoryEvent], live: &[HistoryEvent]) -> Option<String> {
    let calls = |events: &[HistoryEvent]| -> Vec<(i64, String)> {
        events
            .iter()
            .filter_map(|e| recorded_call(e.event_id, &e.kind).map(|call| (e.event_id, call)))
            .collect()
    };
    let live_start = live
        .iter()
        .position(|e| matches!(e.kind, EventKind::OrchestratorStarted))
        .unwrap_or(0);
    let (recorded_calls, live_calls) = (calls(recorded), calls(&live[live_start..]));
    if recorded_calls != live_calls {
        return Some(format!(
            "history recorded the calls {recorded_calls:?}, the live orchestrator made {live_calls:?}"
        ));
    }
    let ending = |events: &[HistoryEvent]| {
        events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionCompleted { status, .. } => Some(*status),
            _ => None,
        })
    };
    let (recorded_end, live_end) = (ending(recorded), ending(live));
    (recorded_end != live_end).then(|| {
        format!("history recorded the end {recorded_end:?}, the live orchestrator {live_end:?}")
    })
}
