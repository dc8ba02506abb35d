//! The turn pipeline: what every turn of an orchestration goes through between the
//! engine and the store, whoever runs it (a dispatcher's leased instance, a finished
//! activity's live orchestration, an eager start): run ahead, park the live orchestration,
//! build the commit, write it, and what follows the write.

use crate::engine::failpoints;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Shared;
use super::cache::Cached;
use super::run_ahead::{Started, run_ahead};
use crate::engine::metrics::StoreCall;
use crate::history::{EventKind, FailureDetails, HistoryEvent, ParentInstance};
use crate::orchestration::replay::{Execution, TurnOutput};
use crate::status::RuntimeStatus;
use crate::store::{
    ActivityWorkItem, InstanceRecord, NewActivity, NewExecution, NewInstance, NewTimer,
    OrchestrationWorkItem, OutboundMessage, ReplacePolicy, StoreError, TurnClaim, TurnCommit,
    TurnWrite,
};
use crate::trace_context::TraceContext;

/// A turn the engine produced, waiting for its commit.
pub(super) struct Turn {
    /// The instance's row as the turn found it.
    pub instance: InstanceRecord,
    /// What the turn did.
    pub output: TurnOutput,
    /// The live orchestration, when the orchestrator ran: it may run ahead, and is parked
    /// for the next turn once the commit is written.
    pub execution: Option<Execution>,
    /// Ids of the messages the turn consumed.
    pub consumed: Vec<i64>,
    /// Hand-outs of this turn that ended without a commit (their worker died). Such a turn
    /// does not run ahead: it commits before its activities run, so they are counted
    /// towards their poison limit.
    pub earlier_hand_outs: u32,
    /// The turn's time.
    pub now: DateTime<Utc>,
    /// When work on the turn began (for its duration in the metrics).
    pub began: std::time::Instant,
    /// The trace the instance joins; its children and next execution join it too.
    pub trace: Option<TraceContext>,
}

/// Activity calls a write leased to this worker, to run at once.
#[derive(Default)]
pub(super) struct Leased {
    /// The leased calls.
    pub items: Vec<ActivityWorkItem>,
    /// Those of them already running (started while running ahead).
    pub started: Vec<Started>,
    /// The trace their instance joins.
    pub trace: Option<TraceContext>,
}

/// What the store handed to this worker in a write, to run next.
pub(super) enum FollowUp {
    /// Activity calls.
    Activities(Leased),
    /// An instance's next turn.
    Turn(Box<OrchestrationWorkItem>),
    /// Nothing.
    Nothing,
}

/// Runs `turn` ahead (when it may), writes it under `claim`, and then notes its
/// completion and parks its live orchestration. Callers run it in the turn's [`span`],
/// which the lifecycle lines it logs rely on for the instance's ids. On an error nothing was written, and the
/// calls that were running ahead are stopped.
pub(super) async fn commit(
    shared: &Arc<Shared>,
    turn: Turn,
    claim: TurnClaim,
) -> Result<Leased, StoreError> {
    let Turn {
        instance,
        output,
        execution,
        consumed,
        earlier_hand_outs,
        now,
        began,
        trace,
    } = turn;
    let (output, execution, started, answered) = match execution {
        Some(mut live) if earlier_hand_outs == 0 => {
            let ahead = run_ahead(
                shared,
                &instance.instance_id,
                &instance.execution_id,
                &mut live,
                output,
            )
            .await;
            (ahead.turn, Some(live), ahead.started, ahead.answered)
        }
        other => (output, other, Vec::new(), Vec::new()),
    };
    let parked = park(&instance, execution, &output);
    let status = output.status;
    let lifecycle = Lifecycle::of(&instance, &output);
    let leased_claim = matches!(claim, TurnClaim::Leased);
    let write = TurnWrite {
        turn: to_commit(&instance, consumed, output, earlier_hand_outs, now, &trace),
        claim,
        lease_activities: Some(shared.options.lease),
    };
    let writing = std::time::Instant::now();
    let committed = match failpoints::point("turn.commit.before").await {
        Ok(()) => shared.store.commit(&shared.owner, write).await,
        Err(injected) => Err(injected),
    };
    // After a durable write: the worker may die or be told it failed.
    let committed = match failpoints::point("turn.commit.after").await {
        Ok(()) => committed,
        Err(injected) => committed.and(Err(injected)),
    };
    let items = match committed {
        Ok(items) => items,
        Err(error) => {
            // The calls answered in line ran; the next turn here takes their results.
            shared.lock_kept_results().keep(
                &instance.instance_id,
                &instance.execution_id,
                answered,
            );
            if let Some(metrics) = &shared.options.metrics {
                match &error {
                    // A result with the next turn that the store declined is no stale
                    // commit: the instance was busy, and the result goes the usual way.
                    StoreError::LeaseLost(_) if !leased_claim => {}
                    StoreError::LeaseLost(_) => metrics.stale_commit(),
                    _ => metrics.store_error(StoreCall::Commit),
                }
            }
            return Err(error);
        }
    };
    if let Some(metrics) = &shared.options.metrics {
        metrics.turn_committed(
            shared.orchestrator_label(&instance.name),
            began.elapsed(),
            writing.elapsed(),
        );
    }
    lifecycle.log(status);
    shared.note_committed(&instance.name, status);
    if let Some(parked) = parked {
        shared
            .lock_cache()
            .put(parked.instance.instance_id.clone(), parked);
    }
    Ok(Leased {
        items,
        started,
        trace,
    })
}

