//! The workloads: each starts instances on an in-process runtime, waits for them, checks
//! their outputs and measures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use durable_runtime::StatusOptions;
use durable_runtime::clock::{Clock, SystemClock};
use durable_runtime::engine::registry::Registry;
use durable_runtime::engine::store::{MemoryStore, SqliteOptions, SqliteStore, Store};
use durable_runtime::engine::worker::{Worker, WorkerOptions};
use durable_runtime::{ClientOptions, DurableClient, OrchestrationStatus, RuntimeStatus};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Value, json};

use crate::functions::{CITIES, GO_EVENT, reset_step_times, take_step_times};

/// Which workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// N chains of three activities, all started at once: throughput.
    W1,
    /// One orchestration fanning out N activities and summing them: wall time.
    W2,
    /// A chain of three, N times one after another: latency.
    W3,
    /// One orchestration calling N activities in sequence: per-step cost as history grows.
    W4,
    /// One orchestration starting N chain-of-three sub-orchestrations at once: wall time.
    W5,
    /// N instances waiting for an external event: memory of idle instances.
    Idle,
}

impl Workload {
    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
            Workload::Idle => "idle",
        }
    }

    /// N when the command line gives none.
    pub fn default_n(self) -> u64 {
        match self {
            Workload::W1 | Workload::W2 | Workload::W4 => 1_000,
            Workload::W3 => 200,
            Workload::W5 => 100,
            Workload::Idle => 10_000,
        }
    }

    /// The smallest N the workload can measure.
    pub fn min_n(self) -> u64 {
        match self {
            // Step times are differences between consecutive calls.
            Workload::W4 => 2,
            _ => 1,
        }
    }
}

/// Which store the runtime uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite store, in a fresh temporary folder.
    Sqlite,
    /// The in-memory store.
    Memory,
    /// A PostgreSQL database (a fresh task hub in it), by URL.
    Postgres(String),
}

impl StoreKind {
    /// Reads `sqlite`, `memory` or a `postgres://` URL.
    pub fn parse(text: &str) -> Result<StoreKind, String> {
        match text {
            "sqlite" => Ok(StoreKind::Sqlite),
            "memory" => Ok(StoreKind::Memory),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreKind::Postgres(url.to_owned()))
            }
            other => Err(format!(
                "`{other}` is not a store; expected sqlite, memory or postgres://..."
            )),
        }
    }

    /// The name on the command line and in the report.
    pub fn name(&self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Memory => "memory",
            StoreKind::Postgres(_) => "postgres",
        }
    }
}

/// One run's figures: printed as one JSON line. Fields a workload does not measure are
/// left out.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The workload's name.
    pub workload: &'static str,
    /// The store's name.
    pub store: &'static str,
    /// How the runtime was driven: `in-process`, or `http` against a host process.
    pub via: &'static str,
    /// The endpoint driven over HTTP, when it is not a host this bench started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Workers sharing the store, as separate hosts would.
    pub hosts: usize,
    /// N.
    pub n: u64,
    /// Seconds from the first start to the last completion (idle: until all are waiting).
    pub wall_s: f64,
    /// Orchestrations completed per second (W1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orch_per_s: Option<f64>,
    /// Activity calls completed per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_per_s: Option<f64>,
    /// Median start-to-completion latency in milliseconds (W3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 99th percentile start-to-completion latency in milliseconds (W3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Mean milliseconds per step over the first 100 steps (W4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first100_step_ms: Option<f64>,
    /// Mean milliseconds per step over the last 100 steps (W4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last100_step_ms: Option<f64>,
    /// Resident memory of this process in MiB once all instances are idle (idle).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mb: Option<f64>,
    /// Seconds from opening the store again (a host restarted over the idle instances) to
    /// a new chain of 3 completed (idle, SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_serve_s: Option<f64>,
}

impl Report {
    pub(crate) fn new(workload: Workload, store: &StoreKind, n: u64, wall: Duration) -> Report {
        Report {
            workload: workload.name(),
            store: store.name(),
            via: "in-process",
            url: None,
            hosts: 1,
            n,
            wall_s: round3(wall.as_secs_f64()),
            orch_per_s: None,
            steps_per_s: None,
            p50_ms: None,
            p99_ms: None,
            first100_step_ms: None,
            last100_step_ms: None,
            rss_mb: None,
            restart_serve_s: None,
        }
    }
}

