//! The store's invariants, checked from outside: what every fault test ends with, and what
//! `durable-host check` runs against a live store. A store at rest (no host mid-turn) must
//! pass every rule; a host that is working may show passing differences (a result queued
//! for an instance about to finish).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::engine::store::{InstanceQuery, InstanceRecord, QueuedWork, Store, StoreError};
use crate::history::{EventKind, HistoryEvent};
use crate::status::RuntimeStatus;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The instance it is about, when it is about one.
    #[serde(rename = "instanceId")]
    pub instance_id: Option<String>,
    /// The rule, a short kebab-case name (`one-terminal-event`, ...).
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
}

/// What a check read and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Orchestration instances read.
    pub instances: u64,
    /// Entities read.
    pub entities: u64,
    /// The broken invariants, by instance.
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// Whether every invariant holds.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every invariant of the store at `now`:
///
/// - `one-terminal-event`: at most one `ExecutionCompleted` in an execution;
/// - `history-length`: the row's history length is the history's;
/// - `row-matches-history`: a finished row has its history's ending (status, and the
///   output of a completed one), a running one has none;
/// - `calls-unique`: sequence numbers of calls, timers and lock requests are not reused;
/// - `completion-matches-call`: every result answers exactly one call of its kind, once;
/// - `work-for-missing-instance`: no queued message or activity call for an instance
///   that does not exist (purged);
/// - `due-work-for-finished-instance`: no message due now or activity call for a
///   finished instance;
/// - `lock-held-by-finished`: an entity is locked only by an orchestration still running.
pub async fn check_store(store: &dyn Store, now: DateTime<Utc>) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport::default();
    let instances = every_row(store, false).await?;
    let entities = every_row(store, true).await?;
    report.instances = instances.len() as u64;
    report.entities = entities.len() as u64;
    for record in &instances {
        let history = store.get_history(&record.instance_id).await?;
        check_instance(record, &history, &mut report.violations);
    }
    let rows: HashMap<&str, &InstanceRecord> = instances
        .iter()
        .chain(&entities)
        .map(|r| (r.instance_id.as_str(), r))
        .collect();
    for work in store.queued_work().await? {
        check_work(&work, &rows, now, &mut report.violations);
    }
    for entity in &entities {
        let locks = crate::worker::EntityLocks::load(&entity.custom_status).ok();
        let Some(holder) = locks.as_ref().and_then(|locks| locks.holder()) else {
            continue;
        };
        let live = rows
            .get(holder.instance_id.as_str())
            .is_some_and(|h| !h.status.is_terminal());
        if !live {
            report.violations.push(Violation {
                instance_id: Some(entity.instance_id.clone()),
                rule: "lock-held-by-finished",
                detail: format!(
                    "locked by `{}`, which has finished or does not exist",
                    holder.instance_id
                ),
            });
        }
    }
    Ok(report)
}

/// Every orchestration instance (or every entity), page by page.
async fn every_row(store: &dyn Store, entities: bool) -> Result<Vec<InstanceRecord>, StoreError> {
    let mut rows = Vec::new();
    let mut query = InstanceQuery {
        page_size: 500,
        entities,
        ..InstanceQuery::default()
    };
    loop {
        let page = store.list_instances(&query).await?;
        rows.extend(page.instances);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The rules about one instance's row and history.
fn check_instance(record: &InstanceRecord, history: &[HistoryEvent], out: &mut Vec<Violation>) {
    let mut flag = |rule: &'static str, detail: String| {
        out.push(Violation {
            instance_id: Some(record.instance_id.clone()),
            rule,
            detail,
        });
    };
    if record.history_length != history.len() as u64 {
        flag(
            "history-length",
            format!(
                "the row says {} events, the history has {}",
                record.history_length,
                history.len()
            ),
        );
    }
    let endings: Vec<(RuntimeStatus, &serde_json::Value)> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ExecutionCompleted { status, result, .. } => Some((*status, result)),
            _ => None,
        })
        .collect();
    if endings.len() > 1 {
        flag(
            "one-terminal-event",
            format!(
                "{} ExecutionCompleted events in one execution",
                endings.len()
            ),
        );
    }
    match (record.status.is_terminal(), endings.last()) {
        (true, None) => flag(
            "row-matches-history",
            format!("the row is {} but the history has no ending", record.status),
        ),
        (true, Some((status, result))) => {
            if *status != record.status {
                flag(
                    "row-matches-history",
                    format!("the row is {}, the history ended {status}", record.status),
                );
            } else if *status == RuntimeStatus::Completed && **result != record.output {
                flag(
                    "row-matches-history",
                    "the row's output is not the history's result".to_owned(),
                );
            }
        }
        (false, Some((status, _))) if *status != RuntimeStatus::ContinuedAsNew => flag(
            "row-matches-history",
            format!(
                "the row is {} but the history ended {status}",
                record.status
            ),
        ),
        _ => {}
    }
    check_calls(history, &mut flag);
}

