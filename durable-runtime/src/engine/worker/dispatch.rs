//! The two dispatchers, orchestrations and activities, and the loop they share: take a
//! permit, lease work, run it on its own task; when the store has none, sleep until it
//! signals new work (or the poll interval passes); at shutdown, drain the running work and
//! hand back the leases of what did not finish.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::{STORE_RETRY_DELAY, Shared, drain, flow};
use crate::engine::metrics;
use crate::registry::BoxFuture;
use crate::store::{ActivityFetch, FetchOptions, StoreError, WorkSignals};

/// Leasing up to so many next work items of a queue.
type Fetch<I> = fn(Arc<Shared>, usize) -> BoxFuture<Result<Vec<I>, StoreError>>;

/// The most items one fetch leases: a busy queue gets many items per round trip (a
/// fetch is a write, and waits for its commit), without one worker hoarding the backlog.
const FETCH_BATCH: usize = 64;

/// Runs the orchestration dispatcher until `stopped` turns true.
pub(super) async fn orchestrations(shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let queue = Queue {
        what: "orchestration",
        kind: metrics::Queue::Orchestration,
        permits: shared.orchestration_permits.clone(),
        signal: |signals| &signals.orchestrations,
        fetch: |shared, max| {
            Box::pin(async move {
                let options = FetchOptions {
                    lease: shared.options.lease,
                    max,
                    // Without a cache every turn replays: the history comes along.
                    with_history: shared.options.orchestration_cache == 0,
                    versions: shared.options.versioning.fetch_filter(),
                    names: shared.orchestrator_names(),
                    entity_names: shared.entity_names(),
                };
                shared
                    .store
                    .fetch_orchestrations(&shared.owner, options)
                    .await
            })
        },
        key: |item| item.instance.instance_id.clone(),
        handed_out_before: |item| item.dequeue_count > 1,
        run: |shared, item| Box::pin(flow::run_instance(shared, item)),
        // Sleep no longer than until the next timer is due.
        idle_for: |shared| {
            Box::pin(async move {
                let wait = shared.options.poll_interval;
                match shared.store.next_due().await {
                    Ok(Some(due)) => {
                        wait.min((due - shared.clock.now()).to_std().unwrap_or_default())
                    }
                    _ => wait,
                }
            })
        },
        abandon: |shared, instance_id| {
            Box::pin(async move {
                let _ = shared
                    .store
                    .abandon_orchestration(&shared.owner, &instance_id)
                    .await;
            })
        },
    };
    dispatch(shared, stopped, queue).await;
}

/// Runs the activity dispatcher until `stopped` turns true.
pub(super) async fn activities(shared: Arc<Shared>, stopped: watch::Receiver<bool>) {
    let queue = Queue {
        what: "activity",
        kind: metrics::Queue::Activity,
        permits: shared.activity_permits.clone(),
        signal: |signals| &signals.activities,
        fetch: |shared, max| {
            Box::pin(async move {
                let fetch = ActivityFetch {
                    lease: shared.options.lease,
                    max,
                    names: shared.activity_names(),
                };
                shared.store.fetch_activities(&shared.owner, fetch).await
            })
        },
        key: |item| item.id,
        handed_out_before: |item| item.dequeue_count > 1,
        run: |shared, item| Box::pin(flow::run_activity(shared, item)),
        idle_for: |shared| Box::pin(async move { shared.options.poll_interval }),
        abandon: |shared, item_id| {
            Box::pin(async move {
                let _ = shared.store.abandon_activity(&shared.owner, item_id).await;
            })
        },
    };
    dispatch(shared, stopped, queue).await;
}

/// What distinguishes one queue's dispatcher from the other's.
struct Queue<I, K> {
    /// For logs: "orchestration" or "activity".
    what: &'static str,
    /// For metrics.
    kind: metrics::Queue,
    /// The limit on running work.
    permits: Arc<Semaphore>,
    /// The store's signal of new work in this queue.
    signal: fn(&WorkSignals) -> &Notify,
    /// Leases up to so many next work items.
    fetch: Fetch<I>,
    /// What identifies a leased item, to give its lease back.
    key: fn(&I) -> K,
    /// Whether an earlier hand-out of the item ended without finishing it.
    handed_out_before: fn(&I) -> bool,
    /// Runs one item.
    run: fn(Arc<Shared>, I) -> BoxFuture<()>,
    /// How long to sleep when there is no work (at most).
    idle_for: fn(Arc<Shared>) -> BoxFuture<Duration>,
    /// Gives a lease back.
    abandon: fn(Arc<Shared>, K) -> BoxFuture<()>,
}

/// Runs a queue's dispatcher until `stopped` turns true.
async fn dispatch<I: Send + 'static, K>(
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
        let fetched = match crate::engine::failpoints::point("dispatch.fetch").await {
            Ok(()) => (queue.fetch)(shared.clone(), asked).await,
            Err(injected) => Err(injected),
        };
        match fetched {
            Ok(items) => {
                // Fewer items than asked for: the queue is drained, and new work signals.
                let drained = items.len() < asked;
                let mut permits = permits.into_iter();
                for (item, permit) in items.into_iter().zip(&mut permits) {
                    if let Some(metrics) = &shared.options.metrics
                        && (queue.handed_out_before)(&item)
                    {
                        metrics.lease_taken_over(queue.kind);
                    }
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
                if let Some(metrics) = &shared.options.metrics {
                    metrics.store_error(metrics::StoreCall::Fetch);
                }
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
