//! The in-memory store: for tests and as a speed reference. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::rules::{
    accepts, child_conflict, execution_started, is_removed_entity, refusal, timer_fired,
};
use super::{
    ActivityCompletion, ActivityFetch, ActivityWorkItem, Backlog, EntityMessage, FetchOptions,
    InstancePage, InstanceQuery, InstanceRecord, ManagementStore, NameSet, NewInstance,
    OrchestrationWorkItem, OutboundMessage, PurgeFilter, QueuedMessage, QueuedWork, ReplacePolicy,
    Store, StoreError, TurnClaim, TurnCommit, TurnWrite, WorkSignals,
};
use crate::clock::{Clock, SystemClock};
use crate::history::HistoryEvent;
use crate::instance_id::{is_entity_id, split_entity_id};
use crate::status::RuntimeStatus;
use crate::version::{KeyRange, sort_key};

#[derive(Debug, Clone)]
struct Lease {
    owner: String,
    expires: DateTime<Utc>,
}

#[derive(Debug)]
struct Instance {
    record: InstanceRecord,
    history: Vec<HistoryEvent>,
    lease: Option<Lease>,
    /// Hand-outs since the last commit.
    dequeue_count: u32,
}

#[derive(Debug)]
struct Activity {
    item: ActivityWorkItem,
    lease: Option<Lease>,
}

#[derive(Debug)]
struct Message {
    instance_id: String,
    visible_at: DateTime<Utc>,
    queued: QueuedMessage,
}

#[derive(Debug, Default)]
struct Inner {
    instances: HashMap<String, Instance>,
    /// Messages by id; ids grow, so iteration is arrival order.
    messages: BTreeMap<i64, Message>,
    activities: BTreeMap<i64, Activity>,
    next_id: i64,
    timer_ticks: HashMap<String, DateTime<Utc>>,
}

impl Inner {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn enqueue(
        &mut self,
        instance_id: &str,
        execution_id: Option<&str>,
        event: HistoryEvent,
        visible_at: DateTime<Utc>,
    ) {
        let id = self.next_id();
        self.messages.insert(
            id,
            Message {
                instance_id: instance_id.to_owned(),
                visible_at,
                queued: QueuedMessage {
                    id,
                    execution_id: execution_id.map(str::to_owned),
                    event,
                },
            },
        );
    }

    /// Creates or replaces an instance and queues its `ExecutionStarted`; false when a
    /// running one holds the id and the policy keeps it.
    fn create(&mut self, new: NewInstance, now: DateTime<Utc>) -> bool {
        let started = execution_started(&new);
        let visible_at = new.scheduled_start.unwrap_or(now);
        let (instance_id, execution_id) = (new.instance_id.clone(), new.execution_id.clone());
        if !self.insert_instance(new) {
            return false;
        }
        self.enqueue(&instance_id, Some(&execution_id), started, visible_at);
        true
    }

    /// Adds a new instance (Pending, no history), replacing a finished one with the same
    /// id; false when a running one holds the id and the policy keeps it.
    fn insert_instance(&mut self, new: NewInstance) -> bool {
        if let Some(existing) = self.instances.get(&new.instance_id)
            && !existing.record.status.is_terminal()
            && new.replace == ReplacePolicy::NonRunning
        {
            return false;
        }
        self.remove_instance(&new.instance_id);
        self.instances.insert(
            new.instance_id.clone(),
            Instance {
                record: InstanceRecord {
                    instance_id: new.instance_id,
                    name: new.name,
                    execution_id: new.execution_id,
                    status: RuntimeStatus::Pending,
                    input: new.input,
                    output: Value::Null,
                    custom_status: Value::Null,
                    created_at: new.created_at,
                    updated_at: new.created_at,
                    history_length: 0,
                    parent: new.parent,
                    version: new.version,
                },
                history: Vec::new(),
                lease: None,
                dequeue_count: 0,
            },
        );
        true
    }

