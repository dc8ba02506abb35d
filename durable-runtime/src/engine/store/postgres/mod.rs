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

mod clock;
mod connection;
mod fetch;
mod listen;
mod management;
mod migrate;
mod rows;
mod turn;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub(crate) use self::connection::db_error;
use self::connection::{connection_config, execute, pool_error, query, query_opt};
use self::rows::{
    Outgoing, create, ensure_entity, events_from_rows, insert_messages, instance_columns,
    instance_from_row, leased_work_items, status_of,
};
use super::rules::refusal;
use super::sql::{from_millis, key_bounds, lease_expiry, millis, to_json};
use super::{
    ActivityCompletion, ActivityFetch, ActivityWorkItem, EntityMessage, FetchOptions,
    InstanceRecord, NewInstance, OrchestrationWorkItem, Store, StoreError, TurnWrite, WorkSignals,
};
use crate::clock::Clock;
use crate::history::HistoryEvent;

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
    /// Whose clock leases, visibility and timers follow.
    pub clock: ClockSource,
}

/// Whose clock a PostgreSQL store follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClockSource {
    /// The database server's (the default): every host of a hub agrees on the time, so a
    /// host whose clock is off fires no timer early and takes no lease early.
    #[default]
    Database,
    /// The clock given to [`PostgresStore::open`] as it is (tests with a manual clock).
    Given,
}

