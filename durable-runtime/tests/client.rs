//! The client API in process, against a worker on the memory and SQLite stores: scheduled
//! starts, replace policies and waiting with a timeout.

use std::time::Duration;

use durable_runtime::StartOptions;
use durable_runtime::engine::store::ReplacePolicy;
use durable_runtime::prelude::*;
use durable_runtime::{StatusOptions, TerminateOptions};

mod common;

use common::with_each_store;

#[activity_trigger(name = "Double")]
async fn double(n: u64) -> u64 {
    n * 2
}

#[orchestration_trigger(name = "DoubleIt")]
async fn double_it(ctx: OrchestrationContext, n: u64) -> Result<u64, DurableError> {
    ctx.call_activity("Double", n).await
}

#[orchestration_trigger(name = "WaitForGo")]
async fn wait_for_go(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.wait_for_external_event("Go").await
}

#[tokio::test]
async fn a_scheduled_start_waits_pending_until_its_time() {
    with_each_store(async |client| {
        let start_at = chrono::Utc::now() + chrono::Duration::milliseconds(700);
        let options = StartOptions {
            instance_id: Some("later".to_owned()),
            start_at: Some(start_at),
            ..StartOptions::default()
        };
        client
            .start_new_with_options("DoubleIt", options, 21)
            .await
            .expect("started");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = client
            .get_status("later", StatusOptions::default())
            .await
            .expect("status");
        assert_eq!(
            status.map(|s| s.runtime_status),
            Some(RuntimeStatus::Pending)
        );
        let done = client
            .wait_for_completion("later", Duration::from_secs(10))
            .await
            .expect("completes");
        assert_eq!(done.output, 42);
        assert!(chrono::Utc::now() >= start_at);
    })
    .await;
}

#[tokio::test]
async fn replacing_a_running_instance_needs_the_any_policy() {
    with_each_store(async |client| {
        client
            .start_new("WaitForGo", Some("busy"), ())
            .await
            .expect("started");
        let refused = client.start_new("DoubleIt", Some("busy"), 1).await;
        assert!(
            matches!(refused, Err(DurableError::InstanceAlreadyRunning(_))),
            "{refused:?}"
        );
        let options = StartOptions {
            instance_id: Some("busy".to_owned()),
            replace: Some(ReplacePolicy::Any),
            ..StartOptions::default()
        };
        client
            .start_new_with_options("DoubleIt", options, 5)
            .await
            .expect("replaced");
        let done = client
            .wait_for_completion("busy", Duration::from_secs(10))
            .await
            .expect("done");
        assert_eq!(done.name, "DoubleIt");
        assert_eq!(done.output, 10);
    })
    .await;
}

#[tokio::test]
async fn waiting_gives_up_after_the_timeout() {
    with_each_store(async |client| {
        client
            .start_new("WaitForGo", Some("stuck"), ())
            .await
            .expect("started");
        let waited = client
            .wait_for_completion("stuck", Duration::from_millis(200))
            .await;
        assert!(
            matches!(waited, Err(DurableError::Timeout(_))),
            "{waited:?}"
        );
        client
            .raise_event("stuck", "Go", "now")
            .await
            .expect("raised");
        let done = client
            .wait_for_completion("stuck", Duration::from_secs(10))
            .await
            .expect("done");
        assert_eq!(done.output, "now");
        let missing = client
            .wait_for_completion("nobody", Duration::from_millis(50))
            .await;
        assert!(matches!(missing, Err(DurableError::InstanceNotFound(_))));
    })
    .await;
}

/// Continues as new once, then waits for `Go`.
#[orchestration_trigger(name = "ContinueOnceThenWait")]
async fn continue_once_then_wait(
    ctx: OrchestrationContext,
    round: u32,
) -> Result<u32, DurableError> {
    if round == 0 {
        ctx.continue_as_new(1);
        return Ok(0);
    }
    let _: Value = ctx.wait_for_external_event("Go").await?;
    Ok(round)
}

/// A fallback so long that only a wake-up can end a wait within a test.
const NO_POLLING: Duration = Duration::from_secs(600);
/// Longer than any wake-up takes, far shorter than [`NO_POLLING`].
const WOKEN: Duration = Duration::from_secs(30);

/// Waits for `id` in the background with a fallback poll of ten minutes.
fn wait_in_background(
    client: &DurableClient,
    id: &str,
) -> tokio::task::JoinHandle<(u16, std::time::Instant)> {
    let client = client.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        let answer = client
            .wait_for_completion_or_create_check_status_response(&id, NO_POLLING, NO_POLLING)
            .await
            .expect("waits");
        (answer.status().as_u16(), std::time::Instant::now())
    })
}

