//! Versioned schema migrations for one task hub's schema: numbered `.sql` files embedded in
//! the binary, each applied once in its own transaction and recorded with a checksum in the
//! hub's `schema_migrations` table. A shipped migration is never edited; a changed checksum
//! stops the store from opening.
//!
//! Several hosts may start at once on one hub: a session advisory lock keyed by the schema
//! makes them take turns, so the schema is created and each migration applied exactly once.

use tokio_postgres::Client;

use super::db_error;
use crate::store::StoreError;

/// The migrations, in order. Append only.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "timer_triggers",
        include_str!("migrations/0002_timer_triggers.sql"),
    ),
    (
        3,
        "instance_dequeue_count",
        include_str!("migrations/0003_instance_dequeue_count.sql"),
    ),
    (
        4,
        "health_probe",
        include_str!("migrations/0004_health_probe.sql"),
    ),
    (5, "versions", include_str!("migrations/0005_versions.sql")),
];

/// FNV-1a: enough to notice an edited file, and stable across builds and hosts.
fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn checksum(sql: &str) -> String {
    format!("{:016x}", fnv1a(sql))
}

/// The advisory lock that serializes migrations of one hub's schema.
fn lock_key(schema: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(&format!("durable-rs migrations {schema}")).to_ne_bytes())
}

/// Creates the hub's schema when missing and brings it up to date. `client` is a connection
/// of its own whose `search_path` is the hub's schema.
pub(super) async fn run(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let key = lock_key(schema);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .map_err(db_error)?;
    let applied = apply(client, schema).await;
    // The lock also goes with the session; unlocking early lets the next host go on.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .map_err(db_error);
    applied?;
    unlocked.map(|_| ())
}

async fn apply(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 checksum   TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );"
        ))
        .await
        .map_err(failed)?;
    for &(version, name, sql) in MIGRATIONS {
        let applied: Option<String> = client
            .query_opt(
                &format!("SELECT checksum FROM {schema}.schema_migrations WHERE version = $1"),
                &[&version],
            )
            .await
            .map_err(failed)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(failed)?;
        match applied {
            Some(sum) if sum == checksum(sql) => continue,
            Some(_) => {
                return Err(StoreError::Internal(format!(
                    "migration {version} ({name}) differs from the one applied to schema {schema}"
                )));
            }
            None => {}
        }
        let tx = client.transaction().await.map_err(failed)?;
        tx.batch_execute(sql).await.map_err(failed)?;
        tx.execute(
            &format!(
                "INSERT INTO {schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
            ),
            &[&version, &name, &checksum(sql)],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
    }
    let newest: Option<i64> = client
        .query_one(
            &format!("SELECT MAX(version) FROM {schema}.schema_migrations"),
            &[],
        )
        .await
        .map_err(failed)?
        .try_get(0)
        .map_err(failed)?;
    let known = MIGRATIONS.last().map(|m| m.0);
    if newest > known {
        return Err(StoreError::Internal(format!(
            "schema {schema} has version {} but this build knows only up to {}; use a newer build",
            newest.unwrap_or_default(),
            known.unwrap_or_default()
        )));
    }
    Ok(())
}

/// A failed migration step: retryable when the connection failed, otherwise not.
fn failed(e: tokio_postgres::Error) -> StoreError {
    match db_error(e) {
        StoreError::Internal(message) => {
            StoreError::Internal(format!("migration failed: {message}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_hub_and_are_stable() {
        assert_eq!(lock_key("durable_a"), lock_key("durable_a"));
        assert_ne!(lock_key("durable_a"), lock_key("durable_b"));
        assert_eq!(checksum(""), "cbf29ce484222325");
    }
}
