//! An entity's side of critical sections: which section holds its lock, the messages
//! waiting for the lock, and passing lock requests on.
//!
//! Kept in the entity's instance row (as its custom status) and committed with its state,
//! so a crash never loses a lock or a waiting operation. Deciding what runs depends only on
//! the order of messages, never on what operations do, so a turn first sorts its messages
//! here and then runs the operations that may run.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{EventKind, HistoryEvent};
use crate::store::OutboundMessage;

/// The lock bookkeeping of one entity.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EntityLocks {
    /// The critical section holding the lock.
    #[serde(rename = "lockedBy", default, skip_serializing_if = "Option::is_none")]
    locked_by: Option<LockHolder>,
    /// Messages that arrived while the lock was held by another section, in arrival order.
    #[serde(rename = "waiting", default, skip_serializing_if = "Vec::is_empty")]
    waiting: Vec<HistoryEvent>,
    /// Sections released before their lock request got here (the orchestration ended
    /// first): the request is passed on without locking when it arrives.
    #[serde(rename = "cancelled", default, skip_serializing_if = "Vec::is_empty")]
    cancelled: Vec<String>,
}

/// The critical section holding an entity's lock, and the orchestration in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockHolder {
    /// The critical section.
    #[serde(rename = "criticalSectionId")]
    pub critical_section_id: String,
    /// The orchestration instance holding the lock.
    #[serde(rename = "instanceId")]
    pub instance_id: String,
    /// Its execution.
    #[serde(rename = "executionId")]
    pub execution_id: String,
}

/// What a turn does with its messages.
#[derive(Debug, Default)]
pub(crate) struct Scheduled {
    /// Operations to run now, in order.
    pub operations: Vec<HistoryEvent>,
    /// Lock requests passed on to the next entity, and grants.
    pub messages: Vec<OutboundMessage>,
}

impl EntityLocks {
    /// The bookkeeping stored in an entity's row (`null` when it has none).
    pub fn load(stored: &Value) -> Result<Self, serde_json::Error> {
        if stored.is_null() {
            return Ok(EntityLocks::default());
        }
        serde_json::from_value(stored.clone())
    }

