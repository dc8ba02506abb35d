//! The management operations on the SQLite store: listing, purging, requests.

use async_trait::async_trait;

use super::SqliteStore;
use super::rows::{INSTANCE_COLUMNS, instance_from_row, remove_instance, status_of};
use super::writer::sql_error;
use crate::history::HistoryEvent;
use crate::store::sql::{BacklogQueries, backlog_from, from_millis, millis};
use crate::store::{
    Backlog, InstancePage, InstanceQuery, ManagementStore, PurgeFilter, QueuedWork, StoreError,
};
use crate::version::sort_key;

#[async_trait]
impl ManagementStore for SqliteStore {
    async fn list_instances(&self, query: &InstanceQuery) -> Result<InstancePage, StoreError> {
        let query = query.clone();
        self.read(move |conn| {
            // Entities (`@name@key`) and orchestration instances are listed apart.
            let kind = if query.entities { "=" } else { "<>" };
            let mut sql = format!(
                "SELECT {INSTANCE_COLUMNS} FROM instances WHERE substr(instance_id, 1, 1) {kind} '@'"
            );
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(prefix) = &query.instance_id_prefix {
                sql.push_str(" AND substr(instance_id, 1, ?) = ?");
                args.push((prefix.chars().count() as i64).into());
                args.push(prefix.clone().into());
            }
            if let Some(name) = &query.name {
                sql.push_str(" AND name = ?");
                args.push(name.clone().into());
            }
            if let Some(version) = &query.version {
                sql.push_str(" AND version_key = ?");
                args.push(sort_key(Some(version)).into());
            }
            if let Some(from) = query.created_from {
                sql.push_str(" AND created_at >= ?");
                args.push(millis(from).into());
            }
            if let Some(to) = query.created_to {
                sql.push_str(" AND created_at <= ?");
                args.push(millis(to).into());
            }
            if let Some(from) = query.updated_from {
                sql.push_str(" AND updated_at >= ?");
                args.push(millis(from).into());
            }
            if let Some(to) = query.updated_to {
                sql.push_str(" AND updated_at <= ?");
                args.push(millis(to).into());
            }
            if !query.statuses.is_empty() {
                let marks = vec!["?"; query.statuses.len()].join(", ");
                sql.push_str(&format!(" AND status IN ({marks})"));
                args.extend(
                    query
                        .statuses
                        .iter()
                        .map(|s| rusqlite::types::Value::from(s.as_str().to_owned())),
                );
            }
            if let Some(after) = &query.after {
                sql.push_str(" AND (created_at > ? OR (created_at = ? AND instance_id > ?))");
                args.push(millis(after.created_at).into());
                args.push(millis(after.created_at).into());
                args.push(after.instance_id.clone().into());
            }
            sql.push_str(" ORDER BY created_at, instance_id LIMIT ?");
            args.push((query.page_limit() as i64 + 1).into());
            let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), instance_from_row)
                .map_err(sql_error)?;
            let mut instances = Vec::new();
            for row in rows {
                instances.push(row.map_err(sql_error)??);
            }
            Ok(InstancePage::cut(instances, &query))
        })
        .await
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<u64, StoreError> {
        let instance_id = instance_id.to_owned();
        self.write(move |conn| match status_of(conn, &instance_id)? {
            None => Ok(0),
            Some(status) if !status.is_terminal() => Err(StoreError::WrongStatus {
                instance_id,
                status,
            }),
            Some(_) => Ok(u64::from(remove_instance(conn, &instance_id)?)),
        })
        .await
    }

    async fn purge_instances(&self, filter: &PurgeFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {INSTANCE_COLUMNS} FROM instances WHERE created_at >= ?1
                     AND status IN ('Completed', 'Failed', 'Terminated')"
                ))
                .map_err(sql_error)?;
            let rows = stmt
                .query_map([millis(filter.created_from)], instance_from_row)
                .map_err(sql_error)?;
            let mut doomed = Vec::new();
            for row in rows {
                let record = row.map_err(sql_error)??;
                if filter.matches(&record) {
                    doomed.push(record.instance_id);
                }
            }
            drop(stmt);
            for id in &doomed {
                remove_instance(conn, id)?;
            }
            Ok(doomed.len() as u64)
        })
        .await
    }

    async fn send_control(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event).await
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let queries = BacklogQueries::at(self.clock.now());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(queries.instances).map_err(sql_error)?;
            let instances = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(sql_error)?
                .collect::<Result<Vec<(String, i64)>, _>>()
                .map_err(sql_error)?;
            let messages = conn
                .query_row(&queries.messages, [], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(sql_error)?;
            let activities = conn
                .query_row(&queries.activities, [], |row| row.get(0))
                .map_err(sql_error)?;
            backlog_from(instances, messages, activities)
        })
        .await
    }

    async fn queued_messages(&self, instance_id: &str) -> Result<u64, StoreError> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| {
            let count: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM messages WHERE instance_id = ?1")
                .map_err(sql_error)?
                .query_row([instance_id], |row| row.get(0))
                .map_err(sql_error)?;
            Ok(u64::try_from(count).unwrap_or_default())
        })
        .await
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT instance_id, visible_at FROM messages
                     UNION ALL SELECT instance_id, NULL FROM activities",
                )
                .map_err(sql_error)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(QueuedWork {
                        instance_id: row.get(0)?,
                        visible_at: row.get::<_, Option<i64>>(1)?.map(from_millis),
                    })
                })
                .map_err(sql_error)?;
            rows.map(|row| row.map_err(sql_error)).collect()
        })
        .await
    }
}
