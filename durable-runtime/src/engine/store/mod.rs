//! Where instances, histories and queued work live.
//!
//! One trait, [`Store`], with an in-memory implementation (tests, speed reference), an
//! embedded SQLite one (the default) and a PostgreSQL one (many hosts). Every store keeps
//! the same promises, checked by one conformance suite:
//! - a turn commits all or nothing: appended history, consumed messages, new work, the
//!   instance row ([`Store::commit`], the one write verb for a turn);
//! - an instance is worked on by one lease holder at a time, and a commit from a worker
//!   whose lease was lost is rejected;
//! - leased work whose lease expires is handed out again (activities run at least once).

#[cfg(test)]
mod conformance;
mod error;
mod memory;
mod postgres;
mod query;
mod records;
mod rules;
mod sql;
mod sqlite;
#[cfg(test)]
mod test_verbs;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use postgres::{ClockSource, PostgresOptions, PostgresStore};
pub use query::{Backlog, InstancePage, InstanceQuery, PageCursor, PurgeFilter, QueuedWork};
pub use records::{
    ActivityCompletion, ActivityFetch, ActivityWorkItem, EntityMessage, FetchOptions,
    InstanceRecord, NameSet, NewActivity, NewExecution, NewInstance, NewTimer,
    OrchestrationWorkItem, OutboundMessage, QueuedMessage, ReplacePolicy, TurnClaim, TurnCommit,
    TurnWrite,
};
pub(crate) use rules::execution_started;
pub use sqlite::{Durability, SqliteOptions, SqliteStore};

use crate::history::HistoryEvent;

/// Wakes idle dispatchers when a store has new work, and those waiting for an instance
/// when it finishes, so polling is only a fallback.
#[derive(Debug, Default)]
pub struct WorkSignals {
    /// New orchestration messages.
    pub orchestrations: Notify,
    /// New activity work.
    pub activities: Notify,
    /// Instances that finished (Completed, Failed, Terminated).
    pub finished: FinishSignals,
}

/// Wakes those waiting for particular instances to finish: a commit that leaves an
/// instance Completed, Failed or Terminated raises it in this process; the PostgreSQL
/// store raises it too for instances other hosts finished.
#[derive(Debug, Default)]
pub struct FinishSignals {
    waiting: std::sync::Mutex<HashMap<String, Weak<Notify>>>,
}

impl FinishSignals {
    /// What to wait on for `instance_id`: it is notified (`notify_waiters`) whenever the
    /// instance may have finished. Create the `notified()` future and enable it before
    /// reading the status, so a finish in between is not missed.
    pub fn watch(&self, instance_id: &str) -> Arc<Notify> {
        let mut waiting = self.lock();
        if let Some(notify) = waiting.get(instance_id).and_then(Weak::upgrade) {
            return notify;
        }
        waiting.retain(|_, notify| notify.strong_count() > 0);
        let notify = Arc::new(Notify::new());
        waiting.insert(instance_id.to_owned(), Arc::downgrade(&notify));
        notify
    }

