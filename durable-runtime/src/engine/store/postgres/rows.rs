//! Rows: reading instance rows, histories and leased work items; writing messages;
//! creating, removing and delivering to instances.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::connection::{db_error, execute, query, query_opt};
use crate::history::HistoryEvent;
use crate::instance_id::split_entity_id;
use crate::status::RuntimeStatus;
use crate::store::rules::{accepts, execution_started};
use crate::store::sql::{
    execution_column, execution_from_column, from_json, from_millis, millis, to_json,
};
use crate::store::{
    InstanceRecord, NewInstance, OrchestrationWorkItem, OutboundMessage, QueuedMessage,
    ReplacePolicy, StoreError,
};
use crate::version::sort_key;

/// The columns [`instance_from_row`] reads, in order ([`INSTANCE_COLUMN_COUNT`] of them).
macro_rules! instance_columns {
    () => {
        "instance_id, name, execution_id, status, input, output, custom_status, created_at, \
         updated_at, history_length, parent, version"
    };
}
pub(super) use instance_columns;

/// How many columns [`instance_columns!`] names: a statement's further columns start here.
pub(super) const INSTANCE_COLUMN_COUNT: usize = 12;

/// An instance row read with [`instance_columns!`].
pub(super) fn instance_from_row(row: &Row) -> Result<InstanceRecord, StoreError> {
    let text = |i: usize| row.try_get::<_, String>(i).map_err(db_error);
    let number = |i: usize| row.try_get::<_, i64>(i).map_err(db_error);
    let parent: Option<String> = row.try_get(10).map_err(db_error)?;
    Ok(InstanceRecord {
        instance_id: text(0)?,
        name: text(1)?,
        execution_id: text(2)?,
        status: text(3)?.parse().map_err(StoreError::Internal)?,
        input: from_json(&text(4)?)?,
        output: from_json(&text(5)?)?,
        custom_status: from_json(&text(6)?)?,
        created_at: from_millis(number(7)?),
        updated_at: from_millis(number(8)?),
        history_length: number(9)?.max(0) as u64,
        parent: parent.as_deref().map(from_json).transpose()?,
        version: row.try_get(11).map_err(db_error)?,
    })
}

/// One execution's history, in order.
pub(super) async fn load_history<C: GenericClient>(
    client: &C,
    instance_id: &str,
    execution_id: &str,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let rows = query(
        client,
        "SELECT event FROM history WHERE instance_id = $1 AND execution_id = $2 ORDER BY seq",
        &[&instance_id, &execution_id],
    )
    .await?;
    events_from_rows(&rows)
}

/// History events read as the first column of `rows`.
pub(super) fn events_from_rows(rows: &[Row]) -> Result<Vec<HistoryEvent>, StoreError> {
    rows.iter()
        .map(|row| {
            let text: String = row.try_get(0).map_err(db_error)?;
            from_json(&text)
        })
        .collect()
}

