//! Running ahead: before a live orchestration's turn commits, the activities it schedules
//! run here, in line, and the turns their results make are folded into the same commit.
//! A chain of quick activities then costs one durable write instead of one per step.
//!
//! Nothing is acknowledged before that write, so a crash loses only work that runs again
//! (activities run at least once, as always). A run-ahead stops at its time budget, at
//! anything that is not a local activity (a timer, an event, a child, a message), or when
//! permits run out; activities still running then are handed to the activity path with
//! the rows the commit leases to this worker, so nothing runs twice here.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::Shared;
use super::invoke::{self, Running};
use super::kept_results::RanAhead;
use crate::orchestration::replay::{Execution, TurnOutput};
use crate::registry::InvocationResult;
use crate::status::RuntimeStatus;
use crate::trace_context::TraceContext;

/// An activity call started in line whose result did not make it into the commit.
pub(crate) struct Started {
    /// The call's sequence number in its orchestration.
    pub task_id: i64,
    /// The running function.
    pub running: Running,
    /// The activity permit it holds.
    pub permit: OwnedSemaphorePermit,
}

/// What a run-ahead leaves for the commit.
pub(crate) struct RunAhead {
    /// The turn to commit: the given one with the later turns folded in.
    pub turn: TurnOutput,
    /// The calls still running, which the commit schedules.
    pub started: Vec<Started>,
    /// The calls answered in line, kept if the commit does not happen.
    pub answered: Vec<RanAhead>,
}

/// Runs `execution` ahead of `turn`'s commit while its next steps are local activities,
/// within the worker's run-ahead budget.
pub(crate) async fn run_ahead(
    shared: &Arc<Shared>,
    instance_id: &str,
    execution_id: &str,
    execution: &mut Execution,
    turn: TurnOutput,
) -> RunAhead {
    let mut ahead = RunAhead {
        turn,
        started: Vec::new(),
        answered: Vec::new(),
    };
    let budget = shared.options.run_ahead;
    if budget.is_zero() {
        return ahead;
    }
    let deadline = Instant::now() + budget;
    loop {
        let turn = &ahead.turn;
        if shared.is_stopping() || Instant::now() >= deadline || !only_calls(turn, execution) {
            return ahead;
        }
        let trace = execution.trace_context();
        let calls = CallsOf {
            instance_id,
            execution_id,
            trace: trace.as_ref(),
        };
        let Some(started) = start_all(shared, &calls, turn) else {
            return ahead;
        };
        let outcomes = match finish_all(started, deadline).await {
            Ok(outcomes) => outcomes,
            Err(still_running) => {
                ahead.started = still_running;
                return ahead;
            }
        };
        let now = shared.clock.now();
        let mut results = Vec::with_capacity(outcomes.len());
        for (activity, (task_id, outcome)) in turn.activities.iter().zip(outcomes) {
            ahead.answered.push(RanAhead {
                task_id,
                name: activity.name.clone(),
                input: activity.input.clone(),
                outcome: outcome.clone(),
            });
            results.push(invoke::result_event(task_id, outcome, now));
        }
        let next = execution.run_turn(now, results);
        ahead.turn = fold(ahead.turn, next);
    }
}

/// Whether the turn's only new work is activity calls and the orchestrator waits for
/// nothing else, so their results alone make its next turn.
fn only_calls(turn: &TurnOutput, execution: &Execution) -> bool {
    let sequences: Vec<i64> = turn.activities.iter().map(|a| a.task_id).collect();
    turn.status == RuntimeStatus::Running
        && !turn.activities.is_empty()
        && turn.timers.is_empty()
        && turn.children.is_empty()
        && turn.events.is_empty()
        && turn.entity_operations.is_empty()
        && turn.control.is_empty()
        && turn.requeued.is_empty()
        && turn.retried_activities.is_empty()
        && turn.continue_as_new.is_none()
        && turn.truncate_history_to.is_none()
        && execution.waits_only_for_calls(&sequences)
}

/// Starts every activity of the turn, each with a permit; `None` (nothing started) when
/// one is not registered here or permits are short.
/// Whose calls a run-ahead starts.
struct CallsOf<'a> {
    instance_id: &'a str,
    execution_id: &'a str,
    trace: Option<&'a TraceContext>,
}

fn start_all(shared: &Arc<Shared>, calls: &CallsOf<'_>, turn: &TurnOutput) -> Option<Vec<Started>> {
    let CallsOf {
        instance_id,
        execution_id,
        trace,
    } = *calls;
    if turn
        .activities
        .iter()
        .any(|a| !shared.runs_activity(&a.name))
    {
        return None;
    }
    let mut permits = shared
        .activity_permits
        .clone()
        .try_acquire_many_owned(u32::try_from(turn.activities.len()).ok()?)
        .ok()?;
    turn.activities
        .iter()
        .map(|activity| {
            let permit = permits.split(1)?;
            let call = invoke::Call {
                name: &activity.name,
                instance_id,
                execution_id,
                task_id: activity.task_id,
                attempt: 1,
                trace,
            };
            let running = invoke::start(shared, call, activity.input.clone())?;
            Some(Started {
                task_id: activity.task_id,
                running,
                permit,
            })
        })
        .collect()
}

/// Waits for the started calls up to `deadline`: their outcomes, in call order, or, when
/// one is not done in time, all of them back (the finished ones as settled tasks: the
/// commit schedules every call of the turn).
async fn finish_all(
    started: Vec<Started>,
    deadline: Instant,
) -> Result<Vec<(i64, InvocationResult)>, Vec<Started>> {
    let mut finished = Vec::with_capacity(started.len());
    let mut pending = started.into_iter();
    while let Some(call) = pending.next() {
        match call.running.finish_by(deadline).await {
            Ok(Some(outcome)) => finished.push((call.task_id, outcome, call.permit)),
            // Cancelled, which nothing here does: the commit schedules the calls afresh.
            Ok(None) => return Err(Vec::new()),
            Err(running) => {
                let mut back: Vec<Started> = finished
                    .into_iter()
                    .map(|(task_id, outcome, permit)| Started {
                        task_id,
                        running: Running::settled(outcome),
                        permit,
                    })
                    .collect();
                back.push(Started {
                    task_id: call.task_id,
                    running,
                    permit: call.permit,
                });
                back.extend(pending);
                return Err(back);
            }
        }
    }
    Ok(finished
        .into_iter()
        .map(|(task_id, outcome, _permit)| (task_id, outcome))
        .collect())
}

/// One commit for two consecutive turns: the later turn's outcome after both turns'
/// events. The earlier turn's calls were answered in line, so they are not scheduled.
fn fold(earlier: TurnOutput, mut later: TurnOutput) -> TurnOutput {
    let mut appended = earlier.appended;
    appended.append(&mut later.appended);
    later.appended = appended;
    later
}
