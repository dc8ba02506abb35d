//! A leased instance's turn: read what the turn needs, decide what it does (poison,
//! rewind, termination, nothing for a finished instance, or a run of the orchestrator),
//! and hand it to the turn pipeline. Entities take their own kind of turn.

use std::sync::Arc;

use tracing::Instrument;

use super::Shared;
use super::turn::{self, Leased, Turn};
use crate::engine::metrics::Queue;
use crate::engine::remote::{RemoteTurn, RemoteUnavailable};
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::instance_id::is_entity_id;
use crate::orchestration::critical_section::release_at_end;
use crate::orchestration::lifecycle;
use crate::orchestration::remote_turn::remote_turn;
use crate::orchestration::replay::{Execution, TurnOutput, failed_turn};
use crate::status::RuntimeStatus;
use crate::store::{InstanceRecord, OrchestrationWorkItem, QueuedMessage, TurnClaim};
use crate::version::{VersionFailure, VersionMatch};

/// Runs one turn of an instance leased to this worker and commits it; returns the
/// activities the commit leased here.
pub(super) async fn run_turn(shared: &Arc<Shared>, item: OrchestrationWorkItem) -> Leased {
    if is_entity_id(&item.instance.instance_id) {
        let entity = crate::instance_id::split_entity_id(&item.instance.instance_id)
            .map(|(name, _)| name.to_owned())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "entity_batch",
            instance_id = %item.instance.instance_id,
            %entity,
            messages = item.messages.len(),
        );
        super::entities::run_turn(shared, item)
            .instrument(span)
            .await;
        return Leased::default();
    }
    orchestration_turn(shared, item).await
}

/// [`run_turn`] for an orchestration instance.
async fn orchestration_turn(shared: &Arc<Shared>, item: OrchestrationWorkItem) -> Leased {
    let instance = item.instance;
    if let Err(error) = crate::engine::failpoints::point("turn.run.before").await {
        tracing::warn!(instance_id = %instance.instance_id, %error, "the turn will run again");
        return hand_back(shared, &instance.instance_id).await;
    }
    let began = std::time::Instant::now();
    let now = shared.clock.now();
    let versioning = &shared.options.versioning;
    let refused =
        !instance.status.is_terminal() && !versioning.accepts(instance.version.as_deref());
    if refused && versioning.failure_strategy == VersionFailure::Reject {
        // The store's fetch already leaves such instances alone; one that came another way
        // goes back at once for a host that runs its version.
        return hand_back(shared, &instance.instance_id).await;
    }
    // Messages for an earlier execution (a replaced instance, a continued-as-new one) are
    // consumed unread; external events (no execution) go to the current one.
    let (current, stale): (Vec<QueuedMessage>, Vec<QueuedMessage>) = item
        .messages
        .into_iter()
        .partition(|m| m.is_for(&instance.execution_id));
    let mut consumed: Vec<i64> = stale.iter().map(|m| m.id).collect();
    let cached = shared.lock_cache().take(
        &instance.instance_id,
        &instance.execution_id,
        instance.history_length,
    );
    // A live orchestration needs no history, unless a request (terminate, rewind) reads it;
    // the store may have left it out.
    let needs_history = cached.is_none() || current.iter().any(|m| m.event.kind.is_control());
    let history = match item.history {
        Some(history) => history,
        None if needs_history && instance.history_length > 0 => {
            match shared.store.get_history(&instance.instance_id).await {
                Ok(history) => history,
                Err(error) => {
                    tracing::warn!(instance_id = %instance.instance_id, %error, "cannot read the history; the turn will run again");
                    return hand_back(shared, &instance.instance_id).await;
                }
            }
        }
        None => Vec::new(),
    };
    // The span starts once the trace the instance joins is known: from the live
    // orchestration, or the `ExecutionStarted` in its history or messages.
    let trace = match &cached {
        Some(live) => live.trace_context(),
        None => turn::trace_in(history.iter().chain(current.iter().map(|m| &m.event))),
    };
    let span = turn::span(&instance, trace.as_ref());
    let dequeue_count = item.dequeue_count;
    async move {
        let poisoned = dequeue_count > shared.options.max_dequeue_count
            && !instance.status.is_terminal()
            && cached.is_none();
        let (output, execution) = if poisoned {
            consumed.extend(current.iter().map(|m| m.id));
            (
                poison(shared, &instance, &history, current, dequeue_count, now),
                None,
            )
        } else if refused {
            consumed.extend(current.iter().map(|m| m.id));
            (
                version_mismatch(shared, &instance, &history, current, now),
                None,
            )
        } else {
            let planned = plan_turn(
                shared,
                &instance,
                &history,
                cached,
                current,
                &mut consumed,
                now,
            );
            match planned {
                Planned::Ready(output, execution) => (output, execution),
                Planned::Remote { events, suspended } => {
                    match run_remote(shared, &instance, &history, events, suspended, now).await {
                        Ok(output) => (output, None),
                        Err(unavailable) => {
                            tracing::info!(instance_id = %instance.instance_id, %unavailable, "the turn goes back to the store for a remote worker");
                            return hand_back(shared, &instance.instance_id).await;
                        }
                    }
                }
            }
        };
        let instance_id = instance.instance_id.clone();
        let turn = Turn {
            instance,
            output,
            execution,
            consumed,
            earlier_hand_outs: dequeue_count.saturating_sub(1),
            now,
            began,
            trace,
        };
        match turn::commit(shared, turn, TurnClaim::Leased).await {
            Ok(leased) => leased,
            Err(error) => {
                turn::give_back(shared, &instance_id, error).await;
                Leased::default()
            }
        }
    }
    .instrument(span)
    .await
}

