//! What the SQL stores (SQLite and PostgreSQL) share: how times, leases and JSON are
//! stored, and how a message's execution is written.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

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