/// The kinds of calls, and the results that answer each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CallKind {
    Activity,
    SubOrchestration,
    Timer,
    EntityCall,
    Lock,
}

/// Every scheduled call is numbered once; every result answers one call of its kind, once.
fn check_calls(history: &[HistoryEvent], flag: &mut impl FnMut(&'static str, String)) {
    let mut calls: HashMap<i64, CallKind> = HashMap::new();
    let mut answered: HashSet<i64> = HashSet::new();
    for event in history {
        let call = match &event.kind {
            EventKind::TaskScheduled { .. } => Some(CallKind::Activity),
            EventKind::SubOrchestrationInstanceCreated { .. } => Some(CallKind::SubOrchestration),
            EventKind::TimerCreated { .. } => Some(CallKind::Timer),
            EventKind::EntityOperationCalled { .. } => Some(CallKind::EntityCall),
            EventKind::EntityLockRequested { .. } => Some(CallKind::Lock),
            _ => None,
        };
        if let Some(kind) = call
            && calls.insert(event.event_id, kind).is_some()
        {
            flag(
                "calls-unique",
                format!("sequence number {} is used twice", event.event_id),
            );
        }
        let answer = match &event.kind {
            EventKind::TaskCompleted {
                task_scheduled_id, ..
            }
            | EventKind::TaskFailed {
                task_scheduled_id, ..
            } => Some((*task_scheduled_id, CallKind::Activity)),
            EventKind::SubOrchestrationInstanceCompleted {
                task_scheduled_id, ..
            }
            | EventKind::SubOrchestrationInstanceFailed {
                task_scheduled_id, ..
            } => Some((*task_scheduled_id, CallKind::SubOrchestration)),
            EventKind::TimerFired { timer_id, .. } => Some((*timer_id, CallKind::Timer)),
            EventKind::EntityOperationCompleted {
                task_scheduled_id, ..
            }
            | EventKind::EntityOperationFailed {
                task_scheduled_id, ..
            } => Some((*task_scheduled_id, CallKind::EntityCall)),
            EventKind::EntityLockGranted {
                task_scheduled_id, ..
            } => Some((*task_scheduled_id, CallKind::Lock)),
            _ => None,
        };
        let Some((id, kind)) = answer else { continue };
        if calls.get(&id) != Some(&kind) {
            flag(
                "completion-matches-call",
                format!(
                    "{} answers call #{id}, which is no {kind:?} call before it",
                    event.kind.type_name()
                ),
            );
        } else if !answered.insert(id) {
            flag(
                "completion-matches-call",
                format!("call #{id} is answered twice"),
            );
        }
    }
}

/// The rules about queued work.
fn check_work(
    work: &QueuedWork,
    rows: &HashMap<&str, &InstanceRecord>,
    now: DateTime<Utc>,
    out: &mut Vec<Violation>,
) {
    let what = match work.visible_at {
        Some(at) => format!("a message visible at {at}"),
        None => "an activity call".to_owned(),
    };
    let Some(row) = rows.get(work.instance_id.as_str()) else {
        out.push(Violation {
            instance_id: Some(work.instance_id.clone()),
            rule: "work-for-missing-instance",
            detail: format!("{what} is queued for an instance that does not exist"),
        });
        return;
    };
    let due = work.visible_at.is_none_or(|at| at <= now);
    if row.status.is_terminal() && due {
        out.push(Violation {
            instance_id: Some(work.instance_id.clone()),
            rule: "due-work-for-finished-instance",
            detail: format!("{what} is queued for an instance that is {}", row.status),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600, 0).unwrap_or_default()
    }

    fn event(event_id: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id,
            timestamp: at(),
            kind,
        }
    }

    fn scheduled(id: i64) -> HistoryEvent {
        event(
            id,
            EventKind::TaskScheduled {
                name: "SayHello".to_owned(),
                input: json!("Tokyo"),
            },
        )
    }

    fn completed(id: i64) -> HistoryEvent {
        event(
            -1,
            EventKind::TaskCompleted {
                task_scheduled_id: id,
                result: json!("Hello"),
            },
        )
    }

    fn ended(status: RuntimeStatus, result: Value) -> HistoryEvent {
        event(
            -1,
            EventKind::ExecutionCompleted {
                status,
                result,
                failure: None,
            },
        )
    }

    fn record(status: RuntimeStatus, output: Value, history: &[HistoryEvent]) -> InstanceRecord {
        InstanceRecord {
            instance_id: "i".to_owned(),
            name: "HelloCities".to_owned(),
            execution_id: "e".to_owned(),
            status,
            input: Value::Null,
            output,
            custom_status: Value::Null,
            created_at: at(),
            updated_at: at(),
            history_length: history.len() as u64,
            parent: None,
            version: None,
        }
    }

    fn rules(record: &InstanceRecord, history: &[HistoryEvent]) -> Vec<&'static str> {
        let mut found = Vec::new();
        check_instance(record, history, &mut found);
        found.into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn a_well_formed_history_breaks_no_rule() {
        let history = [
            scheduled(0),
            completed(0),
            ended(RuntimeStatus::Completed, json!(["Hello"])),
        ];
        let row = record(RuntimeStatus::Completed, json!(["Hello"]), &history);
        assert_eq!(rules(&row, &history), Vec::<&str>::new());
    }

    #[test]
    fn each_broken_rule_is_named() {
        let twice_ended = [
            ended(RuntimeStatus::Completed, json!(1)),
            ended(RuntimeStatus::Failed, Value::Null),
        ];
        let row = record(RuntimeStatus::Failed, Value::Null, &twice_ended);
        assert_eq!(rules(&row, &twice_ended), ["one-terminal-event"]);

        let answered_twice = [scheduled(0), completed(0), completed(0)];
        let row = record(RuntimeStatus::Running, Value::Null, &answered_twice);
        assert_eq!(rules(&row, &answered_twice), ["completion-matches-call"]);

        let unknown_call = [completed(7)];
        let row = record(RuntimeStatus::Running, Value::Null, &unknown_call);
        assert_eq!(rules(&row, &unknown_call), ["completion-matches-call"]);

        let reused = [scheduled(0), scheduled(0)];
        let row = record(RuntimeStatus::Running, Value::Null, &reused);
        assert_eq!(rules(&row, &reused), ["calls-unique"]);

        let other_output = [ended(RuntimeStatus::Completed, json!(1))];
        let row = record(RuntimeStatus::Completed, json!(2), &other_output);
        assert_eq!(rules(&row, &other_output), ["row-matches-history"]);

        let running_but_ended = [ended(RuntimeStatus::Completed, json!(1))];
        let row = record(RuntimeStatus::Running, Value::Null, &running_but_ended);
        assert_eq!(rules(&row, &running_but_ended), ["row-matches-history"]);
    }

    #[test]
    fn work_for_missing_or_finished_instances_is_flagged_unless_it_waits_for_later() {
        let history = [ended(RuntimeStatus::Completed, json!(1))];
        let done = record(RuntimeStatus::Completed, json!(1), &history);
        let rows: HashMap<&str, &InstanceRecord> = [("i", &done)].into_iter().collect();
        let mut found = Vec::new();
        let later = at() + chrono::Duration::hours(1);
        for work in [
            QueuedWork {
                instance_id: "gone".to_owned(),
                visible_at: Some(at()),
            },
            QueuedWork {
                instance_id: "i".to_owned(),
                visible_at: None,
            },
            QueuedWork {
                instance_id: "i".to_owned(),
                visible_at: Some(later),
            },
        ] {
            check_work(&work, &rows, at(), &mut found);
        }
        let rules: Vec<&str> = found.iter().map(|v| v.rule).collect();
        assert_eq!(
            rules,
            [
                "work-for-missing-instance",
                "due-work-for-finished-instance"
            ],
            "a timer due later for a finished instance is no violation"
        );
    }
}
