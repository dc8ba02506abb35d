//! Rows: reading instance rows and histories, writing messages, creating, removing and
//! delivering to instances.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::writer::sql_error;
use crate::history::HistoryEvent;
use crate::instance_id::split_entity_id;
use crate::status::RuntimeStatus;
use crate::store::rules::{accepts, execution_started, refusal};
use crate::store::sql::{execution_column, from_json, from_millis, millis, to_json};
use crate::store::{
    ActivityWorkItem, InstanceRecord, NewInstance, OutboundMessage, ReplacePolicy, StoreError,
};
use crate::version::sort_key;

/// The columns [`instance_from_row`] reads, in its order.
pub(super) const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, status, input, output, \
     custom_status, created_at, updated_at, history_length, parent, version";

/// An instance row read with [`INSTANCE_COLUMNS`].
pub(super) fn instance_from_row(
    row: &Row<'_>,
) -> rusqlite::Result<Result<InstanceRecord, StoreError>> {
    let status: String = row.get(3)?;
    let input: String = row.get(4)?;
    let output: String = row.get(5)?;
    let custom_status: String = row.get(6)?;
    let parent: Option<String> = row.get(10)?;
    let record = (|| {
        Ok(InstanceRecord {
            instance_id: row.get(0).map_err(sql_error)?,
            name: row.get(1).map_err(sql_error)?,
            execution_id: row.get(2).map_err(sql_error)?,
            status: status.parse().map_err(StoreError::Internal)?,
            input: from_json(&input)?,
            output: from_json(&output)?,
            custom_status: from_json(&custom_status)?,
            created_at: from_millis(row.get(7).map_err(sql_error)?),
            updated_at: from_millis(row.get(8).map_err(sql_error)?),
            history_length: row.get::<_, i64>(9).map_err(sql_error)?.max(0) as u64,
            parent: parent.as_deref().map(from_json).transpose()?,
            version: row.get(11).map_err(sql_error)?,
        })
    })();
    Ok(record)
}

/// One instance's row.
pub(super) fn load_instance(
    conn: &Connection,
    instance_id: &str,
) -> Result<Option<InstanceRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1"
    ))
    .map_err(sql_error)?
    .query_row([instance_id], instance_from_row)
    .optional()
    .map_err(sql_error)?
    .transpose()
}

/// One execution's history, in order.
pub(super) fn load_history(
    conn: &Connection,
    instance_id: &str,
    execution_id: &str,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT event FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY seq",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map([instance_id, execution_id], |row| row.get::<_, String>(0))
        .map_err(sql_error)?;
    rows.map(|text| from_json(&text.map_err(sql_error)?))
        .collect()
}

/// Queues a message for an instance's execution (`None`: whichever is current), visible
/// from `visible_at`.
pub(super) fn insert_message(
    conn: &Connection,
    instance_id: &str,
    execution_id: Option<&str>,
    event: &HistoryEvent,
    visible_at: i64,
) -> Result<(), StoreError> {
    let text = to_json(event)?;
    conn.prepare_cached(
        "INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql_error)?
    .execute(params![
        instance_id,
        execution_column(execution_id),
        text,
        visible_at,
        event.kind.is_control()
    ])
    .map_err(sql_error)?;
    Ok(())
}

/// Creates or replaces an instance and queues its `ExecutionStarted`; false when a
/// running one holds the id.
pub(super) fn create(
    conn: &Connection,
    new: &NewInstance,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !insert_instance(conn, new)? {
        return Ok(false);
    }
    insert_message(
        conn,
        &new.instance_id,
        Some(&new.execution_id),
        &execution_started(new),
        millis(new.scheduled_start.unwrap_or(now)),
    )?;
    Ok(true)
}

/// Writes a new instance's row (Pending, no history), replacing a finished instance with
/// the same id; false when a running one holds the id.
pub(super) fn insert_instance(conn: &Connection, new: &NewInstance) -> Result<bool, StoreError> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .query_row([&new.instance_id], |row| row.get(0))
        .optional()
        .map_err(sql_error)?;
    if let Some(status) = existing {
        let status: RuntimeStatus = status.parse().map_err(StoreError::Internal)?;
        if !status.is_terminal() && new.replace == ReplacePolicy::NonRunning {
            return Ok(false);
        }
        remove_instance(conn, &new.instance_id)?;
    }
    let input = to_json(&new.input)?;
    let parent = new.parent.as_ref().map(to_json).transpose()?;
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at, parent,
                                version, version_key)
         VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, ?5, ?6, ?7, ?8)",
    )
    .map_err(sql_error)?
    .execute(params![
        new.instance_id,
        new.name,
        new.execution_id,
        input,
        millis(new.created_at),
        parent,
        new.version,
        sort_key(new.version.as_deref()),
    ])
    .map_err(sql_error)?;
    Ok(true)
}

