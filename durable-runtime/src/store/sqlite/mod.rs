//! The embedded store: one SQLite file per task hub, WAL, `synchronous=FULL`.
//!
//! All writes go through one writer thread that takes every job waiting in its queue and
//! commits them in one transaction (group commit): many turns share one fsync, and nobody
//! is answered before the transaction holding their change is durable. Each job runs in a
//! savepoint, so one failing job does not undo the others. Reads use their own connections
//! on the blocking pool, never a tokio worker thread.

mod migrate;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::{
    ActivityWorkItem, InstancePage, InstanceQuery, InstanceRecord, ManagementStore, NewInstance,
    OrchestrationWorkItem, OutboundMessage, PageCursor, PurgeFilter, QueuedMessage, ReplacePolicy,
    Store, StoreError, TurnCommit, WorkSignals, accepts, child_conflict, entity_name,
    execution_started, is_removed_entity, refusal, timer_fired,
};
use crate::clock::Clock;
use crate::history::HistoryEvent;
use crate::status::RuntimeStatus;

/// Frees every lease in the file.
const RELEASE_ALL_LEASES: &str = "
    UPDATE instances SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL;
    UPDATE activities SET lock_owner = NULL, lock_expires = NULL WHERE lock_owner IS NOT NULL;";

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

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

trait WriteJob: Send {
    /// Runs the job inside the open transaction; false when it failed and must be undone.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether the job's change must survive a power loss before it is answered. Leases
    /// need not: a lost lease only lets the work be taken again, and a power loss stops
    /// every worker anyway.
    fn durable(&self) -> bool;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Job<R, F> {
    work: Option<F>,
    durable: bool,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> WriteJob for Job<R, F>
where
    R: Send,
    F: FnOnce(&Connection) -> Result<R, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Internal("write job did not run".into())),
        };
        // The caller may have stopped waiting; the change is committed either way.
        let _ = self.reply.send(answer);
    }
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(code, _)
            if matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("stored JSON is invalid: {e}"))
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

fn open_connection(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_error)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    ))
    .map_err(sql_error)?;
    Ok(conn)
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
        let job = Job {
            work: Some(work),
            durable,
            result: None,
            reply,
        };
        self.writer
            .send(Box::new(job))
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }

    /// Leases up to `max` instances with work, in one transaction.
    async fn fetch(
        &self,
        owner: &str,
        lease: Duration,
        with_history: bool,
        max: usize,
    ) -> Result<Vec<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        self.write_leases(move |conn| {
            let mut items = Vec::new();
            while items.len() < max {
                match lease_next_instance(conn, &owner, lease, now, with_history)? {
                    Some(item) => items.push(item),
                    None => break,
                }
            }
            Ok(items)
        })
        .await
    }

    async fn commit_turn_leasing_to(
        &self,
        owner: &str,
        turn: TurnCommit,
        lease: Option<Duration>,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let unleased_work = lease.is_none() && !turn.activities.is_empty();
        let written = self
            .write(move |conn| commit(conn, &owner, &turn, now, lease))
            .await?;
        if unleased_work {
            self.signals.activities.notify_one();
        }
        Ok(self.signal_written(written))
    }

    /// Wakes the orchestration dispatchers when a written turn left them work; returns the
    /// activities it leased.
    fn signal_written(&self, written: Written) -> Vec<ActivityWorkItem> {
        if written.wakes_orchestrations {
            self.signals.orchestrations.notify_one();
        }
        written.leased
    }

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

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Box<dyn WriteJob>>, durability: Durability) {
    let synchronous = match durability {
        Durability::Full => "PRAGMA synchronous = FULL",
        Durability::Normal => "PRAGMA synchronous = NORMAL",
    };
    let mut syncing = true;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A batch of lease changes alone skips the disk flush; the next durable commit
        // flushes it along.
        let durable = batch.iter().any(|job| job.durable());
        let switched = if durable == syncing {
            Ok(())
        } else {
            let pragma = if durable {
                synchronous
            } else {
                "PRAGMA synchronous = OFF"
            };
            conn.execute_batch(pragma)
                .map(|()| syncing = durable)
                .map_err(sql_error)
        };
        let committed = switched.and_then(|()| commit_batch(&conn, &mut batch));
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)?;
    for job in batch.iter_mut() {
        conn.execute_batch("SAVEPOINT job").map_err(sql_error)?;
        if job.run(conn) {
            conn.execute_batch("RELEASE job").map_err(sql_error)?;
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
                .map_err(sql_error)?;
        }
    }
    conn.execute_batch("COMMIT").map_err(sql_error)
}

