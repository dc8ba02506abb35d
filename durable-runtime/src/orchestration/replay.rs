//! The replay engine: history + new events + orchestrator -> new history, work and status.
//!
//! It is pure: no IO, no clock, no randomness. The worker gives it the recorded history and
//! the turn's new messages with the turn's timestamp; it gives back what to commit.
//!
//! A history is a sequence of turns, each laid out as
//! `[messages...] OrchestratorStarted [actions...] [ExecutionCompleted] OrchestratorCompleted`,
//! where messages are the events the turn consumed (ExecutionStarted, TaskCompleted, ...) and
//! actions the work it scheduled. Replay feeds a turn's messages one at a time, in order,
//! polling the orchestrator after each, and then checks that the calls it made are the ones
//! the turn recorded.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::context::OrchestrationContext;
use super::critical_section;
use super::state::{
    Action, ActionKind, ActionLimits, BufferedEvent, ReplayState, SharedState, TaskKey,
    TaskOutcome, lock,
};
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::registry::{BoxFuture, InvocationResult};
use crate::status::RuntimeStatus;

/// Starts an orchestrator's code with a context.
pub(crate) type Invoker = fn(OrchestrationContext) -> BoxFuture<InvocationResult>;

/// An activity call made in the turn, to be written as work.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledActivity {
    pub task_id: i64,
    pub name: String,
    pub input: Value,
}

/// A sub-orchestration started in the turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledChild {
    pub task_id: i64,
    pub name: String,
    pub instance_id: String,
    pub input: Value,
}

/// An event sent to another instance in the turn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentEvent {
    pub instance_id: String,
    pub name: String,
    pub input: Value,
}

/// An operation sent to an entity in the turn: the entity's instance id and the recorded
/// event (a call's caller is filled in when the turn is committed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntityMessage {
    pub instance_id: String,
    pub event: HistoryEvent,
}

/// The next execution, when the orchestration continued as new.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NextExecution {
    pub input: Value,
    /// Unconsumed external events carried over (`EventRaised`), in arrival order.
    pub carried_events: Vec<HistoryEvent>,
}

/// What one live turn produced.
#[derive(Debug)]
pub(crate) struct TurnOutput {
    /// Events to append to the history, in order.
    pub appended: Vec<HistoryEvent>,
    /// Activities to run.
    pub activities: Vec<ScheduledActivity>,
    /// Durable timers: (timer id, fire time).
    pub timers: Vec<(i64, DateTime<Utc>)>,
    /// Sub-orchestrations to start.
    pub children: Vec<ScheduledChild>,
    /// Events to send to other instances.
    pub events: Vec<SentEvent>,
    /// Operations to send to entities.
    pub entity_operations: Vec<EntityMessage>,
    /// Set when the orchestration continues as new.
    pub continue_as_new: Option<NextExecution>,
    /// The instance's status after the turn.
    pub status: RuntimeStatus,
    /// The output (or failure details) when the orchestration finished.
    pub output: Value,
    /// The custom status after the turn.
    pub custom_status: Value,
    /// Requests to other instances (terminate or rewind children).
    pub control: Vec<(String, HistoryEvent)>,
    /// Messages queued again for this instance (a rewind).
    pub requeued: Vec<HistoryEvent>,
    /// Activities that run again with their old task ids (a rewind).
    pub retried_activities: Vec<ScheduledActivity>,
    /// Cut the history to this many events before appending (a rewind).
    pub truncate_history_to: Option<u64>,
}

impl TurnOutput {
    /// A turn that changes nothing but the given events, status and output.
    pub fn finished(appended: Vec<HistoryEvent>, status: RuntimeStatus, output: Value) -> Self {
        TurnOutput {
            appended,
            activities: Vec::new(),
            timers: Vec::new(),
            children: Vec::new(),
            events: Vec::new(),
            entity_operations: Vec::new(),
            continue_as_new: None,
            status,
            output,
            custom_status: Value::Null,
            control: Vec::new(),
            requeued: Vec::new(),
            retried_activities: Vec::new(),
            truncate_history_to: None,
        }
    }
}

thread_local! {
    /// Whether this thread is polling an orchestrator through recorded history.
    static REPLAYING: Cell<bool> = const { Cell::new(false) };
}

/// True while the current thread runs orchestrator code over already recorded history.
/// A log filter can use it to keep replayed log lines out (see `durable-host`).
pub fn is_replaying_on_this_thread() -> bool {
    REPLAYING.with(Cell::get)
}