/// Removes an instance with its history, messages and work; true when it existed.
pub(super) fn remove_instance(conn: &Connection, instance_id: &str) -> Result<bool, StoreError> {
    for table in ["history", "messages", "activities"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))
            .map_err(sql_error)?
            .execute([instance_id])
            .map_err(sql_error)?;
    }
    let removed = conn
        .prepare_cached("DELETE FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .execute([instance_id])
        .map_err(sql_error)?;
    Ok(removed > 0)
}

/// Queues a message for an instance that accepts it, or says why not.
pub(super) fn deliver(
    conn: &Connection,
    instance_id: &str,
    event: &HistoryEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(status) = status_of(conn, instance_id)? else {
        return Err(StoreError::NotFound(instance_id.to_owned()));
    };
    refusal(instance_id, status, event)?;
    insert_message(conn, instance_id, None, event, millis(now))
}

/// The status of an instance, or `None` when it does not exist.
pub(super) fn status_of(
    conn: &Connection,
    instance_id: &str,
) -> Result<Option<RuntimeStatus>, StoreError> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .query_row([instance_id], |row| row.get(0))
        .optional()
        .map_err(sql_error)?;
    status
        .map(|s| s.parse().map_err(StoreError::Internal))
        .transpose()
}

/// Creates an entity's row (Pending, no state) unless it exists.
pub(super) fn ensure_entity(
    conn: &Connection,
    instance_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at)
         VALUES (?1, ?2, '', 'Pending', 'null', ?3, ?3)
         ON CONFLICT (instance_id) DO NOTHING",
    )
    .map_err(sql_error)?
    .execute(params![instance_id, name, millis(now)])
    .map_err(sql_error)?;
    Ok(())
}

/// Delivers a message to an instance that accepts it; drops it otherwise. An entity
/// operation creates a missing entity.
pub(super) fn send(
    conn: &Connection,
    message: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if message.event.kind.is_entity_operation()
        && let Some((name, _)) = split_entity_id(&message.instance_id)
    {
        ensure_entity(conn, &message.instance_id, name, now)?;
    }
    match status_of(conn, &message.instance_id)? {
        Some(status) if accepts(status, &message.event) => insert_message(
            conn,
            &message.instance_id,
            message.execution_id.as_deref(),
            &message.event,
            millis(now),
        ),
        _ => Ok(()),
    }
}

/// Removes a finished activity still leased to `owner` and queues its result; false when
/// the lease is gone (another worker owns the call now).
pub(super) fn finish_activity(
    conn: &Connection,
    owner: &str,
    item: &ActivityWorkItem,
    result: &HistoryEvent,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !remove_leased_activity(conn, owner, item.id, now)? {
        return Ok(false);
    }
    insert_message(
        conn,
        &item.instance_id,
        Some(&item.execution_id),
        result,
        millis(now),
    )?;
    Ok(true)
}

/// Removes an activity work item still leased to `owner`; false when the lease is gone.
pub(super) fn remove_leased_activity(
    conn: &Connection,
    owner: &str,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM activities WHERE id = ?1 AND lock_owner = ?2 AND lock_expires > ?3",
        )
        .map_err(sql_error)?
        .execute(params![id, owner, millis(now)])
        .map_err(sql_error)?;
    Ok(removed > 0)
}