const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, status, input, output, \
     custom_status, created_at, updated_at, history_length, parent";

fn instance_from_row(row: &Row<'_>) -> rusqlite::Result<Result<InstanceRecord, StoreError>> {
    let status: String = row.get(3)?;
    let input: String = row.get(4)?;
    let output: String = row.get(5)?;
    let custom_status: String = row.get(6)?;
    let parent: Option<String> = row.get(10)?;
    let record = (|| {
        Ok(InstanceRecord {
            instance_id: row.get(0).map_err(sql_error)?,
            name: row.get(1).map_err(sql_error)?,
            execution_id: row.get(2).map_err(sql_error)?,
            status: status.parse().map_err(StoreError::Internal)?,
            input: serde_json::from_str(&input).map_err(json_error)?,
            output: serde_json::from_str(&output).map_err(json_error)?,
            custom_status: serde_json::from_str(&custom_status).map_err(json_error)?,
            created_at: from_millis(row.get(7).map_err(sql_error)?),
            updated_at: from_millis(row.get(8).map_err(sql_error)?),
            history_length: row.get::<_, i64>(9).map_err(sql_error)?.max(0) as u64,
            parent: parent
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(json_error)?,
        })
    })();
    Ok(record)
}

fn load_instance(
    conn: &Connection,
    instance_id: &str,
) -> Result<Option<InstanceRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1"
    ))
    .map_err(sql_error)?
    .query_row([instance_id], instance_from_row)
    .optional()
    .map_err(sql_error)?
    .transpose()
}

fn load_history(
    conn: &Connection,
    instance_id: &str,
    execution_id: &str,
) -> Result<Vec<HistoryEvent>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT event FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY seq",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map([instance_id, execution_id], |row| row.get::<_, String>(0))
        .map_err(sql_error)?;
    rows.map(|text| serde_json::from_str(&text.map_err(sql_error)?).map_err(json_error))
        .collect()
}

fn insert_message(
    conn: &Connection,
    instance_id: &str,
    execution_id: &str,
    event: &HistoryEvent,
    visible_at: i64,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(event).map_err(json_error)?;
    conn.prepare_cached(
        "INSERT INTO messages (instance_id, execution_id, event, visible_at, control)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql_error)?
    .execute(params![
        instance_id,
        execution_id,
        text,
        visible_at,
        event.kind.is_control()
    ])
    .map_err(sql_error)?;
    Ok(())
}

/// Creates or replaces an instance and queues its `ExecutionStarted`; false when a
/// running one holds the id.
fn create(conn: &Connection, new: &NewInstance, now: DateTime<Utc>) -> Result<bool, StoreError> {
    if !insert_instance(conn, new)? {
        return Ok(false);
    }
    insert_message(
        conn,
        &new.instance_id,
        &new.execution_id,
        &execution_started(new),
        millis(new.scheduled_start.unwrap_or(now)),
    )?;
    Ok(true)
}

/// Writes a new instance's row (Pending, no history), replacing a finished instance with
/// the same id; false when a running one holds the id.
fn insert_instance(conn: &Connection, new: &NewInstance) -> Result<bool, StoreError> {
    let existing: Option<String> = conn
        .prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .query_row([&new.instance_id], |row| row.get(0))
        .optional()
        .map_err(sql_error)?;
    if let Some(status) = existing {
        let status: RuntimeStatus = status.parse().map_err(StoreError::Internal)?;
        if !status.is_terminal() && new.replace == ReplacePolicy::NonRunning {
            return Ok(false);
        }
        remove_instance(conn, &new.instance_id)?;
    }
    let input = serde_json::to_string(&new.input).map_err(json_error)?;
    let parent = new
        .parent
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(json_error)?;
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at, parent)
         VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, ?5, ?6)",
    )
    .map_err(sql_error)?
    .execute(params![
        new.instance_id,
        new.name,
        new.execution_id,
        input,
        millis(new.created_at),
        parent
    ])
    .map_err(sql_error)?;
    Ok(true)
}