/// One execution of an orchestrator, rebuilt from history or kept alive between turns.
pub(crate) struct Execution {
    state: SharedState,
    invoke: Invoker,
    future: Option<BoxFuture<InvocationResult>>,
    outcome: Option<InvocationResult>,
}

impl Execution {
    /// A fresh execution that has seen no history yet.
    pub fn new(instance_id: &str, invoke: Invoker) -> Self {
        Execution {
            state: Arc::new(Mutex::new(ReplayState::new(instance_id))),
            invoke,
            future: None,
            outcome: None,
        }
    }

    /// The same execution with other limits on the actions it may schedule.
    pub fn with_limits(self, limits: ActionLimits) -> Self {
        lock(&self.state).limits = limits;
        self
    }

    /// Re-runs the recorded turns. Fails with a non-determinism message when the code no
    /// longer makes the calls its history recorded.
    pub fn replay(&mut self, history: &[HistoryEvent]) -> Result<(), FailureDetails> {
        for turn in recorded_turns(history) {
            let turn = turn.map_err(corrupt)?;
            self.begin_turn(turn.started_at(), true);
            for message in turn.messages() {
                self.apply(message);
            }
            self.check_recorded(turn.actions())?;
        }
        Ok(())
    }

    /// Runs a live turn at `now` over the new messages and says what to commit.
    pub fn run_turn(&mut self, now: DateTime<Utc>, messages: Vec<HistoryEvent>) -> TurnOutput {
        self.begin_turn(now, false);
        let mut appended = Vec::with_capacity(messages.len() + 4);
        for message in messages {
            if self.apply(&message) {
                appended.push(message);
            }
        }
        appended.push(HistoryEvent::new(now, EventKind::OrchestratorStarted));
        let (pending, custom_status, continue_as_new) = {
            let mut state = lock(&self.state);
            (
                std::mem::take(&mut state.pending),
                state.custom_status.clone(),
                state.continue_as_new.clone(),
            )
        };
        let mut turn = TurnOutput::finished(Vec::new(), RuntimeStatus::Running, Value::Null);
        turn.custom_status = custom_status;
        // Every call is recorded, also one made in the poll that finished the orchestration
        // (an event sent on the way out).
        for action in pending {
            appended.push(record_action(&mut turn, action, now));
        }
        if self.outcome.is_some() {
            // The execution ended: locks it still holds, or asked for, are released.
            let requests = std::mem::take(&mut lock(&self.state).lock_requests);
            let (events, messages) = critical_section::release(requests, now);
            appended.extend(events);
            turn.entity_operations.extend(messages);
        }
        match self.outcome.clone() {
            None => {}
            Some(Ok(output)) => match continue_as_new {
                Some(next) => {
                    appended.push(HistoryEvent::new(
                        now,
                        EventKind::ExecutionCompleted {
                            status: RuntimeStatus::ContinuedAsNew,
                            result: next.input.clone(),
                            failure: None,
                        },
                    ));
                    let carried_events = if next.preserve_unprocessed_events {
                        let state = lock(&self.state);
                        state
                            .event_buffer
                            .iter()
                            .map(|event| {
                                HistoryEvent::new(
                                    now,
                                    EventKind::EventRaised {
                                        name: event.name.clone(),
                                        input: event.input.clone(),
                                    },
                                )
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    turn.status = RuntimeStatus::ContinuedAsNew;
                    turn.continue_as_new = Some(NextExecution {
                        input: next.input,
                        carried_events,
                    });
                }
                None => {
                    appended.push(HistoryEvent::new(
                        now,
                        EventKind::ExecutionCompleted {
                            status: RuntimeStatus::Completed,
                            result: output.clone(),
                            failure: None,
                        },
                    ));
                    turn.status = RuntimeStatus::Completed;
                    turn.output = output;
                }
            },
            Some(Err(failure)) => {
                appended.push(failed_event(now, &failure));
                turn.status = RuntimeStatus::Failed;
                turn.output = failure_output(&failure);
            }
        }
        appended.push(HistoryEvent::new(now, EventKind::OrchestratorCompleted));
        turn.appended = appended;
        turn
    }

    /// Whether the orchestrator is running and waits for nothing but call `sequence`
    /// (no other call, timer or event), so that call's result alone makes its next turn.
    pub fn waits_only_for(&self, sequence: i64) -> bool {
        if self.future.is_none() {
            return false;
        }
        let state = lock(&self.state);
        state.open_tasks.len() == 1
            && state
                .open_tasks
                .get(&TaskKey::Call(sequence))
                .is_some_and(|task| task.outcome.is_none())
    }

    /// The trace the instance joins, from its `ExecutionStarted`.
    pub(crate) fn trace_context(&self) -> Option<crate::trace_context::TraceContext> {
        lock(&self.state).trace_context.clone()
    }

    /// Whether the orchestrator is running and waits for nothing but some of the calls
    /// `sequences` (no other call, timer or event), so their results alone make its next
    /// turn.
    pub fn waits_only_for_calls(&self, sequences: &[i64]) -> bool {
        if self.future.is_none() || self.outcome.is_some() {
            return false;
        }
        let state = lock(&self.state);
        !state.open_tasks.is_empty()
            && state.open_tasks.keys().all(|key| match key {
                TaskKey::Call(sequence) => sequences.contains(sequence),
                TaskKey::Event(_) => false,
            })
    }

    fn begin_turn(&mut self, at: DateTime<Utc>, replaying: bool) {
        let mut state = lock(&self.state);
        state.current_time = at;
        state.is_replaying = replaying;
    }

    /// Delivers one message; says whether it changed anything (duplicates and stale
    /// completions do not, and are left out of history).
    fn apply(&mut self, event: &HistoryEvent) -> bool {
        match &event.kind {
            EventKind::ExecutionStarted {
                input,
                execution_id,
                parent,
                parent_trace_context,
                version,
                ..
            } => {
                if self.future.is_some() || self.outcome.is_some() {
                    return false;
                }
                {
                    let mut state = lock(&self.state);
                    state.input = input.clone();
                    state.execution_id = execution_id.clone();
                    state.parent = parent.clone();
                    state.trace_context = parent_trace_context.clone();
                    state.version = version.clone();
                }
                let context = OrchestrationContext::new(self.state.clone());
                match catch_unwind(AssertUnwindSafe(|| (self.invoke)(context))) {
                    Ok(future) => self.future = Some(future),
                    Err(panic) => self.outcome = Some(Err(self.failure_of(panic))),
                }
                self.poll();
                true
            }
            EventKind::TaskCompleted {
                task_scheduled_id,
                result,
            } => self.deliver(*task_scheduled_id, TaskOutcome::Completed(result.clone())),
            EventKind::TaskFailed {
                task_scheduled_id,
                failure,
            }
            | EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id,
                failure,
            } => self.deliver(*task_scheduled_id, TaskOutcome::Failed(failure.clone())),
            EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id,
                result,
            }
            | EventKind::EntityOperationCompleted {
                task_scheduled_id,
                result,
            } => self.deliver(*task_scheduled_id, TaskOutcome::Completed(result.clone())),
            EventKind::EntityOperationFailed {
                task_scheduled_id,
                failure,
            } => self.deliver(*task_scheduled_id, TaskOutcome::Failed(failure.clone())),
            EventKind::EntityLockGranted {
                task_scheduled_id, ..
            } => self.deliver(*task_scheduled_id, TaskOutcome::Completed(Value::Null)),
            EventKind::TimerFired { timer_id, .. } => {
                self.deliver(*timer_id, TaskOutcome::Completed(Value::Null))
            }
            EventKind::EventRaised { name, input } => self.raise(name, input),
            // Suspend, resume and rewind are recorded; the worker acted on them.
            EventKind::ExecutionSuspended { .. }
            | EventKind::ExecutionResumed { .. }
            | EventKind::ExecutionRewound { .. } => true,
            _ => false,
        }
    }

    /// Hands an external event to the oldest wait on its name, or buffers it.
    fn raise(&mut self, name: &str, input: &Value) -> bool {
        let folded = name.to_lowercase();
        let mut state = lock(&self.state);
        let buffered = |state: &mut ReplayState, folded: String| {
            let delivered = state.deliveries;
            state.event_buffer.push_back(BufferedEvent {
                folded,
                name: name.to_owned(),
                input: input.clone(),
                delivered,
            });
        };
        if self.outcome.is_some() {
            // Events behind the one that ended the execution are unprocessed: kept only
            // for a `continue_as_new` that preserves them.
            let preserve = state
                .continue_as_new
                .as_ref()
                .is_some_and(|next| next.preserve_unprocessed_events);
            if preserve {
                buffered(&mut state, folded);
            }
            return false;
        }
        state.deliveries += 1;
        let delivered = state.deliveries;
        let waiter = state
            .event_waiters
            .get_mut(&folded)
            .and_then(|waiters| waiters.pop_front());
        let waker = match waiter.and_then(|w| state.open_tasks.get_mut(&TaskKey::Event(w))) {
            Some(task) => {
                task.outcome = Some(TaskOutcome::Completed(input.clone()));
                task.delivered = delivered;
                task.waker.take()
            }
            None => {
                buffered(&mut state, folded);
                None
            }
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.poll();
        true
    }

    fn deliver(&mut self, sequence: i64, outcome: TaskOutcome) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        let waker = {
            let mut state = lock(&self.state);
            let recorded = !state.pending.iter().any(|a| a.sequence == sequence);
            let delivered = state.deliveries + 1;
            match state.open_tasks.get_mut(&TaskKey::Call(sequence)) {
                Some(task) if recorded && task.outcome.is_none() => {
                    task.outcome = Some(outcome);
                    task.delivered = delivered;
                    let waker = task.waker.take();
                    state.deliveries = delivered;
                    waker
                }
                _ => return false,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.poll();
        true
    }

    fn poll(&mut self) {
        let Some(future) = self.future.as_mut() else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        let replaying = lock(&self.state).is_replaying;
        REPLAYING.with(|flag| flag.set(replaying));
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
        REPLAYING.with(|flag| flag.set(false));
        let oversized = lock(&self.state).oversized_custom_status.take();
        match polled {
            // Set by the poll, replay included, so a replay ends the same way.
            Ok(_) if oversized.is_some() => {
                self.outcome = oversized.map(Err);
                self.future = None;
            }
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(result)) => {
                self.outcome = Some(self.bounded(result));
                self.future = None;
            }
            Err(panic) => {
                self.outcome = Some(Err(self.failure_of(panic)));
                self.future = None;
            }
        }
    }

    /// Matches the calls made while replaying a turn against the actions it recorded.
    fn check_recorded(&mut self, recorded: &[HistoryEvent]) -> Result<(), FailureDetails> {
        let made: Vec<Action> = std::mem::take(&mut lock(&self.state).pending);
        let mut made: BTreeMap<i64, Action> = made.into_iter().map(|a| (a.sequence, a)).collect();
        for event in recorded {
            let Some(expected) = recorded_call(event.event_id, &event.kind) else {
                continue;
            };
            match made.remove(&event.event_id) {
                None => {
                    return Err(non_determinism(format!(
                        "history recorded call #{} as {expected}, but on replay the \
                         orchestrator did not make that call",
                        event.event_id
                    )));
                }
                Some(action) if action.kind.describe() != expected => {
                    return Err(non_determinism(format!(
                        "history recorded call #{} as {expected}, but on replay the \
                         orchestrator called {} at {}",
                        event.event_id,
                        action.kind.describe(),
                        action.location
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(action) = made.into_values().next() {
            return Err(non_determinism(format!(
                "on replay the orchestrator called {} at {} as call #{}, but history has no \
                 such call at that point",
                action.kind.describe(),
                action.location,
                action.sequence
            )));
        }
        let finished_in_history = recorded
            .iter()
            .any(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }));
        if finished_in_history && self.outcome.is_none() {
            return Err(non_determinism(
                "history recorded that the orchestration finished, but on replay it did not \
                 finish"
                    .to_owned(),
            ));
        }
        if self.outcome.is_some() && !finished_in_history {
            return Err(non_determinism(
                "on replay the orchestration finished at a point where its history continues"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

/// The call a recorded action event stands for, described as [`ActionKind::describe`]
/// does, or `None` for events that are not calls.
pub(crate) fn recorded_call(event_id: i64, kind: &EventKind) -> Option<String> {
    let call = match kind {
        EventKind::TaskScheduled { name, input } => ActionKind::CallActivity {
            name: name.clone(),
            input: input.clone(),
        },
        EventKind::SubOrchestrationInstanceCreated {
            name,
            instance_id,
            input,
        } => ActionKind::CallSubOrchestrator {
            name: name.clone(),
            instance_id: instance_id.clone(),
            input: input.clone(),
        },
        EventKind::TimerCreated { fire_at } => ActionKind::CreateTimer { fire_at: *fire_at },
        EventKind::EventSent {
            instance_id,
            name,
            input,
        } => ActionKind::SendEvent {
            instance_id: instance_id.clone(),
            name: name.clone(),
            input: input.clone(),
        },
        EventKind::EntityOperationSignaled {
            request_id,
            target_instance_id,
            operation,
            input,
            critical_section_id,
        } => ActionKind::SignalEntity {
            request_id: request_id.clone(),
            instance_id: target_instance_id.clone(),
            operation: operation.clone(),
            input: input.clone(),
            critical_section_id: critical_section_id.clone(),
        },
        EventKind::EntityOperationCalled {
            request_id,
            target_instance_id,
            operation,
            input,
            critical_section_id,
            ..
        } => ActionKind::CallEntity {
            request_id: request_id.clone(),
            instance_id: target_instance_id.clone(),
            operation: operation.clone(),
            input: input.clone(),
            critical_section_id: critical_section_id.clone(),
        },
        EventKind::EntityLockRequested {
            critical_section_id,
            lock_set,
            ..
        } => ActionKind::LockEntities {
            critical_section_id: critical_section_id.clone(),
            lock_set: lock_set.clone(),
        },
        // Unlocks the engine sent when the execution ended are not calls (event id -1).
        EventKind::EntityUnlockSent {
            critical_section_id,
            target_instance_id,
        } if event_id >= 0 => ActionKind::UnlockEntity {
            critical_section_id: critical_section_id.clone(),
            instance_id: target_instance_id.clone(),
        },
        _ => return None,
    };
    Some(call.describe())
}

/// Writes a new call into the turn: its history event and the work it asks for.
pub(crate) fn record_action(
    turn: &mut TurnOutput,
    action: Action,
    now: DateTime<Utc>,
) -> HistoryEvent {
    let kind = match action.kind {
        ActionKind::CallActivity { name, input } => {
            turn.activities.push(ScheduledActivity {
                task_id: action.sequence,
                name: name.clone(),
                input: input.clone(),
            });
            // The activity's queue row keeps the real input; history shows HTTP secrets
            // redacted (replay compares names only).
            let input = crate::http::input_for_history(&name, input);
            EventKind::TaskScheduled { name, input }
        }
        ActionKind::CallSubOrchestrator {
            name,
            instance_id,
            input,
        } => {
            turn.children.push(ScheduledChild {
                task_id: action.sequence,
                name: name.clone(),
                instance_id: instance_id.clone(),
                input: input.clone(),
            });
            EventKind::SubOrchestrationInstanceCreated {
                name,
                instance_id,
                input,
            }
        }
        ActionKind::CreateTimer { fire_at } => {
            turn.timers.push((action.sequence, fire_at));
            EventKind::TimerCreated { fire_at }
        }
        ActionKind::SendEvent {
            instance_id,
            name,
            input,
        } => {
            turn.events.push(SentEvent {
                instance_id: instance_id.clone(),
                name: name.clone(),
                input: input.clone(),
            });
            EventKind::EventSent {
                instance_id,
                name,
                input,
            }
        }
        ActionKind::SignalEntity {
            request_id,
            instance_id,
            operation,
            input,
            critical_section_id,
        } => EventKind::EntityOperationSignaled {
            request_id,
            target_instance_id: instance_id,
            operation,
            input,
            critical_section_id,
        },
        ActionKind::CallEntity {
            request_id,
            instance_id,
            operation,
            input,
            critical_section_id,
        } => EventKind::EntityOperationCalled {
            request_id,
            target_instance_id: instance_id,
            operation,
            input,
            critical_section_id,
            caller: None,
        },
        ActionKind::LockEntities {
            critical_section_id,
            lock_set,
        } => EventKind::EntityLockRequested {
            critical_section_id,
            lock_set,
            position: 0,
            caller: None,
        },
        ActionKind::UnlockEntity {
            critical_section_id,
            instance_id,
        } => EventKind::EntityUnlockSent {
            critical_section_id,
            target_instance_id: instance_id,
        },
    };
    let entity = match &kind {
        EventKind::EntityOperationSignaled {
            target_instance_id, ..
        }
        | EventKind::EntityOperationCalled {
            target_instance_id, ..
        }
        | EventKind::EntityUnlockSent {
            target_instance_id, ..
        } => Some(target_instance_id),
        EventKind::EntityLockRequested { lock_set, .. } => lock_set.first(),
        _ => None,
    };
    if let Some(entity) = entity {
        turn.entity_operations.push(EntityMessage {
            instance_id: entity.clone(),
            event: HistoryEvent {
                event_id: action.sequence,
                timestamp: now,
                kind: kind.clone(),
            },
        });
    }
    HistoryEvent {
        event_id: action.sequence,
        timestamp: now,
        kind,
    }
}

/// The events of a turn that ends the instance with a failure found before running user
/// code (non-determinism, an unknown orchestrator).
/// The messages the turn consumed are recorded, so a rewind can deliver them again.
pub(crate) fn failed_turn(
    now: DateTime<Utc>,
    messages: Vec<HistoryEvent>,
    failure: &FailureDetails,
) -> TurnOutput {
    let mut appended = messages;
    appended.extend([
        HistoryEvent::new(now, EventKind::OrchestratorStarted),
        failed_event(now, failure),
        HistoryEvent::new(now, EventKind::OrchestratorCompleted),
    ]);
    TurnOutput::finished(appended, RuntimeStatus::Failed, failure_output(failure))
}

fn failed_event(now: DateTime<Utc>, failure: &FailureDetails) -> HistoryEvent {
    HistoryEvent::new(
        now,
        EventKind::ExecutionCompleted {
            status: RuntimeStatus::Failed,
            result: Value::Null,
            failure: Some(failure.clone()),
        },
    )
}

/// A failed instance's output is its failure details.
fn failure_output(failure: &FailureDetails) -> Value {
    serde_json::to_value(failure).unwrap_or(Value::Null)
}

fn non_determinism(message: String) -> FailureDetails {
    FailureDetails::new(
        "NonDeterministicOrchestrationError",
        format!("non-deterministic orchestration: {message}"),
    )
}

/// One recorded turn of a history: the messages it consumed, `OrchestratorStarted` at
/// `started`, the actions it recorded, and `OrchestratorCompleted` last.
pub(crate) struct RecordedTurn<'a> {
    /// The turn's events, `OrchestratorCompleted` last.
    events: &'a [HistoryEvent],
    /// Where its `OrchestratorStarted` is.
    started: usize,
}

impl<'a> RecordedTurn<'a> {
    /// The messages the turn consumed.
    pub fn messages(&self) -> &'a [HistoryEvent] {
        &self.events[..self.started]
    }

    /// What the turn recorded, from `OrchestratorStarted` to `OrchestratorCompleted`.
    pub fn recorded(&self) -> &'a [HistoryEvent] {
        &self.events[self.started..]
    }

    /// The actions between `OrchestratorStarted` and `OrchestratorCompleted`.
    fn actions(&self) -> &'a [HistoryEvent] {
        &self.events[self.started + 1..self.events.len() - 1]
    }

    /// When the turn ran.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.events[self.started].timestamp
    }
}

/// A history cut into its recorded turns, in order; an item is an error (what is wrong)
/// where the history is not made of whole turns.
pub(crate) fn recorded_turns(
    history: &[HistoryEvent],
) -> impl Iterator<Item = Result<RecordedTurn<'_>, &'static str>> {
    let mut rest = history;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(started) = rest
            .iter()
            .position(|e| matches!(e.kind, EventKind::OrchestratorStarted))
        else {
            rest = &[];
            return Some(Err("a turn without OrchestratorStarted"));
        };
        let Some(completed) = rest[started..]
            .iter()
            .position(|e| matches!(e.kind, EventKind::OrchestratorCompleted))
        else {
            rest = &[];
            return Some(Err("a turn without OrchestratorCompleted"));
        };
        let (events, later) = rest.split_at(started + completed + 1);
        rest = later;
        Some(Ok(RecordedTurn { events, started }))
    })
}

fn corrupt(what: &str) -> FailureDetails {
    FailureDetails::new("CorruptHistory", format!("the stored history has {what}"))
}

impl Execution {
    /// The orchestrator's result, failed when its output is over the payload limit.
    fn bounded(&self, result: InvocationResult) -> InvocationResult {
        let limit = lock(&self.state).limits.max_payload_bytes;
        let output = result?;
        match crate::payload_limit::over_limit(&output, limit) {
            Some(size) => Err(crate::payload_limit::failure("the output", size, limit)),
            None => Ok(output),
        }
    }

    /// What a panic of the orchestrator's code means: going over the action limits, or a
    /// bug.
    fn failure_of(&self, panic: Box<dyn std::any::Any + Send>) -> FailureDetails {
        match lock(&self.state).over_limit.clone() {
            Some(failure) => failure,
            None => panic_failure(panic),
        }
    }
}

/// Failure details for a caught panic: its message, as `panic!` formatted it.
pub(crate) fn panic_failure(panic: Box<dyn std::any::Any + Send>) -> FailureDetails {
    let message = if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    };
    FailureDetails::new("panic", message)
}
