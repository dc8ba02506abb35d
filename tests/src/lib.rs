//! Functions the end-to-end tests need beyond the examples: failures, panics, slow work
//! and an orchestrator that changes its mind between turns. The `test-host` binary serves
//! them together with every example.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// The error `ChargeCard` fails with.
#[derive(Debug)]
pub struct PaymentError(pub String);

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment refused: {}", self.0)
    }
}

/// Always fails with a [`PaymentError`].
#[activity_trigger(name = "ChargeCard")]
pub async fn charge_card(card: String) -> Result<String, PaymentError> {
    Err(PaymentError(format!("card {card} was declined")))
}

/// Always panics.
#[activity_trigger(name = "Explode")]
pub async fn explode() -> String {
    panic!("the activity exploded")
}

/// Returns its input, for orchestrators that need a second activity.
#[activity_trigger(name = "Echo")]
pub async fn echo(value: Value) -> Value {
    value
}

/// Input of `SlowChain`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowChainInput {
    /// Identifies the instance in its output.
    pub n: u64,
    /// How long each step sleeps, in milliseconds.
    pub ms: u64,
}

/// Sleeps for the given milliseconds, then returns them.
#[activity_trigger(name = "Sleep")]
pub async fn sleep(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

/// Two slow steps in a row; outputs `"done {n}"` with the total sleep.
#[orchestration_trigger(name = "SlowChain")]
pub async fn slow_chain(
    ctx: OrchestrationContext,
    input: SlowChainInput,
) -> Result<String, DurableError> {
    let first: u64 = ctx.call_activity("Sleep", input.ms).await?;
    let second: u64 = ctx.call_activity("Sleep", input.ms).await?;
    Ok(format!("done {} after {}ms", input.n, first + second))
}

/// Lets `ChargeCard` fail without catching it: the instance fails.
#[orchestration_trigger(name = "UnhandledActivityFailure")]
pub async fn unhandled_activity_failure(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.call_activity("ChargeCard", "4111").await
}

/// Catches `ChargeCard`'s failure and reports what it caught.
#[orchestration_trigger(name = "CaughtActivityFailure")]
pub async fn caught_activity_failure(ctx: OrchestrationContext) -> Result<Value, DurableError> {
    match ctx.call_activity::<String>("ChargeCard", "4111").await {
        Ok(_) => Err(DurableError::custom("ChargeCard was expected to fail")),
        Err(error) => {
            let details = error
                .task_failure()
                .cloned()
                .ok_or_else(|| DurableError::custom(format!("unexpected error: {error}")))?;
            Ok(serde_json::json!({
                "caughtType": details.error_type,
                "caughtMessage": details.error_message,
            }))
        }
    }
}

/// Calls `Explode` and lets its panic fail the instance.
#[orchestration_trigger(name = "ActivityPanic")]
pub async fn activity_panic(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.call_activity("Explode", ()).await
}

/// Panics after one activity.
#[orchestration_trigger(name = "OrchestratorPanic")]
pub async fn orchestrator_panic(ctx: OrchestrationContext) -> String {
    let _: Value = ctx.call_activity("Echo", 1).await.unwrap_or_default();
    panic!("the orchestrator exploded")
}

static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// True the first time an instance id is seen in this process.
fn first_time(instance_id: String) -> bool {
    let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
    seen.get_or_insert_with(HashSet::new).insert(instance_id)
}

/// Calls `Echo` when it first runs and `SayHello` when replayed: a code change between
/// turns, which replay must catch.
#[orchestration_trigger(name = "ChangesItsMind")]
pub async fn changes_its_mind(ctx: OrchestrationContext) -> Result<Value, DurableError> {
    let first_run = first_time(ctx.instance_id());
    let out: Value = if first_run {
        ctx.call_activity("Echo", "first").await?
    } else {
        ctx.call_activity("SayHello", "second").await?
    };
    Ok(out)
}

/// Greets `count` cities at once with `join_all` and returns the greetings in call order.
#[orchestration_trigger(name = "FanOutGreetings")]
pub async fn fan_out_greetings(
    ctx: OrchestrationContext,
    count: usize,
) -> Result<Vec<String>, DurableError> {
    let calls = (0..count).map(|i| ctx.call_activity::<String>("SayHello", format!("city {i}")));
    futures::future::join_all(calls).await.into_iter().collect()
}
