//! Running ahead (a live orchestration runs its next activities in line and commits
//! several turns at once) and eager starts (a client beside a worker runs a new
//! instance's first turns before creating it), in process on SQLite: they record the
//! history that committing each turn records, run every activity once, hand slow
//! activities over, and refuse a taken id before running anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use durable_runtime::StatusOptions;
use durable_runtime::clock::{Clock, SystemClock};
use durable_runtime::engine::registry::Registry;
use durable_runtime::engine::store::{SqliteOptions, SqliteStore, Store};
use durable_runtime::engine::worker::{Worker, WorkerOptions};
use durable_runtime::prelude::*;
use durable_runtime::{ClientOptions, DurableClient};

mod common;

/// How many times each activity input was run.
static RUNS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

fn count_run(input: &str) {
    let mut runs = RUNS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *runs
        .get_or_insert_with(HashMap::new)
        .entry(input.to_owned())
        .or_default() += 1;
}

fn runs_of(input: &str) -> usize {
    let runs = RUNS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    runs.as_ref()
        .and_then(|runs| runs.get(input).copied())
        .unwrap_or(0)
}

#[activity_trigger(name = "Greet")]
async fn greet(city: String) -> String {
    count_run(&city);
    format!("Hello {city}!")
}

/// Sleeps well past the run-ahead budget before answering.
#[activity_trigger(name = "SlowGreet")]
async fn slow_greet(city: String) -> String {
    count_run(&city);
    tokio::time::sleep(Duration::from_millis(150)).await;
    format!("Hello {city}, slowly!")
}

#[activity_trigger(name = "Refuse")]
async fn refuse(why: String) -> Result<String, String> {
    Err(why)
}

#[activity_trigger(name = "Explode")]
async fn explode(why: String) -> String {
    panic!("{why}")
}

/// A store an activity looks at, set by its test.
type StoreSlot = Mutex<Option<Arc<dyn Store>>>;

/// The store the `Peek` activity looks at.
static PEEKED_STORE: StoreSlot = Mutex::new(None);

/// The store the `IsOnRecord` activity looks at.
static RECORDING_STORE: StoreSlot = Mutex::new(None);

fn set_store(slot: &StoreSlot, store: &Arc<dyn Store>) {
    *slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(store.clone());
}

fn store_in(slot: &StoreSlot) -> Result<Arc<dyn Store>, String> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .ok_or_else(|| "no store to look at".to_owned())
}

/// How many events of its instance's history the store holds while this activity runs.
#[activity_trigger(name = "Peek")]
async fn peek(ctx: ActivityContext, _input: ()) -> Result<usize, String> {
    let history = store_in(&PEEKED_STORE)?
        .get_history(ctx.instance_id())
        .await
        .map_err(|e| e.to_string())?;
    Ok(history.len())
}

/// Whether the store holds the instance while this activity runs.
#[activity_trigger(name = "IsOnRecord")]
async fn is_on_record(ctx: ActivityContext, _input: ()) -> Result<bool, String> {
    let instance = store_in(&RECORDING_STORE)?
        .get_instance(ctx.instance_id())
        .await
        .map_err(|e| e.to_string())?;
    Ok(instance.is_some())
}

#[orchestration_trigger(name = "AmIOnRecord")]
async fn am_i_on_record(ctx: OrchestrationContext) -> Result<bool, DurableError> {
    ctx.call_activity("IsOnRecord", ()).await
}

#[orchestration_trigger(name = "PeekTwice")]
async fn peek_twice(ctx: OrchestrationContext) -> Result<Vec<usize>, DurableError> {
    let first = ctx.call_activity("Peek", ()).await?;
    let second = ctx.call_activity("Peek", ()).await?;
    Ok(vec![first, second])
}

#[orchestration_trigger(name = "Chain")]
async fn chain(ctx: OrchestrationContext, prefix: String) -> Result<Vec<String>, DurableError> {
    let mut greetings = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        greetings.push(
            ctx.call_activity("Greet", format!("{prefix}{city}"))
                .await?,
        );
    }
    Ok(greetings)
}

#[orchestration_trigger(name = "FanOut")]
async fn fan_out(ctx: OrchestrationContext, prefix: String) -> Result<Vec<String>, DurableError> {
    let calls: Vec<_> = (0..5)
        .map(|i| ctx.call_activity::<String>("Greet", format!("{prefix}{i}")))
        .collect();
    let greetings = when_all(calls)
        .await
        .into_iter()
        .collect::<Result<Vec<String>, DurableError>>()?;
    let last: String = ctx.call_activity("Greet", format!("{prefix}last")).await?;
    Ok(greetings.into_iter().chain([last]).collect())
}

