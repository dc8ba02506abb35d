//! The client API in process, against a worker on the memory and SQLite stores: scheduled
//! starts, replace policies and waiting with a timeout.

use std::time::Duration;

use durable_runtime::StartOptions;
use durable_runtime::StatusOptions;
use durable_runtime::engine::store::ReplacePolicy;
use durable_runtime::prelude::*;

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
            replace: None,
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
            start_at: None,
            replace: Some(ReplacePolicy::Any),
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
