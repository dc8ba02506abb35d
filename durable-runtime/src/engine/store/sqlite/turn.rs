//! Writing a turn: checking the writer's claim on the instance, then appending the
//! history, updating the instance row and queuing the work and messages, in the writer's
//! transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{
    create, insert_instance, insert_message, load_instance, remove_leased_activity, send,
};
use super::writer::sql_error;
use crate::store::rules::{
    child_conflict, execution_started, is_removed_entity, queues_orchestration_work, timer_fired,
};
use crate::store::sql::{lease_expiry, millis, to_json};
use crate::store::{
    ActivityWorkItem, NewInstance, ReplacePolicy, StoreError, TurnClaim, TurnCommit, TurnWrite,
};

/// Writes `write` when its claim holds (see [`crate::store::Store::commit`]); changes
/// nothing otherwise.
pub(super) fn commit(
    conn: &Connection,
    owner: &str,
    write: &TurnWrite,
    now: DateTime<Utc>,
) -> Result<Written, StoreError> {
    claim(conn, owner, &write.claim, &write.turn, now)?;
    write_turn(conn, owner, &write.turn, now, write.lease_activities)
}

/// Checks that `owner` may write `turn` under `claim`, and takes what the claim takes: the
/// new instance's row, or the finished call's work item.
fn claim(
    conn: &Connection,
    owner: &str,
    claim: &TurnClaim,
    turn: &TurnCommit,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let lost = || StoreError::LeaseLost(turn.instance_id.clone());
    match claim {
        TurnClaim::Leased => {
            let row: Option<(Option<String>, Option<i64>, i64, String)> = conn
                .prepare_cached(
                    "SELECT lock_owner, lock_expires, history_length, execution_id
                     FROM instances WHERE instance_id = ?1",
                )
                .map_err(sql_error)?
                .query_row([&turn.instance_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
                .map_err(sql_error)?;
            let held = row.is_some_and(|(lock_owner, expires, length, execution)| {
                lock_owner.as_deref() == Some(owner)
                    && expires.is_some_and(|e| e > millis(now))
                    && length.max(0) as u64 == turn.expected_history_length
                    && execution == turn.execution_id
            });
            if !held {
                return Err(lost());
            }
        }
        TurnClaim::Creates(new) => {
            if !insert_instance(conn, new)? {
                return Err(StoreError::InstanceExists(new.instance_id.clone()));
            }
        }
        TurnClaim::CompletesActivity(item) => {
            let free = conn
                .prepare_cached(
                    "SELECT 1 FROM instances WHERE instance_id = ?1 AND execution_id = ?2
                       AND history_length = ?3 AND status <> 'Suspended'
                       AND (lock_owner IS NULL OR lock_expires <= ?4)",
                )
                .map_err(sql_error)?
                .exists(params![
                    turn.instance_id,
                    turn.execution_id,
                    turn.expected_history_length as i64,
                    millis(now)
                ])
                .map_err(sql_error)?;
            if !free {
                return Err(lost());
            }
            if !remove_leased_activity(conn, owner, item.id, now)? {
                return Err(lost());
            }
        }
    }
    Ok(())
}

/// What writing a turn leaves to do once it is committed.
pub(super) struct Written {
    /// The activities leased to the committing worker.
    pub leased: Vec<ActivityWorkItem>,
    /// Whether orchestration dispatchers have work from it: the turn queued some, or
    /// messages arrived for the instance while it was leased.
    pub wakes_orchestrations: bool,
}

/// Writes a turn whose claim holds: appends the history, updates and frees the instance,
/// queues the new work and messages. With `lease`, its activities are leased to `owner`.
fn write_turn(
    conn: &Connection,
    owner: &str,
    commit: &TurnCommit,
    now: DateTime<Utc>,
    lease: Option<Duration>,
) -> Result<Written, StoreError> {
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")
        .map_err(sql_error)?;
    for id in &commit.consumed {
        delete.execute([id]).map_err(sql_error)?;
    }
    let custom_status = to_json(&commit.custom_status)?;
    if let Some(next) = &commit.continue_as_new {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")
            .map_err(sql_error)?
            .execute([&commit.instance_id])
            .map_err(sql_error)?;
        let input = to_json(&next.input)?;
        conn.prepare_cached(
            "UPDATE instances SET status = 'ContinuedAsNew', execution_id = ?1, input = ?2,
                 output = 'null', custom_status = ?3, updated_at = ?4, history_length = 0,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = ?5",
        )
        .map_err(sql_error)?
        .execute(params![
            next.execution_id,
            input,
            custom_status,
            millis(now),
            commit.instance_id
        ])
        .map_err(sql_error)?;
        let instance = load_instance(conn, &commit.instance_id)?
            .ok_or_else(|| StoreError::LeaseLost(commit.instance_id.clone()))?;
        let started = execution_started(&NewInstance {
            instance_id: instance.instance_id,
            name: instance.name,
            execution_id: next.execution_id.clone(),
            input: next.input.clone(),
            created_at: now,
            parent: instance.parent,
            scheduled_start: None,
            replace: ReplacePolicy::Any,
            trace_context: next.trace_context.clone(),
            version: instance.version,
        });
        insert_message(
            conn,
            &commit.instance_id,
            Some(&next.execution_id),
            &started,
            millis(now),
        )?;
        for event in &next.carried_events {
            insert_message(conn, &commit.instance_id, None, event, millis(now))?;
        }
    } else {
        if let Some(length) = commit.truncate_history_to {
            conn.prepare_cached(
                "DELETE FROM history WHERE instance_id = ?1 AND execution_id = ?2 AND seq >= ?3",
            )
            .map_err(sql_error)?
            .execute(params![
                commit.instance_id,
                commit.execution_id,
                length as i64
            ])
            .map_err(sql_error)?;
        }
        let base = commit
            .truncate_history_to
            .unwrap_or(commit.expected_history_length) as i64;
        let mut append = conn
            .prepare_cached(
                "INSERT INTO history (instance_id, execution_id, seq, event) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql_error)?;
        for (offset, event) in commit.appended.iter().enumerate() {
            let text = to_json(event)?;
            let seq = base + offset as i64;
            append
                .execute(params![commit.instance_id, commit.execution_id, seq, text])
                .map_err(sql_error)?;
        }
        let output = to_json(&commit.output)?;
        let completed_at = commit.status.is_terminal().then_some(millis(now));
        conn.prepare_cached(
            "UPDATE instances SET status = ?1, output = ?2, custom_status = ?3, updated_at = ?4,
                 completed_at = COALESCE(?5, completed_at), history_length = ?6,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = ?7",
        )
        .map_err(sql_error)?
        .execute(params![
            commit.status.as_str(),
            output,
            custom_status,
            millis(now),
            completed_at,
            base + commit.appended.len() as i64,
            commit.instance_id
        ])
        .map_err(sql_error)?;
    }
    // With a lease, the new work is leased to the committing worker at once (the
    // in-process fast path); without, the activity dispatchers fetch it.
    let (lock_owner, lock_expires, leased_now) = match lease {
        Some(lease) => (Some(owner), Some(lease_expiry(now, lease)), 1),
        None => (None, None, 0),
    };
    let mut schedule = conn
        .prepare_cached(
            "INSERT INTO activities
                 (instance_id, execution_id, task_id, name, input, lock_owner, lock_expires, dequeue_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .map_err(sql_error)?;
    let mut leased = Vec::new();
    for activity in &commit.activities {
        let input = to_json(&activity.input)?;
        let id: i64 = schedule
            .query_row(
                params![
                    commit.instance_id,
                    commit.execution_id,
                    activity.task_id,
                    activity.name,
                    input,
                    lock_owner,
                    lock_expires,
                    activity.earlier_hand_outs + leased_now
                ],
                |row| row.get(0),
            )
            .map_err(sql_error)?;
        if lease.is_some() {
            leased.push(ActivityWorkItem {
                id,
                instance_id: commit.instance_id.clone(),
                execution_id: commit.execution_id.clone(),
                task_id: activity.task_id,
                name: activity.name.clone(),
                input: activity.input.clone(),
                dequeue_count: activity.earlier_hand_outs + 1,
            });
        }
    }
    for timer in &commit.timers {
        insert_message(
            conn,
            &commit.instance_id,
            Some(&commit.execution_id),
            &timer_fired(timer),
            millis(timer.fire_at),
        )?;
    }
    for child in &commit.children {
        if !create(conn, child, now)?
            && let Some(message) = child_conflict(child, now)
        {
            send(conn, &message, now)?;
        }
    }
    for message in &commit.messages {
        send(conn, message, now)?;
    }
    if is_removed_entity(commit) {
        conn.prepare_cached(
            "DELETE FROM instances WHERE instance_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM messages WHERE instance_id = ?1)",
        )
        .map_err(sql_error)?
        .execute([&commit.instance_id])
        .map_err(sql_error)?;
    }
    Ok(Written {
        leased,
        wakes_orchestrations: queues_orchestration_work(commit)
            || has_messages(conn, &commit.instance_id)?,
    })
}

/// Whether messages wait for an instance (arrived while it was leased, or timers).
fn has_messages(conn: &Connection, instance_id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM messages WHERE instance_id = ?1 LIMIT 1")
        .map_err(sql_error)?
        .exists([instance_id])
        .map_err(sql_error)
}
