//! Where instances, histories and queued work live.
//!
//! One trait, [`Store`], with an in-memory implementation (tests, speed reference) and an
//! embedded SQLite one (the default). Every store keeps the same promises:
//! - a turn commits all or nothing: appended history, consumed messages, new work, the
//!   instance row;
//! - an instance is worked on by one lease holder at a time, and a commit from a worker
//!   whose lease was lost is rejected;
//! - leased work whose lease expires is handed out again (activities run at least once).

#[cfg(test)]
mod conformance;
mod memory;
mod postgres;
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;

pub use memory::MemoryStore;
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{Durability, SqliteOptions, SqliteStore};

use crate::history::{HistoryEvent, ParentInstance};
use crate::status::RuntimeStatus;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An instance with this id exists and has not finished.
    #[error("an instance with id `{0}` already exists and has not finished")]
    InstanceExists(String),
    /// The worker's lease on this instance or work item is gone (expired and taken over).
    #[error("the lease on `{0}` was lost")]
    LeaseLost(String),
    /// The store cannot be reached or is busy; trying again later may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// No instance has this id.
    #[error("no instance with id `{0}` exists")]
    NotFound(String),
    /// The instance has finished and takes no more events.
    #[error("instance `{0}` has finished")]
    Finished(String),
    /// The instance is in a status that does not allow the request.
    #[error("instance `{instance_id}` is {status}")]
    WrongStatus {
        /// The instance.
        instance_id: String,
        /// Its status.
        status: RuntimeStatus,
    },
    /// The stored data or the request is not what the store expects.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// One instance's row.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The instance id.
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The current execution's id.
    pub execution_id: String,
    /// Where the instance stands.
    pub status: RuntimeStatus,
    /// The input.
    pub input: Value,
    /// The output, or the failure details when it failed.
    pub output: Value,
    /// The custom status.
    pub custom_status: Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// How many events the current execution's history has.
    pub history_length: u64,
    /// The orchestration that started this one, for a sub-orchestration.
    pub parent: Option<ParentInstance>,
}

/// A request to create (or replace a finished) instance.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance id (already validated).
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The new execution's id.
    pub execution_id: String,
    /// The input.
    pub input: Value,
    /// The creation time.
    pub created_at: DateTime<Utc>,
    /// The orchestration that starts this one, for a sub-orchestration.
    pub parent: Option<ParentInstance>,
    /// When the instance begins; until then it is Pending. `None`: at once.
    pub scheduled_start: Option<DateTime<Utc>>,
    /// Which existing instance with the same id may be replaced.
    pub replace: ReplacePolicy,
}

/// Which existing instance a new one with the same id may replace (Durable Functions'
/// `overridableExistingInstanceStates`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplacePolicy {
    /// Only Completed, Failed or Terminated instances (the default).
    #[default]
    NonRunning,
    /// Any instance, also one that is still running.
    Any,
}

/// A message waiting for an instance: an event to feed its next turn.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    /// The store's id of the message, to consume it at commit.
    pub id: i64,
    /// The execution the message is for (messages for an older execution are stale); empty
    /// for messages to whichever execution is current (external events).
    pub execution_id: String,
    /// The event to deliver.
    pub event: HistoryEvent,
}

/// An instance leased to a worker with its history and waiting messages.
#[derive(Debug, Clone)]
pub struct OrchestrationWorkItem {
    /// The instance row.
    pub instance: InstanceRecord,
    /// The current execution's history.
    pub history: Vec<HistoryEvent>,
    /// The visible messages, oldest first.
    pub messages: Vec<QueuedMessage>,
    /// How many times the instance was handed out since its last commit, counting this one;
    /// more than one means earlier turns never committed (their worker died).
    pub dequeue_count: u32,
}

/// Work a turn scheduled: one activity call.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    /// The sequence number of the call (`TaskScheduled`'s event id).
    pub task_id: i64,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// Hand-outs of the scheduling turn that ended without a commit (their worker died):
    /// each may have run this call ahead of the commit, so they count towards its poison
    /// limit like hand-outs of the call itself.
    pub earlier_hand_outs: u32,
}

