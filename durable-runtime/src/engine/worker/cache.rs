//! Live orchestrations kept between turns, so the next turn applies only its new events
//! instead of replaying the whole history. Least recently used entries are dropped first;
//! a dropped, stale or missing entry is rebuilt by replay.

use std::collections::{BTreeMap, HashMap};

use crate::orchestration::replay::Execution;
use crate::status::RuntimeStatus;
use crate::store::InstanceRecord;

/// An orchestration parked between turns.
pub(crate) struct Cached {
    pub execution: Execution,
    /// The instance's row as the last turn committed it. Its history length is the one
    /// the execution has seen; a longer stored history means another worker (or a lost
    /// commit) moved on, and the entry is stale.
    pub instance: InstanceRecord,
}

/// A bounded least-recently-used map from instance id to parked orchestration.
pub(crate) struct ExecutionCache {
    capacity: usize,
    entries: HashMap<String, (u64, Cached)>,
    by_use: BTreeMap<u64, String>,
    clock: u64,
}

impl ExecutionCache {
    /// A cache of at most `capacity` entries (0 turns it off).
    pub fn new(capacity: usize) -> Self {
        ExecutionCache {
            capacity,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Takes the entry for an instance out, if it is current: same execution, same history
    /// length. A stale entry is dropped.
    pub fn take(
        &mut self,
        instance_id: &str,
        execution_id: &str,
        history_length: u64,
    ) -> Option<Execution> {
        let (stamp, cached) = self.entries.remove(instance_id)?;
        self.by_use.remove(&stamp);
        (cached.instance.execution_id == execution_id
            && cached.instance.history_length == history_length)
            .then_some(cached.execution)
    }

    /// Takes the entry for an instance out when its execution `execution_id` is running
    /// and waits for nothing but call `task_id`: its next turn can then be computed from
    /// that call's result alone. Otherwise the entry stays.
    pub fn take_waiting_only_for(
        &mut self,
        instance_id: &str,
        execution_id: &str,
        task_id: i64,
    ) -> Option<Cached> {
        let (_, cached) = self.entries.get(instance_id)?;
        let ready = cached.instance.execution_id == execution_id
            && cached.instance.status == RuntimeStatus::Running
            && cached.execution.waits_only_for(task_id);
        if !ready {
            return None;
        }
        let (stamp, cached) = self.entries.remove(instance_id)?;
        self.by_use.remove(&stamp);
        Some(cached)
    }

    /// Parks an orchestration after a committed turn, dropping the least recently used
    /// entry when full.
    pub fn put(&mut self, instance_id: String, cached: Cached) {
        if self.capacity == 0 {
            return;
        }
        if let Some((stamp, _)) = self.entries.remove(&instance_id) {
            self.by_use.remove(&stamp);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.clock += 1;
        self.by_use.insert(self.clock, instance_id.clone());
        self.entries.insert(instance_id, (self.clock, cached));
    }

    /// How many orchestrations are parked.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{BoxFuture, InvocationResult};

    fn never(_: crate::OrchestrationContext) -> BoxFuture<InvocationResult> {
        Box::pin(std::future::pending())
    }

    fn entry(history_length: u64) -> Cached {
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        Cached {
            execution: Execution::new("i", never),
            instance: InstanceRecord {
                instance_id: "i".to_owned(),
                name: "Never".to_owned(),
                execution_id: "e".to_owned(),
                status: RuntimeStatus::Running,
                input: serde_json::Value::Null,
                output: serde_json::Value::Null,
                custom_status: serde_json::Value::Null,
                created_at: now,
                updated_at: now,
                history_length,
                parent: None,
                version: None,
            },
        }
    }

    #[test]
    fn hits_only_when_current() {
        let mut cache = ExecutionCache::new(4);
        cache.put("a".into(), entry(5));
        assert!(cache.take("a", "e", 5).is_some());
        assert!(
            cache.take("a", "e", 5).is_none(),
            "taking removes the entry"
        );
        cache.put("a".into(), entry(5));
        assert!(
            cache.take("a", "e", 6).is_none(),
            "a longer history is stale"
        );
        cache.put("a".into(), entry(5));
        assert!(
            cache.take("a", "other", 5).is_none(),
            "another execution is stale"
        );
    }

    #[test]
    fn drops_the_least_recently_used() {
        let mut cache = ExecutionCache::new(2);
        cache.put("a".into(), entry(1));
        cache.put("b".into(), entry(1));
        cache.put("c".into(), entry(1));
        assert_eq!(cache.len(), 2);
        assert!(cache.take("a", "e", 1).is_none());
        assert!(cache.take("b", "e", 1).is_some());
        assert!(cache.take("c", "e", 1).is_some());
        let mut off = ExecutionCache::new(0);
        off.put("a".into(), entry(1));
        assert_eq!(off.len(), 0);
    }
}