#[orchestration_trigger(name = "SlowChain")]
async fn slow_chain(
    ctx: OrchestrationContext,
    prefix: String,
) -> Result<Vec<String>, DurableError> {
    let first: String = ctx.call_activity("SlowGreet", format!("{prefix}a")).await?;
    let second: String = ctx.call_activity("Greet", format!("{prefix}b")).await?;
    let third: String = ctx.call_activity("SlowGreet", format!("{prefix}c")).await?;
    Ok(vec![first, second, third])
}

#[orchestration_trigger(name = "GreetWhenApproved")]
async fn greet_when_approved(
    ctx: OrchestrationContext,
    city: String,
) -> Result<String, DurableError> {
    let approved: bool = ctx.wait_for_external_event("Approval").await?;
    if !approved {
        return Ok("not approved".to_owned());
    }
    ctx.call_activity("Greet", city).await
}

#[orchestration_trigger(name = "Failures")]
async fn failures(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let refused = ctx
        .call_activity::<String>("Refuse", "no thanks")
        .await
        .expect_err("Refuse fails");
    let exploded = ctx
        .call_activity::<String>("Explode", "boom")
        .await
        .expect_err("Explode fails");
    let after: String = ctx.call_activity("Greet", "failures-after").await?;
    Ok(vec![refused.to_string(), exploded.to_string(), after])
}

/// How a harness's client starts instances.
#[derive(Clone, Copy, PartialEq)]
enum Starts {
    /// On its worker, first turns included (eager starts).
    Eager,
    /// Through the store, for the worker to fetch.
    ThroughTheStore,
}

/// A SQLite store with a worker running ahead for `run_ahead` (zero: off).
struct Harness {
    client: DurableClient,
    store: Arc<dyn Store>,
    worker: Worker,
    dir: tempfile::TempDir,
}

impl Harness {
    fn start(run_ahead: Duration, starts: Starts) -> Harness {
        Harness::over(tempfile::tempdir().expect("tempdir"), run_ahead, starts)
    }

