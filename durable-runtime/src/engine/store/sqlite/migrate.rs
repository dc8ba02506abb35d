//! Versioned schema migrations: numbered `.sql` files embedded in the binary, each applied
//! once in its own transaction and recorded with a checksum. A shipped migration is never
//! edited; a changed checksum stops the store from opening.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;

/// The migrations, in order. Append only.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "parent_instance",
        include_str!("migrations/0002_parent_instance.sql"),
    ),
    (
        3,
        "control_messages",
        include_str!("migrations/0003_control_messages.sql"),
    ),
    (
        4,
        "timer_triggers",
        include_str!("migrations/0004_timer_triggers.sql"),
    ),
    (
        5,
        "instance_dequeue_count",
        include_str!("migrations/0005_instance_dequeue_count.sql"),
    ),
    (
        6,
        "health_probe",
        include_str!("migrations/0006_health_probe.sql"),
    ),
    (7, "versions", include_str!("migrations/0007_versions.sql")),
];

/// FNV-1a over the migration text: enough to notice an edited file.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Brings the schema up to date.
pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY NOT NULL,
             name TEXT NOT NULL,
             checksum TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )
    .map_err(internal)?;
    for &(version, name, sql) in MIGRATIONS {
        let applied: Option<String> = conn
            .query_row(
                "SELECT checksum FROM schema_migrations WHERE version = ?1",
                [version],
                |row| row.get(0),
            )
            .optional()
            .map_err(internal)?;
        match applied {
            Some(sum) if sum == checksum(sql) => continue,
            Some(_) => {
                return Err(StoreError::Internal(format!(
                    "migration {version} ({name}) differs from the one applied to this database"
                )));
            }
            None => {}
        }
        let tx = conn.transaction().map_err(internal)?;
        tx.execute_batch(sql).map_err(internal)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            params![version, name, checksum(sql)],
        )
        .map_err(internal)?;
        tx.commit().map_err(internal)?;
    }
    let newest: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
            row.get(0)
        })
        .map_err(internal)?;
    let known = MIGRATIONS.last().map(|m| m.0);
    if newest > known {
        return Err(StoreError::Internal(format!(
            "the database has schema version {} but this build knows only up to {}; use a newer build",
            newest.unwrap_or_default(),
            known.unwrap_or_default()
        )));
    }
    Ok(())
}

fn internal(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("migration failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_recorded() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(&mut conn).expect("first run");
        run(&mut conn).expect("second run is a no-op");
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, MIGRATIONS.len() as i64);
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        run(&mut conn).expect("first run");
        conn.execute(
            "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1",
            [],
        )
        .expect("tamper");
        let err = run(&mut conn).expect_err("edited migration");
        assert!(err.to_string().contains("differs"), "{err}");
    }
}