impl PostgresOptions {
    /// Options for `hub` in the database at `url`, with a pool of 16 connections.
    pub fn new(url: impl Into<String>, hub: impl Into<String>) -> PostgresOptions {
        PostgresOptions {
            url: url.into(),
            hub: hub.into(),
            max_connections: 16,
            clock: ClockSource::Database,
        }
    }
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("url", &redact_url(&self.url))
            .field("hub", &self.hub)
            .field("max_connections", &self.max_connections)
            .field("clock", &self.clock)
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
/// lease was lost is rejected with [`StoreError::LeaseLost`]. Lease expiry and timers
/// follow the database server's clock (see [`ClockSource`]). Writes that give other hosts
/// work `NOTIFY` the hub's channel, and a background connection `LISTEN`s and raises this
/// store's [`WorkSignals`]. A lost or unreachable server gives [`StoreError::Unavailable`].
///
/// ```no_run
/// # async fn open() -> Result<(), durable_runtime::engine::store::StoreError> {
/// use std::sync::Arc;
/// use durable_runtime::clock::SystemClock;
/// use durable_runtime::engine::store::{PostgresOptions, PostgresStore};
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

impl PostgresStore {
    /// Connects, creates the hub's schema when missing, brings it up to date (one host at a
    /// time), and starts listening for other hosts' notifications.
    pub async fn open(
        options: PostgresOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<PostgresStore, StoreError> {
        let schema = hub_schema(&options.hub)?;
        let config = connection_config(&options.url, &schema)?;
        let database_clock = (options.clock == ClockSource::Database)
            .then(|| clock::DatabaseClock::new(clock.clone()));
        {
            let (mut client, connection) = config.connect(NoTls).await.map_err(|e| {
                let error = db_error(e);
                StoreError::Unavailable(format!(
                    "cannot connect to {}: {error}",
                    redact_url(&options.url)
                ))
            })?;
            let driver = tokio::spawn(connection);
            let mut migrated = migrate::run(&mut client, &schema).await;
            if let (Ok(()), Some(database_clock)) = (&migrated, &database_clock) {
                migrated = database_clock.measure(&client).await;
            }
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
        let clock: Arc<dyn Clock> = match database_clock {
            Some(database_clock) => {
                clock::DatabaseClock::keep_in_step(&database_clock, pool.clone());
                database_clock
            }
            None => clock,
        };
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

    /// The clock the store follows (see [`ClockSource`]): give it to the worker and the
    /// client of the same host, so orchestration time and timers follow it too.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
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

    /// Queues `event` for whichever execution of `instance_id` is current, visible from
    /// `visible_at`, tells the other hosts, and commits `tx`.
    async fn queue_and_commit(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        instance_id: &str,
        event: &HistoryEvent,
        visible_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        insert_messages(
            &tx,
            &[Outgoing {
                instance_id,
                execution_id: None,
                event,
                visible_at,
            }],
        )
        .await?;
        self.notify(&tx, true, false).await?;
        tx.commit().await.map_err(db_error)?;
        self.signals.orchestrations.notify_one();
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
        self.queue_and_commit(tx, instance_id, &event, now).await
    }

    /// Completes an activity call and queues its result, waking the hosts.
    async fn queue_result(
        &self,
        owner: &str,
        completion: &ActivityCompletion,
    ) -> Result<(), StoreError> {
        let now = millis(self.clock.now());
        let event = to_json(&completion.result)?;
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
            &[
                &completion.item.id,
                &owner,
                &now,
                &event,
                &self.schema,
                &payload,
            ],
        )
        .await?;
        if delivered > 0 {
            self.signals.orchestrations.notify_one();
        }
        Ok(())
    }

    /// Completes an activity call, queues its result and leases the instance to `owner`
    /// when it is free.
    async fn queue_result_taking_instance(
        &self,
        owner: &str,
        completion: &ActivityCompletion,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let clock_now = self.clock.now();
        let now = millis(clock_now);
        let expires = lease_expiry(clock_now, lease);
        let event = to_json(&completion.result)?;
        let payload = listen::payload(&self.origin, true, false);
        let (oldest, newest) = key_bounds(completion.versions.as_ref());
        let names: Option<Vec<String>> = completion.names.as_ref().map(|n| n.names().to_vec());
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
                           AND ($8::text IS NULL OR version_key IS NULL OR version_key BETWEEN $8 AND $9)
                           AND ($10::text[] IS NULL OR left(instance_id, 1) = '@' OR name = ANY($10))
                         FOR UPDATE SKIP LOCKED)
                     RETURNING ",
                instance_columns!(),
                ", dequeue_count)
                 SELECT l.*, CASE WHEN l.instance_id IS NULL THEN pg_notify($6, $7) END
                 FROM queued LEFT JOIN leased l ON TRUE"
            ),
            &[
                &completion.item.id,
                &owner,
                &now,
                &event,
                &expires,
                &self.schema,
                &payload,
                &oldest,
                &newest,
                &names,
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

    /// Raises this host's signals after a turn committed.
    fn turn_committed(&self, unleased_work: bool) {
        if unleased_work {
            self.signals.activities.notify_one();
        }
        // Messages that arrived during the turn can be taken now that the lease is free.
        self.signals.orchestrations.notify_one();
    }
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

    async fn fetch_orchestrations(
        &self,
        owner: &str,
        options: FetchOptions,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let client = self.client().await?;
        fetch::lease_instances(&client, owner, options, self.clock.now()).await
    }

    async fn commit(
        &self,
        owner: &str,
        write: TurnWrite,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        // Work leased to this worker is nobody else's: no one needs waking for it.
        let unleased_work = write.lease_activities.is_none() && !write.turn.activities.is_empty();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // On an error, dropping the transaction rolls it back and releases what it locked.
        let leased = turn::commit(&tx, owner, &write, now).await?;
        self.notify(&tx, true, unleased_work).await?;
        let finished = write.turn.status.is_terminal();
        if finished {
            // Waiters on other hosts learn of it; this host's are woken below.
            let payload = listen::finished_payload(&self.origin, &write.turn.instance_id);
            execute(&tx, "SELECT pg_notify($1, $2)", &[&self.schema, &payload]).await?;
        }
        crate::engine::failpoints::point("postgres.commit.uncommitted").await?;
        tx.commit().await.map_err(db_error)?;
        self.turn_committed(unleased_work);
        if finished {
            self.signals.finished.finished(&write.turn.instance_id);
        }
        Ok(leased)
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

    async fn fetch_activities(
        &self,
        owner: &str,
        fetch: ActivityFetch,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let client = self.client().await?;
        fetch::lease_activities(&client, owner, &fetch, self.clock.now()).await
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
        completion: ActivityCompletion,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        match completion.lease_instance {
            None => self.queue_result(owner, &completion).await.map(|()| None),
            Some(lease) => {
                self.queue_result_taking_instance(owner, &completion, lease)
                    .await
            }
        }
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

    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event).await
    }

    async fn signal_entity(&self, message: EntityMessage) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        ensure_entity(&tx, &message.instance_id, &message.name, now).await?;
        let visible_at = message.deliver_at.unwrap_or(now);
        self.queue_and_commit(tx, &message.instance_id, &message.event, visible_at)
            .await
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
        events_from_rows(&rows)
    }

    fn signals(&self) -> &WorkSignals {
        &self.signals
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        let now = millis(self.clock.now());
        let client = self.client().await?;
        execute(
            &client,
            "INSERT INTO health_probe (host, checked_at, payload) VALUES ('probe', $1, decode(repeat('00', 16384), 'hex'))
             ON CONFLICT (host) DO UPDATE SET checked_at = excluded.checked_at, payload = excluded.payload",
            &[&now],
        )
        .await?;
        Ok(())
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