/// The work items of instances just leased, oldest work first: each row holds an
/// instance's columns (`instance_columns!`) and then its `dequeue_count`. Loads their
/// visible messages in one query and, with `with_history`, their current executions'
/// histories.
pub(super) async fn leased_work_items<C: GenericClient>(
    client: &C,
    rows: &[Row],
    now: i64,
    with_history: bool,
) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
    let mut items = rows
        .iter()
        .map(|row| {
            let dequeue_count: i64 = row.try_get(INSTANCE_COLUMN_COUNT).map_err(db_error)?;
            Ok(OrchestrationWorkItem {
                instance: instance_from_row(row)?,
                history: None,
                messages: Vec::new(),
                dequeue_count: u32::try_from(dequeue_count).unwrap_or(u32::MAX),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if items.is_empty() {
        return Ok(items);
    }
    // The leases are ours: only their owner changes these histories until it commits (a
    // replacement in between makes that commit fail). A statement after the leasing one
    // sees what a turn that committed meanwhile left, not the messages it consumed.
    let (messages, histories) = {
        let ids: Vec<&str> = items
            .iter()
            .map(|item| item.instance.instance_id.as_str())
            .collect();
        let params: [&(dyn ToSql + Sync); 2] = [&ids, &now];
        let messages = query(
            client,
            "SELECT instance_id, id, execution_id, event FROM messages
             WHERE instance_id = ANY($1) AND visible_at <= $2 ORDER BY id",
            &params,
        );
        let histories =
            futures::future::try_join_all(items.iter().filter(|_| with_history).map(|item| {
                load_history(
                    client,
                    &item.instance.instance_id,
                    &item.instance.execution_id,
                )
            }));
        futures::try_join!(messages, histories)?
    };
    for (item, history) in items.iter_mut().zip(histories) {
        item.history = Some(history);
    }
    let position: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(n, item)| (item.instance.instance_id.clone(), n))
        .collect();
    for row in &messages {
        let instance_id: String = row.try_get(0).map_err(db_error)?;
        let event: String = row.try_get(3).map_err(db_error)?;
        let Some(item) = position.get(&instance_id).and_then(|&n| items.get_mut(n)) else {
            continue;
        };
        item.messages.push(QueuedMessage {
            id: row.try_get(1).map_err(db_error)?,
            execution_id: execution_from_column(row.try_get(2).map_err(db_error)?),
            event: from_json(&event)?,
        });
    }
    items.sort_by_key(|item| item.messages.first().map_or(i64::MAX, |m| m.id));
    Ok(items)
}

/// A message to queue.
pub(super) struct Outgoing<'a> {
    /// The receiving instance.
    pub instance_id: &'a str,
    /// The execution it answers; `None`: whichever is current.
    pub execution_id: Option<&'a str>,
    /// The event.
    pub event: &'a HistoryEvent,
    /// When it becomes visible.
    pub visible_at: DateTime<Utc>,
}

/// Queues messages, in the given order (ids grow in that order).
pub(super) async fn insert_messages<C: GenericClient>(
    client: &C,
    messages: &[Outgoing<'_>],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let instance_ids: Vec<&str> = messages.iter().map(|m| m.instance_id).collect();
    let execution_ids: Vec<&str> = messages
        .iter()
        .map(|m| execution_column(m.execution_id))
        .collect();
    let events = messages
        .iter()
        .map(|m| to_json(m.event))
        .collect::<Result<Vec<String>, _>>()?;
    let visible: Vec<i64> = messages.iter().map(|m| millis(m.visible_at)).collect();
    let control: Vec<bool> = messages.iter().map(|m| m.event.kind.is_control()).collect();
    execute(
        client,
        "INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
         SELECT instance_id, execution_id, event, visible_at, control
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[])
              WITH ORDINALITY AS m (instance_id, execution_id, event, visible_at, control, n)
         ORDER BY n",
        &[&instance_ids, &execution_ids, &events, &visible, &control],
    )
    .await?;
    Ok(())
}

/// The status of an instance, or `None` when it does not exist. `lock` is `FOR UPDATE` or
/// `FOR SHARE` (or empty).
pub(super) async fn status_of<C: GenericClient>(
    client: &C,
    instance_id: &str,
    lock: &str,
) -> Result<Option<RuntimeStatus>, StoreError> {
    let sql = format!("SELECT status FROM instances WHERE instance_id = $1 {lock}");
    let Some(row) = query_opt(client, &sql, &[&instance_id]).await? else {
        return Ok(None);
    };
    let status: String = row.try_get(0).map_err(db_error)?;
    status.parse().map(Some).map_err(StoreError::Internal)
}

/// Removes instances with their history, messages and work; returns how many rows of
/// `instances` went.
pub(super) async fn remove_instances<C: GenericClient>(
    client: &C,
    instance_ids: &[String],
) -> Result<u64, StoreError> {
    for table in ["history", "messages", "activities"] {
        execute(
            client,
            &format!("DELETE FROM {table} WHERE instance_id = ANY($1)"),
            &[&instance_ids],
        )
        .await?;
    }
    execute(
        client,
        "DELETE FROM instances WHERE instance_id = ANY($1)",
        &[&instance_ids],
    )
    .await
}

/// Creates or replaces an instance and queues its `ExecutionStarted`; false when a running
/// one holds the id and the policy keeps it.
pub(super) async fn create<C: GenericClient>(
    client: &C,
    new: &NewInstance,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !insert_instance(client, new).await? {
        return Ok(false);
    }
    let started = execution_started(new);
    insert_messages(
        client,
        &[Outgoing {
            instance_id: &new.instance_id,
            execution_id: Some(&new.execution_id),
            event: &started,
            visible_at: new.scheduled_start.unwrap_or(now),
        }],
    )
    .await?;
    Ok(true)
}

/// Writes a new instance's row (Pending, no history), replacing a finished instance with
/// the same id; false when a running one holds the id and the policy keeps it. The row
/// stays locked until the transaction ends.
pub(super) async fn insert_instance<C: GenericClient>(
    client: &C,
    new: &NewInstance,
) -> Result<bool, StoreError> {
    if let Some(status) = status_of(client, &new.instance_id, "FOR UPDATE").await? {
        if !status.is_terminal() && new.replace == ReplacePolicy::NonRunning {
            return Ok(false);
        }
        remove_instances(client, std::slice::from_ref(&new.instance_id)).await?;
    }
    let input = to_json(&new.input)?;
    let parent = new.parent.as_ref().map(to_json).transpose()?;
    let created_at = millis(new.created_at);
    // Another transaction may create the same id at once: it wins.
    let inserted = execute(
        client,
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at, parent,
                                version, version_key)
         VALUES ($1, $2, $3, 'Pending', $4, $5, $5, $6, $7, $8)
         ON CONFLICT (instance_id) DO NOTHING",
        &[
            &new.instance_id,
            &new.name,
            &new.execution_id,
            &input,
            &created_at,
            &parent,
            &new.version,
            &sort_key(new.version.as_deref()),
        ],
    )
    .await?;
    Ok(inserted > 0)
}

/// Creates an entity's row (Pending, no state) unless it exists. An existing row is
/// locked, so a commit that removes the entity waits, or sees the message queued after it.
pub(super) async fn ensure_entity<C: GenericClient>(
    client: &C,
    instance_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at)
         VALUES ($1, $2, '', 'Pending', 'null', $3, $3)
         ON CONFLICT (instance_id) DO UPDATE SET updated_at = instances.updated_at",
        &[&instance_id, &name, &millis(now)],
    )
    .await?;
    Ok(())
}

/// Delivers a message to an instance that accepts it; drops it otherwise. An entity
/// operation creates a missing entity.
pub(super) async fn send<C: GenericClient>(
    client: &C,
    message: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if message.event.kind.is_entity_operation()
        && let Some((name, _)) = split_entity_id(&message.instance_id)
    {
        ensure_entity(client, &message.instance_id, name, now).await?;
    }
    match status_of(client, &message.instance_id, "").await? {
        Some(status) if accepts(status, &message.event) => {
            insert_messages(
                client,
                &[Outgoing {
                    instance_id: &message.instance_id,
                    execution_id: message.execution_id.as_deref(),
                    event: &message.event,
                    visible_at: now,
                }],
            )
            .await
        }
        _ => Ok(()),
    }
}