/// The span of a turn of `instance`: its ids, its orchestrator, the sequence number its
/// new events start at, and the trace it joins.
pub(super) fn span(instance: &InstanceRecord, trace: Option<&TraceContext>) -> tracing::Span {
    let span = tracing::info_span!(
        "turn",
        instance_id = %instance.instance_id,
        execution_id = %instance.execution_id,
        orchestrator = %instance.name,
        sequence = instance.history_length,
        trace_id = tracing::field::Empty,
    );
    crate::trace_context::attach(&span, trace);
    span
}

/// The trace context of the first `ExecutionStarted` among `events`.
pub(super) fn trace_in<'a>(
    mut events: impl Iterator<Item = &'a HistoryEvent>,
) -> Option<TraceContext> {
    events.find_map(|event| match &event.kind {
        EventKind::ExecutionStarted {
            parent_trace_context,
            ..
        } => Some(parent_trace_context.clone()),
        _ => None,
    })?
}

/// What a committed turn did to its instance's life, logged once at info level: the
/// commit happens once, whereas replay runs the orchestrator again.
struct Lifecycle {
    started: bool,
    finished: bool,
}

impl Lifecycle {
    fn of(instance: &InstanceRecord, turn: &TurnOutput) -> Lifecycle {
        Lifecycle {
            started: turn
                .appended
                .iter()
                .any(|event| matches!(event.kind, EventKind::ExecutionStarted { .. })),
            finished: turn.status.is_terminal() && !instance.status.is_terminal(),
        }
    }

    fn log(&self, status: RuntimeStatus) {
        // The ids and the orchestrator's name are on the turn's span.
        if self.started {
            tracing::info!("orchestration started");
        }
        if self.finished {
            tracing::info!(%status, "orchestration finished");
        }
    }
}

/// What a worker does when the commit of an instance it leased failed: a lost lease means
/// another worker has the instance; otherwise the lease is given back, so the turn runs
/// again (here or elsewhere).
pub(super) async fn give_back(shared: &Shared, instance_id: &str, error: StoreError) {
    match error {
        StoreError::LeaseLost(_) => {
            tracing::warn!(%instance_id, "lease lost; another worker redoes this turn");
        }
        error => {
            tracing::warn!(%instance_id, %error, "commit failed; the turn will run again");
            let _ = shared
                .store
                .abandon_orchestration(&shared.owner, instance_id)
                .await;
        }
    }
}

/// The cache entry for an orchestration that lives on after `turn`, with the instance's
/// row as the turn leaves it; `None` when the execution ended or the turn reshaped its
/// history (continue-as-new, rewind).
fn park(
    instance: &InstanceRecord,
    execution: Option<Execution>,
    turn: &TurnOutput,
) -> Option<Cached> {
    let execution = execution.filter(|_| {
        !turn.status.is_terminal()
            && turn.continue_as_new.is_none()
            && turn.truncate_history_to.is_none()
    })?;
    Some(Cached {
        execution,
        instance: InstanceRecord {
            status: turn.status,
            output: turn.output.clone(),
            custom_status: turn.custom_status.clone(),
            history_length: instance.history_length + turn.appended.len() as u64,
            ..instance.clone()
        },
    })
}