    /// Removes an instance with everything queued for it.
    fn remove_instance(&mut self, instance_id: &str) -> bool {
        self.messages.retain(|_, m| m.instance_id != instance_id);
        self.activities
            .retain(|_, a| a.item.instance_id != instance_id);
        self.instances.remove(instance_id).is_some()
    }

    /// Creates an entity's row (Pending, no state) unless it exists.
    fn ensure_entity(&mut self, instance_id: &str, name: &str, now: DateTime<Utc>) {
        self.instances
            .entry(instance_id.to_owned())
            .or_insert_with(|| Instance {
                record: InstanceRecord {
                    instance_id: instance_id.to_owned(),
                    name: name.to_owned(),
                    execution_id: String::new(),
                    status: RuntimeStatus::Pending,
                    input: Value::Null,
                    output: Value::Null,
                    custom_status: Value::Null,
                    created_at: now,
                    updated_at: now,
                    history_length: 0,
                    parent: None,
                    version: None,
                },
                history: Vec::new(),
                lease: None,
                dequeue_count: 0,
            });
    }

    /// Delivers a message to an instance that accepts it; drops it otherwise. An entity
    /// operation creates a missing entity.
    fn send(&mut self, message: OutboundMessage, now: DateTime<Utc>) {
        if message.event.kind.is_entity_operation()
            && let Some((name, _)) = split_entity_id(&message.instance_id)
        {
            let name = name.to_owned();
            self.ensure_entity(&message.instance_id, &name, now);
        }
        let live = self
            .instances
            .get(&message.instance_id)
            .is_some_and(|i| accepts(i.record.status, &message.event));
        if live {
            let execution_id = message.execution_id.as_deref();
            self.enqueue(&message.instance_id, execution_id, message.event, now);
        }
    }

    /// Leases `instance_id` to `owner` with its visible messages (and history, when asked).
    fn lease_instance(
        &mut self,
        instance_id: &str,
        owner: &str,
        lease: Duration,
        now: DateTime<Utc>,
        with_history: bool,
    ) -> Option<OrchestrationWorkItem> {
        let messages: Vec<QueuedMessage> = self
            .messages
            .values()
            .filter(|m| m.instance_id == instance_id && m.visible_at <= now)
            .map(|m| m.queued.clone())
            .collect();
        let instance = self.instances.get_mut(instance_id)?;
        instance.lease = Some(Lease {
            owner: owner.to_owned(),
            expires: expiry(now, lease),
        });
        instance.dequeue_count += 1;
        Some(OrchestrationWorkItem {
            dequeue_count: instance.dequeue_count,
            instance: instance.record.clone(),
            history: with_history.then(|| instance.history.clone()),
            messages,
        })
    }

    /// Leases the first instance with a message it can take now.
    fn lease_next(
        &mut self,
        owner: &str,
        options: &FetchOptions,
        now: DateTime<Utc>,
    ) -> Option<OrchestrationWorkItem> {
        let candidate = self.messages.values().find_map(|m| {
            let free = m.visible_at <= now
                && self.instances.get(&m.instance_id).is_some_and(|i| {
                    lease_free(&i.lease, now)
                        && (i.record.status != RuntimeStatus::Suspended
                            || m.queued.event.kind.is_control())
                        && version_taken(options.versions.as_ref(), &i.record)
                        && name_taken(
                            options.names.as_ref(),
                            options.entity_names.as_ref(),
                            &i.record,
                        )
                });
            free.then(|| m.instance_id.clone())
        })?;
        self.lease_instance(&candidate, owner, options.lease, now, options.with_history)
    }