/// Removes an instance with its history, messages and work; true when it existed.
fn remove_instance(conn: &Connection, instance_id: &str) -> Result<bool, StoreError> {
    for table in ["history", "messages", "activities"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))
            .map_err(sql_error)?
            .execute([instance_id])
            .map_err(sql_error)?;
    }
    let removed = conn
        .prepare_cached("DELETE FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .execute([instance_id])
        .map_err(sql_error)?;
    Ok(removed > 0)
}

/// Queues a message for an instance that accepts it, or says why not.
fn deliver(
    conn: &Connection,
    instance_id: &str,
    event: &HistoryEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(status) = status_of(conn, instance_id)? else {
        return Err(StoreError::NotFound(instance_id.to_owned()));
    };
    refusal(instance_id, status, event)?;
    insert_message(conn, instance_id, "", event, millis(now))
}

/// The status of an instance, or `None` when it does not exist.
fn status_of(conn: &Connection, instance_id: &str) -> Result<Option<RuntimeStatus>, StoreError> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM instances WHERE instance_id = ?1")
        .map_err(sql_error)?
        .query_row([instance_id], |row| row.get(0))
        .optional()
        .map_err(sql_error)?;
    status
        .map(|s| s.parse().map_err(StoreError::Internal))
        .transpose()
}

/// Creates an entity's row (Pending, no state) unless it exists.
fn ensure_entity(
    conn: &Connection,
    instance_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, status, input, created_at, updated_at)
         VALUES (?1, ?2, '', 'Pending', 'null', ?3, ?3)
         ON CONFLICT (instance_id) DO NOTHING",
    )
    .map_err(sql_error)?
    .execute(params![instance_id, name, millis(now)])
    .map_err(sql_error)?;
    Ok(())
}

/// Delivers a message to an instance that accepts it; drops it otherwise. An entity
/// operation creates a missing entity.
fn send(
    conn: &Connection,
    message: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if message.event.kind.is_entity_operation()
        && let Some(name) = entity_name(&message.instance_id)
    {
        ensure_entity(conn, &message.instance_id, name, now)?;
    }
    match status_of(conn, &message.instance_id)? {
        Some(status) if accepts(status, &message.event) => insert_message(
            conn,
            &message.instance_id,
            message.execution_id.as_deref().unwrap_or_default(),
            &message.event,
            millis(now),
        ),
        _ => Ok(()),
    }
}

