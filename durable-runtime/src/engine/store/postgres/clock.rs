//! The database's clock: on a shared hub, lease expiry, message visibility and timers
//! follow one clock, the database server's, so a host whose own clock runs ahead neither
//! fires timers early nor takes a lease before it expires, and one running behind neither
//! lets them fire late nor holds leases too long.
//!
//! The host's clock plus an offset, measured against `clock_timestamp()` when the store
//! opens and again every minute (half the round trip is taken as the server's moment).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::connection::{db_error, pool_error};
use crate::clock::Clock;
use crate::engine::store::StoreError;

/// How often the offset is measured again.
const REMEASURE_EVERY: Duration = Duration::from_secs(60);

/// The database server's time, as this host best knows it.
pub(super) struct DatabaseClock {
    host: Arc<dyn Clock>,
    /// Server time minus host time, in milliseconds.
    offset_ms: AtomicI64,
}

impl DatabaseClock {
    /// A clock on `host`'s time until the first measurement.
    pub(super) fn new(host: Arc<dyn Clock>) -> Arc<DatabaseClock> {
        Arc::new(DatabaseClock {
            host,
            offset_ms: AtomicI64::new(0),
        })
    }

    /// Measures the offset to the server's clock over `client`.
    pub(super) async fn measure(&self, client: &tokio_postgres::Client) -> Result<(), StoreError> {
        let sent = self.host.now();
        let row = client
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .await
            .map_err(db_error)?;
        let answered = self.host.now();
        let server_ms: i64 = row.try_get(0).map_err(db_error)?;
        let midway = sent + (answered - sent) / 2;
        let offset = server_ms - midway.timestamp_millis();
        let previous = self.offset_ms.swap(offset, Ordering::Relaxed);
        if (offset - previous).abs() > 1_000 {
            tracing::info!(
                offset_ms = offset,
                "this host's clock differs from the database's"
            );
        }
        Ok(())
    }

    /// Measures again every minute while the clock is in use.
    pub(super) fn keep_in_step(clock: &Arc<DatabaseClock>, pool: Pool) {
        let clock: Weak<DatabaseClock> = Arc::downgrade(clock);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REMEASURE_EVERY).await;
                let Some(clock) = clock.upgrade() else { return };
                let measured = match pool.get().await.map_err(pool_error) {
                    Ok(client) => clock.measure(&client).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = measured {
                    tracing::debug!(%error, "cannot measure the database's clock; keeping the last offset");
                }
            }
        });
    }
}

impl Clock for DatabaseClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        self.host.now() + offset
    }
}
