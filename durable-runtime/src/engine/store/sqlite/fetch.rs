//! Fetching: leasing instances with work (with their messages and, when asked, their
//! history) and activity calls.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows::{load_history, load_instance};
use super::writer::sql_error;
use crate::store::sql::{execution_from_column, from_json, key_bounds, lease_expiry, millis};
use crate::store::{
    ActivityFetch, ActivityWorkItem, FetchOptions, NameSet, OrchestrationWorkItem, QueuedMessage,
    StoreError,
};
use crate::version::KeyRange;

/// Leases up to `options.max` instances with work, oldest message first.
pub(super) fn lease_instances(
    conn: &Connection,
    owner: &str,
    options: FetchOptions,
    now: DateTime<Utc>,
) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
    let mut items = Vec::new();
    while items.len() < options.max {
        match lease_next_instance(conn, owner, &options, now)? {
            Some(item) => items.push(item),
            None => break,
        }
    }
    Ok(items)
}

/// Leases the instance of the oldest message that can be taken, if any.
fn lease_next_instance(
    conn: &Connection,
    owner: &str,
    options: &FetchOptions,
    now: DateTime<Utc>,
) -> Result<Option<OrchestrationWorkItem>, StoreError> {
    let (oldest, newest) = key_bounds(options.versions.as_ref());
    let names = options.names.as_ref().map(NameSet::to_json);
    let entity_names = options.entity_names.as_ref().map(NameSet::to_json);
    let candidate: Option<String> = conn
        .prepare_cached(
            // Walk messages oldest first and stop at the first one that can be taken:
            // `+m.visible_at` keeps SQLite from using the visibility index, which would
            // make it read and sort the whole backlog for one row.
            "SELECT m.instance_id FROM messages m JOIN instances i ON i.instance_id = m.instance_id
                     WHERE +m.visible_at <= ?1 AND (i.lock_owner IS NULL OR i.lock_expires <= ?1)
                       AND (i.status <> 'Suspended' OR m.control = 1)
                       AND (?2 IS NULL OR i.version_key IS NULL OR i.version_key BETWEEN ?2 AND ?3)
                       AND (CASE WHEN substr(i.instance_id, 1, 1) = '@'
                            THEN ?5 IS NULL OR i.name IN (SELECT value FROM json_each(?5))
                            ELSE ?4 IS NULL OR i.name IN (SELECT value FROM json_each(?4)) END)
                     ORDER BY m.id LIMIT 1",
        )
        .map_err(sql_error)?
        .query_row(
            params![millis(now), oldest, newest, names, entity_names],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql_error)?;
    match candidate {
        Some(instance_id) => lease_and_load(
            conn,
            &instance_id,
            owner,
            options.lease,
            now,
            options.with_history,
        ),
        None => Ok(None),
    }
}

/// Leases an instance to `owner` and loads its row, visible messages and (when asked) the
/// current execution's history.
pub(super) fn lease_and_load(
    conn: &Connection,
    instance_id: &str,
    owner: &str,
    lease: Duration,
    now: DateTime<Utc>,
    with_history: bool,
) -> Result<Option<OrchestrationWorkItem>, StoreError> {
    let dequeue_count: i64 = conn
        .prepare_cached(
            "UPDATE instances SET lock_owner = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
             WHERE instance_id = ?3 RETURNING dequeue_count",
        )
        .map_err(sql_error)?
        .query_row(params![owner, lease_expiry(now, lease), instance_id], |row| row.get(0))
        .map_err(sql_error)?;
    let Some(instance) = load_instance(conn, instance_id)? else {
        return Ok(None);
    };
    let history = with_history
        .then(|| load_history(conn, instance_id, &instance.execution_id))
        .transpose()?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, execution_id, event FROM messages
             WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![instance_id, millis(now)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(sql_error)?;
    let mut messages = Vec::new();
    for row in rows {
        let (id, execution_id, event) = row.map_err(sql_error)?;
        messages.push(QueuedMessage {
            id,
            execution_id: execution_from_column(execution_id),
            event: from_json(&event)?,
        });
    }
    Ok(Some(OrchestrationWorkItem {
        instance,
        history,
        messages,
        dequeue_count: u32::try_from(dequeue_count).unwrap_or(u32::MAX),
    }))
}

/// Whether nobody holds an instance, it is not suspended, its version is in `versions`
/// and its orchestrator in `names`: a finished call may take it.
pub(super) fn instance_is_free(
    conn: &Connection,
    instance_id: &str,
    versions: Option<&KeyRange>,
    names: Option<&NameSet>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (oldest, newest) = key_bounds(versions);
    let names = names.map(NameSet::to_json);
    conn.prepare_cached(
        "SELECT 1 FROM instances WHERE instance_id = ?1
           AND (lock_owner IS NULL OR lock_expires <= ?2) AND status <> 'Suspended'
           AND (?3 IS NULL OR version_key IS NULL OR version_key BETWEEN ?3 AND ?4)
           AND (?5 IS NULL OR substr(instance_id, 1, 1) = '@'
                OR name IN (SELECT value FROM json_each(?5)))",
    )
    .map_err(sql_error)?
    .exists(params![instance_id, millis(now), oldest, newest, names])
    .map_err(sql_error)
}

/// Leases up to `fetch.max` activity calls nobody holds (of the names it allows), oldest
/// first.
pub(super) fn lease_activities(
    conn: &Connection,
    owner: &str,
    fetch: &ActivityFetch,
    now: DateTime<Utc>,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let names = fetch.names.as_ref().map(NameSet::to_json);
    let mut stmt = conn
        .prepare_cached(
            "UPDATE activities SET lock_owner = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
             WHERE id IN (SELECT id FROM activities
                          WHERE (lock_owner IS NULL OR lock_expires <= ?3)
                            AND (?5 IS NULL OR name IN (SELECT value FROM json_each(?5)))
                          ORDER BY id LIMIT ?4)
             RETURNING id, instance_id, execution_id, task_id, name, input, dequeue_count",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(
            params![
                owner,
                lease_expiry(now, fetch.lease),
                millis(now),
                fetch.max as i64,
                names
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                ))
            },
        )
        .map_err(sql_error)?;
    let mut items = Vec::new();
    for row in rows {
        let (id, instance_id, execution_id, task_id, name, input, count) =
            row.map_err(sql_error)?;
        items.push(ActivityWorkItem {
            id,
            instance_id,
            execution_id,
            task_id,
            name,
            input: from_json::<Value>(&input)?,
            dequeue_count: u32::try_from(count).unwrap_or(u32::MAX),
        });
    }
    // RETURNING gives rows in no promised order; hand them out oldest first.
    items.sort_by_key(|item| item.id);
    Ok(items)
}
