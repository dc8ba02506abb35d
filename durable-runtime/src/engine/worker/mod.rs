//! The dispatchers that turn queued work into turns and activity runs.
//!
//! Two loops, one per queue, each bounded by a semaphore. A loop takes work while it can,
//! and when the store has none it sleeps until the store signals new work or the poll
//! interval passes (the fallback for work written by another process).

mod activities;
mod cache;
mod dispatch;
pub(crate) mod eager_start;
mod entities;
mod entity_locks;
mod flow;
mod invoke;
mod kept_results;
mod orchestrations;
mod run_ahead;
mod turn;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::engine::remote::{RemoteUnavailable, RemoteWorkers, Served};
use crate::registry::Registry;
use crate::status::RuntimeStatus;
use crate::store::{NameSet, Store};

pub(crate) use entity_locks::EntityLocks;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Turns run at once (`maxConcurrentOrchestratorFunctions`).
    pub max_concurrent_orchestrations: usize,
    /// Activities run at once (`maxConcurrentActivityFunctions`).
    pub max_concurrent_activities: usize,
    /// How long a lease lasts before another worker may take the work over.
    pub lease: Duration,
    /// Longest sleep between polls when no signal arrives.
    pub poll_interval: Duration,
    /// How long shutdown waits for running work before abandoning it.
    pub drain_timeout: Duration,
    /// How many live orchestrations to keep between turns (0: replay every turn).
    pub orchestration_cache: usize,
    /// How many times an activity call may be handed to a worker without finishing (its
    /// worker died each time) before it is a poison message: failed, not run again.
    pub max_dequeue_count: u32,
    /// How long a live orchestration may run ahead of its commit, running the activities
    /// it schedules in line and folding the turns their results make into one commit
    /// (zero: every turn commits before its activities start).
    pub run_ahead: Duration,
    /// How many actions one orchestration may schedule (`maxOrchestrationActions`).
    pub action_limits: crate::orchestration::ActionLimits,
    /// How durable HTTP calls run: destinations, token sources, limits.
    pub http: Arc<crate::http::HttpCallSettings>,
    /// Where the worker counts and times its work (`None`: it does not).
    pub metrics: Option<Arc<crate::engine::metrics::Metrics>>,
    /// The version of this worker's orchestrator code and which instances it takes.
    pub versioning: crate::version::Versioning,
    /// Workers in other processes (other languages' Durable Task SDKs) that run the
    /// orchestrators and activities no Rust function here has. With them, the worker
    /// leases only work that a Rust function or a connected remote worker runs; the rest
    /// waits in the store. `None`: everything is leased, and a name nothing is
    /// registered under fails.
    pub remote: Option<Arc<dyn crate::engine::remote::RemoteWorkers>>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            max_concurrent_orchestrations: 100,
            max_concurrent_activities: 100,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            drain_timeout: Duration::from_secs(10),
            orchestration_cache: 5_000,
            max_dequeue_count: 10,
            run_ahead: Duration::from_millis(2),
            action_limits: crate::orchestration::ActionLimits::default(),
            http: Arc::new(crate::http::HttpCallSettings::default()),
            metrics: None,
            versioning: crate::version::Versioning::default(),
            remote: None,
        }
    }
}

