//! The embedded store: one SQLite file per task hub, WAL, `synchronous=FULL`.
//!
//! All writes go through one writer thread that commits many jobs in one transaction
//! (group commit, [`writer`]); reads use their own connections on the blocking pool, never
//! a tokio worker thread. The modules follow the store's concerns: `rows` (reading and
//! writing rows), `fetch` (leasing work), `turn` (writing a turn), `management`.

mod fetch;
mod management;
mod migrate;
mod rows;
mod turn;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use self::rows::{create, deliver, ensure_entity, finish_activity, insert_message, load_history};
use self::turn::Written;
use self::writer::{Job, WriteJob, open_connection, sql_error, writer_loop};
use super::sql::{from_millis, lease_expiry, millis};
use super::{
    ActivityCompletion, ActivityFetch, ActivityWorkItem, EntityMessage, FetchOptions,
    InstanceRecord, NewInstance, OrchestrationWorkItem, Store, StoreError, TurnWrite, WorkSignals,
};
use crate::clock::Clock;
use crate::history::HistoryEvent;

/// Frees every lease in the file.
const RELEASE_ALL_LEASES: &str = "
    UPDATE instances SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL;
    UPDATE activities SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL;";

/// How the SQLite store is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; its folder is created when missing.
    pub path: PathBuf,
    /// Take the file for this process alone (a serving host): a second host on the same
    /// file is refused, and leases left by a dead process are released.
    pub exclusive: bool,
    /// How hard each commit waits for the disk.
    pub durability: Durability,
}

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: nothing acknowledged is lost, even on power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: a commit does not wait for the disk; the last commits before a
    /// power loss (not a process crash) may be lost. Faster.
    Normal,
}