/// Everything one turn changes, committed atomically. For an entity (`@name@key`) the
/// turn is a batch of operations: no history, the state as `output`, status Running while
/// it has state; an entity left Pending (no state) with nothing queued is removed.
#[derive(Debug, Clone)]
pub struct TurnCommit {
    /// The instance.
    pub instance_id: String,
    /// The execution the turn ran.
    pub execution_id: String,
    /// History length the turn started from; a different stored length means another
    /// worker committed in between, and the commit is rejected.
    pub expected_history_length: u64,
    /// Ids of the messages the turn consumed.
    pub consumed: Vec<i64>,
    /// Events to append to the history.
    pub appended: Vec<HistoryEvent>,
    /// The status after the turn.
    pub status: RuntimeStatus,
    /// The output (or failure details) when finished.
    pub output: Value,
    /// The custom status the orchestrator set.
    pub custom_status: Value,
    /// Activities to run.
    pub activities: Vec<NewActivity>,
    /// Durable timers: `TimerFired` events delivered to this instance at their `fire_at`.
    pub timers: Vec<NewTimer>,
    /// Sub-orchestrations to create. One whose id is taken by a running instance is not
    /// created; the caller gets `SubOrchestrationInstanceFailed` instead.
    pub children: Vec<NewInstance>,
    /// Messages to other instances (events, results to a parent). Messages to instances
    /// that do not exist or have finished are dropped.
    pub messages: Vec<OutboundMessage>,
    /// Set when the orchestration continues as new: its history is reset and this
    /// execution starts.
    pub continue_as_new: Option<NewExecution>,
    /// Set when the turn rewinds a failed instance: the history is cut to this many
    /// events before `appended` is added.
    pub truncate_history_to: Option<u64>,
}

/// A durable timer a turn created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    /// The `TimerCreated` event id.
    pub timer_id: i64,
    /// When it fires.
    pub fire_at: DateTime<Utc>,
}

/// A message from one instance to another.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// The receiving instance.
    pub instance_id: String,
    /// The receiving execution, when the message is an answer to one (a child's result).
    pub execution_id: Option<String>,
    /// The event to deliver.
    pub event: HistoryEvent,
}

/// The next execution of an instance that continues as new.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    /// Its id.
    pub execution_id: String,
    /// Its input.
    pub input: Value,
    /// External events the last execution received but did not consume, carried over.
    pub carried_events: Vec<HistoryEvent>,
}

/// An activity call leased to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityWorkItem {
    /// The store's id of the work item.
    pub id: i64,
    /// The calling instance.
    pub instance_id: String,
    /// The calling execution.
    pub execution_id: String,
    /// The call's sequence number in the caller's history.
    pub task_id: i64,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// How many times it has been leased, counting this one.
    pub dequeue_count: u32,
}

/// The `ExecutionStarted` event that begins an instance's execution.
pub(crate) fn execution_started(instance: &NewInstance) -> HistoryEvent {
    HistoryEvent::new(
        instance.created_at,
        crate::history::EventKind::ExecutionStarted {
            name: instance.name.clone(),
            input: instance.input.clone(),
            execution_id: instance.execution_id.clone(),
            parent: instance.parent.clone(),
            scheduled_start: instance.scheduled_start,
        },
    )
}

/// What a parent receives when a sub-orchestration cannot be created because its id is
/// taken by a running instance.
pub(crate) fn child_conflict(child: &NewInstance, now: DateTime<Utc>) -> Option<OutboundMessage> {
    let parent = child.parent.as_ref()?;
    Some(OutboundMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: Some(parent.execution_id.clone()),
        event: HistoryEvent::new(
            now,
            crate::history::EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id: parent.task_scheduled_id,
                failure: crate::history::FailureDetails::new(
                    "InstanceAlreadyRunning",
                    format!(
                        "cannot start sub-orchestration `{}`: an instance with id `{}` is already running",
                        child.name, child.instance_id
                    ),
                ),
            },
        ),
    })
}

/// The entity name an entity's instance id (`@name@key`) holds, when it is one.
pub(crate) fn entity_name(instance_id: &str) -> Option<&str> {
    instance_id
        .strip_prefix('@')?
        .split_once('@')
        .map(|(name, _)| name)
}

