//! The loop both dispatchers share: take a permit, lease work, run it on its own task; when
//! the store has none, sleep until it signals new work (or the poll interval passes); at
//! shutdown, drain the running work and hand back the leases of what did not finish.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::{STORE_RETRY_DELAY, Shared, drain};
use crate::registry::BoxFuture;
use crate::store::{StoreError, WorkSignals};

/// Leasing up to so many next work items of a queue.
type Fetch<I> = fn(Arc<Shared>, usize) -> BoxFuture<Result<Vec<I>, StoreError>>;

/// The most items one fetch leases: a busy queue gets many items per round trip (a
/// fetch is a write, and waits for its commit), without one worker hoarding the backlog.
const FETCH_BATCH: usize = 64;

/// What distinguishes one queue's dispatcher from the other's.
pub(crate) struct Queue<I, K> {
    /// For logs: "orchestration" or "activity".
    pub what: &'static str,
    /// The limit on running work.
    pub permits: Arc<Semaphore>,
    /// The store's signal of new work in this queue.
    pub signal: fn(&WorkSignals) -> &Notify,
    /// Leases up to so many next work items.
    pub fetch: Fetch<I>,
    /// What identifies a leased item, to give its lease back.
    pub key: fn(&I) -> K,
    /// Runs one item.
    pub run: fn(Arc<Shared>, I) -> BoxFuture<()>,
    /// How long to sleep when there is no work (at most).
    pub idle_for: fn(Arc<Shared>) -> BoxFuture<Duration>,
    /// Gives a lease back.
    pub abandon: fn(Arc<Shared>, K) -> BoxFuture<()>,
}

/// Runs a queue's dispatcher until `stopped` turns true.
pub(crate) async fn dispatch<I: Send + 'static, K>(
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    queue: Queue<I, K>,
) {
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, K> = HashMap::new();
    loop {
        while let Some(done) = tasks.try_join_next_with_id() {
            if let Ok((id, ())) = done {
                running.remove(&id);
            }
        }
        if *stopped.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = queue.permits.clone().acquire_owned() => permit,
            _ = stopped.changed() => break,
        };
        let Ok(permit) = permit else { break };
        // Ask for as many items as there are free permits to run them.
        let mut permits = vec![permit];
        while permits.len() < FETCH_BATCH {
            match queue.permits.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let asked = permits.len();
        match (queue.fetch)(shared.clone(), asked).await {
            Ok(items) => {
                // Fewer items than asked for: the queue is drained, and new work signals.
                let drained = items.len() < asked;
                let mut permits = permits.into_iter();
                for (item, permit) in items.into_iter().zip(&mut permits) {
                    let key = (queue.key)(&item);
                    let work = (queue.run)(shared.clone(), item);
                    let handle = tasks.spawn(async move {
                        work.await;
                        drop(permit);
                    });
                    running.insert(handle.id(), key);
                }
                drop(permits);
                if drained {
                    let wait = (queue.idle_for)(shared.clone()).await;
                    tokio::select! {
                        _ = (queue.signal)(shared.store.signals()).notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped.changed() => {}
                    }
                }
            }
            Err(error) => {
                drop(permits);
                tracing::warn!(%error, queue = queue.what, "fetching work failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(STORE_RETRY_DELAY) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }
    for result in drain(&mut tasks, shared.options.drain_timeout).await {
        if let Err(error) = result
            && let Some(key) = running.remove(&error.id())
        {
            (queue.abandon)(shared.clone(), key).await;
        }
    }
}
