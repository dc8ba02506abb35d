//! The management operations on the PostgreSQL store: listing, purging, requests.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::connection::{db_error, query};
use super::rows::{instance_columns, instance_from_row, remove_instances, status_of};
use crate::history::HistoryEvent;
use crate::store::sql::{BacklogQueries, backlog_from, from_millis, millis};
use crate::store::{
    Backlog, InstancePage, InstanceQuery, ManagementStore, PurgeFilter, QueuedWork, StoreError,
};
use crate::version::sort_key;

#[async_trait]
impl ManagementStore for PostgresStore {
    async fn list_instances(&self, request: &InstanceQuery) -> Result<InstancePage, StoreError> {
        // Entities (`@name@key`) and orchestration instances are listed apart.
        let kind = if request.entities { "" } else { "NOT " };
        let mut sql = format!(
            "SELECT {} FROM instances WHERE {kind}starts_with(instance_id, '@')",
            instance_columns!()
        );
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        fn arg(
            args: &mut Vec<Box<dyn ToSql + Sync + Send>>,
            value: impl ToSql + Sync + Send + 'static,
        ) -> String {
            args.push(Box::new(value));
            format!("${}", args.len())
        }
        if let Some(prefix) = &request.instance_id_prefix {
            let p = arg(&mut args, prefix.clone());
            sql.push_str(&format!(" AND starts_with(instance_id, {p})"));
        }
        if let Some(name) = &request.name {
            let n = arg(&mut args, name.clone());
            sql.push_str(&format!(" AND name = {n}"));
        }
        if let Some(version) = &request.version {
            let v = arg(&mut args, sort_key(Some(version)));
            sql.push_str(&format!(" AND version_key = {v}"));
        }
        if let Some(from) = request.created_from {
            let p = arg(&mut args, millis(from));
            sql.push_str(&format!(" AND created_at >= {p}"));
        }
        if let Some(to) = request.created_to {
            let p = arg(&mut args, millis(to));
            sql.push_str(&format!(" AND created_at <= {p}"));
        }
        if let Some(from) = request.updated_from {
            let p = arg(&mut args, millis(from));
            sql.push_str(&format!(" AND updated_at >= {p}"));
        }
        if let Some(to) = request.updated_to {
            let p = arg(&mut args, millis(to));
            sql.push_str(&format!(" AND updated_at <= {p}"));
        }
        if !request.statuses.is_empty() {
            let statuses: Vec<String> = request
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let p = arg(&mut args, statuses);
            sql.push_str(&format!(" AND status = ANY({p})"));
        }
        if let Some(after) = &request.after {
            let at = arg(&mut args, millis(after.created_at));
            let id = arg(&mut args, after.instance_id.clone());
            sql.push_str(&format!(" AND (created_at, instance_id) > ({at}, {id})"));
        }
        let limit = arg(&mut args, request.page_limit() as i64 + 1);
        sql.push_str(&format!(" ORDER BY created_at, instance_id LIMIT {limit}"));
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect();
        let client = self.client().await?;
        let rows = client.query(&sql, &params).await.map_err(db_error)?;
        let instances = rows
            .iter()
            .map(instance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InstancePage::cut(instances, request))
    }

    async fn purge_instance(&self, instance_id: &str) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let removed = match status_of(&tx, instance_id, "FOR UPDATE").await? {
            None => 0,
            Some(status) if !status.is_terminal() => {
                return Err(StoreError::WrongStatus {
                    instance_id: instance_id.to_owned(),
                    status,
                });
            }
            Some(_) => remove_instances(&tx, &[instance_id.to_owned()]).await?,
        };
        tx.commit().await.map_err(db_error)?;
        Ok(removed)
    }

    async fn purge_instances(&self, filter: &PurgeFilter) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let rows = query(
            &tx,
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE created_at >= $1
                  AND status IN ('Completed', 'Failed', 'Terminated') FOR UPDATE"
            ),
            &[&millis(filter.created_from)],
        )
        .await?;
        let mut doomed = Vec::new();
        for row in &rows {
            let record = instance_from_row(row)?;
            if filter.matches(&record) {
                doomed.push(record.instance_id);
            }
        }
        let removed = if doomed.is_empty() {
            0
        } else {
            remove_instances(&tx, &doomed).await?
        };
        tx.commit().await.map_err(db_error)?;
        Ok(removed)
    }

    async fn send_control(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event).await
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let queries = BacklogQueries::at(self.clock.now());
        let client = self.client().await?;
        let instances = query(&client, queries.instances, &[])
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0).map_err(db_error)?,
                    row.try_get(1).map_err(db_error)?,
                ))
            })
            .collect::<Result<Vec<(String, i64)>, StoreError>>()?;
        let messages = match query(&client, &queries.messages, &[]).await?.first() {
            Some(row) => (
                row.try_get(0).map_err(db_error)?,
                row.try_get(1).map_err(db_error)?,
            ),
            None => (0, None),
        };
        let activities = match query(&client, &queries.activities, &[]).await?.first() {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => 0,
        };
        backlog_from(instances, messages, activities)
    }

    async fn queued_messages(&self, instance_id: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let count: i64 = match query(
            &client,
            "SELECT COUNT(*) FROM messages WHERE instance_id = $1",
            &[&instance_id],
        )
        .await?
        .first()
        {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn queued_work(&self) -> Result<Vec<QueuedWork>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT instance_id, visible_at FROM messages
             UNION ALL SELECT instance_id, NULL FROM activities",
            &[],
        )
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueuedWork {
                    instance_id: row.try_get(0).map_err(db_error)?,
                    visible_at: row
                        .try_get::<_, Option<i64>>(1)
                        .map_err(db_error)?
                        .map(from_millis),
                })
            })
            .collect()
    }
}
