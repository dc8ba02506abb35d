//! Connections: the hub's connection settings, errors of the server and the pool, and
//! running statements prepared once per connection.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, Row};

use crate::store::StoreError;

/// Maps a database error: a lost or unreachable server, a busy one, a serialization failure
/// or a deadlock are retryable; everything else is not.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let retryable = code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || matches!(code, "40001" | "40P01" | "55P03" | "57014");
        let message = format!("{} ({code})", db.message());
        return if retryable {
            StoreError::Unavailable(message)
        } else {
            StoreError::Internal(message)
        };
    }
    // Not from the server: the connection failed (closed, I/O, timed out), or the request
    // or configuration is wrong (a column or type mismatch, bad credentials), which no retry
    // mends.
    let mut source = std::error::Error::source(&e);
    let mut io_failed = false;
    while let Some(cause) = source {
        io_failed |= cause.is::<std::io::Error>();
        source = cause.source();
    }
    let text = e.to_string();
    if e.is_closed() || io_failed || text.starts_with("timeout") {
        StoreError::Unavailable(format!("PostgreSQL: {text}"))
    } else {
        StoreError::Internal(format!("PostgreSQL: {text}"))
    }
}

/// A pool error as a store error: a connection that cannot be had is retryable.
pub(super) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(format!("no PostgreSQL connection: {other}")),
    }
}

/// The connection settings of the hub: the URL's, with the hub's schema as `search_path`.
pub(super) fn connection_config(url: &str, schema: &str) -> Result<Config, StoreError> {
    let mut config: Config = url.parse().map_err(|e| {
        StoreError::Internal(format!(
            "`{}` is not a PostgreSQL URL: {e}",
            super::redact_url(url)
        ))
    })?;
    let options = match config.get_options() {
        Some(options) => format!("{options} -c search_path={schema}"),
        None => format!("-c search_path={schema}"),
    };
    config.options(options);
    if config.get_application_name().is_none() {
        config.application_name(format!("durable-rs {schema}"));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// Runs a statement (prepared once per connection).
pub(super) async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.execute(&statement, params).await.map_err(db_error)
}

/// Runs a query (prepared once per connection).
pub(super) async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query(&statement, params).await.map_err(db_error)
}

/// Runs a query that returns at most one row (prepared once per connection).
pub(super) async fn query_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query_opt(&statement, params).await.map_err(db_error)
}
