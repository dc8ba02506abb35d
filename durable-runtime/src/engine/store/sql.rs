//! What the SQL stores (SQLite and PostgreSQL) share: how times, leases and JSON are
//! stored, how a message's execution is written, and the monitoring counts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Backlog, StoreError};

/// A time as stored: milliseconds since the Unix epoch.
pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time back; the epoch for one out of range (never written by this code).
pub(super) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// When a lease taken `now` for `lease` ends, as stored.
pub(super) fn lease_expiry(now: DateTime<Utc>, lease: Duration) -> i64 {
    millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

/// A value as stored JSON text.
pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(json_error)
}

/// Stored JSON text as a value.
pub(super) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(json_error)
}

/// Stored JSON that does not read back.
pub(super) fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("stored JSON is invalid: {e}"))
}

/// A message's execution as stored: empty for "whichever is current".
pub(super) fn execution_column(execution_id: Option<&str>) -> &str {
    execution_id.unwrap_or_default()
}

/// A stored message execution back.
pub(super) fn execution_from_column(column: String) -> Option<String> {
    (!column.is_empty()).then_some(column)
}

/// The counts behind [`Backlog`], the same SQL on both stores (the time is an integer
/// written into the text): instances by status (entities as `@`), ready messages with the
/// oldest one's time, and activity calls nobody holds.
pub(super) struct BacklogQueries {
    /// Rows of (status or `@`, count).
    pub instances: &'static str,
    /// One row of (count, oldest visible time).
    pub messages: String,
    /// One row of (count).
    pub activities: String,
}

impl BacklogQueries {
    pub(super) fn at(now: DateTime<Utc>) -> BacklogQueries {
        let now = millis(now);
        BacklogQueries {
            instances: "SELECT CASE WHEN instance_id LIKE '@%' THEN '@' ELSE status END, COUNT(*)
                        FROM instances GROUP BY 1",
            messages: format!(
                "SELECT COUNT(*), MIN(visible_at) FROM messages WHERE visible_at <= {now}"
            ),
            activities: format!(
                "SELECT COUNT(*) FROM activities WHERE lock_owner IS NULL OR lock_expires <= {now}"
            ),
        }
    }
}

/// A [`Backlog`] from the rows of [`BacklogQueries`].
pub(super) fn backlog_from(
    instances: Vec<(String, i64)>,
    (ready_messages, oldest): (i64, Option<i64>),
    ready_activities: i64,
) -> Result<Backlog, StoreError> {
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    let mut backlog = Backlog {
        ready_messages: count(ready_messages),
        oldest_ready_message: oldest.map(from_millis),
        ready_activities: count(ready_activities),
        ..Backlog::default()
    };
    for (status, n) in instances {
        if status == "@" {
            backlog.entities += count(n);
        } else {
            let status = status.parse().map_err(StoreError::Internal)?;
            backlog.add_instances(status, count(n));
        }
    }
    Ok(backlog)
}

/// The ends of a version filter as query parameters (`NULL` for none): a fetch leases an
/// instance when the first is `NULL`, the instance has no key (an entity), or its key lies
/// between the two.
pub(crate) fn key_bounds(
    versions: Option<&crate::version::KeyRange>,
) -> (Option<String>, Option<String>) {
    match versions {
        Some(range) => (Some(range.oldest.clone()), Some(range.newest.clone())),
        None => (None, None),
    }
}