/// Turns what the engine produced into the store's commit: work, timers, children,
/// messages, and the result for a parent when the instance finished.
fn to_commit(
    instance: &InstanceRecord,
    consumed: Vec<i64>,
    turn: TurnOutput,
    earlier_hand_outs: u32,
    now: chrono::DateTime<chrono::Utc>,
    trace: &Option<TraceContext>,
) -> TurnCommit {
    let finished = turn.status.is_terminal() && !instance.status.is_terminal();
    let mut messages: Vec<OutboundMessage> = turn
        .events
        .into_iter()
        .map(|sent| OutboundMessage {
            instance_id: sent.instance_id,
            execution_id: None,
            event: HistoryEvent::new(
                now,
                EventKind::EventRaised {
                    name: sent.name,
                    input: sent.input,
                },
            ),
        })
        .collect();
    messages.extend(turn.entity_operations.into_iter().map(|sent| {
        let mut event = sent.event;
        if let EventKind::EntityOperationCalled { caller, .. }
        | EventKind::EntityLockRequested { caller, .. } = &mut event.kind
        {
            *caller = Some(ParentInstance {
                instance_id: instance.instance_id.clone(),
                execution_id: instance.execution_id.clone(),
                task_scheduled_id: event.event_id,
            });
        }
        OutboundMessage {
            instance_id: sent.instance_id,
            execution_id: None,
            event,
        }
    }));
    messages.extend(
        turn.control
            .into_iter()
            .map(|(child, event)| OutboundMessage {
                instance_id: child,
                execution_id: None,
                event,
            }),
    );
    messages.extend(turn.requeued.into_iter().map(|event| OutboundMessage {
        instance_id: instance.instance_id.clone(),
        execution_id: Some(instance.execution_id.clone()),
        event,
    }));
    if finished && let Some(parent) = &instance.parent {
        let kind = match turn.status {
            RuntimeStatus::Completed => EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id: parent.task_scheduled_id,
                result: turn.output.clone(),
            },
            _ => EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id: parent.task_scheduled_id,
                failure: serde_json::from_value(turn.output.clone()).unwrap_or_else(|_| {
                    FailureDetails::new(
                        "SubOrchestrationFailed",
                        format!(
                            "sub-orchestration `{}` ended {}",
                            instance.instance_id, turn.status
                        ),
                    )
                }),
            },
        };
        messages.push(OutboundMessage {
            instance_id: parent.instance_id.clone(),
            execution_id: Some(parent.execution_id.clone()),
            event: HistoryEvent::new(now, kind),
        });
    }
    TurnCommit {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        expected_history_length: instance.history_length,
        consumed,
        appended: turn.appended,
        status: turn.status,
        output: turn.output,
        custom_status: turn.custom_status,
        activities: turn
            .activities
            .into_iter()
            .map(|a| NewActivity {
                task_id: a.task_id,
                name: a.name,
                input: a.input,
                earlier_hand_outs,
            })
            .chain(turn.retried_activities.into_iter().map(|a| NewActivity {
                task_id: a.task_id,
                name: a.name,
                input: a.input,
                // Retried by a rewind: no earlier try of this call was lost.
                earlier_hand_outs: 0,
            }))
            .collect(),
        truncate_history_to: turn.truncate_history_to,
        timers: turn
            .timers
            .into_iter()
            .map(|(timer_id, fire_at)| NewTimer { timer_id, fire_at })
            .collect(),
        children: turn
            .children
            .into_iter()
            .map(|child| NewInstance {
                instance_id: child.instance_id,
                name: child.name,
                execution_id: uuid::Uuid::new_v4().simple().to_string(),
                input: child.input,
                created_at: now,
                parent: Some(ParentInstance {
                    instance_id: instance.instance_id.clone(),
                    execution_id: instance.execution_id.clone(),
                    task_scheduled_id: child.task_id,
                }),
                scheduled_start: None,
                replace: ReplacePolicy::NonRunning,
                trace_context: trace.clone(),
                // Sub-orchestrations run the parent's version of the code.
                version: instance.version.clone(),
            })
            .collect(),
        messages,
        continue_as_new: turn.continue_as_new.map(|next| NewExecution {
            execution_id: uuid::Uuid::new_v4().simple().to_string(),
            input: next.input,
            carried_events: next.carried_events,
            trace_context: trace.clone(),
        }),
    }
}
