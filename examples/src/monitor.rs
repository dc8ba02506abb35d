//! The monitor pattern: check something on a timer, one execution per check, with
//! `continue_as_new` keeping the history short.

use std::time::Duration;

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// Input of `Monitor`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorState {
    /// How many checks to make in all.
    pub checks: u32,
    /// Seconds between checks.
    pub interval_seconds: u64,
    /// Checks made so far.
    #[serde(default)]
    pub done: u32,
}

/// Looks at the monitored thing; returns the check's number.
#[activity_trigger(name = "CheckStatus")]
pub async fn check_status(check: u32) -> u32 {
    check
}

/// Makes one check per execution, sleeping between checks, and completes with the number
/// of checks made.
#[orchestration_trigger(name = "Monitor")]
pub async fn monitor(ctx: OrchestrationContext, state: MonitorState) -> Result<u32, DurableError> {
    if state.done >= state.checks {
        return Ok(state.done);
    }
    let checked: u32 = ctx.call_activity("CheckStatus", state.done + 1).await?;
    ctx.set_custom_status(serde_json::json!({ "checksDone": checked }));
    if checked >= state.checks {
        return Ok(checked);
    }
    ctx.sleep(Duration::from_secs(state.interval_seconds))
        .await?;
    ctx.continue_as_new(MonitorState {
        done: checked,
        ..state
    });
    Ok(checked)
}