    /// Checks that `owner` may write `turn` under `claim`, and takes what the claim takes
    /// (creates the instance, removes the finished call); changes nothing when it may not.
    fn claim(
        &mut self,
        owner: &str,
        claim: TurnClaim,
        turn: &TurnCommit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lost = || StoreError::LeaseLost(turn.instance_id.clone());
        let at_turn_start = |instance: &Instance| {
            instance.record.history_length == turn.expected_history_length
                && instance.record.execution_id == turn.execution_id
        };
        match claim {
            TurnClaim::Leased => {
                let instance = self.instances.get(&turn.instance_id).ok_or_else(lost)?;
                if !(held_by(&instance.lease, owner, now) && at_turn_start(instance)) {
                    return Err(lost());
                }
            }
            TurnClaim::Creates(new) => {
                let instance_id = new.instance_id.clone();
                if !self.insert_instance(new) {
                    return Err(StoreError::InstanceExists(instance_id));
                }
            }
            TurnClaim::CompletesActivity(item) => {
                let call_held = self
                    .activities
                    .get(&item.id)
                    .is_some_and(|a| held_by(&a.lease, owner, now));
                let instance = self.instances.get(&turn.instance_id).ok_or_else(lost)?;
                let free = lease_free(&instance.lease, now)
                    && instance.record.status != RuntimeStatus::Suspended
                    && at_turn_start(instance);
                if !(call_held && free) {
                    return Err(lost());
                }
                self.activities.remove(&item.id);
            }
        }
        Ok(())
    }

    /// Writes a turn whose claim holds (see [`Store::commit`]); returns the activities it
    /// leased to `owner`.
    fn write_turn(
        &mut self,
        owner: &str,
        turn: TurnCommit,
        lease: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Vec<ActivityWorkItem> {
        let removed = is_removed_entity(&turn);
        let Some(instance) = self.instances.get_mut(&turn.instance_id) else {
            return Vec::new();
        };
        instance.lease = None;
        instance.dequeue_count = 0;
        instance.record.updated_at = now;
        instance.record.custom_status = turn.custom_status;
        let mut restart = None;
        match turn.continue_as_new {
            Some(next) => {
                instance.history.clear();
                instance.record.history_length = 0;
                instance.record.status = RuntimeStatus::ContinuedAsNew;
                instance.record.execution_id = next.execution_id.clone();
                instance.record.input = next.input.clone();
                instance.record.output = Value::Null;
                let started = execution_started(&NewInstance {
                    instance_id: turn.instance_id.clone(),
                    name: instance.record.name.clone(),
                    execution_id: next.execution_id.clone(),
                    input: next.input,
                    created_at: now,
                    parent: instance.record.parent.clone(),
                    scheduled_start: None,
                    replace: ReplacePolicy::Any,
                    trace_context: next.trace_context.clone(),
                    version: instance.record.version.clone(),
                });
                restart = Some((next.execution_id, started, next.carried_events));
            }
            None => {
                if let Some(length) = turn.truncate_history_to {
                    instance.history.truncate(length as usize);
                }
                instance.history.extend(turn.appended);
                instance.record.history_length = instance.history.len() as u64;
                instance.record.status = turn.status;
                instance.record.output = turn.output;
            }
        }
        for id in &turn.consumed {
            self.messages.remove(id);
        }
        if let Some((execution_id, started, carried)) = restart {
            self.enqueue(&turn.instance_id, Some(&execution_id), started, now);
            for event in carried {
                self.enqueue(&turn.instance_id, None, event, now);
            }
        }
        let mut leased = Vec::new();
        for activity in turn.activities {
            let id = self.next_id();
            let mut item = ActivityWorkItem {
                id,
                instance_id: turn.instance_id.clone(),
                execution_id: turn.execution_id.clone(),
                task_id: activity.task_id,
                name: activity.name,
                input: activity.input,
                dequeue_count: activity.earlier_hand_outs,
            };
            let lease = lease.map(|lease| {
                item.dequeue_count += 1;
                leased.push(item.clone());
                Lease {
                    owner: owner.to_owned(),
                    expires: expiry(now, lease),
                }
            });
            self.activities.insert(id, Activity { item, lease });
        }
        for timer in &turn.timers {
            self.enqueue(
                &turn.instance_id,
                Some(&turn.execution_id),
                timer_fired(timer),
                timer.fire_at,
            );
        }
        for child in turn.children {
            let conflict = child_conflict(&child, now);
            if !self.create(child, now)
                && let Some(message) = conflict
            {
                self.send(message, now);
            }
        }
        for message in turn.messages {
            self.send(message, now);
        }
        if removed
            && !self
                .messages
                .values()
                .any(|m| m.instance_id == turn.instance_id)
        {
            self.instances.remove(&turn.instance_id);
        }
        leased
    }

    /// Removes a finished call still leased to `owner` and queues its result; false when
    /// the lease is gone.
    fn finish_activity(
        &mut self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        now: DateTime<Utc>,
    ) -> bool {
        let held = self
            .activities
            .get(&item.id)
            .is_some_and(|a| held_by(&a.lease, owner, now));
        if held {
            self.activities.remove(&item.id);
            self.enqueue(&item.instance_id, Some(&item.execution_id), result, now);
        }
        held
    }
}

/// A store that keeps everything in process memory.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    signals: WorkSignals,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(Arc::new(SystemClock))
    }
}