/// Commits a turn (see [`Store::commit_turn`]); with `lease`, its activities are leased to
/// `owner` and returned.
fn commit(
    conn: &Connection,
    owner: &str,
    commit: &TurnCommit,
    now: DateTime<Utc>,
    lease: Option<Duration>,
) -> Result<Written, StoreError> {
    let row: Option<(Option<String>, Option<i64>, i64, String)> = conn
        .prepare_cached(
            "SELECT lock_owner, lock_expires, history_length, execution_id
             FROM instances WHERE instance_id = ?1",
        )
        .map_err(sql_error)?
        .query_row([&commit.instance_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()
        .map_err(sql_error)?;
    let held = row.is_some_and(|(lock_owner, expires, length, execution)| {
        lock_owner.as_deref() == Some(owner)
            && expires.is_some_and(|e| e > millis(now))
            && length.max(0) as u64 == commit.expected_history_length
            && execution == commit.execution_id
    });
    if !held {
        return Err(StoreError::LeaseLost(commit.instance_id.clone()));
    }
    write_turn(conn, owner, commit, now, lease)
}

/// What writing a turn leaves to do once it is committed.
struct Written {
    /// The activities leased to the committing worker.
    leased: Vec<ActivityWorkItem>,
    /// Whether orchestration dispatchers have work from it: the turn queued some, or
    /// messages arrived for the instance while it was leased.
    wakes_orchestrations: bool,
}

/// Writes a turn whose instance row may take it (leased to `owner`, or just created):
/// appends the history, updates and frees the instance, queues the new work and messages.
/// With `lease`, its activities are leased to `owner`.
fn write_turn(
    conn: &Connection,
    owner: &str,
    commit: &TurnCommit,
    now: DateTime<Utc>,
    lease: Option<Duration>,
) -> Result<Written, StoreError> {
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE id = ?1")
        .map_err(sql_error)?;
    for id in &commit.consumed {
        delete.execute([id]).map_err(sql_error)?;
    }
    let custom_status = serde_json::to_string(&commit.custom_status).map_err(json_error)?;
    if let Some(next) = &commit.continue_as_new {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")
            .map_err(sql_error)?
            .execute([&commit.instance_id])
            .map_err(sql_error)?;
        let input = serde_json::to_string(&next.input).map_err(json_error)?;
        conn.prepare_cached(
            "UPDATE instances SET status = 'ContinuedAsNew', execution_id = ?1, input = ?2,
                 output = 'null', custom_status = ?3, updated_at = ?4, history_length = 0,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = ?5",
        )
        .map_err(sql_error)?
        .execute(params![
            next.execution_id,
            input,
            custom_status,
            millis(now),
            commit.instance_id
        ])
        .map_err(sql_error)?;
        let instance = load_instance(conn, &commit.instance_id)?
            .ok_or_else(|| StoreError::LeaseLost(commit.instance_id.clone()))?;
        let started = execution_started(&NewInstance {
            instance_id: instance.instance_id,
            name: instance.name,
            execution_id: next.execution_id.clone(),
            input: next.input.clone(),
            created_at: now,
            parent: instance.parent,
            scheduled_start: None,
            replace: ReplacePolicy::Any,
        });
        insert_message(
            conn,
            &commit.instance_id,
            &next.execution_id,
            &started,
            millis(now),
        )?;
        for event in &next.carried_events {
            insert_message(conn, &commit.instance_id, "", event, millis(now))?;
        }
    } else {
        if let Some(length) = commit.truncate_history_to {
            conn.prepare_cached(
                "DELETE FROM history WHERE instance_id = ?1 AND execution_id = ?2 AND seq >= ?3",
            )
            .map_err(sql_error)?
            .execute(params![
                commit.instance_id,
                commit.execution_id,
                length as i64
            ])
            .map_err(sql_error)?;
        }
        let base = commit
            .truncate_history_to
            .unwrap_or(commit.expected_history_length) as i64;
        let mut append = conn
            .prepare_cached(
                "INSERT INTO history (instance_id, execution_id, seq, event) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sql_error)?;
        for (offset, event) in commit.appended.iter().enumerate() {
            let text = serde_json::to_string(event).map_err(json_error)?;
            let seq = base + offset as i64;
            append
                .execute(params![commit.instance_id, commit.execution_id, seq, text])
                .map_err(sql_error)?;
        }
        let output = serde_json::to_string(&commit.output).map_err(json_error)?;
        let completed_at = commit.status.is_terminal().then_some(millis(now));
        conn.prepare_cached(
            "UPDATE instances SET status = ?1, output = ?2, custom_status = ?3, updated_at = ?4,
                 completed_at = COALESCE(?5, completed_at), history_length = ?6,
                 lock_owner = NULL, lock_expires = NULL, dequeue_count = 0
             WHERE instance_id = ?7",
        )
        .map_err(sql_error)?
        .execute(params![
            commit.status.as_str(),
            output,
            custom_status,
            millis(now),
            completed_at,
            base + commit.appended.len() as i64,
            commit.instance_id
        ])
        .map_err(sql_error)?;
    }
    // With a lease, the new work is leased to the committing worker at once (the
    // in-process fast path); without, the activity dispatchers fetch it.
    let (lock_owner, lock_expires, leased_now) = match lease {
        Some(lease) => (Some(owner), Some(lease_expiry(now, lease)), 1),
        None => (None, None, 0),
    };
    let mut schedule = conn
        .prepare_cached(
            "INSERT INTO activities
                 (instance_id, execution_id, task_id, name, input, lock_owner, lock_expires, dequeue_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .map_err(sql_error)?;
    let mut leased = Vec::new();
    for activity in &commit.activities {
        let input = serde_json::to_string(&activity.input).map_err(json_error)?;
        let id: i64 = schedule
            .query_row(
                params![
                    commit.instance_id,
                    commit.execution_id,
                    activity.task_id,
                    activity.name,
                    input,
                    lock_owner,
                    lock_expires,
                    activity.earlier_hand_outs + leased_now
                ],
                |row| row.get(0),
            )
            .map_err(sql_error)?;
        if lease.is_some() {
            leased.push(ActivityWorkItem {
                id,
                instance_id: commit.instance_id.clone(),
                execution_id: commit.execution_id.clone(),
                task_id: activity.task_id,
                name: activity.name.clone(),
                input: activity.input.clone(),
                dequeue_count: activity.earlier_hand_outs + 1,
            });
        }
    }
    for timer in &commit.timers {
        insert_message(
            conn,
            &commit.instance_id,
            &commit.execution_id,
            &timer_fired(timer),
            millis(timer.fire_at),
        )?;
    }
    for child in &commit.children {
        if !create(conn, child, now)?
            && let Some(message) = child_conflict(child, now)
        {
            send(conn, &message, now)?;
        }
    }
    for message in &commit.messages {
        send(conn, message, now)?;
    }
    if is_removed_entity(commit) {
        conn.prepare_cached(
            "DELETE FROM instances WHERE instance_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM messages WHERE instance_id = ?1)",
        )
        .map_err(sql_error)?
        .execute([&commit.instance_id])
        .map_err(sql_error)?;
    }
    Ok(Written {
        leased,
        wakes_orchestrations: queues_orchestration_work(commit)
            || has_messages(conn, &commit.instance_id)?,
    })
}

/// Whether a commit queues work for orchestration dispatchers: messages, new instances,
/// timers (an idle dispatcher sleeps until the next one), a new execution.
fn queues_orchestration_work(turn: &TurnCommit) -> bool {
    !turn.messages.is_empty()
        || !turn.children.is_empty()
        || !turn.timers.is_empty()
        || turn.continue_as_new.is_some()
}

/// Whether messages wait for an instance (arrived while it was leased, or timers).
fn has_messages(conn: &Connection, instance_id: &str) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM messages WHERE instance_id = ?1 LIMIT 1")
        .map_err(sql_error)?
        .exists([instance_id])
        .map_err(sql_error)
}

/// Removes a finished activity still leased to `owner` and queues its result; false when
/// the lease is gone (another worker owns the call now).
fn finish_activity(
    conn: &Connection,
    owner: &str,
    item: &ActivityWorkItem,
    result: &HistoryEvent,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM activities WHERE id = ?1 AND lock_owner = ?2 AND lock_expires > ?3",
        )
        .map_err(sql_error)?
        .execute(params![item.id, owner, millis(now)])
        .map_err(sql_error)?;
    if removed == 0 {
        return Ok(false);
    }
    insert_message(
        conn,
        &item.instance_id,
        &item.execution_id,
        result,
        millis(now),
    )?;
    Ok(true)
}

/// Leases the instance of the oldest message that can be taken, if any.
fn lease_next_instance(
    conn: &Connection,
    owner: &str,
    lease: Duration,
    now: DateTime<Utc>,
    with_history: bool,
) -> Result<Option<OrchestrationWorkItem>, StoreError> {
    let candidate: Option<String> = conn
        .prepare_cached(
            // Walk messages oldest first and stop at the first one that can be taken:
            // `+m.visible_at` keeps SQLite from using the visibility index, which would
            // make it read and sort the whole backlog for one row.
            "SELECT m.instance_id FROM messages m JOIN instances i ON i.instance_id = m.instance_id
                     WHERE +m.visible_at <= ?1 AND (i.lock_owner IS NULL OR i.lock_expires <= ?1)
                       AND (i.status <> 'Suspended' OR m.control = 1)
                     ORDER BY m.id LIMIT 1",
        )
        .map_err(sql_error)?
        .query_row([millis(now)], |row| row.get(0))
        .optional()
        .map_err(sql_error)?;
    match candidate {
        Some(instance_id) => lease_and_load(conn, &instance_id, owner, lease, now, with_history),
        None => Ok(None),
    }
}

/// Leases an instance to `owner` and loads its row, visible messages and (when asked) the
/// current execution's history.
fn lease_and_load(
    conn: &Connection,
    instance_id: &str,
    owner: &str,
    lease: Duration,
    now: DateTime<Utc>,
    with_history: bool,
) -> Result<Option<OrchestrationWorkItem>, StoreError> {
    let dequeue_count: i64 = conn
        .prepare_cached(
            "UPDATE instances SET lock_owner = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
             WHERE instance_id = ?3 RETURNING dequeue_count",
        )
        .map_err(sql_error)?
        .query_row(params![owner, lease_expiry(now, lease), instance_id], |row| row.get(0))
        .map_err(sql_error)?;
    let Some(instance) = load_instance(conn, instance_id)? else {
        return Ok(None);
    };
    let history = if with_history {
        load_history(conn, instance_id, &instance.execution_id)?
    } else {
        Vec::new()
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, execution_id, event FROM messages
             WHERE instance_id = ?1 AND visible_at <= ?2 ORDER BY id",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![instance_id, millis(now)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(sql_error)?;
    let mut messages = Vec::new();
    for row in rows {
        let (id, execution_id, event) = row.map_err(sql_error)?;
        messages.push(QueuedMessage {
            id,
            execution_id,
            event: serde_json::from_str(&event).map_err(json_error)?,
        });
    }
    Ok(Some(OrchestrationWorkItem {
        instance,
        history,
        messages,
        dequeue_count: u32::try_from(dequeue_count).unwrap_or(u32::MAX),
    }))
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

    async fn commit_turn_leasing(
        &self,
        owner: &str,
        commit: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        self.commit_turn_leasing_to(owner, commit, Some(lease))
            .await
    }

    async fn complete_activity_leasing(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        result: HistoryEvent,
        lease: Duration,
    ) -> Result<Option<OrchestrationWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let item = item.clone();
        let (delivered, work) = self
            .write(move |conn| {
                if !finish_activity(conn, &owner, &item, &result, now)? {
                    return Ok((false, None));
                }
                // Take the instance now when it is free, so its next turn needs no fetch.
                let free = conn
                    .prepare_cached(
                        "SELECT 1 FROM instances WHERE instance_id = ?1
                           AND (lock_owner IS NULL OR lock_expires <= ?2) AND status <> 'Suspended'",
                    )
                    .map_err(sql_error)?
                    .exists(params![item.instance_id, millis(now)])
                    .map_err(sql_error)?;
                let work = if free {
                    lease_and_load(conn, &item.instance_id, &owner, lease, now, false)?
                } else {
                    None
                };
                Ok((true, work))
            })
            .await?;
        if delivered && work.is_none() {
            self.signals.orchestrations.notify_one();
        }
        Ok(work)
    }

    async fn complete_activity_with_turn(
        &self,
        owner: &str,
        item: &ActivityWorkItem,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Option<Vec<ActivityWorkItem>>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let item = item.clone();
        let written = self
            .write(move |conn| {
                let free = conn
                    .prepare_cached(
                        "SELECT 1 FROM instances WHERE instance_id = ?1 AND execution_id = ?2
                           AND history_length = ?3 AND status <> 'Suspended'
                           AND (lock_owner IS NULL OR lock_expires <= ?4)",
                    )
                    .map_err(sql_error)?
                    .exists(params![
                        turn.instance_id,
                        turn.execution_id,
                        turn.expected_history_length as i64,
                        millis(now)
                    ])
                    .map_err(sql_error)?;
                if !free {
                    return Ok(None);
                }
                let removed = conn
                    .prepare_cached(
                        "DELETE FROM activities WHERE id = ?1 AND lock_owner = ?2 AND lock_expires > ?3",
                    )
                    .map_err(sql_error)?
                    .execute(params![item.id, owner, millis(now)])
                    .map_err(sql_error)?;
                if removed == 0 {
                    return Ok(None);
                }
                // The instance was checked free in this transaction: the turn is its.
                write_turn(conn, &owner, &turn, now, Some(lease)).map(Some)
            })
            .await?;
        Ok(written.map(|written| self.signal_written(written)))
    }

    async fn create_instance_with_turn(
        &self,
        owner: &str,
        new: NewInstance,
        turn: TurnCommit,
        lease: Duration,
    ) -> Result<Vec<ActivityWorkItem>, StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let written = self
            .write(move |conn| {
                if !insert_instance(conn, &new)? {
                    return Err(StoreError::InstanceExists(new.instance_id));
                }
                write_turn(conn, &owner, &turn, now, Some(lease))
            })
            .await?;
        Ok(self.signal_written(written))
    }

    async fn commit_turn(&self, owner: &str, commit: TurnCommit) -> Result<(), StoreError> {
        self.commit_turn_leasing_to(owner, commit, None).await?;
        Ok(())
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
        let now = self.clock.now();
        let owner = owner.to_owned();
        self.write_leases(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE activities SET lock_owner = ?1, lock_expires = ?2, dequeue_count = dequeue_count + 1
                     WHERE id IN (SELECT id FROM activities
                                  WHERE lock_owner IS NULL OR lock_expires <= ?3 ORDER BY id LIMIT ?4)
                     RETURNING id, instance_id, execution_id, task_id, name, input, dequeue_count",
                )
                .map_err(sql_error)?;
            let rows = stmt
                .query_map(
                    params![owner, lease_expiry(now, lease), millis(now), max as i64],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, i64>(3)?,
                            row.get::<_, String>(4)?,
                            row.get::<_, String>(5)?,
                            row.get::<_, i64>(6)?,
                        ))
                    },
                )
                .map_err(sql_error)?;
            let mut items = Vec::new();
            for row in rows {
                let (id, instance_id, execution_id, task_id, name, input, count) =
                    row.map_err(sql_error)?;
                items.push(ActivityWorkItem {
                    id,
                    instance_id,
                    execution_id,
                    task_id,
                    name,
                    input: serde_json::from_str::<Value>(&input).map_err(json_error)?,
                    dequeue_count: u32::try_from(count).unwrap_or(u32::MAX),
                });
            }
            // RETURNING gives rows in no promised order; hand them out oldest first.
            items.sort_by_key(|item| item.id);
            Ok(items)
        })
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
        item: &ActivityWorkItem,
        result: HistoryEvent,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let owner = owner.to_owned();
        let item = item.clone();
        let delivered = self
            .write(move |conn| finish_activity(conn, &owner, &item, &result, now))
            .await?;
        if delivered {
            self.signals.orchestrations.notify_one();
        }
        Ok(())
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

    async fn release_all_leases(&self) -> Result<(), StoreError> {
        self.write_leases(|conn| conn.execute_batch(RELEASE_ALL_LEASES).map_err(sql_error))
            .await
    }

    async fn raise_event(&self, instance_id: &str, event: HistoryEvent) -> Result<(), StoreError> {
        let now = self.clock.now();
        let instance_id = instance_id.to_owned();
        self.write(move |conn| deliver(conn, &instance_id, &event, now))
            .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }

    async fn signal_entity(
        &self,
        instance_id: &str,
        name: &str,
        event: HistoryEvent,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let instance_id = instance_id.to_owned();
        let name = name.to_owned();
        self.write(move |conn| {
            ensure_entity(conn, &instance_id, &name, now)?;
            insert_message(conn, &instance_id, "", &event, millis(now))
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
        self.read(move |conn| load_instance(conn, &instance_id))
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
            if let Some(from) = query.created_from {
                sql.push_str(" AND created_at >= ?");
                args.push(millis(from).into());
            }
            if let Some(to) = query.created_to {
                sql.push_str(" AND created_at <= ?");
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
            let page_size = query.page_size.max(1);
            sql.push_str(" ORDER BY created_at, instance_id LIMIT ?");
            args.push((page_size as i64 + 1).into());
            let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), instance_from_row)
                .map_err(sql_error)?;
            let mut instances = Vec::new();
            for row in rows {
                instances.push(row.map_err(sql_error)??);
            }
            let more = instances.len() > page_size;
            instances.truncate(page_size);
            let next = more
                .then(|| instances.last())
                .flatten()
                .map(|last: &InstanceRecord| PageCursor {
                    created_at: last.created_at,
                    instance_id: last.instance_id.clone(),
                });
            Ok(InstancePage { instances, next })
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
        let now = self.clock.now();
        let instance_id = instance_id.to_owned();
        self.write(move |conn| deliver(conn, &instance_id, &event, now))
            .await?;
        self.signals.orchestrations.notify_one();
        Ok(())
    }
}
