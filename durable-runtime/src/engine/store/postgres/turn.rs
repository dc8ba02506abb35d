//! Writing a turn: checking the writer's claim on the instance under its row lock, then
//! appending the history, updating the instance row and queuing the work and messages,
//! in one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::connection::{db_error, execute, query, query_opt};
use super::rows::{Outgoing, create, insert_instance, insert_messages, send};
use crate::history::HistoryEvent;
use crate::store::rules::{child_conflict, execution_started, is_removed_entity, timer_fired};
use crate::store::sql::{from_json, lease_expiry, millis, to_json};
use crate::store::{
    ActivityWorkItem, NewInstance, ReplacePolicy, StoreError, TurnClaim, TurnCommit, TurnWrite,
};

/// Writes `write` in `tx` when its claim holds (see [`crate::store::Store::commit`]); the
/// caller rolls back (drops `tx`) on an error, so a refused claim changes nothing.
pub(super) async fn commit<C: GenericClient>(
    tx: &C,
    owner: &str,
    write: &TurnWrite,
    now: DateTime<Utc>,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    claim(tx, owner, &write.claim, &write.turn, now).await?;
    write_turn(tx, owner, &write.turn, write.lease_activities, now).await
}

/// Checks that `owner` may write `turn` under `claim`, locking the instance's row, and
/// takes what the claim takes: the new instance's row, or the finished call's work item.
async fn claim<C: GenericClient>(
    tx: &C,
    owner: &str,
    claim: &TurnClaim,
    turn: &TurnCommit,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let lost = || StoreError::LeaseLost(turn.instance_id.clone());
    match claim {
        TurnClaim::Leased => {
            if !holds_lease(tx, owner, turn, millis(now)).await? {
                return Err(lost());
            }
        }
        TurnClaim::Creates(new) => {
            // The new row stays locked by this transaction: the turn commits as if leased.
            if !insert_instance(tx, new).await? {
                return Err(StoreError::InstanceExists(new.instance_id.clone()));
            }
        }
        TurnClaim::CompletesActivity(item) => {
            let now_ms = millis(now);
            let expected_length = i64::try_from(turn.expected_history_length).unwrap_or(i64::MAX);
            // Both rows are taken with SKIP LOCKED, so this never waits for (nor deadlocks
            // with) a fetch, a commit or a completion holding either: a busy row declines.
            // The instance must be free and where the turn started; the call must still be
            // ours and this execution's. Its result is the turn's first event, not a message.
            let claimed = execute(
                tx,
                "DELETE FROM activities
                 WHERE id = (SELECT id FROM activities
                             WHERE id = $1 AND lock_owner = $2 AND lock_expires > $3
                               AND instance_id = $4 AND execution_id = $5
                             FOR UPDATE SKIP LOCKED)
                   AND instance_id = (SELECT instance_id FROM instances
                                      WHERE instance_id = $4 AND execution_id = $5
                                        AND history_length = $6 AND status <> 'Suspended'
                                        AND (lock_owner IS NULL OR lock_expires <= $3)
                                      FOR UPDATE SKIP LOCKED)",
                &[
                    &item.id,
                    &owner,
                    &now_ms,
                    &turn.instance_id,
                    &turn.execution_id,
                    &expected_length,
                ],
            )
            .await?;
            if claimed == 0 {
                return Err(lost());
            }
        }
    }
    Ok(())
}

