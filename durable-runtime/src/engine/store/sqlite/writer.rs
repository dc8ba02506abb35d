//! The SQLite connections: the one writer thread that commits every write (group commit),
//! and how a connection is opened.
//!
//! The writer takes every job waiting in its queue and commits them in one transaction:
//! many turns share one fsync, and nobody is answered before the transaction holding their
//! change is durable. Each job runs in a savepoint, so one failing job does not undo the
//! others.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::Durability;
use crate::store::StoreError;

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

/// A change waiting for the writer.
pub(super) trait WriteJob: Send {
    /// Runs the job inside the open transaction; false when it failed and must be undone.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Whether the job's change must survive a power loss before it is answered. Leases
    /// need not: a lost lease only lets the work be taken again, and a power loss stops
    /// every worker anyway.
    fn durable(&self) -> bool;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A write job that answers its caller with what its work returned.
pub(super) struct Job<R, F> {
    work: Option<F>,
    durable: bool,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> Job<R, F> {
    /// A job running `work`, answering on `reply`; `durable` as in [`WriteJob::durable`].
    pub(super) fn new(
        work: F,
        durable: bool,
        reply: oneshot::Sender<Result<R, StoreError>>,
    ) -> Self {
        Job {
            work: Some(work),
            durable,
            result: None,
            reply,
        }
    }
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

/// A SQLite error as a store error: retryable when the file is busy, full or unreachable.
pub(super) fn sql_error(e: rusqlite::Error) -> StoreError {
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

/// Opens a connection in WAL mode at the given durability.
pub(super) fn open_connection(
    path: &Path,
    durability: Durability,
) -> Result<Connection, StoreError> {
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

/// Commits the jobs sent to it, in batches, until every sender is gone.
pub(super) fn writer_loop(
    conn: Connection,
    jobs: mpsc::Receiver<Box<dyn WriteJob>>,
    durability: Durability,
) {
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
    crate::engine::failpoints::blocking("sqlite.commit.uncommitted")?;
    conn.execute_batch("COMMIT").map_err(sql_error)
}
