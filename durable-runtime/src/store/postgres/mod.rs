//! The scale-out store: several host processes share one task hub in a PostgreSQL database.
//!
//! Each task hub has a schema of its own, `durable_<hub lowercased>`, created (and migrated)
//! when a store opens it, so several hubs live side by side in one database. Connections come
//! from a pool whose `search_path` is the hub's schema.
//!
//! Leases are a row's `lock_owner` and `lock_expires`. Work is taken with
//! `FOR UPDATE SKIP LOCKED`, so hosts polling at once never wait on each other or take the
//! same instance; one statement leases a dispatcher's whole batch. A turn commits under the
//! instance's row lock after checking that its lease is still held (same owner, not
//! expired, same history length and execution), so a host whose lease was lost changes
//! nothing. A finished call whose instance is free commits with the instance's next turn
//! in one transaction, taking both rows with `SKIP LOCKED` too: a row someone holds
//! declines instead of waiting. Expiry and timers are compared with the injected [`Clock`]
//! of the host asking, never the database's clock, so every store (and the conformance
//! suite's manual clock) measures time the same way; hosts sharing a hub need clocks that
//! agree to well within a lease.
//!
//! Writes that give other hosts work `NOTIFY` the hub's channel in the same transaction; a
//! background connection `LISTEN`s and raises this host's [`WorkSignals`]. Polling remains
//! the fallback. Work a host keeps for itself (the in-process fast path: a turn's new
//! activities, the instance of a result it just queued) is leased to it in the writing
//! transaction and wakes nobody. Errors of a lost or unreachable server are
//! [`StoreError::Unavailable`].
//!
//! No TLS: the store is meant for a database on loopback or a trusted network.

mod listen;
mod migrate;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, NoTls, Row};

use super::{
    ActivityWorkItem, InstancePage, InstanceQuery, InstanceRecord, ManagementStore, NewInstance,
    OrchestrationWorkItem, OutboundMessage, PageCursor, PurgeFilter, QueuedMessage, ReplacePolicy,
    Store, StoreError, TurnCommit, WorkSignals, accepts, child_conflict, entity_name,
    execution_started, is_removed_entity, refusal, timer_fired,
};
use crate::clock::Clock;
use crate::history::HistoryEvent;
use crate::status::RuntimeStatus;

/// How the PostgreSQL store is opened.
#[derive(Clone)]
pub struct PostgresOptions {
    /// The connection URL: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    pub url: String,
    /// The task hub; its tables live in the schema `durable_<hub lowercased>`. Letters,
    /// digits and `_`, at most 50.
    pub hub: String,
    /// Most pooled connections (the LISTEN connection comes on top).
    pub max_connections: usize,
}

impl PostgresOptions {
    /// Options for `hub` in the database at `url`, with a pool of 16 connections.
    pub fn new(url: impl Into<String>, hub: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            hub: hub.into(),
            max_connections: 16,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact_url(&self.url))
            .field("hub", &self.hub)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl PostgresOptions {
    /// The URL with its password, if any, replaced by `***`, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `url` with its password, if any, replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The schema that holds a hub's tables.
pub(crate) fn hub_schema(hub: &str) -> Result<String, StoreError> {
    let valid =
        (1..=50).contains(&hub.len()) && hub.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(StoreError::Internal(format!(
            "task hub name `{hub}` cannot name a PostgreSQL schema: use 1 to 50 ASCII letters, digits and `_`"
        )));
    }
    Ok(format!("durable_{}", hub.to_ascii_lowercase()))
}

/// The PostgreSQL store: one task hub in its own schema, shared by several hosts.
///
/// Work is leased with `FOR UPDATE SKIP LOCKED` and an expiry; a commit from a host whose
/// lease was lost is rejected with [`StoreError::LeaseLost`]. Lease expiry and timers are
/// compared with the injected [`Clock`], not the database's. Writes that give other hosts
/// work `NOTIFY` the hub's channel, and a background connection `LISTEN`s and raises this
/// store's [`WorkSignals`]. A lost or unreachable server gives [`StoreError::Unavailable`].
///
/// ```no_run
/// # async fn open() -> Result<(), durable_runtime::store::StoreError> {
/// use std::sync::Arc;
/// use durable_runtime::clock::SystemClock;
/// use durable_runtime::store::{PostgresOptions, PostgresStore};
///
/// let options = PostgresOptions::new("postgres://durable@127.0.0.1:5432/durable", "Orders");
/// let store = PostgresStore::open(options, Arc::new(SystemClock)).await?;
/// assert_eq!(store.schema(), "durable_orders");
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    /// Names this store in notifications, so it ignores its own.
    origin: String,
    clock: Arc<dyn Clock>,
    signals: Arc<WorkSignals>,
    _listener: listen::Listener,
}