/// Gives a leased instance back to the store untouched, for its turn to run again (here
/// or elsewhere); nothing was leased.
async fn hand_back(shared: &Shared, instance_id: &str) -> Leased {
    let _ = shared
        .store
        .abandon_orchestration(&shared.owner, instance_id)
        .await;
    Leased::default()
}

/// The turn of an instance handed out more than the limit without a commit: each earlier
/// try ended with its worker gone (a crash), and running it again would only crash again,
/// so the instance fails instead.
fn poison(
    shared: &Shared,
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    messages: Vec<QueuedMessage>,
    dequeue_count: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> TurnOutput {
    let failure = FailureDetails::new(
        "PoisonMessage",
        format!(
            "the turn of instance `{}` was started {} times without finishing (the limit is {}); the instance fails instead of running it again",
            instance.instance_id,
            dequeue_count - 1,
            shared.options.max_dequeue_count
        ),
    );
    tracing::error!(instance_id = %instance.instance_id, %failure, "poison message");
    if let Some(metrics) = &shared.options.metrics {
        metrics.poison_message(Queue::Orchestration);
    }
    let events = messages.into_iter().map(|m| m.event).collect();
    let mut turn = failed_turn(now, events, &failure);
    release_at_end(&mut turn, history, now);
    turn
}

/// The turn of an instance whose version this worker does not take, with the `Fail`
/// strategy: the instance fails, naming both versions.
fn version_mismatch(
    shared: &Shared,
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    messages: Vec<QueuedMessage>,
    now: chrono::DateTime<chrono::Utc>,
) -> TurnOutput {
    let versioning = &shared.options.versioning;
    let failure = FailureDetails::new(
        "VersionMismatch",
        format!(
            "instance `{}` runs orchestration version {}; this host runs version {} and takes {}",
            instance.instance_id,
            describe(instance.version.as_deref()),
            describe(versioning.default_version.as_deref()),
            match versioning.match_strategy {
                VersionMatch::Strict => "only that version (versionMatchStrategy Strict)",
                _ => "only that version or older ones (versionMatchStrategy CurrentOrOlder)",
            }
        ),
    );
    tracing::warn!(instance_id = %instance.instance_id, %failure, "version mismatch");
    let events = messages.into_iter().map(|m| m.event).collect();
    let mut turn = failed_turn(now, events, &failure);
    release_at_end(&mut turn, history, now);
    turn
}

/// A version as a message names it.
fn describe(version: Option<&str>) -> String {
    version.map_or_else(|| "(none)".to_owned(), |version| format!("`{version}`"))
}

/// What a turn does, as [`plan_turn`] decides it.
// A value that lives for one match on the hot path: boxing the big variant would cost an
// allocation a turn to save stack space nobody keeps.
#[allow(clippy::large_enum_variant)]
enum Planned {
    /// Ready to commit; with the live orchestration when the Rust orchestrator ran, so it
    /// can be kept for the next turn.
    Ready(TurnOutput, Option<Execution>),
    /// A remote worker's orchestrator decides the turn over these messages.
    Remote {
        events: Vec<HistoryEvent>,
        suspended: bool,
    },
}

/// Runs a turn on a remote worker and records what it decided. The lease on the
/// instance must outlast the wait, so the wait is shorter than the lease.
async fn run_remote(
    shared: &Shared,
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    events: Vec<HistoryEvent>,
    suspended: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TurnOutput, RemoteUnavailable> {
    let remote = shared
        .remote_orchestrator(&instance.name)
        .ok_or_else(|| RemoteUnavailable("no remote workers are configured".to_owned()))?;
    let request = RemoteTurn {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        name: instance.name.clone(),
        now,
        past: history.to_vec(),
        new: events.clone(),
    };
    let decision = shared.within_lease(remote.run_turn(request)).await?;
    let mut turn = remote_turn(now, history, events, decision, shared.options.action_limits);
    if suspended && !turn.status.is_terminal() {
        turn.status = RuntimeStatus::Suspended;
    }
    Ok(turn)
}

/// Decides what the turn does: a rewind, a termination, nothing (finished instances), a
/// run of the orchestrator over the messages it may take, or (for an orchestrator a
/// remote worker runs) the messages to send it.
fn plan_turn(
    shared: &Shared,
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    cached: Option<Execution>,
    messages: Vec<QueuedMessage>,
    consumed: &mut Vec<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> Planned {
    let unchanged = || {
        let mut turn = TurnOutput::finished(Vec::new(), instance.status, instance.output.clone());
        turn.custom_status = instance.custom_status.clone();
        turn
    };
    let find = |is: fn(&EventKind) -> bool| {
        messages
            .iter()
            .find(|m| is(&m.event.kind))
            .map(|m| m.event.clone())
    };
    if instance.status == RuntimeStatus::Failed
        && let Some(request) = find(|k| matches!(k, EventKind::ExecutionRewound { .. }))
    {
        consumed.extend(messages.iter().map(|m| m.id));
        let turn = match lifecycle::rewind(now, history, request) {
            Ok(turn) => turn,
            Err(failure) => {
                tracing::warn!(instance_id = %instance.instance_id, %failure, "rewind refused");
                unchanged()
            }
        };
        return Planned::Ready(turn, None);
    }
    if instance.status.is_terminal() {
        // A finished instance takes no more events; late results are dropped.
        consumed.extend(messages.iter().map(|m| m.id));
        return Planned::Ready(unchanged(), None);
    }
    if let Some(request) = find(|k| matches!(k, EventKind::ExecutionTerminated { .. })) {
        consumed.extend(messages.iter().map(|m| m.id));
        let mut turn = lifecycle::terminate(now, history, request);
        release_at_end(&mut turn, history, now);
        return Planned::Ready(turn, None);
    }
    let (taken, events, suspended) =
        lifecycle::take_messages(instance.status == RuntimeStatus::Suspended, messages);
    consumed.extend(taken);
    if shared.remote_orchestrator(&instance.name).is_some() {
        return Planned::Remote { events, suspended };
    }
    let mut execution = None;
    let mut turn = match shared.registry.orchestrator(&instance.name) {
        None => failed_turn(
            now,
            events,
            &FailureDetails::new(
                "OrchestratorNotFound",
                format!(
                    "no orchestrator named `{}` is registered in this host",
                    instance.name
                ),
            ),
        ),
        Some(descriptor) => {
            let rebuilt = match cached {
                Some(live) => Ok(live),
                None => {
                    let mut rebuilt = Execution::new(&instance.instance_id, descriptor.invoke)
                        .with_limits(shared.options.action_limits);
                    rebuilt.replay(history).map(|()| rebuilt)
                }
            };
            match rebuilt {
                Ok(mut live) => {
                    let turn = live.run_turn(now, events);
                    execution = Some(live);
                    turn
                }
                Err(failure) => {
                    tracing::error!(instance_id = %instance.instance_id, %failure, "orchestration failed on replay");
                    let mut turn = failed_turn(now, events, &failure);
                    release_at_end(&mut turn, history, now);
                    turn
                }
            }
        }
    };
    if suspended && !turn.status.is_terminal() {
        turn.status = RuntimeStatus::Suspended;
    }
    Planned::Ready(turn, execution)
}