/// What the dispatchers share.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub options: WorkerOptions,
    pub owner: String,
    pub cache: std::sync::Mutex<cache::ExecutionCache>,
    /// Results of calls run ahead of a commit that did not happen, for their next turn.
    pub kept_results: std::sync::Mutex<kept_results::KeptResults>,
    /// Turns run at once, shared by the dispatcher and the fast path.
    pub orchestration_permits: Arc<Semaphore>,
    /// Activities run at once, shared by the dispatcher and the fast path.
    pub activity_permits: Arc<Semaphore>,
    /// Work handed over in process (not by a dispatcher) still running.
    pub in_flight: std::sync::atomic::AtomicUsize,
    /// Signalled when `in_flight` drops to zero.
    pub settled: tokio::sync::Notify,
    /// Set at shutdown: hand nothing more over in process.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Orchestrators with an instance completed in this process (see [`eager_start`]).
    pub completed_here: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    /// Runs in-process handed-over work on its own task, counted for shutdown.
    pub(crate) fn spawn_fast(self: &Arc<Self>, work: crate::registry::BoxFuture<()>) {
        use std::sync::atomic::Ordering;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let shared = self.clone();
        tokio::spawn(async move {
            work.await;
            if shared.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                shared.settled.notify_waiters();
            }
        });
    }

    /// Notes a committed turn of orchestrator `name` that left its instance `status`.
    pub(crate) fn note_committed(&self, name: &str, status: RuntimeStatus) {
        if status != RuntimeStatus::Completed {
            return;
        }
        let mut completed = self
            .completed_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !completed.contains(name) {
            completed.insert(name.to_owned());
        }
    }

    /// Whether an instance of orchestrator `name` has completed in this process.
    pub(crate) fn has_completed_here(&self, name: &str) -> bool {
        self.completed_here
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(name)
    }

    /// The orchestrators whose instances this worker leases: the registered ones and
    /// those connected remote workers run. `None` (any) without remote workers, or when
    /// one takes any name.
    pub(crate) fn orchestrator_names(&self) -> Option<NameSet> {
        let remote = self.options.remote.as_ref()?;
        match remote.orchestrators() {
            Served::Any => None,
            Served::Names(names) => Some(NameSet::new(
                self.registry
                    .orchestrator_names()
                    .map(str::to_owned)
                    .chain(names),
            )),
        }
    }

    /// The activities whose calls this worker leases, as [`Shared::orchestrator_names`]:
    /// the registered ones, the built-in ones, test doubles and remote ones.
    pub(crate) fn activity_names(&self) -> Option<NameSet> {
        let remote = self.options.remote.as_ref()?;
        match remote.activities() {
            Served::Any => None,
            Served::Names(names) => Some(NameSet::new(
                self.registry
                    .activity_names()
                    .map(str::to_owned)
                    .chain(std::iter::once(crate::http::ACTIVITY_NAME.to_owned()))
                    .chain(names),
            )),
        }
    }

    /// The entities whose operations this worker leases, as [`Shared::orchestrator_names`]:
    /// the registered ones and those connected remote workers run, lower case.
    pub(crate) fn entity_names(&self) -> Option<NameSet> {
        let remote = self.options.remote.as_ref()?;
        match remote.entities() {
            Served::Any => None,
            Served::Names(names) => Some(NameSet::new(
                self.registry
                    .entity_names()
                    .map(str::to_owned)
                    .chain(names.into_iter().map(|name| name.to_lowercase())),
            )),
        }
    }

    /// Waits for a remote worker's answer while the lease on its work still holds: two
    /// thirds of a lease, so a late answer cannot land after another host took over.
    pub(crate) async fn within_lease<T>(
        &self,
        answer: impl std::future::Future<Output = Result<T, RemoteUnavailable>>,
    ) -> Result<T, RemoteUnavailable> {
        let wait = self.options.lease * 2 / 3;
        tokio::time::timeout(wait, answer).await.map_err(|_| {
            RemoteUnavailable(format!("the remote worker did not answer within {wait:?}"))
        })?
    }

    /// The remote workers, when entity `name` is one no Rust function here runs.
    pub(crate) fn remote_entity(&self, name: &str) -> Option<&Arc<dyn RemoteWorkers>> {
        self.options
            .remote
            .as_ref()
            .filter(|_| self.registry.entity(name).is_none())
    }

    /// The remote workers, when orchestrator `name` is one no Rust function here runs.
    pub(crate) fn remote_orchestrator(&self, name: &str) -> Option<&Arc<dyn RemoteWorkers>> {
        self.options
            .remote
            .as_ref()
            .filter(|_| self.registry.orchestrator(name).is_none())
    }

    /// The remote workers, when activity `name` is one no Rust function here runs.
    pub(crate) fn remote_activity(&self, name: &str) -> Option<&Arc<dyn RemoteWorkers>> {
        self.options
            .remote
            .as_ref()
            .filter(|_| !self.runs_activity(name))
    }

    /// Whether this worker can run activity `name`: a registered one, or a built-in.
    pub(crate) fn runs_activity(&self, name: &str) -> bool {
        name == crate::http::ACTIVITY_NAME
            || self.registry.activity(name).is_some()
            || self.registry.activity_double(name).is_some()
    }

    /// The metrics label of orchestrator `name`: its registered name, or one label for
    /// every name nothing is registered under (so bad input cannot add series).
    pub(crate) fn orchestrator_label(&self, name: &str) -> &'static str {
        self.registry
            .orchestrator(name)
            .map_or(crate::engine::metrics::UNREGISTERED, |d| d.name)
    }

    /// Whether the worker is shutting down.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The cache of live orchestrations; a panic never happens while it is held.
    pub(crate) fn lock_cache(&self) -> std::sync::MutexGuard<'_, cache::ExecutionCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The results kept from failed run-aheads; a panic never happens while it is held.
    pub(crate) fn lock_kept_results(&self) -> std::sync::MutexGuard<'_, kept_results::KeptResults> {
        self.kept_results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs orchestrations and activities from a store until shut down.