/// Maps a database error: a lost or unreachable server, a busy one, a serialization failure
/// or a deadlock are retryable; everything else is not.
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
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

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(format!("no PostgreSQL connection: {other}")),
    }
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("stored JSON is invalid: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(json_error)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

fn lease_expiry(now: DateTime<Utc>, lease: Duration) -> i64 {
    millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

/// The connection settings of the hub: the URL's, with the hub's schema as `search_path`.
fn connection_config(url: &str, schema: &str) -> Result<Config, StoreError> {
    let mut config: Config = url.parse().map_err(|e| {
        StoreError::Internal(format!(
            "`{}` is not a PostgreSQL URL: {e}",
            redact_url(url)
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

/// The columns [`instance_from_row`] reads, in order.
macro_rules! instance_columns {
    () => {
        "instance_id, name, execution_id, status, input, output, custom_status, created_at, \
         updated_at, history_length, parent"
    };
}

fn instance_from_row(row: &Row) -> Result<InstanceRecord, StoreError> {
    let text = |i: usize| row.try_get::<_, String>(i).map_err(db_error);
    let number = |i: usize| row.try_get::<_, i64>(i).map_err(db_error);
    let parent: Option<String> = row.try_get(10).map_err(db_error)?;
    Ok(InstanceRecord {
        instance_id: text(0)?,
        name: text(1)?,
        execution_id: text(2)?,
        status: text(3)?.parse().map_err(StoreError::Internal)?,
        input: serde_json::from_str(&text(4)?).map_err(json_error)?,
        output: serde_json::from_str(&text(5)?).map_err(json_error)?,
        custom_status: serde_json::from_str(&text(6)?).map_err(json_error)?,
        created_at: from_millis(number(7)?),
        updated_at: from_millis(number(8)?),
        history_length: number(9)?.max(0) as u64,
        parent: parent
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(json_error)?,
    })
}

/// Runs a statement (prepared once per connection).
async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.execute(&statement, params).await.map_err(db_error)
}

/// Runs a query (prepared once per connection).
async fn query<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query(&statement, params).await.map_err(db_error)
}

/// Runs a query that returns at most one row (prepared once per connection).
async fn query_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query_opt(&statement, params).await.map_err(db_error)
}

async fn load_history<C: GenericClient>(
    client: &C,
    instance_id: &str,
    execution_id: &str,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let rows = query(
        client,
        "SELECT event FROM history WHERE instance_id = $1 AND execution_id = $2 ORDER BY seq",
        &[&instance_id, &execution_id],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get(0).map_err(db_error)?;
            serde_json::from_str(&text).map_err(json_error)
        })
        .collect()
}

/// The work items of instances just leased, oldest work first: each row holds an
/// instance's columns (`instance_columns!`) and then its `dequeue_count`. Loads their
/// visible messages in one query and, with `with_history`, their current executions'
/// histories.
async fn leased_work_items<C: GenericClient>(
    client: &C,
    rows: &[Row],
    now: i64,
    with_history: bool,
) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
    let mut items = rows
        .iter()
        .map(|row| {
            let dequeue_count: i64 = row.try_get(11).map_err(db_error)?;
            Ok(OrchestrationWorkItem {
                instance: instance_from_row(row)?,
                history: Vec::new(),
                messages: Vec::new(),
                dequeue_count: u32::try_from(dequeue_count).unwrap_or(u32::MAX),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if items.is_empty() {
        return Ok(items);
    }
    // The leases are ours: only their owner changes these histories until it commits (a
    // replacement in between makes that commit fail). A statement after the leasing one
    // sees what a turn that committed meanwhile left, not the messages it consumed.
    let (messages, histories) = {
        let ids: Vec<&str> = items
            .iter()
            .map(|item| item.instance.instance_id.as_str())
            .collect();
        let params: [&(dyn ToSql + Sync); 2] = [&ids, &now];
        let messages = query(
            client,
            "SELECT instance_id, id, execution_id, event FROM messages
             WHERE instance_id = ANY($1) AND visible_at <= $2 ORDER BY id",
            &params,
        );
        let histories =
            futures::future::try_join_all(items.iter().filter(|_| with_history).map(|item| {
                load_history(
                    client,
                    &item.instance.instance_id,
                    &item.instance.execution_id,
                )
            }));
        futures::try_join!(messages, histories)?
    };
    for (item, history) in items.iter_mut().zip(histories) {
        item.history = history;
    }
    let position: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(n, item)| (item.instance.instance_id.clone(), n))
        .collect();
    for row in &messages {
        let instance_id: String = row.try_get(0).map_err(db_error)?;
        let event: String = row.try_get(3).map_err(db_error)?;
        let Some(item) = position.get(&instance_id).and_then(|&n| items.get_mut(n)) else {
            continue;
        };
        item.messages.push(QueuedMessage {
            id: row.try_get(1).map_err(db_error)?,
            execution_id: row.try_get(2).map_err(db_error)?,
            event: serde_json::from_str(&event).map_err(json_error)?,
        });
    }
    items.sort_by_key(|item| item.messages.first().map_or(i64::MAX, |m| m.id));
    Ok(items)
}

/// A message to queue.
struct Outgoing<'a> {
    instance_id: &'a str,
    execution_id: &'a str,
    event: &'a HistoryEvent,
    visible_at: DateTime<Utc>,
}

/// Queues messages, in the given order (ids grow in that order).
async fn insert_messages<C: GenericClient>(
    client: &C,
    messages: &[Outgoing<'_>],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let instance_ids: Vec<&str> = messages.iter().map(|m| m.instance_id).collect();
    let execution_ids: Vec<&str> = messages.iter().map(|m| m.execution_id).collect();
    let events = messages
        .iter()
        .map(|m| to_json(m.event))
        .collect::<Result<Vec<String>, _>>()?;
    let visible: Vec<i64> = messages.iter().map(|m| millis(m.visible_at)).collect();
    let control: Vec<bool> = messages.iter().map(|m| m.event.kind.is_control()).collect();
    execute(
        client,
        "INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
         SELECT instance_id, execution_id, event, visible_at, control
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::boolean[])
              WITH ORDINALITY AS m (instance_id, execution_id, event, visible_at, control, n)
         ORDER BY n",
        &[&instance_ids, &execution_ids, &events, &visible, &control],
    )
    .await?;
    Ok(())
}

/// The status of an instance, or `None` when it does not exist. `lock` is `FOR UPDATE` or
/// `FOR SHARE` (or empty).
async fn status_of<C: GenericClient>(
    client: &C,
    instance_id: &str,
    lock: &str,
) -> Result<Option<RuntimeStatus>, StoreError> {
    let sql = format!("SELECT status FROM instances WHERE instance_id = $1 {lock}");
    let Some(row) = query_opt(client, &sql, &[&instance_id]).await? else {
        return Ok(None);
    };
    let status: String = row.try_get(0).map_err(db_error)?;
    status.parse().map(Some).map_err(StoreError::Internal)
}

/// Removes instances with their history, messages and work; returns how many rows of
/// `instances` went.
async fn remove_instances<C: GenericClient>(
    client: &C,
    instance_ids: &[String],
) -> Result<u64, StoreError> {
    for table in ["history", "messages", "activities"] {
        execute(
            client,
            &format!("DELETE FROM {table} WHERE instance_id = ANY($1)"),
            &[&instance_ids],
        )
        .await?;
    }
    execute(
        client,
        "DELETE FROM instances WHERE instance_id = ANY($1)",
        &[&instance_ids],
    )
    .await
}

/// Creates or replaces an instance and queues its `ExecutionStarted`; false when a running
/// one holds the id and the policy keeps it.
async fn create<C: GenericClient>(
    client: &C,
    new: &NewInstance,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !insert_instance(client, new).await? {
        return Ok(false);
    }
    let started = execution_started(new);
    insert_messages(
        client,
        &[Outgoing {
            instance_id: &new.instance_id,
            execution_id: &new.execution_id,
            event: &started,
            visible_at: new.scheduled_start.unwrap_or(now),
        }],
    )
    .await?;
    Ok(true)
}

/// Writes a new instance's row (Pending, no history), replacing a finished instance with
/// the same id; false when a running one holds the id and the policy keeps it. The row
/// stays locked until the transaction ends.
async fn insert_instance<C: GenericClient>(
    client: &C,
    new: &NewInstance,
) -> Result<bool, StoreError> {
    if let Some(status) = status_of(client, &new.instance_id, "FOR UPDATE").await? {
        if !status.is_terminal() && new.replace == ReplacePolicy::NonRunning {
            return Ok(false);
        }
        remove_instances(client, std::slice::from_ref(&new.instance_id)).await?;
    }
    let input = to_json(&new.input)?;
    let parent = new.parent.as_ref().map(to_json).transpose()?;
    let created_at = millis(new.created_at);
    // Another transaction may create the same id at once: it wins.
    let inserted = execute(
        client,
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at, parent)
         VALUES ($1, $2, $3, 'Pending', $4, $5, $5, $6)
         ON CONFLICT (instance_id) DO NOTHING",
        &[
            &new.instance_id,
            &new.name,
            &new.execution_id,
            &input,
            &created_at,
            &parent,
        ],
    )
    .await?;
    Ok(inserted > 0)
}

/// Creates an entity's row (Pending, no state) unless it exists. An existing row is
/// locked, so a commit that removes the entity waits, or sees the message queued after it.
async fn ensure_entity<C: GenericClient>(
    client: &C,
    instance_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at)
         VALUES ($1, $2, '', 'Pending', 'null', $3, $3)
         ON CONFLICT (instance_id) DO UPDATE SET updated_at = instances.updated_at",
        &[&instance_id, &name, &millis(now)],
    )
    .await?;
    Ok(())
}

/// Delivers a message to an instance that accepts it; drops it otherwise. An entity
/// operation creates a missing entity.
async fn send<C: GenericClient>(
    client: &C,
    message: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if message.event.kind.is_entity_operation()
        && let Some(name) = entity_name(&message.instance_id)
    {
        ensure_entity(client, &message.instance_id, name, now).await?;
    }
    match status_of(client, &message.instance_id, "").await? {
        Some(status) if accepts(status, &message.event) => {
            insert_messages(
                client,
                &[Outgoing {
                    instance_id: &message.instance_id,
                    execution_id: message.execution_id.as_deref().unwrap_or_default(),
                    event: &message.event,
                    visible_at: now,
                }],
            )
            .await
        }
        _ => Ok(()),
    }
}

impl PostgresStore {
    /// Connects, creates the hub's schema when missing, brings it up to date (one host at a
    /// time), and starts listening for other hosts' notifications.
    pub async fn open(
        options: PostgresOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<PostgresStore, StoreError> {
        let schema = hub_schema(&options.hub)?;
        let config = connection_config(&options.url, &schema)?;
        {
            let (mut client, connection) = config.connect(NoTls).await.map_err(|e| {
                let error = db_error(e);
                StoreError::Unavailable(format!(
                    "cannot connect to {}: {error}",
                    redact_url(&options.url)
                ))
            })?;
            let driver = tokio::spawn(connection);
            let migrated = migrate::run(&mut client, &schema).await;
            drop(client);
            let _ = driver.await;
            migrated?;
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        let signals = Arc::new(WorkSignals::default());
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let mut listen_config = config;
        listen_config.application_name(format!("durable-rs listen {schema}"));
        let listener = listen::Listener::start(
            listen_config,
            schema.clone(),
            origin.clone(),
            signals.clone(),
        )
        .await?;
        Ok(PostgresStore {
            pool,
            schema,
            origin,
            clock,
            signals,
            _listener: listener,
        })
    }

    /// The schema that holds this hub's tables (also the name of its notification channel).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Tells the other hosts of the hub, when `client`'s transaction commits, which kinds of
    /// work are new.
    async fn notify<C: GenericClient>(
        &self,
        client: &C,
        orchestrations: bool,
        activities: bool,
    ) -> Result<(), StoreError> {
        let payload = listen::payload(&self.origin, orchestrations, activities);
        execute(
            client,
            "SELECT pg_notify($1, $2)",
            &[&self.schema, &payload],
        )
        .await?;
        Ok(())
    }

    /// Queues a request or event for an instance that accepts it, or says why not.
    async fn deliver(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // FOR SHARE: a purge or replacement waits, so the message never outlives its instance.
        let Some(status) = status_of(&tx, instance_id, "FOR SHARE").await? else {
            return Err(StoreError::NotFound(instance_id.to_owned()));
        };
        refusal(instance_id, status, &event)?;
        insert_messages(
            &tx,
            &[Outgoing {
                instance_id,
                execution_id: "",
                event: &event,
                visible_at: now,
            }],
        )
        .await?;
        self.notify(&tx, true, false).await?;
        tx.commit().await.map_err(db_error)?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    /// Leases up to `max` instances with work that nobody holds, those with the oldest
    /// visible message first, and loads their work items; without `with_history`, the
    /// history is left out (the lean fetch).
    async fn fetch(
        &self,
        owner: &str,
        lease: Duration,
        with_history: bool,
        max: usize,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let clock_now = self.clock.now();
        let now = millis(clock_now);
        let expires = lease_expiry(clock_now, lease);
        let client = self.client().await?;
        // One statement. Each instance is picked by its oldest message it may take now
        // (NOT EXISTS: no older one), so it comes once and the limit counts instances;
        // SKIP LOCKED passes over instances another host is taking right now. ARRAY():
        // the picking runs once, never again for each row updated.
        let rows = query(
            &client,
            concat!(
                "UPDATE instances SET lock_owner = $2, lock_expires = $3,
                     dequeue_count = instances.dequeue_count + 1
                 WHERE instance_id = ANY(ARRAY(
                     SELECT i.instance_id FROM messages m JOIN instances i ON i.instance_id = m.instance_id
                     WHERE m.visible_at <= $1 AND (i.lock_owner IS NULL OR i.lock_expires <= $1)
                       AND (i.status <> 'Suspended' OR m.control)
                       AND NOT EXISTS (
                           SELECT 1 FROM messages o
                           WHERE o.instance_id = m.instance_id AND o.id < m.id AND o.visible_at <= $1
                             AND (i.status <> 'Suspended' OR o.control))
                     ORDER BY m.id LIMIT $4
                     FOR UPDATE OF i SKIP LOCKED))
                 RETURNING ",
                instance_columns!(),
                ", dequeue_count"
            ),
            &[&now, &owner, &expires, &limit],
        )
        .await?;
        leased_work_items(&client, &rows, now, with_history).await
    }

    /// Commits a turn (see [`Store::commit_turn`]); with `lease`, the activities it
    /// schedules are leased to `owner` in the same transaction and returned.
    async fn commit(
        &self,
        owner: &str,
        commit: TurnCommit,
        lease: Option<Duration>,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !holds_lease(&tx, owner, &commit, millis(now)).await? {
            return Err(StoreError::LeaseLost(commit.instance_id));
        }
        let leased = self.write_turn(&tx, owner, &commit, lease, now).await?;
        tx.commit().await.map_err(db_error)?;
        self.turn_committed(lease.is_none() && !commit.activities.is_empty());
        Ok(leased)
    }

    /// Raises this host's signals after a turn committed.
    fn turn_committed(&self, unleased_work: bool) {
        if unleased_work {
            self.signals.activities.notify_one();
        }
        // Messages that arrived during the turn can be taken now that the lease is free.
        self.signals.orchestrations.notify_one();
    }

    /// Writes a turn in `tx`, which holds the instance's row locked and has checked that
    /// the turn may commit: appends the history, updates (and frees) the instance, queues
    /// the new work and messages, and tells the other hosts. With `lease`, the activities
    /// it schedules are leased to `owner` and returned.
    async fn write_turn<C: GenericClient>(
        &self,
        tx: &C,
        owner: &str,
        commit: &TurnCommit,
        lease: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now_ms = millis(now);
        // Work leased to this worker is nobody else's: no one needs waking for it.
        let unleased_work = lease.is_none() && !commit.activities.is_empty();
        if !commit.consumed.is_empty() {
            execute(
                tx,
                "DELETE FROM messages WHERE instance_id = $1 AND id = ANY($2)",
                &[&commit.instance_id, &commit.consumed],
            )
            .await?;
        }
        let custom_status = to_json(&commit.custom_status)?;
        if let Some(next) = &commit.continue_as_new {
            execute(
                tx,
                "DELETE FROM history WHERE instance_id = $1",
                &[&commit.instance_id],
            )
            .await?;
            let input = to_json(&next.input)?;
            let row = query_opt(
                tx,
                "UPDATE instances SET status = 'ContinuedAsNew', execution_id = $1, input = $2,
                     output = 'null', custom_status = $3, updated_at = $4, history_length = 0,
                     lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
                 WHERE instance_id = $5
                 RETURNING name, parent",
                &[
                    &next.execution_id,
                    &input,
                    &custom_status,
                    &now_ms,
                    &commit.instance_id,
                ],
            )
            .await?
            .ok_or_else(|| StoreError::LeaseLost(commit.instance_id.clone()))?;
            let parent: Option<String> = row.try_get(1).map_err(db_error)?;
            let started = execution_started(&NewInstance {
                instance_id: commit.instance_id.clone(),
                name: row.try_get(0).map_err(db_error)?,
                execution_id: next.execution_id.clone(),
                input: next.input.clone(),
                created_at: now,
                parent: parent
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(json_error)?,
                scheduled_start: None,
                replace: ReplacePolicy::Any,
            });
            let mut restart = vec![Outgoing {
                instance_id: &commit.instance_id,
                execution_id: &next.execution_id,
                event: &started,
                visible_at: now,
            }];
            restart.extend(next.carried_events.iter().map(|event| Outgoing {
                instance_id: &commit.instance_id,
                execution_id: "",
                event,
                visible_at: now,
            }));
            insert_messages(tx, &restart).await?;
        } else {
            if let Some(length) = commit.truncate_history_to {
                execute(
                    tx,
                    "DELETE FROM history WHERE instance_id = $1 AND execution_id = $2 AND seq >= $3",
                    &[&commit.instance_id, &commit.execution_id, &(length as i64)],
                )
                .await?;
            }
            let base = commit
                .truncate_history_to
                .unwrap_or(commit.expected_history_length) as i64;
            if !commit.appended.is_empty() {
                let seqs: Vec<i64> = (0..commit.appended.len() as i64)
                    .map(|offset| base + offset)
                    .collect();
                let events = commit
                    .appended
                    .iter()
                    .map(to_json)
                    .collect::<Result<Vec<String>, _>>()?;
                execute(
                    tx,
                    "INSERT INTO history (instance_id, execution_id, seq, event)
                     SELECT $1, $2, seq, event FROM unnest($3::bigint[], $4::text[]) AS h (seq, event)",
                    &[&commit.instance_id, &commit.execution_id, &seqs, &events],
                )
                .await?;
            }
            let output = to_json(&commit.output)?;
            let completed_at = commit.status.is_terminal().then_some(now_ms);
            let length = base + commit.appended.len() as i64;
            execute(
                tx,
                "UPDATE instances SET status = $1, output = $2, custom_status = $3, updated_at = $4,
                     completed_at = COALESCE($5, completed_at), history_length = $6,
                     lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
                 WHERE instance_id = $7",
                &[
                    &commit.status.as_str(),
                    &output,
                    &custom_status,
                    &now_ms,
                    &completed_at,
                    &length,
                    &commit.instance_id,
                ],
            )
            .await?;
        }
        let mut leased = Vec::new();
        if !commit.activities.is_empty() {
            let task_ids: Vec<i64> = commit.activities.iter().map(|a| a.task_id).collect();
            let names: Vec<&str> = commit.activities.iter().map(|a| a.name.as_str()).collect();
            let inputs = commit
                .activities
                .iter()
                .map(|a| to_json(&a.input))
                .collect::<Result<Vec<String>, _>>()?;
            // With a lease, the new work is leased to the committing worker at once (the
            // in-process fast path); without, the activity dispatchers fetch it.
            let (lock_owner, lock_expires, leased_now) = match lease {
                Some(lease) => (Some(owner), Some(lease_expiry(now, lease)), 1_i32),
                None => (None, None, 0_i32),
            };
            let dequeued: Vec<i32> = commit
                .activities
                .iter()
                .map(|a| i32::try_from(a.earlier_hand_outs).unwrap_or(i32::MAX) + leased_now)
                .collect();
            let rows = query(
                tx,
                "INSERT INTO activities
                     (instance_id, execution_id, task_id, name, input, lock_owner, lock_expires, dequeue_count)
                 SELECT $1, $2, task_id, name, input, $6::text, $7::bigint, dequeued
                 FROM unnest($3::bigint[], $4::text[], $5::text[], $8::integer[])
                     WITH ORDINALITY AS a (task_id, name, input, dequeued, n)
                 ORDER BY n
                 RETURNING id",
                &[
                    &commit.instance_id,
                    &commit.execution_id,
                    &task_ids,
                    &names,
                    &inputs,
                    &lock_owner,
                    &lock_expires,
                    &dequeued,
                ],
            )
            .await?;
            if lease.is_some() {
                // Ids grow in insertion order, which is the order of the calls.
                let mut ids = rows
                    .iter()
                    .map(|row| row.try_get::<_, i64>(0).map_err(db_error))
                    .collect::<Result<Vec<i64>, _>>()?;
                ids.sort_unstable();
                if ids.len() != commit.activities.len() {
                    return Err(StoreError::Internal(format!(
                        "{} activities were scheduled, {} stored",
                        commit.activities.len(),
                        ids.len()
                    )));
                }
                leased = ids
                    .into_iter()
                    .zip(&commit.activities)
                    .map(|(id, activity)| ActivityWorkItem {
                        id,
                        instance_id: commit.instance_id.clone(),
                        execution_id: commit.execution_id.clone(),
                        task_id: activity.task_id,
                        name: activity.name.clone(),
                        input: activity.input.clone(),
                        dequeue_count: activity.earlier_hand_outs + 1,
                    })
                    .collect();
            }
        }
        let fired: Vec<HistoryEvent> = commit.timers.iter().map(timer_fired).collect();
        let timers: Vec<Outgoing<'_>> = commit
            .timers
            .iter()
            .zip(&fired)
            .map(|(timer, event)| Outgoing {
                instance_id: &commit.instance_id,
                execution_id: &commit.execution_id,
                event,
                visible_at: timer.fire_at,
            })
            .collect();
        insert_messages(tx, &timers).await?;
        for child in &commit.children {
            if !create(tx, child, now).await?
                && let Some(message) = child_conflict(child, now)
            {
                send(tx, &message, now).await?;
            }
        }
        for message in &commit.messages {
            send(tx, message, now).await?;
        }
        if is_removed_entity(commit) {
            execute(
                tx,
                "DELETE FROM instances WHERE instance_id = $1
                     AND NOT EXISTS (SELECT 1 FROM messages WHERE instance_id = $1)",
                &[&commit.instance_id],
            )
            .await?;
        }
        self.notify(tx, true, unleased_work).await?;
        Ok(leased)
    }
}

/// Whether `owner` still holds the lease on the turn's instance (same owner, unexpired,
/// same execution and history length); locks the instance's row until `tx` ends.
async fn holds_lease<C: GenericClient>(
    tx: &C,
    owner: &str,
    commit: &TurnCommit,
    now: i64,
) -> Result<bool, StoreError> {
    let row = query_opt(
        tx,
        "SELECT lock_owner, lock_expires, history_length, execution_id
         FROM instances WHERE instance_id = $1 FOR UPDATE",
        &[&commit.instance_id],
    )
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let lock_owner: Option<String> = row.try_get(0).map_err(db_error)?;
    let expires: Option<i64> = row.try_get(1).map_err(db_error)?;
    let length: i64 = row.try_get(2).map_err(db_error)?;
    let execution: String = row.try_get(3).map_err(db_error)?;
    Ok(lock_owner.as_deref() == Some(owner)
        && expires.is_some_and(|e| e > now)
        && length.max(0) as u64 == commit.expected_history_length
        && execution == commit.execution_id)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !create(&tx, &new, now).await? {
            return Err(StoreError::InstanceExists(new.instance_id));
        }
        self.notify(&tx, true, false).await?;
        tx.commit().await.map_err(db_error)?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn create_instance_with_turn(
        &self,
        owner: &str,
        new: NewInstance,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !insert_instance(&tx, &new).await? {
            return Err(StoreError::InstanceExists(new.instance_id));
        }
        // The new row is locked by this transaction: the turn commits as if leased.
        let leased = self.write_turn(&tx, owner, &turn, Some(lease), now).await?;
        tx.commit().await.map_err(db_error)?;
        self.turn_committed(false);
        Ok(leased)
    }

    async fn fetch_orchestration(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        Ok(self.fetch(owner, lease, true, 1).await?.pop())
    }

    async fn fetch_orchestration_lean(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        Ok(self.fetch(owner, lease, false, 1).await?.pop())
    }

    async fn fetch_orchestrations(
        &self,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        self.fetch(owner, lease, false, max).await
    }

    async fn commit_turn(&self, owner: &str, commit: TurnCommit) -> Result<(), StoreError> {
        self.commit(owner, commit, None).await?;
        Ok(())
    }

    async fn commit_turn_leasing(
        &self,
        owner: &str,
        commit: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        self.commit(owner, commit, Some(lease)).await
    }

    async fn abandon_orchestration(
        &self,
        owner: &str,
        instance_id: &str,
    ) -> Result<(), StoreError> {
        let payload = listen::payload(&self.origin, true, false);
        let client = self.client().await?;
        execute(
            &client,
            "WITH freed AS (
                 UPDATE instances SET lock_owner = NULL, lock_expires = NULL
                 WHERE instance_id = $1 AND lock_owner = $2 RETURNING 1)
             SELECT pg_notify($3, $4) FROM freed",
            &[&instance_id, &owner, &self.schema, &payload],
        )
        .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, StoreError> {
        Ok(self.fetch_activities(owner, lease, 1).await?.pop())
    }

    async fn fetch_activities(
        &self,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let client = self.client().await?;
        // ARRAY(): the picking runs once, never again for each row updated.
        let rows = query(
            &client,
            "UPDATE activities SET lock_owner = $1, lock_expires = $2, dequeue_count = dequeue_count + 1
             WHERE id = ANY(ARRAY(
                 SELECT id FROM activities
                 WHERE lock_owner IS NULL OR lock_expires <= $3
                 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED))
             RETURNING id, instance_id, execution_id, task_id, name, input, dequeue_count",
            &[&owner, &lease_expiry(now, lease), &millis(now), &limit],
        )
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                let input: String = row.try_get(5).map_err(db_error)?;
                let count: i32 = row.try_get(6).map_err(db_error)?;
                Ok(ActivityWorkItem {
                    id: row.try_get(0).map_err(db_error)?,
                    instance_id: row.try_get(1).map_err(db_error)?,
                    execution_id: row.try_get(2).map_err(db_error)?,
                    task_id: row.try_get(3).map_err(db_error)?,
                    name: row.try_get(4).map_err(db_error)?,
                    input: serde_json::from_str::<Value>(&input).map_err(json_error)?,
                    dequeue_count: u32::try_from(count).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_unstable_by_key(|item| item.id);
        Ok(items)
    }

    async fn renew_activity(
        &self,
        owner: &str,
        id: i64,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let client = self.client().await?;
        let renewed = execute(
            &client,
            "UPDATE activities SET lock_expires = $1
             WHERE id = $2 AND lock_owner = $3 AND lock_expires > $4",
            &[&lease_expiry(now, lease), &id, &owner, &millis(now)],
        )
        .await?;
        if renewed == 0 {
            return Err(StoreError::LeaseLost(format!("activity work item {id}")));
        }
        Ok(())
    }

    async fn complete_activity(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError> {
        let now = millis(self.clock.now());
        let event = to_json(&result)?;
        let payload = listen::payload(&self.origin, true, false);
        let client = self.client().await?;
        // One statement, so all or nothing: the item goes, its result comes, others hear.
        let delivered = execute(
            &client,
            "WITH done AS (
                 DELETE FROM activities WHERE id = $1 AND lock_owner = $2 AND lock_expires > $3
                 RETURNING instance_id, execution_id),
             queued AS (
                 INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
                 SELECT instance_id, execution_id, $4, $3, FALSE FROM done RETURNING id)
             SELECT pg_notify($5, $6) FROM queued",
            &[&item.id, &owner, &now, &event, &self.schema, &payload],
        )
        .await?;
        if delivered > 0 {
            self.signals.orchestrations.notify_one();
        }
        Ok(())
    }

    async fn complete_activity_leasing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let clock_now = self.clock.now();
        let now = millis(clock_now);
        let expires = lease_expiry(clock_now, lease);
        let event = to_json(&result)?;
        let payload = listen::payload(&self.origin, true, false);
        let client = self.client().await?;
        // One statement, so all or nothing: the item goes and its result comes while the
        // lease on it is ours; then the instance is leased to us when nobody holds it (SKIP
        // LOCKED: one another host is taking or committing right now is not free). Only a
        // result left for others wakes them.
        let row = query_opt(
            &client,
            concat!(
                "WITH done AS (
                     DELETE FROM activities WHERE id = $1 AND lock_owner = $2 AND lock_expires > $3
                     RETURNING instance_id, execution_id),
                 queued AS (
                     INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
                     SELECT instance_id, execution_id, $4, $3, FALSE FROM done
                     RETURNING instance_id),
                 leased AS (
                     UPDATE instances SET lock_owner = $2, lock_expires = $5,
                         dequeue_count = instances.dequeue_count + 1
                     WHERE instance_id = (
                         SELECT instance_id FROM instances
                         WHERE instance_id = (SELECT instance_id FROM queued)
                           AND (lock_owner IS NULL OR lock_expires <= $3) AND status <> 'Suspended'
                         FOR UPDATE SKIP LOCKED)
                     RETURNING ",
                instance_columns!(),
                ", dequeue_count)
                 SELECT l.*, CASE WHEN l.instance_id IS NULL THEN pg_notify($6, $7) END
                 FROM queued LEFT JOIN leased l ON TRUE"
            ),
            &[
                &item.id,
                &owner,
                &now,
                &event,
                &expires,
                &self.schema,
                &payload,
            ],
        )
        .await?;
        // No row: the lease on the item was lost and the result dropped.
        let Some(row) = row else {
            return Ok(None);
        };
        let taken: Option<String> = row.try_get(0).map_err(db_error)?;
        if taken.is_none() {
            self.signals.orchestrations.notify_one();
            return Ok(None);
        }
        // The statement committed: the result is among the instance's visible messages.
        Ok(leased_work_items(&client, &[row], now, false).await?.pop())
    }

    async fn complete_activity_with_turn(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Option<Vec<ActivityWorkItem>>, StoreError> {
        let now = self.clock.now();
        let now_ms = millis(now);
        let expected_length = i64::try_from(turn.expected_history_length).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // Both rows are taken with SKIP LOCKED, so this never waits for (nor deadlocks
        // with) a fetch, a commit or a completion holding either: a busy row declines.
        // The instance must be free and where the turn started; the call must still be
        // ours and this execution's. Its result is the turn's first event, not a message.
        let claimed = execute(
            &tx,
            "DELETE FROM activities
             WHERE id = (SELECT id FROM activities
                         WHERE id = $1 AND lock_owner = $2 AND lock_expires > $3
                           AND instance_id = $4 AND execution_id = $5
                         FOR UPDATE SKIP LOCKED)
               AND instance_id = (SELECT instance_id FROM instances
                                  WHERE instance_id = $4 AND execution_id = $5
                                    AND history_length = $6 AND status <> 'Suspended'
                                    AND (lock_owner IS NULL OR lock_expires <= $3)
                                  FOR UPDATE SKIP LOCKED)",
            &[
                &item.id,
                &owner,
                &now_ms,
                &turn.instance_id,
                &turn.execution_id,
                &expected_length,
            ],
        )
        .await?;
        if claimed == 0 {
            // Dropping the transaction rolls it back and releases what it locked.
            return Ok(None);
        }
        // The instance's row is locked by this transaction and was checked free above: the
        // turn commits as if leased to `owner`.
        let leased = self.write_turn(&tx, owner, &turn, Some(lease), now).await?;
        tx.commit().await.map_err(db_error)?;
        self.turn_committed(false);
        Ok(Some(leased))
    }

    async fn abandon_activity(&self, owner: &str, id: i64) -> Result<(), StoreError> {
        let payload = listen::payload(&self.origin, false, true);
        let client = self.client().await?;
        execute(
            &client,
            "WITH freed AS (
                 UPDATE activities SET lock_owner = NULL, lock_expires = NULL
                 WHERE id = $1 AND lock_owner = $2 RETURNING 1)
             SELECT pg_notify($3, $4) FROM freed",
            &[&id, &owner, &self.schema, &payload],
        )
        .await?;
        self.signals.activities.notify_one();
        Ok(())
    }

    /// Releases every lease in the hub, also those of hosts that are alive: only for a hub
    /// that one process uses alone (the host never calls it for PostgreSQL, where dead
    /// hosts' leases simply expire).
    async fn release_all_leases(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        execute(
            &tx,
            "UPDATE instances SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL",
            &[],
        )
        .await?;
        execute(
            &tx,
            "UPDATE activities SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL",
            &[],
        )
        .await?;
        self.notify(&tx, true, true).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event).await
    }

    async fn signal_entity(
        &self,
        instance_id: &str,
        name: &str,
        event: HistoryEvent,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        ensure_entity(&tx, instance_id, name, now).await?;
        insert_messages(
            &tx,
            &[Outgoing {
                instance_id,
                execution_id: "",
                event: &event,
                visible_at: now,
            }],
        )
        .await?;
        self.notify(&tx, true, false).await?;
        tx.commit().await.map_err(db_error)?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = millis(self.clock.now());
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT MIN(visible_at) FROM messages WHERE visible_at > $1",
            &[&now],
        )
        .await?;
        let due: Option<i64> = match rows.first() {
            Some(row) => row.try_get(0).map_err(db_error)?,
            None => None,
        };
        Ok(due.map(from_millis))
    }

    async fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let client = self.client().await?;
        query_opt(
            &client,
            concat!(
                "SELECT ",
                instance_columns!(),
                " FROM instances WHERE instance_id = $1"
            ),
            &[&instance_id],
        )
        .await?
        .map(|row| instance_from_row(&row))
        .transpose()
    }

    async fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT h.event FROM history h
             JOIN instances i ON i.instance_id = h.instance_id AND i.execution_id = h.execution_id
             WHERE h.instance_id = $1 ORDER BY h.seq",
            &[&instance_id],
        )
        .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get(0).map_err(db_error)?;
                serde_json::from_str(&text).map_err(json_error)
            })
            .collect()
    }

    fn signals(&self) -> &WorkSignals {
        &self.signals
    }

    async fn last_timer_tick(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT last_tick FROM timer_triggers WHERE name = $1",
            &[&name],
        )
        .await?;
        row.map(|row| row.try_get::<_, i64>(0).map(from_millis))
            .transpose()
            .map_err(db_error)
    }

    async fn claim_timer_tick(&self, name: &str, tick: DateTime<Utc>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        // Hosts claiming at once serialize on the row: exactly one moves it forward.
        let changed = execute(
            &client,
            "INSERT INTO timer_triggers (name, last_tick) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick
             WHERE timer_triggers.last_tick < excluded.last_tick",
            &[&name, &millis(tick)],
        )
        .await?;
        Ok(changed == 1)
    }
}

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
        if let Some(from) = request.created_from {
            let p = arg(&mut args, millis(from));
            sql.push_str(&format!(" AND created_at >= {p}"));
        }
        if let Some(to) = request.created_to {
            let p = arg(&mut args, millis(to));
            sql.push_str(&format!(" AND created_at <= {p}"));
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
        let page_size = request.page_size.max(1);
        let limit = arg(&mut args, page_size as i64 + 1);
        sql.push_str(&format!(" ORDER BY created_at, instance_id LIMIT {limit}"));
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect();
        let client = self.client().await?;
        let rows = client.query(&sql, &params).await.map_err(db_error)?;
        let mut instances = rows
            .iter()
            .map(instance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = instances.len() > page_size;
        instances.truncate(page_size);
        let next = more
            .then(|| instances.last())
            .flatten()
            .map(|last| PageCursor {
                created_at: last.created_at,
                instance_id: last.instance_id.clone(),
            });
        Ok(InstancePage { instances, next })
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
}

/// What the PostgreSQL tests share: the database they use and a fresh hub for each.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The database of the PostgreSQL tests, from `DURABLE_TEST_POSTGRES_URL`. Unset, the
    /// test is skipped with a note, except under `CI=true`, where it fails.
    pub(crate) fn database_url(test: &str) -> Option<String> {
        match std::env::var("DURABLE_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
                "{test}: DURABLE_TEST_POSTGRES_URL is not set, and with CI=true the PostgreSQL \
                 tests must run, not skip (.ci/run starts a throw-away cluster and sets it)"
            ),
            _ => {
                skipped(test);
                None
            }
        }
    }

    /// Says once per test binary, past the test harness's output capture, that the
    /// PostgreSQL tests are skipped.
    fn skipped(test: &str) {
        use std::io::Write;
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: the PostgreSQL tests ({test} and the others) are skipped: set \
                 DURABLE_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DATABASE to run them"
            );
        });
    }

    /// A hub name no other test uses, in this process or another.
    pub(crate) fn unique_hub(prefix: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!(
            "{prefix}_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            &random[..8]
        )
    }

    /// Drops a test hub's schema with everything in it.
    pub(crate) async fn drop_hub(url: &str, hub: &str) {
        let Ok(schema) = super::hub_schema(hub) else {
            return;
        };
        let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await
        else {
            return;
        };
        let driver = tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await;
        drop(client);
        let _ = driver.await;
    }
}

#[cfg(test)]
mod tests;