#[tokio::test]
async fn the_commit_that_finishes_an_instance_wakes_its_waiters() {
    with_each_store(async |client| {
        for (id, finish) in [("raised", "raise"), ("terminated", "terminate")] {
            client
                .start_new("WaitForGo", Some(id), ())
                .await
                .expect("started");
            let waiters: Vec<_> = (0..3).map(|_| wait_in_background(&client, id)).collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let finished_at = std::time::Instant::now();
            match finish {
                "raise" => client.raise_event(id, "Go", "now").await.expect("raised"),
                _ => client
                    .terminate(id, TerminateOptions::new("enough"))
                    .await
                    .expect("terminated"),
            }
            for waiter in waiters {
                let (status, answered_at) = tokio::time::timeout(WOKEN, waiter)
                    .await
                    .expect("woken, not polled")
                    .expect("the waiter runs");
                assert_eq!(status, 200, "{id}");
                assert!(answered_at >= finished_at);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_wait_outlives_continue_as_new_and_times_out_with_a_check_status_answer() {
    with_each_store(async |client| {
        client
            .start_new("ContinueOnceThenWait", Some("renewed"), 0)
            .await
            .expect("started");
        let waiter = wait_in_background(&client, "renewed");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "ContinuedAsNew is not finished");
        client
            .raise_event("renewed", "Go", ())
            .await
            .expect("raised");
        let (status, _) = tokio::time::timeout(WOKEN, waiter)
            .await
            .expect("woken")
            .expect("runs");
        assert_eq!(status, 200);
        let done = client
            .wait_for_completion("renewed", Duration::from_secs(5))
            .await
            .expect("done");
        assert_eq!(done.output, 1);
        client
            .start_new("WaitForGo", Some("never"), ())
            .await
            .expect("started");
        let answer = client
            .wait_for_completion_or_create_check_status_response(
                "never",
                Duration::from_millis(200),
                Duration::from_millis(50),
            )
            .await
            .expect("answers");
        assert_eq!(answer.status().as_u16(), 202, "the check-status answer");
        assert!(answer.headers().contains_key("location"));
    })
    .await;
}

#[tokio::test]
async fn a_waiter_on_another_postgres_host_is_woken_by_its_notification() {
    let Ok(url) = std::env::var("DURABLE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "DURABLE_TEST_POSTGRES_URL must be set under CI=true"
        );
        eprintln!("note: skipped: set DURABLE_TEST_POSTGRES_URL to run it");
        return;
    };
    use durable_runtime::ClientOptions;
    use durable_runtime::clock::{Clock, SystemClock};
    use durable_runtime::engine::registry::Registry;
    use durable_runtime::engine::store::{PostgresOptions, PostgresStore, Store};
    use durable_runtime::engine::worker::{Worker, WorkerOptions};
    use std::sync::Arc;
    let hub = format!("waiters{}", uuid::Uuid::new_v4().simple());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let options = || PostgresOptions::new(&url, &hub);
    let working: Arc<dyn Store> = Arc::new(
        PostgresStore::open(options(), clock.clone())
            .await
            .expect("the hub opens"),
    );
    let watching: Arc<dyn Store> = Arc::new(
        PostgresStore::open(options(), clock.clone())
            .await
            .expect("the hub opens"),
    );
    let registry = Arc::new(Registry::discover().expect("valid registry"));
    let worker = Worker::start(
        working.clone(),
        registry.clone(),
        clock.clone(),
        WorkerOptions::default(),
        "host-a".to_owned(),
    );
    let client = |store: Arc<dyn Store>| {
        DurableClient::new(
            store,
            registry.clone(),
            clock.clone(),
            ClientOptions::default(),
        )
    };
    let host_a = client(working).with_worker(&worker);
    // Host B serves no worker: only host A's commit can finish the instance.
    let host_b = client(watching);
    host_a
        .start_new("WaitForGo", Some("elsewhere"), ())
        .await
        .expect("started");
    let waiter = wait_in_background(&host_b, "elsewhere");
    tokio::time::sleep(Duration::from_millis(200)).await;
    host_a
        .raise_event("elsewhere", "Go", "from a")
        .await
        .expect("raised");
    let (status, _) = tokio::time::timeout(WOKEN, waiter)
        .await
        .expect("woken by the notification, not polled")
        .expect("runs");
    assert_eq!(status, 200);
    worker.shutdown().await;
    if let Ok((db, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        let driver = tokio::spawn(connection);
        let _ = db
            .batch_execute(&format!("DROP SCHEMA IF EXISTS durable_{hub} CASCADE"))
            .await;
        drop(db);
        let _ = driver.await;
    }
}