impl MemoryStore {
    /// An empty store whose leases and timers follow `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            inner: Mutex::new(Inner::default()),
            clock,
            signals: WorkSignals::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether nothing is left to run now: no message a fetch would take is visible (a
    /// suspended instance's wait), no activity call is queued or running, and no instance
    /// is leased. The test host waits for this.
    pub(crate) fn is_idle(&self) -> bool {
        let now = self.clock.now();
        let inner = self.lock();
        let takeable = |m: &Message| {
            m.visible_at <= now
                && inner.instances.get(&m.instance_id).is_some_and(|i| {
                    i.record.status != RuntimeStatus::Suspended || m.queued.event.kind.is_control()
                })
        };
        inner.activities.is_empty()
            && !inner.messages.values().any(takeable)
            && inner.instances.values().all(|i| lease_free(&i.lease, now))
    }

    /// Queues a message for an instance that accepts it, or says why not.
    fn deliver(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        let now = self.clock.now();
        {
            let mut inner = self.lock();
            let Some(instance) = inner.instances.get(instance_id) else {
                return Err(StoreError::NotFound(instance_id.to_owned()));
            };
            refusal(instance_id, instance.record.status, &event)?;
            inner.enqueue(instance_id, None, event, now);
        }
        self.signals.orchestrations.notify_one();
        Ok(())
    }
}

/// Where an instance stands in a listing: creation time at the milliseconds a
/// continuation token keeps (as the SQL stores keep them), then id.
fn listing_order(record: &InstanceRecord) -> (i64, &String) {
    (record.created_at.timestamp_millis(), &record.instance_id)
}

/// Whether a fetch limited to `versions` may lease `record`: entities have no version and
/// every host takes them.
fn version_taken(versions: Option<&KeyRange>, record: &InstanceRecord) -> bool {
    versions.is_none_or(|range| {
        is_entity_id(&record.instance_id) || range.contains(&sort_key(record.version.as_deref()))
    })
}

/// Whether a fetch limited to orchestrators `names` and entities `entity_names` may
/// lease `record`.
fn name_taken(
    names: Option<&NameSet>,
    entity_names: Option<&NameSet>,
    record: &InstanceRecord,
) -> bool {
    let allowed = if is_entity_id(&record.instance_id) {
        entity_names
    } else {
        names
    };
    allowed.is_none_or(|allowed| allowed.contains(&record.name))
}

fn lease_free(lease: &Option<Lease>, now: DateTime<Utc>) -> bool {
    lease.as_ref().is_none_or(|l| l.expires <= now)
}

fn held_by(lease: &Option<Lease>, owner: &str, now: DateTime<Utc>) -> bool {
    lease
        .as_ref()
        .is_some_and(|l| l.owner == owner && l.expires > now)
}

fn expiry(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        let now = self.clock.now();
        let id = new.instance_id.clone();
        if !self.lock().create(new, now) {
            return Err(StoreError::InstanceExists(id));
        }
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_orchestrations(
        &self,
        owner: &str,
        options: FetchOptions,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let mut items = Vec::new();
        while items.len() < options.max {
            match inner.lease_next(owner, &options, now) {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(items)
    }

    async fn commit(
        &self,
        owner: &str,
        write: TurnWrite,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let unleased_work = write.lease_activities.is_none() && !write.turn.activities.is_empty();
        let finished = write
            .turn
            .status
            .is_terminal()
            .then(|| write.turn.instance_id.clone());
        let leased = {
            let mut inner = self.lock();
            inner.claim(owner, write.claim, &write.turn, now)?;
            inner.write_turn(owner, write.turn, write.lease_activities, now)
        };
        if let Some(instance_id) = finished {
            self.signals.finished.finished(&instance_id);
        }
        if unleased_work {
            self.signals.activities.notify_one();
        }
        // Messages that arrived during the turn can be taken now that the lease is free.
        self.signals.orchestrations.notify_one();
        Ok(leased)
    }

    async fn abandon_orchestration(
        &self,
        owner: &str,
        instance_id: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if let Some(instance) = inner.instances.get_mut(instance_id)
            && held_by(&instance.lease, owner, now)
        {
            instance.lease = None;
        }
        drop(inner);
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_activities(
        &self,
        owner: &str,
        fetch: ActivityFetch,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let ActivityFetch { lease, max, names } = fetch;
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner
            .activities
            .values_mut()
            .filter(|a| {
                lease_free(&a.lease, now)
                    && names
                        .as_ref()
                        .is_none_or(|names| names.contains(&a.item.name))
            })
            .take(max)
            .map(|activity| {
                activity.lease = Some(Lease {
                    owner: owner.to_owned(),
                    expires: expiry(now, lease),
                });
                activity.item.dequeue_count += 1;
                activity.item.clone()
            })
            .collect())
    }

    async fn renew_activity(
        &self,
        owner: &str,
        id: i64,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.activities.get_mut(&id) {
            Some(a) if held_by(&a.lease, owner, now) => {
                a.lease = Some(Lease {
                    owner: owner.to_owned(),
                    expires: expiry(now, lease),
                });
                Ok(())
            }
            _ => Err(StoreError::LeaseLost(format!("activity work item {id}"))),
        }
    }

    async fn complete_activity(
        &self,
        owner: &str,
        completion: ActivityCompletion,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let ActivityCompletion {
            item,
            result,
            lease_instance,
            versions,
            names,
        } = completion;
        let taken = {
            let mut inner = self.lock();
            if !inner.finish_activity(owner, &item, result, now) {
                return Ok(None);
            }
            // Take the instance now when it is free, so its next turn needs no fetch.
            let free = |inner: &Inner| {
                inner.instances.get(&item.instance_id).is_some_and(|i| {
                    lease_free(&i.lease, now)
                        && i.record.status != RuntimeStatus::Suspended
                        && version_taken(versions.as_ref(), &i.record)
                        && name_taken(names.as_ref(), None, &i.record)
                })
            };
            match lease_instance {
                Some(lease) if free(&inner) => {
                    inner.lease_instance(&item.instance_id, owner, lease, now, false)
                }
                _ => None,
            }
        };
        if taken.is_none() {
            self.signals.orchestrations.notify_one();
        }
        Ok(taken)
    }

    async fn abandon_activity(&self, owner: &str, id: i64) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if let Some(a) = inner.activities.get_mut(&id)
            && held_by(&a.lease, owner, now)
        {
            a.lease = None;
        }
        drop(inner);
        self.signals.activities.notify_one();
        Ok(())
    }

    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event)
    }