pub struct Worker {
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
    shared: Arc<Shared>,
}

impl Worker {
    /// Starts both dispatchers on the current tokio runtime. `owner` names this worker in
    /// leases; it must be unique among the processes sharing the store.
    pub fn start(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        options: WorkerOptions,
        owner: String,
    ) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            registry,
            clock,
            cache: std::sync::Mutex::new(cache::ExecutionCache::new(options.orchestration_cache)),
            kept_results: std::sync::Mutex::default(),
            orchestration_permits: permits(options.max_concurrent_orchestrations),
            activity_permits: permits(options.max_concurrent_activities),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            completed_here: std::sync::Mutex::default(),
            options,
            owner,
        });
        let mut loops = JoinSet::new();
        let fast_path = shared.clone();
        loops.spawn(dispatch::orchestrations(shared.clone(), stopped.clone()));
        loops.spawn(dispatch::activities(shared, stopped));
        Worker {
            stop,
            loops,
            shared: fast_path,
        }
    }

    /// What the dispatchers share, for a client in the same process (eager starts).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops taking work, waits for running work up to the drain timeout, abandons what is
    /// left (its leases are released so other workers can take it) and returns.
    pub async fn shutdown(mut self) {
        use std::sync::atomic::Ordering;
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        while self.loops.join_next().await.is_some() {}
        // Work handed over in process finishes its current step (or, after the drain
        // timeout, is left to lease expiry).
        let deadline = tokio::time::sleep(self.shared.options.drain_timeout);
        tokio::pin!(deadline);
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::select! {
                _ = self.shared.settled.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = &mut deadline => break,
            }
        }
    }
}

/// Waits for running tasks during shutdown; after the drain timeout aborts them and lets
/// the caller abandon their leases.
pub(crate) async fn drain<T: 'static>(
    tasks: &mut JoinSet<T>,
    timeout: Duration,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut finished = Vec::new();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(result) => finished.push(result),
                None => return finished,
            },
            _ = &mut deadline => {
                tasks.abort_all();
                while let Some(result) = tasks.join_next().await {
                    finished.push(result);
                }
                return finished;
            }
        }
    }
}

/// A permit pool sized by an option (at least one).
pub(crate) fn permits(count: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(count.max(1)))
}

/// Back-off after a store error, so a broken store is not hammered.
pub(crate) const STORE_RETRY_DELAY: Duration = Duration::from_millis(500);