/// Writes a turn in `tx`, which holds the instance's row locked and has checked that
/// the turn may commit: appends the history, updates (and frees) the instance, queues
/// the new work and messages. With `lease`, the activities it schedules are leased to
/// `owner` and returned.
async fn write_turn<C: GenericClient>(
    tx: &C,
    owner: &str,
    commit: &TurnCommit,
    lease: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let now_ms = millis(now);
    if !commit.consumed.is_empty() {
        execute(
            tx,
            "DELETE FROM messages WHERE instance_id = $1 AND id = ANY($2)",
            &[&commit.instance_id, &commit.consumed],
        )
        .await?;
    }
    let custom_status = to_json(&commit.custom_status)?;
    if let Some(next) = &commit.continue_as_new {
        execute(
            tx,
            "DELETE FROM history WHERE instance_id = $1",
            &[&commit.instance_id],
        )
        .await?;
        let input = to_json(&next.input)?;
        let row = query_opt(
            tx,
            "UPDATE instances SET status = 'ContinuedAsNew', execution_id = $1, input = $2,
                 output = 'null', custom_status = $3, updated_at = $4, history_length = 0,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = $5
             RETURNING name, parent, version",
            &[
                &next.execution_id,
                &input,
                &custom_status,
                &now_ms,
                &commit.instance_id,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::LeaseLost(commit.instance_id.clone()))?;
        let parent: Option<String> = row.try_get(1).map_err(db_error)?;
        let started = execution_started(&NewInstance {
            instance_id: commit.instance_id.clone(),
            name: row.try_get(0).map_err(db_error)?,
            execution_id: next.execution_id.clone(),
            input: next.input.clone(),
            created_at: now,
            parent: parent.as_deref().map(from_json).transpose()?,
            scheduled_start: None,
            replace: ReplacePolicy::Any,
            trace_context: next.trace_context.clone(),
            version: row.try_get(2).map_err(db_error)?,
        });
        let mut restart = vec![Outgoing {
            instance_id: &commit.instance_id,
            execution_id: Some(&next.execution_id),
            event: &started,
            visible_at: now,
        }];
        restart.extend(next.carried_events.iter().map(|event| Outgoing {
            instance_id: &commit.instance_id,
            execution_id: None,
            event,
            visible_at: now,
        }));
        insert_messages(tx, &restart).await?;
    } else {
        if let Some(length) = commit.truncate_history_to {
            execute(
                tx,
                "DELETE FROM history WHERE instance_id = $1 AND execution_id = $2 AND seq >= $3",
                &[&commit.instance_id, &commit.execution_id, &(length as i64)],
            )
            .await?;
        }
        let base = commit
            .truncate_history_to
            .unwrap_or(commit.expected_history_length) as i64;
        if !commit.appended.is_empty() {
            let seqs: Vec<i64> = (0..commit.appended.len() as i64)
                .map(|offset| base + offset)
                .collect();
            let events = commit
                .appended
                .iter()
                .map(to_json)
                .collect::<Result<Vec<String>, _>>()?;
            execute(
                tx,
                "INSERT INTO history (instance_id, execution_id, seq, event)
                 SELECT $1, $2, seq, event FROM unnest($3::bigint[], $4::text[]) AS h (seq, event)",
                &[&commit.instance_id, &commit.execution_id, &seqs, &events],
            )
            .await?;
        }
        let output = to_json(&commit.output)?;
        let completed_at = commit.status.is_terminal().then_some(now_ms);
        let length = base + commit.appended.len() as i64;
        execute(
            tx,
            "UPDATE instances SET status = $1, output = $2, custom_status = $3, updated_at = $4,
                 completed_at = COALESCE($5, completed_at), history_length = $6,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = $7",
            &[
                &commit.status.as_str(),
                &output,
                &custom_status,
                &now_ms,
                &completed_at,
                &length,
                &commit.instance_id,
            ],
        )
        .await?;
    }
    let mut leased = Vec::new();
    if !commit.activities.is_empty() {
        let task_ids: Vec<i64> = commit.activities.iter().map(|a| a.task_id).collect();
        let names: Vec<&str> = commit.activities.iter().map(|a| a.name.as_str()).collect();
        let inputs = commit
            .activities
            .iter()
            .map(|a| to_json(&a.input))
            .collect::<Result<Vec<String>, _>>()?;
        // With a lease, the new work is leased to the committing worker at once (the
        // in-process fast path); without, the activity dispatchers fetch it.
        let (lock_owner, lock_expires, leased_now) = match lease {
            Some(lease) => (Some(owner), Some(lease_expiry(now, lease)), 1_i32),
            None => (None, None, 0_i32),
        };
        let dequeued: Vec<i32> = commit
            .activities
            .iter()
            .map(|a| i32::try_from(a.earlier_hand_outs).unwrap_or(i32::MAX) + leased_now)
            .collect();
        let rows = query(
            tx,
            "INSERT INTO activities
                 (instance_id, execution_id, task_id, name, input, lock_owner, lock_expires, dequeue_count)
             SELECT $1, $2, task_id, name, input, $6::text, $7::bigint, dequeued
             FROM unnest($3::bigint[], $4::text[], $5::text[], $8::integer[])
                 WITH ORDINALITY AS a (task_id, name, input, dequeued, n)
             ORDER BY n
             RETURNING id",
            &[
                &commit.instance_id,
                &commit.execution_id,
                &task_ids,
                &names,
                &inputs,
                &lock_owner,
                &lock_expires,
                &dequeued,
            ],
        )
        .await?;
        if lease.is_some() {
            // Ids grow in insertion order, which is the order of the calls.
            let mut ids = rows
                .iter()
                .map(|row| row.try_get::<_, i64>(0).map_err(db_error))
                .collect::<Result<Vec<i64>, _>>()?;
            ids.sort_unstable();
            if ids.len() != commit.activities.len() {
                return Err(StoreError::Internal(format!(
                    "{} activities were scheduled, {} stored",
                    commit.activities.len(),
                    ids.len()
                )));
            }
            leased = ids
                .into_iter()
                .zip(&commit.activities)
                .map(|(id, activity)| ActivityWorkItem {
                    id,
                    instance_id: commit.instance_id.clone(),
                    execution_id: commit.execution_id.clone(),
                    task_id: activity.task_id,
                    name: activity.name.clone(),
                    input: activity.input.clone(),
                    dequeue_count: activity.earlier_hand_outs + 1,
                })
                .collect();
        }
    }
    let fired: Vec<HistoryEvent> = commit.timers.iter().map(timer_fired).collect();
    let timers: Vec<Outgoing<'_>> = commit
        .timers
        .iter()
        .zip(&fired)
        .map(|(timer, event)| Outgoing {
            instance_id: &commit.instance_id,
            execution_id: Some(&commit.execution_id),
            event,
            visible_at: timer.fire_at,
        })
        .collect();
    insert_messages(tx, &timers).await?;
    for child in &commit.children {
        if !create(tx, child, now).await?
            && let Some(message) = child_conflict(child, now)
        {
            send(tx, &message, now).await?;
        }
    }
    for message in &commit.messages {
        send(tx, message, now).await?;
    }
    if is_removed_entity(commit) {
        execute(
            tx,
            "DELETE FROM instances WHERE instance_id = $1
                 AND NOT EXISTS (SELECT 1 FROM messages WHERE instance_id = $1)",
            &[&commit.instance_id],
        )
        .await?;
    }
    Ok(leased)
}

/// Whether `owner` still holds the lease on the turn's instance (same owner, unexpired,
/// same execution and history length); locks the instance's row until `tx` ends.
async fn holds_lease<C: GenericClient>(
    tx: &C,
    owner: &str,
    turn: &TurnCommit,
    now: i64,
) -> Result<bool, StoreError> {
    let row = query_opt(
        tx,
        "SELECT lock_owner, lock_expires, history_length, execution_id
         FROM instances WHERE instance_id = $1 FOR UPDATE",
        &[&turn.instance_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let lock_owner: Option<String> = row.try_get(0).map_err(db_error)?;
    let expires: Option<i64> = row.try_get(1).map_err(db_error)?;
    let length: i64 = row.try_get(2).map_err(db_error)?;
    let execution: String = row.try_get(3).map_err(db_error)?;
    Ok(lock_owner.as_deref() == Some(owner)
        && expires.is_some_and(|e| e > now)
        && length.max(0) as u64 == turn.expected_history_length
        && execution == turn.execution_id)
}
