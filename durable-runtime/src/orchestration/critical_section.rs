//! Critical sections: an orchestration holding the locks of several entities.
//!
//! `ctx.lock([&a, &b])` records an `EntityLockRequested` action. The request visits the
//! entities in one global order (their instance ids, sorted), each locking itself before
//! passing it on, and the last one answers with `EntityLockGranted`. Because everybody
//! locks in the same order, two sections over overlapping sets cannot deadlock. Dropping
//! the [`EntityLock`] records one `EntityUnlockSent` per entity; when the execution ends
//! (returns, fails, continues as new, is terminated) the locks it still holds or asked for
//! are released by the engine.

use std::borrow::Borrow;
use std::panic::Location;

use chrono::{DateTime, Utc};

use super::replay::{EntityMessage, TurnOutput};
use super::state::{ActionKind, LockRequest, SharedState, lock};
use crate::entity::EntityId;
use crate::history::{EventKind, HistoryEvent};

/// The locks of a critical section, held until this guard is dropped (or
/// [`release`](EntityLock::release)d) or the orchestration ends.
///
/// While it is held, operations that others send to the locked entities wait, and the
/// orchestration may call only the locked entities.
///
/// ```no_run
/// # use durable_runtime::prelude::*;
/// # async fn transfer(ctx: OrchestrationContext) -> Result<(), DurableError> {
/// let (from, to) = (EntityId::new("Account", "alice"), EntityId::new("Account", "bob"));
/// let guard = ctx.lock([&from, &to]).await?;
/// let balance: i64 = ctx.call_entity(&from, "balance", ()).await?;
/// if balance >= 10 {
///     ctx.call_entity::<()>(&from, "withdraw", 10).await?;
///     ctx.call_entity::<()>(&to, "deposit", 10).await?;
/// }
/// guard.release();
/// # Ok(()) }
/// ```
#[must_use = "the locks are released as soon as the guard is dropped"]
pub struct EntityLock {
    state: SharedState,
    section: LockRequest,
}

impl EntityLock {
    pub(crate) fn new(state: SharedState, section: LockRequest) -> Self {
        EntityLock { state, section }
    }

    /// The locked entities' instance ids, in locking order.
    pub fn entities(&self) -> Vec<EntityId> {
        self.section
            .lock_set
            .iter()
            .filter_map(|id| EntityId::from_instance_id(id))
            .collect()
    }

    /// Ends the critical section now (the same as dropping the guard).
    pub fn release(self) {}
}

impl Drop for EntityLock {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if state.critical_section.as_ref() != Some(&self.section) {
            return;
        }
        state.critical_section = None;
        for entity in &self.section.lock_set {
            let sequence = state.next_sequence;
            state.next_sequence += 1;
            state.pending.push(super::state::Action {
                sequence,
                kind: ActionKind::UnlockEntity {
                    critical_section_id: self.section.critical_section_id.clone(),
                    instance_id: entity.clone(),
                },
                location: Location::caller(),
            });
        }
        state
            .lock_requests
            .retain(|r| r.critical_section_id != self.section.critical_section_id);
    }
}

/// The instance ids of `entities`, in the one global locking order, without duplicates.
pub(crate) fn lock_set<E: Borrow<EntityId>>(entities: impl IntoIterator<Item = E>) -> Vec<String> {
    let mut set: Vec<String> = entities
        .into_iter()
        .map(|entity| entity.borrow().instance_id())
        .collect();
    set.sort();
    set.dedup();
    set
}

/// The lock requests of a history that were not released.
pub(crate) fn unreleased(history: &[HistoryEvent]) -> Vec<LockRequest> {
    let mut requests = Vec::new();
    for event in history {
        match &event.kind {
            EventKind::EntityLockRequested {
                critical_section_id,
                lock_set,
                ..
            } => requests.push(LockRequest {
                critical_section_id: critical_section_id.clone(),
                lock_set: lock_set.clone(),
            }),
            EventKind::EntityUnlockSent {
                critical_section_id,
                ..
            } => requests.retain(|r: &LockRequest| &r.critical_section_id != critical_section_id),
            _ => {}
        }
    }
    requests
}

/// Releases lock requests when an execution ends: an `EntityUnlockSent` event for each
/// entity (not a call: event id -1) and the message that carries it.
pub(crate) fn release(
    requests: Vec<LockRequest>,
    now: DateTime<Utc>,
) -> (Vec<HistoryEvent>, Vec<EntityMessage>) {
    let mut events = Vec::new();
    let mut messages = Vec::new();
    for request in requests {
        for entity in request.lock_set {
            let event = HistoryEvent::new(
                now,
                EventKind::EntityUnlockSent {
                    critical_section_id: request.critical_section_id.clone(),
                    target_instance_id: entity.clone(),
                },
            );
            messages.push(EntityMessage {
                instance_id: entity,
                event: event.clone(),
            });
            events.push(event);
        }
    }
    (events, messages)
}

/// Releases what an execution ended by the worker (terminated, failed before its code
/// ran) had locked or asked to lock, read from its history: the unlocks go in just before
/// the turn's `ExecutionCompleted`.
pub(crate) fn release_at_end(turn: &mut TurnOutput, history: &[HistoryEvent], now: DateTime<Utc>) {
    let (events, messages) = release(unreleased(history), now);
    if events.is_empty() {
        return;
    }
    let at = turn
        .appended
        .iter()
        .position(|e| matches!(e.kind, EventKind::ExecutionCompleted { .. }))
        .unwrap_or(turn.appended.len());
    turn.appended.splice(at..at, events);
    turn.entity_operations.extend(messages);
}