    async fn signal_entity(&self, message: EntityMessage) -> Result<(), StoreError> {
        let now = self.clock.now();
        {
            let mut inner = self.lock();
            inner.ensure_entity(&message.instance_id, &message.name, now);
            let visible_at = message.deliver_at.unwrap_or(now);
            inner.enqueue(&message.instance_id, None, message.event, visible_at);
        }
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .messages
            .values()
            .map(|m| m.visible_at)
            .filter(|at| *at > now)
            .min())
    }

    async fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        Ok(self
            .lock()
            .instances
            .get(instance_id)
            .map(|i| i.record.clone()))
    }

    async fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        Ok(self
            .lock()
            .instances
            .get(instance_id)
            .map(|i| i.history.clone())
            .unwrap_or_default())
    }

    fn signals(&self) -> &WorkSignals {
        &self.signals
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn last_timer_tick(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.lock().timer_ticks.get(name).copied())
    }

    async fn claim_timer_tick(&self, name: &str, tick: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let last = inner.timer_ticks.get(name).copied();
        if last.is_some_and(|last| last >= tick) {
            return Ok(false);
        }
        inner.timer_ticks.insert(name.to_owned(), tick);
        Ok(true)
    }
}

#[async_trait]
impl ManagementStore for MemoryStore {
    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let inner = self.lock();
        let mut matching: Vec<&InstanceRecord> = inner
            .instances
            .values()
            .map(|i| &i.record)
            .filter(|record| query.matches(record))
            .filter(|record| {
                query.after.as_ref().is_none_or(|after| {
                    listing_order(record)
                        > (after.created_at.timestamp_millis(), &after.instance_id)
                })
            })
            .collect();
        matching.sort_by(|a, b| listing_order(a).cmp(&listing_order(b)));
        let rows = matching
            .into_iter()
            .take(query.page_limit() + 1)
            .cloned()
            .collect();
        Ok(InstancePage::cut(rows, query))
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        match inner.instances.get(instance_id) {
            None => Ok(0),
            Some(i) if !i.record.status.is_terminal() => Err(StoreError::WrongStatus {
                instance_id: instance_id.to_owned(),
                status: i.record.status,
            }),
            Some(_) => Ok(u64::from(inner.remove_instance(instance_id))),
        }
    }

    async fn purge_instances(&self, filter: &PurgeFilter) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let doomed: Vec<String> = inner
            .instances
            .values()
            .filter(|i| filter.matches(&i.record))
            .map(|i| i.record.instance_id.clone())
            .collect();
        for id in &doomed {
            inner.remove_instance(id);
        }
        Ok(doomed.len() as u64)
    }

    async fn send_control(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event)
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let now = self.clock.now();
        let inner = self.lock();
        let mut backlog = Backlog::default();
        for instance in inner.instances.values() {
            if is_entity_id(&instance.record.instance_id) {
                backlog.entities += 1;
            } else {
                backlog.add_instances(instance.record.status, 1);
            }
        }
        let ready: Vec<DateTime<Utc>> = inner
            .messages
            .values()
            .map(|m| m.visible_at)
            .filter(|at| *at <= now)
            .collect();
        backlog.ready_messages = ready.len() as u64;
        backlog.oldest_ready_message = ready.into_iter().min();
        backlog.ready_activities = inner
            .activities
            .values()
            .filter(|a| a.lease.as_ref().is_none_or(|lease| lease.expires <= now))
            .count() as u64;
        Ok(backlog)
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>, StoreError> {
        let inner = self.lock();
        let messages = inner.messages.values().map(|m| QueuedWork {
            instance_id: m.instance_id.clone(),
            visible_at: Some(m.visible_at),
        });
        let activities = inner.activities.values().map(|a| QueuedWork {
            instance_id: a.item.instance_id.clone(),
            visible_at: None,
        });
        Ok(messages.chain(activities).collect())
    }

    async fn queued_messages(&self, instance_id: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .messages
            .values()
            .filter(|m| m.instance_id == instance_id)
            .count() as u64)
    }
}
