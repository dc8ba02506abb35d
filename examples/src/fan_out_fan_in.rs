//! Fan-out/fan-in: n activities at once, then their sum.

use durable_runtime::prelude::*;

/// Returns its index (the unit of parallel work).
#[activity_trigger(name = "ProcessItem")]
pub async fn process_item(index: u64) -> u64 {
    index
}

/// The most items one run fans out to.
pub const MAX_ITEMS: u64 = 10_000;

/// Starts `ProcessItem` for 0..n in one turn and outputs the sum of the results; refuses
/// more than [`MAX_ITEMS`] items.
#[orchestration_trigger(name = "FanOutFanIn")]
pub async fn fan_out_fan_in(ctx: OrchestrationContext, n: u64) -> Result<u64, DurableError> {
    if n > MAX_ITEMS {
        return Err(DurableError::custom(format!(
            "FanOutFanIn takes at most {MAX_ITEMS} items, not {n}"
        )));
    }
    let calls = (0..n).map(|i| ctx.call_activity::<u64>("ProcessItem", i));
    let results: Vec<u64> = when_all(calls)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(results.into_iter().sum())
}