/// Rounds to three decimals, for readable figures.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Events per second over a wall time.
pub(crate) fn rate(count: u64, wall: Duration) -> Option<f64> {
    Some(round3(count as f64 / wall.as_secs_f64().max(1e-9)))
}

pub(crate) fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Pause between status polls of one instance whose latency is measured (W3): finer than
/// tokio's timer, which rounds sleeps up to whole milliseconds.
const FINE_POLL: Duration = Duration::from_micros(200);
/// Pause between status polls otherwise.
const POLL: Duration = Duration::from_millis(2);
/// Starts in flight at once when many instances are started (idle).
const START_CONCURRENCY: usize = 512;

/// A runtime in this process: a store, a worker and a client.
struct Harness {
    client: DurableClient,
    /// One worker per simulated host (several only on PostgreSQL).
    workers: Vec<Worker>,
    /// Holds the SQLite file's folder; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// Opens a fresh store and starts a worker with the default options on it.
    async fn start(store: &StoreKind, hosts: usize) -> Result<Harness, String> {
        let registry = Registry::discover().map_err(|errors| {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("the functions cannot be registered: {}", errors.join("; "))
        })?;
        if registry.orchestrator("HelloCitiesBench").is_none() {
            return Err("the bench functions are not linked into this binary".to_owned());
        }
        let registry = Arc::new(registry);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if hosts > 1 && !matches!(store, StoreKind::Postgres(_)) {
            return Err("several hosts need a shared store: use --store postgres://...".to_owned());
        }
        let mut extra_stores: Vec<Arc<dyn Store>> = Vec::new();
        let (store, dir): (Arc<dyn Store>, _) = match store {
            StoreKind::Memory => (Arc::new(MemoryStore::new(clock.clone())), None),
            StoreKind::Postgres(url) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or_default();
                let hub = format!("bench{}x{nanos}", std::process::id());
                let mut first = None;
                for _ in 0..hosts {
                    let options = durable_runtime::engine::store::PostgresOptions::new(
                        url.clone(),
                        hub.clone(),
                    );
                    let store: Arc<dyn Store> = Arc::new(
                        durable_runtime::engine::store::PostgresStore::open(options, clock.clone())
                            .await
                            .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?,
                    );
                    match first {
                        None => first = Some(store),
                        Some(_) => extra_stores.push(store),
                    }
                }
                (first.ok_or("no hosts")?, None)
            }
            StoreKind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("durable-bench-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
                (open_sqlite(&dir, &clock)?, Some(dir))
            }
        };
        Ok(Harness::serve(store, extra_stores, registry, clock, dir))
    }

    /// A client and one worker per store.
    fn serve(
        store: Arc<dyn Store>,
        extra_stores: Vec<Arc<dyn Store>>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        dir: Option<tempfile::TempDir>,
    ) -> Harness {
        let client = DurableClient::new(
            store.clone(),
            registry.clone(),
            clock.clone(),
            ClientOptions::default(),
        );
        let mut workers = Vec::new();
        for (host, store) in std::iter::once(store).chain(extra_stores).enumerate() {
            workers.push(Worker::start(
                store,
                registry.clone(),
                clock.clone(),
                worker_options(),
                format!("durable-bench-{}-{host}", std::process::id()),
            ));
        }
        // The client starts instances on the first worker, as in a host.
        let client = match workers.first() {
            Some(worker) => client.with_worker(worker),
            None => client,
        };
        Harness {
            client,
            workers,
            _dir: dir,
        }
    }

    /// Stops the worker and opens the SQLite file again with a new one, as a host
    /// restarted over the same data; returns it with the seconds from opening the file to
    /// a new chain of 3 completed.
    async fn restart_and_serve(self, deadline: Instant) -> Result<(Harness, f64), String> {
        let Harness {
            client,
            workers,
            _dir: dir,
        } = self;
        let dir = dir.ok_or("only a SQLite harness restarts")?;
        let registry = client.registry().clone();
        drop(client);
        for worker in workers {
            worker.shutdown().await;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let started = Instant::now();
        let store = open_sqlite(&dir, &clock)?;
        let harness = Harness::serve(store, Vec::new(), registry, clock, Some(dir));
        let id = harness.start_new("HelloCitiesBench", ()).await?;
        let status = harness.wait_finished(&id, FINE_POLL, deadline).await?;
        let serving = started.elapsed();
        check_output(&status, &greetings())?;
        Ok((harness, round3(serving.as_secs_f64())))
    }

    async fn stop(self) {
        for worker in self.workers {
            worker.shutdown().await;
        }
    }

    async fn start_new(&self, name: &str, input: impl Serialize) -> Result<String, String> {
        self.client
            .start_new(name, None, input)
            .await
            .map_err(|e| format!("cannot start {name}: {e}"))
    }

    /// Polls the instance every `pause` until `done` holds for its status.
    async fn wait_until(
        &self,
        id: &str,
        pause: Duration,
        deadline: Instant,
        done: impl Fn(&OrchestrationStatus) -> bool,
    ) -> Result<OrchestrationStatus, String> {
        loop {
            let status = self
                .client
                .get_status(
                    id,
                    StatusOptions {
                        show_input: false,
                        ..StatusOptions::default()
                    },
                )
                .await
                .map_err(|e| format!("cannot read the status of {id}: {e}"))?
                .ok_or_else(|| format!("instance {id} is gone"))?;
            if done(&status) {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out waiting for instance {id} (status {})",
                    status.runtime_status.as_str()
                ));
            }
            pause_for(pause).await;
        }
    }

    /// Waits until the instance finishes.
    async fn wait_finished(
        &self,
        id: &str,
        pause: Duration,
        deadline: Instant,
    ) -> Result<OrchestrationStatus, String> {
        self.wait_until(id, pause, deadline, |s| s.runtime_status.is_terminal())
            .await
    }

    /// Waits until every instance finishes, checking them in start order (which is
    /// roughly their finishing order), and returns their statuses in that order.
    async fn wait_all_finished(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<OrchestrationStatus>, String> {
        let mut statuses = Vec::with_capacity(ids.len());
        for id in ids {
            statuses.push(self.wait_finished(id, POLL, deadline).await?);
        }
        Ok(statuses)
    }
}

