//! The status payload of one instance (`GET /instances/{id}`, listings, the CLI).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::HistoryEventWire;
use crate::status::RuntimeStatus;

/// The status of one instance, as the `GET /instances/{id}` route returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrchestrationStatus {
    /// The orchestrator's name.
    #[serde(rename = "name")]
    pub name: String,
    /// The instance id.
    #[serde(rename = "instanceId")]
    pub instance_id: String,
    /// Where the instance stands.
    #[serde(rename = "runtimeStatus")]
    pub runtime_status: RuntimeStatus,
    /// The input (null when not asked for).
    #[serde(rename = "input")]
    pub input: Value,
    /// The custom status the orchestrator set.
    #[serde(rename = "customStatus")]
    pub custom_status: Value,
    /// The output when finished (a failure's details when it failed).
    #[serde(rename = "output")]
    pub output: Value,
    /// When the instance was created.
    #[serde(rename = "createdTime", with = "super::time::seconds")]
    pub created_time: DateTime<Utc>,
    /// When the instance last changed.
    #[serde(rename = "lastUpdatedTime", with = "super::time::seconds")]
    pub last_updated_time: DateTime<Utc>,
    /// The orchestration version the instance started with, when it has one.
    #[serde(rename = "version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The history, when asked for (`showHistory=true`).
    #[serde(
        rename = "historyEvents",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub history_events: Option<Vec<HistoryEventWire>>,
}

/// One page of a listing as `list --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceList {
    /// The instances, oldest first.
    #[serde(rename = "instances")]
    pub instances: Vec<OrchestrationStatus>,
    /// Pass this back (`--continuation`) for the next page; null on the last page.
    #[serde(rename = "continuationToken")]
    pub continuation_token: Option<String>,
}
