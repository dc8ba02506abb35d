//! Human interaction: wait for an approval, but not forever.

use std::time::Duration;

use durable_runtime::prelude::*;
use serde::Deserialize;

/// Input of `ApprovalWorkflow`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// How long to wait for the `Approval` event.
    pub timeout_seconds: u64,
}

/// Waits for the event `Approval` (true or false) racing a durable timer; outputs
/// `"Approved"`, `"Rejected"` or `"TimedOut"`.
#[orchestration_trigger(name = "ApprovalWorkflow")]
pub async fn approval_workflow(
    ctx: OrchestrationContext,
    request: ApprovalRequest,
) -> Result<String, DurableError> {
    ctx.set_custom_status("Waiting for approval");
    let timeout = Duration::from_secs(request.timeout_seconds);
    let outcome = match ctx
        .wait_for_external_event_with_timeout::<bool>("Approval", timeout)
        .await
    {
        Ok(true) => "Approved",
        Ok(false) => "Rejected",
        Err(DurableError::EventTimeout { .. }) => "TimedOut",
        Err(other) => return Err(other),
    };
    ctx.set_custom_status(outcome);
    Ok(outcome.to_owned())
}