/// Sleeps for `pause`: on tokio's timer from a millisecond up, below that on a blocking
/// thread (tokio's timer would sleep a whole millisecond).
async fn pause_for(pause: Duration) {
    if pause >= Duration::from_millis(1) {
        tokio::time::sleep(pause).await;
    } else if tokio::task::spawn_blocking(move || std::thread::sleep(pause))
        .await
        .is_err()
    {
        tokio::task::yield_now().await;
    }
}

/// The output a run of `HelloCitiesBench` must have.
pub(crate) fn greetings() -> Value {
    json!(CITIES.map(|city| format!("Hello {city}!")))
}

/// Fails unless the instance completed with `expected` as its output.
fn check_output(status: &OrchestrationStatus, expected: &Value) -> Result<(), String> {
    if status.runtime_status != RuntimeStatus::Completed {
        return Err(format!(
            "instance {} ended {}: {}",
            status.instance_id,
            status.runtime_status.as_str(),
            status.output
        ));
    }
    if &status.output != expected {
        return Err(format!(
            "instance {} output {} instead of {}",
            status.instance_id, status.output, expected
        ));
    }
    Ok(())
}

/// The nearest-rank percentile `p` (0 < p <= 1) of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// This process's resident set size in MiB, from `/proc/self/status`.
fn rss_mb() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("/proc/self/status has no VmRSS line")?;
    Ok(round3(kib / 1024.0))
}

/// The host's worker defaults, with `DURABLE_RUN_AHEAD_MS` and `DURABLE_METRICS` (on
/// unless `off`) read as the host reads them.
fn worker_options() -> WorkerOptions {
    let mut options = WorkerOptions::default();
    if !std::env::var("DURABLE_METRICS").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        options.metrics = Some(Arc::new(durable_runtime::engine::metrics::Metrics::new()));
    }
    if let Some(ms) = std::env::var("DURABLE_RUN_AHEAD_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        options.run_ahead = std::time::Duration::from_millis(ms.min(1_000));
    }
    options
}

