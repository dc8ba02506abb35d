//! Management payloads: the URLs of an instance (check-status answers), purge results,
//! error bodies and host health.

use serde::{Deserialize, Serialize};

/// The management URLs of one instance, as Durable Functions returns them (`id`,
/// `statusQueryGetUri`, `sendEventPostUri`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpManagementPayload {
    /// The instance id.
    #[serde(rename = "id")]
    pub id: String,
    /// GET: the instance's status.
    #[serde(rename = "statusQueryGetUri")]
    pub status_query_get_uri: String,
    /// POST: raise an event (replace `{eventName}`).
    #[serde(rename = "sendEventPostUri")]
    pub send_event_post_uri: String,
    /// POST: terminate the instance.
    #[serde(rename = "terminatePostUri")]
    pub terminate_post_uri: String,
    /// POST: rewind a failed instance.
    #[serde(rename = "rewindPostUri")]
    pub rewind_post_uri: String,
    /// DELETE: purge the instance's history.
    #[serde(rename = "purgeHistoryDeleteUri")]
    pub purge_history_delete_uri: String,
    /// POST: restart the instance.
    #[serde(rename = "restartPostUri")]
    pub restart_post_uri: String,
    /// POST: suspend the instance.
    #[serde(rename = "suspendPostUri")]
    pub suspend_post_uri: String,
    /// POST: resume a suspended instance.
    #[serde(rename = "resumePostUri")]
    pub resume_post_uri: String,
}

/// What a purge removed (`DELETE /instances/{id}` and `DELETE /instances`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeHistoryResult {
    /// How many instances were removed.
    #[serde(rename = "instancesDeleted")]
    pub instances_deleted: u64,
}

/// The body of every error answer: what is wrong, under the names Durable Functions
/// clients read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    #[serde(rename = "message")]
    pub message: String,
    /// The same, where Durable Functions clients look for an exception's reason.
    #[serde(rename = "ExceptionMessage")]
    pub exception_message: String,
}

impl ErrorBody {
    /// The body for `message`.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorBody {
            exception_message: message.clone(),
            message,
        }
    }
}

/// The answer of `GET /admin/host/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHealth {
    /// `Running`, or `Unhealthy` while the store does not answer.
    #[serde(rename = "state")]
    pub state: String,
    /// `ok`, or why the store does not answer.
    #[serde(rename = "store")]
    pub store: String,
    /// What is wrong, when unhealthy.
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