/// The SQLite store.
pub struct SqliteStore {
    writer: mpsc::Sender<Box<dyn WriteJob>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    signals: WorkSignals,
    _exclusive: Option<File>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database and brings its schema up to date.
    pub fn open(options: SqliteOptions, clock: Arc<dyn Clock>) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let exclusive = if options.exclusive {
            let lock_path = options.path.with_extension("lock");
            let file = File::create(&lock_path).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", lock_path.display()))
            })?;
            file.try_lock().map_err(|_| {
                StoreError::Unavailable(format!(
                    "another host is already serving {}; stop it or choose another --data-dir or --hub",
                    options.path.display()
                ))
            })?;
            Some(file)
        } else {
            None
        };
        let mut conn = open_connection(&options.path, options.durability)?;
        migrate::run(&mut conn)?;
        if options.exclusive {
            // Leases in the file belong to a process that died: only one host uses it.
            conn.execute_batch(RELEASE_ALL_LEASES).map_err(sql_error)?;
        }
        let (writer, jobs) = mpsc::channel::<Box<dyn WriteJob>>();
        std::thread::Builder::new()
            .name("durable-sqlite-writer".into())
            .spawn(move || writer_loop(conn, jobs, options.durability))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            path: options.path,
            clock,
            signals: WorkSignals::default(),
            _exclusive: exclusive,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in the writer's next transaction and answers once it is durable.
    async fn write<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.write_job(work, true).await
    }

    /// Runs `work`, which only takes or gives back leases, in the writer's next
    /// transaction; a transaction of such jobs alone commits without waiting for the disk.
    async fn write_leases<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        self.write_job(work, false).await
    }

    async fn write_job<R, F>(&self, work: F, durable: bool) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Box::new(Job::new(work, durable, reply)))
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }

    /// Wakes the orchestration dispatchers when a written turn left them work; returns the
    /// activities it leased.
    fn signal_written(&self, written: Written) -> Vec<ActivityWorkItem> {
        if written.wakes_orchestrations {
            self.signals.orchestrations.notify_one();
        }
        written.leased
    }

    /// Queues a message for an instance that accepts it, or says why not.
    async fn deliver(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        let now = self.clock.now();
        let instance_id = instance_id.to_owned();
        self.write(move |conn| deliver(conn, &instance_id, &event, now))
            .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    /// Runs `work` on a reader connection, on the blocking pool.
    async fn read<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_connection(&path, Durability::Full)?,
            };
            let result = work(&conn);
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_instance(&self, new: NewInstance) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.write(move |conn| {
            let id = new.instance_id.clone();
            if create(conn, &new, now)? {
                Ok(())
            } else {
                Err(StoreError::InstanceExists(id))
            }
        })
        .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_orchestrations(
        &self,
        owner: &str,
        options: FetchOptions,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        self.write_leases(move |conn| fetch::lease_instances(conn, &owner, options, now))
            .await
    }

    async fn commit(
        &self,
        owner: &str,
        write: TurnWrite,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let unleased_work = write.lease_activities.is_none() && !write.turn.activities.is_empty();
        let finished = write
            .turn
            .status
            .is_terminal()
            .then(|| write.turn.instance_id.clone());
        let written = self
            .write(move |conn| turn::commit(conn, &owner, &write, now))
            .await?;
        if let Some(instance_id) = finished {
            self.signals.finished.finished(&instance_id);
        }
        if unleased_work {
            self.signals.activities.notify_one();
        }
        Ok(self.signal_written(written))
    }

    async fn abandon_orchestration(
        &self,
        owner: &str,
        instance_id: &str,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        let instance_id = instance_id.to_owned();
        self.write_leases(move |conn| {
            conn.execute(
                "UPDATE instances SET lock_owner = NULL, lock_expires = NULL
                 WHERE instance_id = ?1 AND lock_owner = ?2",
                params![instance_id, owner],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn fetch_activities(
        &self,
        owner: &str,
        fetch: ActivityFetch,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        self.write_leases(move |conn| fetch::lease_activities(conn, &owner, &fetch, now))
            .await
    }

    async fn renew_activity(
        &self,
        owner: &str,
        id: i64,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let renewed = self
            .write_leases(move |conn| {
                conn.execute(
                    "UPDATE activities SET lock_expires = ?1
                     WHERE id = ?2 AND lock_owner = ?3 AND lock_expires > ?4",
                    params![lease_expiry(now, lease), id, owner, millis(now)],
                )
                .map_err(sql_error)
            })
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
        let now = self.clock.now();
        let owner = owner.to_owned();
        let (delivered, taken) = self
            .write(move |conn| {
                let ActivityCompletion {
                    item,
                    result,
                    lease_instance,
                    versions,
                    names,
                } = completion;
                if !finish_activity(conn, &owner, &item, &result, now)? {
                    return Ok((false, None));
                }
                // Take the instance now when it is free, so its next turn needs no fetch.
                let free = |conn| {
                    let (versions, names) = (versions.as_ref(), names.as_ref());
                    fetch::instance_is_free(conn, &item.instance_id, versions, names, now)
                };
                let taken = match lease_instance {
                    Some(lease) if free(conn)? => {
                        fetch::lease_and_load(conn, &item.instance_id, &owner, lease, now, false)?
                    }
                    _ => None,
                };
                Ok((true, taken))
            })
            .await?;
        if delivered && taken.is_none() {
            self.signals.orchestrations.notify_one();
        }
        Ok(taken)
    }

    async fn abandon_activity(&self, owner: &str, id: i64) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.write_leases(move |conn| {
            conn.execute(
                "UPDATE activities SET lock_owner = NULL, lock_expires = NULL
                 WHERE id = ?1 AND lock_owner = ?2",
                params![id, owner],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await?;
        self.signals.activities.notify_one();
        Ok(())
    }

    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        self.deliver(instance_id, event).await
    }

    async fn signal_entity(&self, message: EntityMessage) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.write(move |conn| {
            ensure_entity(conn, &message.instance_id, &message.name, now)?;
            let visible_at = millis(message.deliver_at.unwrap_or(now));
            insert_message(conn, &message.instance_id, None, &message.event, visible_at)
        })
        .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = millis(self.clock.now());
        self.read(move |conn| {
            let due: Option<i64> = conn
                .prepare_cached("SELECT MIN(visible_at) FROM messages WHERE visible_at > ?1")
                .map_err(sql_error)?
                .query_row([now], |row| row.get(0))
                .map_err(sql_error)?;
            Ok(due.map(from_millis))
        })
        .await
    }

    async fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| rows::load_instance(conn, &instance_id))
            .await
    }

    async fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| {
            let execution: Option<String> = conn
                .query_row(
                    "SELECT execution_id FROM instances WHERE instance_id = ?1",
                    [&instance_id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            match execution {
                Some(execution_id) => load_history(conn, &instance_id, &execution_id),
                None => Ok(Vec::new()),
            }
        })
        .await
    }

    fn signals(&self) -> &WorkSignals {
        &self.signals
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        let now = millis(self.clock.now());
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO health_probe (id, checked_at, payload) VALUES (1, ?1, zeroblob(16384))
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at,
                     payload = excluded.payload",
            )
            .map_err(sql_error)?
            .execute([now])
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn last_timer_tick(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let name = name.to_owned();
        self.read(move |conn| {
            let tick: Option<i64> = conn
                .prepare_cached("SELECT last_tick FROM timer_triggers WHERE name = ?1")
                .map_err(sql_error)?
                .query_row([&name], |row| row.get(0))
                .optional()
                .map_err(sql_error)?;
            Ok(tick.map(from_millis))
        })
        .await
    }

    async fn claim_timer_tick(&self, name: &str, tick: DateTime<Utc>) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |conn| {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO timer_triggers (name, last_tick) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick
                     WHERE timer_triggers.last_tick < excluded.last_tick",
                )
                .map_err(sql_error)?
                .execute(params![name, millis(tick)])
                .map_err(sql_error)?;
            Ok(changed == 1)
        })
        .await
    }
}