    /// The value to store: `null` when the entity is unlocked and nothing waits.
    pub fn to_value(&self) -> Value {
        if *self == EntityLocks::default() {
            return Value::Null;
        }
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Sorts the waiting messages, then the new ones, into operations that run now,
    /// messages that keep waiting, and lock traffic.
    pub fn schedule(
        &mut self,
        messages: impl IntoIterator<Item = HistoryEvent>,
        now: DateTime<Utc>,
    ) -> Scheduled {
        let mut queue: VecDeque<HistoryEvent> = std::mem::take(&mut self.waiting)
            .into_iter()
            .chain(messages)
            .collect();
        let mut scheduled = Scheduled::default();
        while let Some(event) = queue.pop_front() {
            match &event.kind {
                EventKind::EntityOperationSignaled {
                    critical_section_id,
                    ..
                }
                | EventKind::EntityOperationCalled {
                    critical_section_id,
                    ..
                } => {
                    let holder = self.locked_by.as_ref().map(|h| &h.critical_section_id);
                    if holder.is_some() && critical_section_id.as_ref() != holder {
                        self.waiting.push(event);
                    } else {
                        scheduled.operations.push(event);
                    }
                }
                EventKind::EntityLockRequested {
                    critical_section_id,
                    caller,
                    ..
                } => {
                    if self.locked_by.is_some() {
                        self.waiting.push(event);
                        continue;
                    }
                    let cancelled = self.take_cancelled(critical_section_id);
                    if !cancelled && let Some(caller) = caller {
                        self.locked_by = Some(LockHolder {
                            critical_section_id: critical_section_id.clone(),
                            instance_id: caller.instance_id.clone(),
                            execution_id: caller.execution_id.clone(),
                        });
                    }
                    scheduled.messages.extend(pass_on(&event, !cancelled, now));
                }
                EventKind::EntityUnlockSent {
                    critical_section_id,
                    ..
                } => {
                    let holder = self.locked_by.as_ref().map(|h| &h.critical_section_id);
                    if holder == Some(critical_section_id) {
                        self.locked_by = None;
                        // What waited for the lock goes first, in its order.
                        for waiting in std::mem::take(&mut self.waiting).into_iter().rev() {
                            queue.push_front(waiting);
                        }
                    } else if let Some(at) = self.waiting.iter().position(|e| {
                        matches!(&e.kind, EventKind::EntityLockRequested { critical_section_id: id, .. } if id == critical_section_id)
                    }) {
                        // Released while its request was still waiting here: the request
                        // moves on without locking, clearing the marks of the others.
                        let request = self.waiting.remove(at);
                        scheduled.messages.extend(pass_on(&request, false, now));
                    } else {
                        self.cancelled.push(critical_section_id.clone());
                    }
                }
                _ => {}
            }
        }
        scheduled
    }

    /// The section holding the lock, if any.
    pub fn holder(&self) -> Option<&LockHolder> {
        self.locked_by.as_ref()
    }

    fn take_cancelled(&mut self, critical_section_id: &str) -> bool {
        match self
            .cancelled
            .iter()
            .position(|id| id == critical_section_id)
        {
            Some(at) => {
                self.cancelled.remove(at);
                true
            }
            None => false,
        }
    }
}

/// The message after a lock request was handled here: the request for the next entity of
/// the set, or (from the last one, when granting) the grant to the orchestration.
fn pass_on(request: &HistoryEvent, grant: bool, now: DateTime<Utc>) -> Option<OutboundMessage> {
    let EventKind::EntityLockRequested {
        critical_section_id,
        lock_set,
        position,
        caller,
    } = &request.kind
    else {
        return None;
    };
    if let Some(next) = lock_set.get(position + 1) {
        return Some(OutboundMessage {
            instance_id: next.clone(),
            execution_id: None,
            event: HistoryEvent {
                event_id: request.event_id,
                timestamp: now,
                kind: EventKind::EntityLockRequested {
                    critical_section_id: critical_section_id.clone(),
                    lock_set: lock_set.clone(),
                    position: position + 1,
                    caller: caller.clone(),
                },
            },
        });
    }
    let caller = caller.as_ref().filter(|_| grant)?;
    Some(OutboundMessage {
        instance_id: caller.instance_id.clone(),
        execution_id: Some(caller.execution_id.clone()),
        event: HistoryEvent::new(
            now,
            EventKind::EntityLockGranted {
                task_scheduled_id: caller.task_scheduled_id,
                critical_section_id: critical_section_id.clone(),
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::history::ParentInstance;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn operation(name: &str, section: Option<&str>) -> HistoryEvent {
        HistoryEvent::new(
            now(),
            EventKind::EntityOperationSignaled {
                request_id: name.to_owned(),
                target_instance_id: "@account@a".to_owned(),
                operation: name.to_owned(),
                input: json!(1),
                critical_section_id: section.map(str::to_owned),
            },
        )
    }

    fn request(section: &str, lock_set: &[&str], position: usize) -> HistoryEvent {
        HistoryEvent {
            event_id: 3,
            timestamp: now(),
            kind: EventKind::EntityLockRequested {
                critical_section_id: section.to_owned(),
                lock_set: lock_set.iter().map(|s| (*s).to_owned()).collect(),
                position,
                caller: Some(ParentInstance {
                    instance_id: format!("orchestration-{section}"),
                    execution_id: "e1".to_owned(),
                    task_scheduled_id: 3,
                }),
            },
        }
    }

    fn unlock(section: &str) -> HistoryEvent {
        HistoryEvent::new(
            now(),
            EventKind::EntityUnlockSent {
                critical_section_id: section.to_owned(),
                target_instance_id: "@account@a".to_owned(),
            },
        )
    }

    fn names(events: &[HistoryEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::EntityOperationSignaled { operation, .. } => operation.clone(),
                other => other.type_name().to_owned(),
            })
            .collect()
    }

    #[test]
    fn an_unlocked_entity_runs_everything_in_order() {
        let mut locks = EntityLocks::default();
        let turn = locks.schedule([operation("a", None), operation("b", None)], now());
        assert_eq!(names(&turn.operations), ["a", "b"]);
        assert_eq!(locks.to_value(), Value::Null);
    }

    #[test]
    fn the_last_entity_grants_and_others_pass_the_request_on() {
        let mut locks = EntityLocks::default();
        let turn = locks.schedule([request("s1", &["@account@a", "@account@b"], 0)], now());
        assert_eq!(turn.messages.len(), 1);
        assert_eq!(turn.messages[0].instance_id, "@account@b");
        assert!(matches!(
            turn.messages[0].event.kind,
            EventKind::EntityLockRequested { position: 1, .. }
        ));
        let mut last = EntityLocks::default();
        let turn = last.schedule([request("s1", &["@account@a", "@account@b"], 1)], now());
        assert_eq!(turn.messages[0].instance_id, "orchestration-s1");
        assert_eq!(turn.messages[0].execution_id.as_deref(), Some("e1"));
        assert!(matches!(
            turn.messages[0].event.kind,
            EventKind::EntityLockGranted {
                task_scheduled_id: 3,
                ..
            }
        ));
    }

    #[test]
    fn while_locked_only_the_holder_runs_and_the_rest_waits_in_order() {
        let mut locks = EntityLocks::default();
        let turn = locks.schedule(
            [
                operation("before", None),
                request("s1", &["@account@a"], 0),
                operation("other-1", None),
                request("s2", &["@account@a"], 0),
                operation("holder", Some("s1")),
                operation("other-2", Some("s9")),
            ],
            now(),
        );
        assert_eq!(names(&turn.operations), ["before", "holder"]);
        assert_eq!(turn.messages.len(), 1, "only s1 is granted");
        let stored = locks.to_value();
        assert_eq!(stored["lockedBy"]["criticalSectionId"], json!("s1"));
        assert_eq!(stored["lockedBy"]["instanceId"], json!("orchestration-s1"));
        let mut locks = EntityLocks::load(&stored).expect("round-trips");
        let turn = locks.schedule([unlock("s1")], now());
        assert_eq!(
            names(&turn.operations),
            ["other-1"],
            "after the unlock the waiting messages run until s2 takes the lock"
        );
        assert_eq!(turn.messages.len(), 1, "s2 is granted");
        assert_eq!(turn.messages[0].instance_id, "orchestration-s2");
        let turn = locks.schedule([unlock("s2")], now());
        assert_eq!(names(&turn.operations), ["other-2"]);
        assert_eq!(locks.to_value(), Value::Null);
    }

    #[test]
    fn an_unlock_before_its_request_lets_the_request_pass_without_locking() {
        let mut locks = EntityLocks::default();
        locks.schedule([unlock("s1")], now());
        assert_eq!(locks.to_value()["cancelled"], json!(["s1"]));
        let turn = locks.schedule(
            [request("s1", &["@account@a"], 0), operation("next", None)],
            now(),
        );
        assert!(turn.messages.is_empty(), "no grant for a released section");
        assert_eq!(names(&turn.operations), ["next"]);
        assert_eq!(locks.to_value(), Value::Null);
    }

    #[test]
    fn an_unlock_for_a_waiting_request_passes_it_on() {
        let mut locks = EntityLocks::default();
        let set = ["@account@a", "@account@b"];
        locks.schedule([request("s1", &set, 0), request("s2", &set, 0)], now());
        let turn = locks.schedule([unlock("s2")], now());
        assert_eq!(turn.messages.len(), 1);
        assert_eq!(turn.messages[0].instance_id, "@account@b");
        assert_eq!(
            locks.holder().map(|h| h.critical_section_id.as_str()),
            Some("s1")
        );
        assert!(locks.to_value().get("waiting").is_none());
    }
}
