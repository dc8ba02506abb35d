//! The in-memory store: for tests and as a speed reference. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ActivityWorkItem, InstanceRecord, NewInstance, OrchestrationWorkItem, QueuedMessage, Store,
    StoreError, TurnCommit, WorkSignals,
};
use crate::clock::{Clock, SystemClock};
use crate::history::{EventKind, HistoryEvent};
use crate::status::RuntimeStatus;

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
}

#[derive(Debug)]
struct Activity {
    item: ActivityWorkItem,
    lease: Option<Lease>,
}

#[derive(Debug, Default)]
struct Inner {
    instances: HashMap<String, Instance>,
    /// Messages by id; ids grow, so iteration is arrival order.
    messages: BTreeMap<i64, (String, QueuedMessage)>,
    activities: BTreeMap<i64, Activity>,
    next_id: i64,
}

impl Inner {
    fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
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
    /// An empty store whose leases follow `clock`.
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
        {
            let mut inner = self.lock();
            if let Some(existing) = inner.instances.get(&new.instance_id)
                && !existing.record.status.is_terminal()
            {
                return Err(StoreError::InstanceExists(new.instance_id));
            }
            inner.messages.retain(|_, (id, _)| *id != new.instance_id);
            inner
                .activities
                .retain(|_, a| a.item.instance_id != new.instance_id);
            let started = HistoryEvent::new(
                new.created_at,
                EventKind::ExecutionStarted {
                    name: new.name.clone(),
                    input: new.input.clone(),
                    execution_id: new.execution_id.clone(),
                },
            );
            let id = inner.next_id();
            inner.messages.insert(
                id,
                (
                    new.instance_id.clone(),
                    QueuedMessage {
                        id,
                        execution_id: new.execution_id.clone(),
                        event: started,
                    },
                ),
            );
            inner.instances.insert(
                new.instance_id.clone(),
                Instance {
                    record: InstanceRecord {
                        instance_id: new.instance_id,
                        name: new.name,
                        execution_id: new.execution_id,
                        status: RuntimeStatus::Pending,
                        input: new.input,
                        output: serde_json::Value::Null,
                        custom_status: serde_json::Value::Null,
                        created_at: new.created_at,
                        updated_at: new.created_at,
                        history_length: 0,
                    },
                    history: Vec::new(),
                    lease: None,
                },
            );
        }
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_orchestration(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let candidate = inner.messages.values().find_map(|(id, _)| {
            let free = inner
                .instances
                .get(id)
                .is_some_and(|i| lease_free(&i.lease, now));
            free.then(|| id.clone())
        });
        let Some(instance_id) = candidate else {
            return Ok(None);
        };
        let messages: Vec<QueuedMessage> = inner
            .messages
            .values()
            .filter(|(id, _)| *id == instance_id)
            .map(|(_, m)| m.clone())
            .collect();
        let Some(instance) = inner.instances.get_mut(&instance_id) else {
            return Ok(None);
        };
        instance.lease = Some(Lease {
            owner: owner.to_owned(),
            expires: expiry(now, lease),
        });
        Ok(Some(OrchestrationWorkItem {
            instance: instance.record.clone(),
            history: instance.history.clone(),
            messages,
        }))
    }

    async fn commit_turn(&self, owner: &str, commit: TurnCommit) -> Result<(), StoreError> {
        let now = self.clock.now();
        let scheduled_work = !commit.activities.is_empty();
        {
            let mut inner = self.lock();
            let Some(instance) = inner.instances.get_mut(&commit.instance_id) else {
                return Err(StoreError::LeaseLost(commit.instance_id));
            };
            if !held_by(&instance.lease, owner, now)
                || instance.record.history_length != commit.expected_history_length
                || instance.record.execution_id != commit.execution_id
            {
                return Err(StoreError::LeaseLost(commit.instance_id));
            }
            instance.history.extend(commit.appended.iter().cloned());
            instance.record.history_length = instance.history.len() as u64;
            instance.record.status = commit.status;
            instance.record.output = commit.output;
            instance.record.updated_at = now;
            instance.lease = None;
            for id in &commit.consumed {
                inner.messages.remove(id);
            }
            for activity in commit.activities {
                let id = inner.next_id();
                inner.activities.insert(
                    id,
                    Activity {
                        item: ActivityWorkItem {
                            id,
                            instance_id: commit.instance_id.clone(),
                            execution_id: commit.execution_id.clone(),
                            task_id: activity.task_id,
                            name: activity.name,
                            input: activity.input,
                            dequeue_count: 0,
                        },
                        lease: None,
                    },
                );
            }
        }
        if scheduled_work {
            self.signals.activities.notify_one();
        }
        // Messages that arrived during the turn can be taken now that the lease is free.
        self.signals.orchestrations.notify_one();
        Ok(())
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

    async fn fetch_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let Some(activity) = inner
            .activities
            .values_mut()
            .find(|a| lease_free(&a.lease, now))
        else {
            return Ok(None);
        };
        activity.lease = Some(Lease {
            owner: owner.to_owned(),
            expires: expiry(now, lease),
        });
        activity.item.dequeue_count += 1;
        Ok(Some(activity.item.clone()))
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
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        {
            let mut inner = self.lock();
            let held = inner
                .activities
                .get(&item.id)
                .is_some_and(|a| held_by(&a.lease, owner, now));
            if !held {
                return Ok(());
            }
            inner.activities.remove(&item.id);
            let id = inner.next_id();
            inner.messages.insert(
                id,
                (
                    item.instance_id.clone(),
                    QueuedMessage {
                        id,
                        execution_id: item.execution_id.clone(),
                        event: result,
                    },
                ),
            );
        }
        self.signals.orchestrations.notify_one();
        Ok(())
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

    async fn release_all_leases(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for instance in inner.instances.values_mut() {
            instance.lease = None;
        }
        for activity in inner.activities.values_mut() {
            activity.lease = None;
        }
        Ok(())
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
}