/// Whether a commit leaves an entity without state (Pending), unlocked and with nothing
/// waiting for a lock: the store then removes the entity when nothing is queued for it.
pub(crate) fn is_removed_entity(commit: &TurnCommit) -> bool {
    entity_name(&commit.instance_id).is_some()
        && commit.status == RuntimeStatus::Pending
        && commit.custom_status.is_null()
}

/// The `TimerFired` message of a timer.
pub(crate) fn timer_fired(timer: &NewTimer) -> HistoryEvent {
    HistoryEvent::new(
        timer.fire_at,
        crate::history::EventKind::TimerFired {
            timer_id: timer.timer_id,
            fire_at: timer.fire_at,
        },
    )
}

/// Wakes idle dispatchers when a store has new work, so polling is only a fallback.
#[derive(Debug, Default)]
pub struct WorkSignals {
    /// New orchestration messages.
    pub orchestrations: Notify,
    /// New activity work.
    pub activities: Notify,
}

/// Where a listing continues: the last instance of the previous page, in the listing's
/// order (creation time, then id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    /// Creation time of the last instance seen.
    pub created_at: DateTime<Utc>,
    /// Id of the last instance seen.
    pub instance_id: String,
}

impl PageCursor {
    /// The opaque continuation token clients pass back.
    pub fn to_token(&self) -> String {
        let text = format!(
            "{}:{}",
            self.created_at.timestamp_millis(),
            self.instance_id
        );
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a continuation token; `None` when it was not made by [`PageCursor::to_token`].
    pub fn from_token(token: &str) -> Option<PageCursor> {
        if !token.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
            .collect();
        let text = String::from_utf8(bytes?).ok()?;
        let (millis, instance_id) = text.split_once(':')?;
        Some(PageCursor {
            created_at: DateTime::from_timestamp_millis(millis.parse().ok()?)?,
            instance_id: instance_id.to_owned(),
        })
    }
}

/// Which instances to list.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    /// Only ids starting with this.
    pub instance_id_prefix: Option<String>,
    /// Only instances created at or after this.
    pub created_from: Option<DateTime<Utc>>,
    /// Only instances created at or before this.
    pub created_to: Option<DateTime<Utc>>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<RuntimeStatus>,
    /// Most instances in one page.
    pub page_size: usize,
    /// Continue after this instance.
    pub after: Option<PageCursor>,
    /// List entities (`@name@key` rows) instead of orchestration instances.
    pub entities: bool,
}

