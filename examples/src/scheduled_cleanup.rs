//! A timer-triggered client function: every night at 03:00 UTC it purges the history of
//! instances that finished more than 30 days ago. With several hosts on one task hub it runs
//! once per night, not once per host; a night missed while every host was down runs at the
//! next start.

use durable_runtime::engine::store::PurgeFilter;
use durable_runtime::prelude::*;

/// How long finished instances are kept.
const KEEP_DAYS: i64 = 30;

/// Purges finished instances created more than [`KEEP_DAYS`] days before the tick.
#[client(name = "PurgeOldHistory", timer(schedule = "0 0 3 * * *"))]
pub async fn purge_old_history(client: DurableClient, tick: TimerInfo) -> Result<(), DurableError> {
    let filter = PurgeFilter {
        created_from: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        created_to: Some(tick.scheduled_time - chrono::Duration::days(KEEP_DAYS)),
        statuses: Vec::new(),
    };
    let purged = client.purge_instances(&filter).await?;
    tracing::info!(
        purged,
        late = tick.is_past_due,
        "purged old instance histories"
    );
    Ok(())
}