/// Opens (or reopens) the bench's SQLite file in `dir`, as a host does: exclusively.
fn open_sqlite(dir: &tempfile::TempDir, clock: &Arc<dyn Clock>) -> Result<Arc<dyn Store>, String> {
    let options = SqliteOptions {
        path: dir.path().join("bench.db"),
        exclusive: true,
        durability: if std::env::var("DURABLE_DURABILITY")
            .is_ok_and(|v| v.eq_ignore_ascii_case("normal"))
        {
            durable_runtime::engine::store::Durability::Normal
        } else {
            durable_runtime::engine::store::Durability::Full
        },
    };
    let store = SqliteStore::open(options, clock.clone())
        .map_err(|e| format!("cannot open the SQLite store: {e}"))?;
    Ok(Arc::new(store))
}

/// Runs a workload on a fresh store and returns its figures; fails when the runtime
/// fails, an output is wrong, or it takes longer than `timeout`.
pub async fn run(
    workload: Workload,
    store: &StoreKind,
    hosts: usize,
    n: u64,
    timeout: Duration,
) -> Result<Report, String> {
    let harness = Harness::start(store, hosts).await?;
    let deadline = Instant::now() + timeout;
    let result = match workload {
        Workload::W1 => w1(&harness, store, n, deadline).await,
        Workload::W2 => w2(&harness, store, n, deadline).await,
        Workload::W3 => w3(&harness, store, n, deadline).await,
        Workload::W4 => w4(&harness, store, n, deadline).await,
        Workload::W5 => w5(&harness, store, n, deadline).await,
        Workload::Idle => idle(&harness, store, n, deadline).await,
    };
    // A host restarted over the idle instances: how soon it serves new work.
    let (harness, result) = match (workload, store, result) {
        (Workload::Idle, StoreKind::Sqlite, Ok(report)) => {
            let (harness, seconds) = harness.restart_and_serve(deadline).await?;
            let report = Report {
                restart_serve_s: Some(seconds),
                ..report
            };
            (harness, Ok(report))
        }
        (_, _, result) => (harness, result),
    };
    harness.stop().await;
    result.map(|report| Report { hosts, ..report })
}

/// W1: n chains of three started at once.
async fn w1(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    let start = Instant::now();
    let ids: Vec<String> =
        futures::future::try_join_all((0..n).map(|_| h.start_new("HelloCitiesBench", ()))).await?;
    let statuses = h.wait_all_finished(&ids, deadline).await?;
    let wall = start.elapsed();
    let expected = greetings();
    for status in &statuses {
        check_output(status, &expected)?;
    }
    let mut report = Report::new(Workload::W1, store, n, wall);
    report.orch_per_s = rate(n, wall);
    report.steps_per_s = rate(3 * n, wall);
    Ok(report)
}

/// W2: one orchestration fans out n activities and sums their results.
async fn w2(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    let start = Instant::now();
    let id = h.start_new("FanOutBench", n).await?;
    let status = h.wait_finished(&id, POLL, deadline).await?;
    let wall = start.elapsed();
    check_output(&status, &json!(n * (n - 1) / 2))?;
    let mut report = Report::new(Workload::W2, store, n, wall);
    report.steps_per_s = rate(n, wall);
    Ok(report)
}

/// W3: a chain of three, n times one after another.
async fn w3(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    let expected = greetings();
    let mut latencies = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let start = Instant::now();
    for _ in 0..n {
        let started = Instant::now();
        let id = h.start_new("HelloCitiesBench", ()).await?;
        let status = h.wait_finished(&id, FINE_POLL, deadline).await?;
        latencies.push(millis(started.elapsed()));
        check_output(&status, &expected)?;
    }
    let wall = start.elapsed();
    latencies.sort_by(f64::total_cmp);
    let mut report = Report::new(Workload::W3, store, n, wall);
    report.p50_ms = Some(round3(percentile(&latencies, 0.50)));
    report.p99_ms = Some(round3(percentile(&latencies, 0.99)));
    report.steps_per_s = rate(3 * n, wall);
    Ok(report)
}