    /// `instance_id` finished (or may have): wakes its waiters.
    pub fn finished(&self, instance_id: &str) {
        let notify = self.lock().get(instance_id).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Any instance may have finished (notifications were lost): wakes every waiter to
    /// look again.
    pub fn any_may_have_finished(&self) {
        let all: Vec<Arc<Notify>> = self.lock().values().filter_map(Weak::upgrade).collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Notify>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Counts of instances by status and of the work waiting in the queues, for
    /// monitoring; read when metrics are scraped, so it is counted, not kept.
    async fn backlog(&self) -> Result<Backlog, StoreError>;

    /// How many messages wait for `instance_id` (an entity's queued operations, due or
    /// scheduled), for operators' views.
    async fn queued_messages(&self, instance_id: &str) -> Result<u64, StoreError>;

    /// Every queued message and activity call, by instance, for the invariant check.
    async fn queued_work(&self) -> Result<Vec<QueuedWork>, StoreError>;
}

/// The storage of one task hub.
#[async_trait]
pub trait Store: ManagementStore {
    /// Creates an instance (Pending) with its ExecutionStarted message. A finished instance
    /// with the same id is replaced; a running one is refused with
    /// [`StoreError::InstanceExists`].
    async fn create_instance(&self, instance: NewInstance) -> Result<(), StoreError>;

    /// Leases up to `options.max` instances that have visible messages and that nobody
    /// else holds, those with the oldest message first, each with its messages (and its
    /// history when asked). Fewer than `max` means no more were free: dispatchers then
    /// wait for a signal.
    async fn fetch_orchestrations(
        &self,
        owner: &str,
        options: FetchOptions,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError>;

    /// Writes a turn in one transaction, if `write.claim` holds (see [`TurnClaim`]):
    /// appends the history, consumes the messages, queues the new work and messages,
    /// updates the instance row and frees its lease. Returns the activities it leased to
    /// `owner` (with [`TurnWrite::lease_activities`]), which the worker runs at once.
    async fn commit(
        &self,
        owner: &str,
        write: TurnWrite,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Gives up a lease on an instance without committing.
    async fn abandon_orchestration(&self, owner: &str, instance_id: &str)
    -> Result<(), StoreError>;

    /// Leases up to `fetch.max` activity calls that nobody else holds (of the names it
    /// allows), oldest first. Fewer than `max` means no more were free: dispatchers then
    /// wait for a signal.
    async fn fetch_activities(
        &self,
        owner: &str,
        fetch: ActivityFetch,
    ) -> Result<Vec<ActivityWorkItem>, StoreError>;

    /// Extends the lease on an activity work item that is still running.
    async fn renew_activity(&self, owner: &str, id: i64, lease: Duration)
    -> Result<(), StoreError>;

    /// Removes a finished work item and queues its result for the caller, atomically; with
    /// [`ActivityCompletion::lease_instance`], also leases the caller's instance to `owner`
    /// when it is free and returns its work item. When the item is no longer leased to
    /// `owner`, nothing happens: another worker owns the call now.
    async fn complete_activity(
        &self,
        owner: &str,
        completion: ActivityCompletion,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError>;

    /// Gives up a lease on an activity work item so another worker runs it.
    async fn abandon_activity(&self, owner: &str, id: i64) -> Result<(), StoreError>;

    /// Queues an external event (`EventRaised`) for an instance; refused with
    /// [`StoreError::NotFound`] or [`StoreError::Finished`].
    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError>;

    /// Queues an operation (`EntityOperationSignaled` or `EntityOperationCalled`) for the
    /// entity `message.instance_id` (`@name@key`), visible from `message.deliver_at` (at
    /// once by default), creating the entity's row (Pending, no state, named
    /// `message.name`) when it does not exist. Operations sent in a [`TurnCommit`]'s
    /// messages create missing entities the same way.
    async fn signal_entity(&self, message: EntityMessage) -> Result<(), StoreError>;

    /// When the earliest message that is not yet visible (a timer) becomes visible.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// One instance's row.
    async fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError>;

    /// The current execution's history.
    async fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, StoreError>;

    /// The signals this store raises when it gets new work.
    fn signals(&self) -> &WorkSignals;

    /// Writes a little, durably, as a turn would: what a host's health check asks, since a
    /// store may answer reads while it refuses writes (a full disk, a read-only file).
    async fn probe_write(&self) -> Result<(), StoreError>;

    /// The last tick the timer trigger `name` fired for, if it ever fired.
    async fn last_timer_tick(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Claims tick `tick` of the timer trigger `name`: true for exactly one caller per tick,
    /// across hosts (the stored last tick only moves forward).
    async fn claim_timer_tick(&self, name: &str, tick: DateTime<Utc>) -> Result<bool, StoreError>;
}
