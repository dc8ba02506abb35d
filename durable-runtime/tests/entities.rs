//! Entities in process, through the client, against a worker on the memory and SQLite
//! stores: orchestrations started by entities, and orphaned locks released by
//! `clean_entity_storage`.

use std::time::{Duration, Instant};

use durable_runtime::StartOptions;
use durable_runtime::StatusOptions;
use durable_runtime::engine::store::ReplacePolicy;
use durable_runtime::prelude::*;

mod common;

use common::with_each_store;

/// A number: `add` adds the input, `launch` starts `Greet` with the state as input and
/// returns the new instance's id.
#[entity_trigger(name = "Tally")]
async fn tally(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
    match ctx.operation_name() {
        "add" => *ctx.state_mut() += ctx.get_input::<i64>()?,
        "launch" => {
            let input = *ctx.state();
            let id = ctx.start_new_orchestration("Greet", input, Some("greeting"))?;
            ctx.return_value(id);
        }
        other => return Err(DurableError::custom(format!("no operation `{other}`"))),
    }
    Ok(())
}

#[orchestration_trigger(name = "Greet")]
async fn greet(_ctx: OrchestrationContext, n: i64) -> Result<String, DurableError> {
    Ok(format!("hello {n}"))
}

/// Locks the tally `held` and waits for `Go` while holding it.
#[orchestration_trigger(name = "HoldTally")]
async fn hold_tally(ctx: OrchestrationContext) -> Result<(), DurableError> {
    let _section = ctx.lock([EntityId::new("Tally", "held")]).await?;
    ctx.wait_for_external_event::<()>("Go").await
}

#[orchestration_trigger(name = "Idle")]
async fn idle(ctx: OrchestrationContext) -> Result<(), DurableError> {
    ctx.wait_for_external_event::<()>("Go").await
}

/// Polls until `check` holds, for up to ten seconds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn tally_of(client: &DurableClient, key: &str) -> Option<i64> {
    client
        .read_entity_state(&EntityId::new("Tally", key))
        .await
        .expect("readable")
}

#[tokio::test]
async fn an_operation_starts_an_orchestration_when_it_commits() {
    with_each_store(async |client| {
        let id = EntityId::new("Tally", "launcher");
        client.signal_entity(&id, "add", 7).await.expect("signaled");
        client
            .signal_entity(&id, "launch", ())
            .await
            .expect("signaled");
        eventually("the start", async || {
            client
                .get_status(
                    "greeting",
                    StatusOptions {
                        show_input: false,
                        ..StatusOptions::default()
                    },
                )
                .await
                .ok()
                .flatten()
                .is_some()
        })
        .await;
        let status = client
            .wait_for_completion("greeting", Duration::from_secs(10))
            .await
            .expect("the entity started it");
        assert_eq!(status.output, serde_json::json!("hello 7"));
    })
    .await;
}

#[tokio::test]
async fn clean_entity_storage_releases_a_lock_whose_holder_is_gone() {
    with_each_store(async |client| {
        let held = EntityId::new("Tally", "held");
        let start = |name: &'static str, replace| {
            let client = client.clone();
            async move {
                let options = StartOptions {
                    instance_id: Some("holder".to_owned()),
                    replace,
                    ..StartOptions::default()
                };
                client.start_new_with_options(name, options, ()).await
            }
        };
        start("HoldTally", None).await.expect("started");
        eventually("the lock grant", async || {
            let status = client
                .get_status(
                    "holder",
                    StatusOptions {
                        show_history: true,
                        show_input: false,
                        ..StatusOptions::default()
                    },
                )
                .await;
            status.ok().flatten().is_some_and(|s| {
                s.history_events.is_some_and(|events| {
                    events.iter().any(|e| e.event_type == "EntityLockGranted")
                })
            })
        })
        .await;
        assert_eq!(
            client
                .clean_entity_storage()
                .await
                .expect("cleans")
                .orphaned_locks_released,
            0,
            "a running holder keeps its lock"
        );
        // Replacing the running holder leaves its lock with nobody to release it.
        start("Idle", Some(ReplacePolicy::Any))
            .await
            .expect("replaced");
        client
            .signal_entity(&held, "add", 5)
            .await
            .expect("signaled");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            tally_of(&client, "held").await,
            None,
            "the add waits for the lock"
        );
        let cleaned = client.clean_entity_storage().await.expect("cleans");
        assert_eq!(cleaned.orphaned_locks_released, 1);
        eventually("the waiting add", async || {
            tally_of(&client, "held").await == Some(5)
        })
        .await;
        assert_eq!(
            client
                .clean_entity_storage()
                .await
                .expect("cleans")
                .orphaned_locks_released,
            0
        );
    })
    .await;
}