impl InstanceQuery {
    /// Whether an instance passes the filters (not the paging): orchestration instances,
    /// or with `entities` only entities.
    pub fn matches(&self, record: &InstanceRecord) -> bool {
        record.instance_id.starts_with('@') == self.entities
            && self
                .instance_id_prefix
                .as_deref()
                .is_none_or(|prefix| record.instance_id.starts_with(prefix))
            && self
                .created_from
                .is_none_or(|from| record.created_at >= from)
            && self.created_to.is_none_or(|to| record.created_at <= to)
            && (self.statuses.is_empty() || self.statuses.contains(&record.status))
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct InstancePage {
    /// The instances, ordered by creation time, then id.
    pub instances: Vec<InstanceRecord>,
    /// Where the next page starts, when there may be more.
    pub next: Option<PageCursor>,
}

/// Which finished instances to purge.
#[derive(Debug, Clone)]
pub struct PurgeFilter {
    /// Created at or after this.
    pub created_from: DateTime<Utc>,
    /// Created at or before this.
    pub created_to: Option<DateTime<Utc>>,
    /// Only these statuses (all finished ones when empty); running ones are never purged.
    pub statuses: Vec<RuntimeStatus>,
}

impl PurgeFilter {
    /// Whether a finished instance passes the filter.
    pub fn matches(&self, record: &InstanceRecord) -> bool {
        record.status.is_terminal()
            && record.created_at >= self.created_from
            && self.created_to.is_none_or(|to| record.created_at <= to)
            && (self.statuses.is_empty() || self.statuses.contains(&record.status))
    }
}

/// Whether a message may be queued for an instance in `status`: external events and
/// results only while it runs, a rewind only when it failed, entity operations always.
pub(crate) fn accepts(status: RuntimeStatus, event: &HistoryEvent) -> bool {
    match event.kind {
        crate::history::EventKind::ExecutionRewound { .. } => status == RuntimeStatus::Failed,
        _ if event.kind.is_entity_operation() => true,
        _ => !status.is_terminal(),
    }
}

/// Why an instance in `status` does not take `event`, if it does not.
pub(crate) fn refusal(
    instance_id: &str,
    status: RuntimeStatus,
    event: &HistoryEvent,
) -> Result<(), StoreError> {
    if accepts(status, event) {
        Ok(())
    } else if status.is_terminal()
        && !matches!(
            event.kind,
            crate::history::EventKind::ExecutionRewound { .. }
        )
    {
        Err(StoreError::Finished(instance_id.to_owned()))
    } else {
        Err(StoreError::WrongStatus {
            instance_id: instance_id.to_owned(),
            status,
        })
    }
}

/// What operators do with instances: list, purge, and requests to an instance.
#[async_trait]
pub trait ManagementStore: Send + Sync + 'static {
    /// One page of the instances that match the query.
    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError>;

    /// Removes a finished instance with its history, messages and work; returns how many
    /// instances were removed (0 when there is none). A running instance is refused with
    /// [`StoreError::WrongStatus`].
    async fn purge_instance(&self, instance_id: &str) -> Result<u64, StoreError>;

    /// Removes every finished instance that matches; returns how many.
    async fn purge_instances(&self, filter: &PurgeFilter) -> Result<u64, StoreError>;

    /// Queues a request (terminate, suspend, resume, rewind) for an instance. Refused with
    /// [`StoreError::NotFound`], or [`StoreError::Finished`] / [`StoreError::WrongStatus`]
    /// when the instance's status does not allow it.
    async fn send_control(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError>;
}

/// The storage of one task hub.
#[async_trait]
pub trait Store: ManagementStore {
    /// Creates an instance (Pending) with its ExecutionStarted message. A finished instance
    /// with the same id is replaced; a running one is refused with
    /// [`StoreError::InstanceExists`].
    async fn create_instance(&self, instance: NewInstance) -> Result<(), StoreError>;

    /// Leases an instance that has visible messages and is not leased by anyone else.
    async fn fetch_orchestration(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError>;

    /// Commits a turn and releases the instance's lease.
    async fn commit_turn(&self, owner: &str, commit: TurnCommit) -> Result<(), StoreError>;

    /// Gives up a lease on an instance without committing.
    async fn abandon_orchestration(&self, owner: &str, instance_id: &str)
    -> Result<(), StoreError>;

    /// Leases one activity work item.
    async fn fetch_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, StoreError>;

    /// Extends the lease on an activity work item that is still running.
    async fn renew_activity(&self, owner: &str, id: i64, lease: Duration)
    -> Result<(), StoreError>;

    /// Removes a finished work item and queues its result (`TaskCompleted` or `TaskFailed`)
    /// for the caller, atomically. When the item is no longer leased to `owner`, the result
    /// is dropped: another worker owns the call now.
    async fn complete_activity(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError>;

    /// Gives up a lease on an activity work item so another worker runs it.
    async fn abandon_activity(&self, owner: &str, id: i64) -> Result<(), StoreError>;

    /// Releases every lease. Only for stores that one host owns alone (embedded SQLite), at
    /// start-up: leases found then belong to a process that died.
    async fn release_all_leases(&self) -> Result<(), StoreError>;

    /// Queues an external event (`EventRaised`) for an instance; refused with
    /// [`StoreError::NotFound`] or [`StoreError::Finished`].
    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError>;

    /// Queues an operation (`EntityOperationSignaled` or `EntityOperationCalled`) for the
    /// entity `instance_id` (`@name@key`), creating the entity's row (Pending, no state,
    /// named `name`) when it does not exist. Operations sent in a [`TurnCommit`]'s
    /// messages create missing entities the same way.
    async fn signal_entity(
        &self,
        instance_id: &str,
        name: &str,
        event: HistoryEvent,
    ) -> Result<(), StoreError>;

    /// When the earliest message that is not yet visible (a timer) becomes visible.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// One instance's row.
    async fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError>;

    /// The current execution's history.
    async fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// The signals this store raises when it gets new work.
    fn signals(&self) -> &WorkSignals;

    /// Like [`Store::fetch_orchestration`], but a store may leave the history out (empty)
    /// when it is cheaper: the worker keeps live orchestrations and reads the history with
    /// [`Store::get_history`] only when it has none for the instance.
    async fn fetch_orchestration_lean(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        self.fetch_orchestration(owner, lease).await
    }

    /// Leases up to `max` instances with work at once, each like
    /// [`Store::fetch_orchestration_lean`] (the history may be left out), so a busy
    /// dispatcher needs one round trip for many. Fewer than `max` means no more were free:
    /// dispatchers then wait for a signal. The default fetches one at a time.
    async fn fetch_orchestrations(
        &self,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let mut items = Vec::new();
        while items.len() < max {
            match self.fetch_orchestration_lean(owner, lease).await? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(items)
    }

    /// Leases up to `max` activity calls at once, oldest first, each like
    /// [`Store::fetch_activity`]. Fewer than `max` means no more were free: dispatchers
    /// then wait for a signal. The default fetches one at a time.
    async fn fetch_activities(
        &self,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let mut items = Vec::new();
        while items.len() < max {
            match self.fetch_activity(owner, lease).await? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(items)
    }

    /// Commits a turn like [`Store::commit_turn`] and leases the activities it scheduled to
    /// `owner` in the same transaction, returning them so the worker runs them at once
    /// instead of fetching them (the in-process fast path). A store may return none; the
    /// activity dispatcher then fetches them as usual.
    async fn commit_turn_leasing(
        &self,
        owner: &str,
        commit: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let _ = lease;
        self.commit_turn(owner, commit).await?;
        Ok(Vec::new())
    }

    /// Creates an instance like [`Store::create_instance`] together with its first turn, in
    /// one transaction: the worker `owner` ran that turn ahead of the creation (the
    /// in-process fast path of a start). The instance's `ExecutionStarted` is not queued;
    /// it is the turn's first appended event. The activities the turn schedules are leased
    /// to `owner` and returned, like [`Store::commit_turn_leasing`]. Fails with
    /// [`StoreError::InstanceExists`], changing nothing, when a running instance holds the
    /// id and the start's policy keeps it. A start at a scheduled time never comes here.
    async fn create_instance_with_turn(
        &self,
        owner: &str,
        new: NewInstance,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Completes an activity like [`Store::complete_activity`] and, when its instance is
    /// free, leases the instance to `owner` in the same transaction and returns its work
    /// item (history left out), so the next turn runs without a fetch.
    async fn complete_activity_leasing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let _ = lease;
        self.complete_activity(owner, item, result).await?;
        Ok(None)
    }

    /// Completes an activity and commits its instance's next turn in one transaction: the
    /// turn was computed ahead from the live orchestration, with the activity's result
    /// (`turn.appended` starts with it) as its only new message. It applies only when the
    /// activity is still leased to `owner` and the instance is free (no live lease, not
    /// suspended) with the history length and execution the turn expects; then it returns
    /// the activities the turn scheduled, leased to `owner` like
    /// [`Store::commit_turn_leasing`]. Otherwise it changes nothing and returns `None`, and
    /// the caller reports the result the usual way. Saves one durable commit per step; a
    /// store may always return `None`.
    async fn complete_activity_with_turn(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Option<Vec<ActivityWorkItem>>, StoreError> {
        let _ = (owner, item, turn, lease);
        Ok(None)
    }

    /// The last tick the timer trigger `name` fired for, if it ever fired.
    async fn last_timer_tick(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Claims tick `tick` of the timer trigger `name`: true for exactly one caller per tick,
    /// across hosts (the stored last tick only moves forward).
    async fn claim_timer_tick(&self, name: &str, tick: DateTime<Utc>) -> Result<bool, StoreError>;
}
