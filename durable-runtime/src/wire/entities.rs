//! Entity payloads: listings (`GET /entities`) and cleaning entity storage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One entity in a listing, named as Durable Functions' entity query results are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityStatus {
    /// The entity's id: `{"name": .., "key": ..}`.
    #[serde(rename = "entityId")]
    pub entity_id: EntityIdWire,
    /// When an operation last changed it.
    #[serde(rename = "lastOperationTime", with = "super::time::seconds")]
    pub last_operation_time: DateTime<Utc>,
    /// Its state (left out when the query did not fetch states).
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
    /// The orchestration whose critical section holds the entity's lock, if one does.
    #[serde(rename = "lockedBy", default, skip_serializing_if = "Option::is_none")]
    pub locked_by: Option<String>,
}

/// An entity id on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityIdWire {
    /// The entity's name (lower case).
    #[serde(rename = "name")]
    pub name: String,
    /// The entity's key.
    #[serde(rename = "key")]
    pub key: String,
}

/// What [`DurableClient::clean_entity_storage`](crate::DurableClient::clean_entity_storage) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanEntityStorageResult {
    /// Locks released because the orchestration holding them has ended or is gone.
    #[serde(rename = "numberOfOrphanedLocksRemoved")]
    pub orphaned_locks_released: u64,
}