/// W4: one orchestration calls n activities in sequence; step times come from when the
/// activities ran.
async fn w4(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    reset_step_times();
    let start = Instant::now();
    let id = h.start_new("SequenceBench", n).await?;
    let status = h.wait_finished(&id, POLL, deadline).await?;
    let wall = start.elapsed();
    check_output(&status, &json!(n * (n - 1) / 2))?;
    let times = take_step_times();
    let indices_in_order = times.iter().map(|(i, _)| *i).eq(0..n);
    if !indices_in_order {
        return Err(format!(
            "StepBench ran {} times, not once for each of 0..{n} in order",
            times.len()
        ));
    }
    // times.len() == n >= 2; k steps are the differences between k + 1 calls.
    let last = times.len() - 1;
    let k = last.min(100);
    let mean_step = |from: usize| millis(times[from + k].1 - times[from].1) / k as f64;
    let mut report = Report::new(Workload::W4, store, n, wall);
    report.first100_step_ms = Some(round3(mean_step(0)));
    report.last100_step_ms = Some(round3(mean_step(last - k)));
    report.steps_per_s = rate(n, wall);
    Ok(report)
}

/// W5: one orchestration starts n chain-of-three sub-orchestrations at once.
async fn w5(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    let start = Instant::now();
    let id = h.start_new("SubOrchestrationsBench", n).await?;
    let status = h.wait_finished(&id, POLL, deadline).await?;
    let wall = start.elapsed();
    let expected = Value::Array(vec![greetings(); usize::try_from(n).unwrap_or(0)]);
    check_output(&status, &expected)?;
    let mut report = Report::new(Workload::W5, store, n, wall);
    report.steps_per_s = rate(3 * n, wall);
    Ok(report)
}

/// How many idle instances get the event afterwards, to check they still work.
const IDLE_SAMPLE: usize = 10;

/// Idle: n instances that wait for an external event; memory once all are waiting.
async fn idle(h: &Harness, store: &StoreKind, n: u64, deadline: Instant) -> Result<Report, String> {
    let start = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|_| h.start_new("WaitForEventBench", ()))
        .buffered(START_CONCURRENCY)
        .try_collect()
        .await?;
    for (waiting, id) in ids.iter().enumerate() {
        let status = h
            .wait_until(id, POLL, deadline, |s| {
                s.runtime_status != RuntimeStatus::Pending
            })
            .await
            .map_err(|e| {
                format!(
                    "{e}; {waiting} of {n} instances were waiting after {:.1} s",
                    start.elapsed().as_secs_f64()
                )
            })?;
        if status.runtime_status != RuntimeStatus::Running {
            return Err(format!(
                "instance {id} is {} instead of waiting",
                status.runtime_status.as_str()
            ));
        }
    }
    let wall = start.elapsed();
    let rss = rss_mb()?;
    // Wake a few, spread over the start order, and check they finish with the event's data.
    let step = (ids.len() / IDLE_SAMPLE).max(1);
    for (value, id) in ids.iter().step_by(step).enumerate() {
        h.client
            .raise_event(id, GO_EVENT, value)
            .await
            .map_err(|e| format!("cannot raise {GO_EVENT} on {id}: {e}"))?;
        let status = h.wait_finished(id, POLL, deadline).await?;
        check_output(&status, &json!(value))?;
    }
    let mut report = Report::new(Workload::Idle, store, n, wall);
    report.rss_mb = Some(rss);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), 100.0);
        assert_eq!(percentile(&values, 0.99), 198.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn w1_on_memory_reports_sane_fields() {
        let report = run(
            Workload::W1,
            &StoreKind::Memory,
            1,
            5,
            Duration::from_secs(60),
        )
        .await
        .expect("W1 runs and its outputs are right");
        assert_eq!(
            (report.workload, report.store, report.n),
            ("w1", "memory", 5)
        );
        assert!(report.wall_s > 0.0, "{report:?}");
        let orch = report.orch_per_s.expect("W1 reports orch_per_s");
        let steps = report.steps_per_s.expect("W1 reports steps_per_s");
        assert!(orch > 0.0 && orch.is_finite(), "{report:?}");
        assert!((steps - 3.0 * orch).abs() <= 0.01 * steps, "{report:?}");
        assert!(
            report.p50_ms.is_none() && report.rss_mb.is_none(),
            "{report:?}"
        );
        let line = serde_json::to_string(&report).expect("the report serializes");
        assert!(line.starts_with(
            r#"{"workload":"w1","store":"memory","via":"in-process","hosts":1,"n":5,"wall_s":"#
        ));
    }
}
