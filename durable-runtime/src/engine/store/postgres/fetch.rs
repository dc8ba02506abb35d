//! Fetching: leasing instances with work (with their messages and, when asked, their
//! histories) and activity calls, each batch in one statement with `SKIP LOCKED`.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::connection::{db_error, query};
use super::rows::{instance_columns, leased_work_items};
use crate::store::sql::{from_json, key_bounds, lease_expiry, millis};
use crate::store::{
    ActivityFetch, ActivityWorkItem, FetchOptions, OrchestrationWorkItem, StoreError,
};

/// Leases up to `options.max` instances with work that nobody holds, those with the oldest
/// visible message first, and loads their work items.
pub(super) async fn lease_instances<C: GenericClient>(
    client: &C,
    owner: &str,
    options: FetchOptions,
    clock_now: DateTime<Utc>,
) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
    let limit = i64::try_from(options.max).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let expires = lease_expiry(clock_now, options.lease);
    let now = millis(clock_now);
    let (oldest, newest) = key_bounds(options.versions.as_ref());
    let names: Option<Vec<String>> = options.names.as_ref().map(|n| n.names().to_vec());
    let entity_names: Option<Vec<String>> =
        options.entity_names.as_ref().map(|n| n.names().to_vec());
    // One statement. Each instance is picked by its oldest message it may take now
    // (NOT EXISTS: no older one), so it comes once and the limit counts instances;
    // SKIP LOCKED passes over instances another host is taking right now. ARRAY():
    // the picking runs once, never again for each row updated.
    let rows = query(
        client,
        concat!(
            "UPDATE instances SET lock_owner = $2, lock_expires = $3,
                 dequeue_count = instances.dequeue_count + 1
             WHERE instance_id = ANY(ARRAY(
                 SELECT i.instance_id FROM messages m JOIN instances i ON i.instance_id = m.instance_id
                 WHERE m.visible_at <= $1 AND (i.lock_owner IS NULL OR i.lock_expires <= $1)
                   AND (i.status <> 'Suspended' OR m.control)
                   AND ($5::text IS NULL OR i.version_key IS NULL OR i.version_key BETWEEN $5 AND $6)
                   AND (CASE WHEN left(i.instance_id, 1) = '@'
                        THEN $8::text[] IS NULL OR i.name = ANY($8)
                        ELSE $7::text[] IS NULL OR i.name = ANY($7) END)
                   AND NOT EXISTS (
                       SELECT 1 FROM messages o
                       WHERE o.instance_id = m.instance_id AND o.id < m.id AND o.visible_at <= $1
                         AND (i.status <> 'Suspended' OR o.control))
                 ORDER BY m.id LIMIT $4
                 FOR UPDATE OF i SKIP LOCKED))
             RETURNING ",
            instance_columns!(),
            ", dequeue_count"
        ),
        &[
            &now,
            &owner,
            &expires,
            &limit,
            &oldest,
            &newest,
            &names,
            &entity_names,
        ],
    )
    .await?;
    leased_work_items(client, &rows, now, options.with_history).await
}

/// Leases up to `fetch.max` activity calls nobody holds (of the names it allows), oldest
/// first.
pub(super) async fn lease_activities<C: GenericClient>(
    client: &C,
    owner: &str,
    fetch: &ActivityFetch,
    now: DateTime<Utc>,
) -> Result<Vec<ActivityWorkItem>, StoreError> {
    let limit = i64::try_from(fetch.max).unwrap_or(i64::MAX);
    let names: Option<Vec<String>> = fetch.names.as_ref().map(|n| n.names().to_vec());
    if limit == 0 {
        return Ok(Vec::new());
    }
    // ARRAY(): the picking runs once, never again for each row updated.
    let rows = query(
        client,
        "UPDATE activities SET lock_owner = $1, lock_expires = $2, dequeue_count = dequeue_count + 1
         WHERE id = ANY(ARRAY(
             SELECT id FROM activities
             WHERE (lock_owner IS NULL OR lock_expires <= $3)
               AND ($5::text[] IS NULL OR name = ANY($5))
             ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED))
         RETURNING id, instance_id, execution_id, task_id, name, input, dequeue_count",
        &[
            &owner,
            &lease_expiry(now, fetch.lease),
            &millis(now),
            &limit,
            &names,
        ],
    )
    .await?;
    let mut items = rows
        .iter()
        .map(|row| {
            let input: String = row.try_get(5).map_err(db_error)?;
            let count: i32 = row.try_get(6).map_err(db_error)?;
            Ok(ActivityWorkItem {
                id: row.try_get(0).map_err(db_error)?,
                instance_id: row.try_get(1).map_err(db_error)?,
                execution_id: row.try_get(2).map_err(db_error)?,
                task_id: row.try_get(3).map_err(db_error)?,
                name: row.try_get(4).map_err(db_error)?,
                input: from_json::<Value>(&input)?,
                dequeue_count: u32::try_from(count).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    items.sort_unstable_by_key(|item| item.id);
    Ok(items)
}