    /// A harness over the store file in `dir`, as a host (re)started there.
    fn over(dir: tempfile::TempDir, run_ahead: Duration, starts: Starts) -> Harness {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(
                SqliteOptions {
                    path: dir.path().join("hub.db"),
                    exclusive: true,
                    durability: Default::default(),
                },
                clock.clone(),
            )
            .expect("sqlite opens"),
        );
        let registry = Arc::new(Registry::discover().expect("valid registry"));
        let worker = Worker::start(
            store.clone(),
            registry.clone(),
            clock.clone(),
            WorkerOptions {
                run_ahead,
                ..WorkerOptions::default()
            },
            "run-ahead-test".to_owned(),
        );
        let mut client =
            DurableClient::new(store.clone(), registry, clock, ClientOptions::default());
        if starts == Starts::Eager {
            client = client.with_worker(&worker);
        }
        Harness {
            client,
            store,
            worker,
            dir,
        }
    }

    /// Runs `name` to its end; returns its output and the kinds of its history's events.
    async fn run(&self, name: &str, input: serde_json::Value) -> (serde_json::Value, Vec<String>) {
        let id = self
            .client
            .start_new(name, None, input)
            .await
            .expect("started");
        let status = self
            .client
            .wait_for_completion(&id, Duration::from_secs(20))
            .await
            .expect("finishes");
        assert_eq!(
            status.runtime_status,
            RuntimeStatus::Completed,
            "{status:?}"
        );
        let history = self.store.get_history(&id).await.expect("history");
        let kinds = history
            .iter()
            .map(|event| {
                serde_json::to_value(event).expect("serializes")["eventType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        (status.output, kinds)
    }
}

#[tokio::test]
async fn running_ahead_records_the_history_that_committing_every_turn_records() {
    let every_turn = Harness::start(Duration::ZERO, Starts::ThroughTheStore);
    for starts in [Starts::ThroughTheStore, Starts::Eager] {
        let ahead = Harness::start(Duration::from_millis(50), starts);
        // Eager starts begin once an instance of the orchestrator completed.
        ahead.run("Chain", serde_json::json!("warm-")).await;
        ahead.run("FanOut", serde_json::json!("warm-")).await;
        // A chain's history does not depend on when its turns commit.
        let (ahead_output, ahead_kinds) = ahead.run("Chain", serde_json::json!("same-")).await;
        let (output, kinds) = every_turn.run("Chain", serde_json::json!("same-")).await;
        assert_eq!(ahead_output, output);
        assert_eq!(ahead_kinds, kinds);
        assert_eq!(
            kinds.iter().filter(|k| *k == "OrchestratorStarted").count(),
            4,
            "{kinds:?}"
        );
        // A fan-out's results may arrive in several turns when each is committed; run
        // ahead, they arrive in one. The same events either way.
        let (ahead_output, mut ahead_kinds) = ahead.run("FanOut", serde_json::json!("same-")).await;
        let (output, mut kinds) = every_turn.run("FanOut", serde_json::json!("same-")).await;
        assert_eq!(ahead_output, output);
        assert_eq!(
            ahead_kinds
                .iter()
                .filter(|k| *k == "OrchestratorStarted")
                .count(),
            3,
            "{ahead_kinds:?}"
        );
        let events = |kinds: &mut Vec<String>| {
            kinds.retain(|k| k != "OrchestratorStarted" && k != "OrchestratorCompleted");
            kinds.sort();
            kinds.clone()
        };
        assert_eq!(events(&mut ahead_kinds), events(&mut kinds));
        ahead.worker.shutdown().await;
    }
    every_turn.worker.shutdown().await;
}

#[tokio::test]
async fn activities_run_ahead_before_the_turns_that_scheduled_them_commit() {
    let peek_with = async |run_ahead| {
        let harness = Harness::start(run_ahead, Starts::Eager);
        set_store(&PEEKED_STORE, &harness.store);
        let (output, _) = harness.run("PeekTwice", serde_json::Value::Null).await;
        harness.worker.shutdown().await;
        output
    };
    // Committing each turn first: the first call sees the first turn (ExecutionStarted,
    // OrchestratorStarted, TaskScheduled, OrchestratorCompleted), the second one more.
    assert_eq!(peek_with(Duration::ZERO).await, serde_json::json!([4, 8]));
    // Running ahead: nothing is committed until the orchestration finishes.
    assert_eq!(
        peek_with(Duration::from_millis(200)).await,
        serde_json::json!([0, 0])
    );
}

#[tokio::test]
async fn activities_run_ahead_run_once_each() {
    let harness = Harness::start(Duration::from_millis(50), Starts::ThroughTheStore);
    let (output, _) = harness.run("Chain", serde_json::json!("once-")).await;
    assert_eq!(
        output,
        serde_json::json!([
            "Hello once-Tokyo!",
            "Hello once-Seattle!",
            "Hello once-London!"
        ])
    );
    let (output, _) = harness.run("FanOut", serde_json::json!("fan-")).await;
    assert_eq!(output.as_array().map(Vec::len), Some(6));
    for input in [
        "once-Tokyo",
        "once-Seattle",
        "once-London",
        "fan-0",
        "fan-4",
        "fan-last",
    ] {
        assert_eq!(runs_of(input), 1, "{input}");
    }
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn an_activity_slower_than_the_budget_is_handed_over_and_runs_once() {
    let harness = Harness::start(Duration::from_millis(2), Starts::Eager);
    // The first start is written before it runs, the second is eager.
    for prefix in ["slow-", "slow-eager-"] {
        let (output, kinds) = harness.run("SlowChain", serde_json::json!(prefix)).await;
        assert_eq!(
            output,
            serde_json::json!([
                format!("Hello {prefix}a, slowly!"),
                format!("Hello {prefix}b!"),
                format!("Hello {prefix}c, slowly!")
            ])
        );
        assert_eq!(kinds.iter().filter(|k| *k == "TaskCompleted").count(), 3);
        for call in ["a", "b", "c"] {
            assert_eq!(runs_of(&format!("{prefix}{call}")), 1, "{prefix}{call}");
        }
    }
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn failing_and_panicking_activities_run_ahead_fail_their_calls() {
    let harness = Harness::start(Duration::from_millis(50), Starts::Eager);
    // The first start is written before it runs, the second is eager.
    for _ in 0..2 {
        let (output, kinds) = harness.run("Failures", serde_json::Value::Null).await;
        let output: Vec<String> = serde_json::from_value(output).expect("three strings");
        assert!(output[0].contains("no thanks"), "{output:?}");
        assert!(output[1].contains("boom"), "{output:?}");
        assert_eq!(output[2], "Hello failures-after!");
        assert_eq!(kinds.iter().filter(|k| *k == "TaskFailed").count(), 2);
    }
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn the_default_worker_runs_chains_on_every_store() {
    common::with_each_store(async |client| {
        let id = client
            .start_new("Chain", None, serde_json::json!("default-"))
            .await
            .expect("started");
        let status = client
            .wait_for_completion(&id, Duration::from_secs(20))
            .await
            .expect("finishes");
        assert_eq!(
            status.output,
            serde_json::json!([
                "Hello default-Tokyo!",
                "Hello default-Seattle!",
                "Hello default-London!"
            ])
        );
    })
    .await;
    // Two stores, once each.
    assert_eq!(runs_of("default-Tokyo"), 2);
}

#[tokio::test]
async fn starts_run_eagerly_once_an_instance_of_their_orchestrator_completed() {
    let harness = Harness::start(Duration::from_secs(2), Starts::Eager);
    set_store(&RECORDING_STORE, &harness.store);
    // The first start is on record before its activity runs; later ones run it before
    // the instance and its first turns are written together.
    let (first, _) = harness.run("AmIOnRecord", serde_json::Value::Null).await;
    assert_eq!(first, serde_json::json!(true));
    let (second, kinds) = harness.run("AmIOnRecord", serde_json::Value::Null).await;
    assert_eq!(second, serde_json::json!(false));
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "OrchestratorStarted",
            "TaskScheduled",
            "OrchestratorCompleted",
            "TaskCompleted",
            "OrchestratorStarted",
            "ExecutionCompleted",
            "OrchestratorCompleted"
        ]
    );
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn an_eager_start_returns_with_a_quick_chain_already_finished() {
    let harness = Harness::start(Duration::from_secs(2), Starts::Eager);
    harness.run("Chain", serde_json::json!("warm-up-")).await;
    let id = harness
        .client
        .start_new("Chain", None, serde_json::json!("eager-"))
        .await
        .expect("started");
    // The instance was created with its whole chain in one commit.
    let status = harness
        .client
        .get_status(
            &id,
            StatusOptions {
                show_input: false,
                ..StatusOptions::default()
            },
        )
        .await
        .expect("reads")
        .expect("the instance exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Completed);
    assert_eq!(
        status.output,
        serde_json::json!([
            "Hello eager-Tokyo!",
            "Hello eager-Seattle!",
            "Hello eager-London!"
        ])
    );
    for city in ["Tokyo", "Seattle", "London"] {
        assert_eq!(runs_of(&format!("eager-{city}")), 1, "{city}");
    }
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn an_eager_start_of_a_taken_id_is_refused_before_anything_runs() {
    let harness = Harness::start(Duration::from_millis(50), Starts::Eager);
    harness
        .run("Chain", serde_json::json!("warm-up-taken-"))
        .await;
    let client = &harness.client;
    client
        .start_new(
            "GreetWhenApproved",
            Some("taken"),
            serde_json::json!("approved-Oslo"),
        )
        .await
        .expect("started");
    let refused = client
        .start_new("Chain", Some("taken"), serde_json::json!("taken-"))
        .await;
    assert!(
        matches!(refused, Err(DurableError::InstanceAlreadyRunning(ref id)) if id == "taken"),
        "{refused:?}"
    );
    assert_eq!(
        runs_of("taken-Tokyo"),
        0,
        "nothing of the refused start ran"
    );
    // The waiting instance is untouched and goes on when its event comes.
    client
        .raise_event("taken", "Approval", true)
        .await
        .expect("raised");
    let status = client
        .wait_for_completion("taken", Duration::from_secs(20))
        .await
        .expect("finishes");
    assert_eq!(status.output, serde_json::json!("Hello approved-Oslo!"));
    // Finished, the id may be started again: a fresh execution, eager again.
    client
        .start_new("Chain", Some("taken"), serde_json::json!("again-"))
        .await
        .expect("a finished instance is replaced");
    let status = client
        .wait_for_completion("taken", Duration::from_secs(20))
        .await
        .expect("finishes");
    assert_eq!(
        status.output,
        serde_json::json!([
            "Hello again-Tokyo!",
            "Hello again-Seattle!",
            "Hello again-London!"
        ])
    );
    let history = harness.store.get_history("taken").await.expect("history");
    assert_eq!(
        history
            .iter()
            .filter(|e| matches!(
                e.kind,
                durable_runtime::history::EventKind::ExecutionStarted { .. }
            ))
            .count(),
        1,
        "only the new execution's history"
    );
    harness.worker.shutdown().await;
}

#[tokio::test]
async fn a_start_after_its_worker_stopped_waits_in_the_store_for_the_next_one() {
    let harness = Harness::start(Duration::from_millis(50), Starts::Eager);
    harness
        .run("Chain", serde_json::json!("warm-up-stopped-"))
        .await;
    let Harness {
        client,
        worker,
        dir,
        store,
    } = harness;
    worker.shutdown().await;
    let id = client
        .start_new("Chain", None, serde_json::json!("stopped-"))
        .await
        .expect("started");
    let status = client
        .get_status(
            &id,
            StatusOptions {
                show_input: false,
                ..StatusOptions::default()
            },
        )
        .await
        .expect("reads")
        .expect("the instance exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Pending);
    assert_eq!(runs_of("stopped-Tokyo"), 0);
    drop((client, store));
    // A new host over the same file runs it.
    let next = Harness::over(dir, Duration::from_millis(50), Starts::Eager);
    let (client, worker) = (&next.client, next.worker);
    let status = client
        .wait_for_completion(&id, Duration::from_secs(20))
        .await
        .expect("finishes");
    assert_eq!(
        status.output,
        serde_json::json!([
            "Hello stopped-Tokyo!",
            "Hello stopped-Seattle!",
            "Hello stopped-London!"
        ])
    );
    worker.shutdown().await;
}
