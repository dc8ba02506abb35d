//! The functions the workloads run. Every name ends in `Bench`, so they never clash with
//! the examples' functions.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use durable_runtime::prelude::*;

/// The cities the chain of three greets, in order.
pub const CITIES: [&str; 3] = ["Tokyo", "Seattle", "London"];

/// The event `WaitForEventBench` waits for.
pub const GO_EVENT: &str = "GoBench";

/// When each `StepBench` call ran, with its input, in call order (W4).
static STEP_TIMES: Mutex<Vec<(u64, Instant)>> = Mutex::new(Vec::new());

/// Forgets the recorded `StepBench` calls.
pub fn reset_step_times() {
    STEP_TIMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

/// Takes the recorded `StepBench` calls: input and time of each, in call order.
pub fn take_step_times() -> Vec<(u64, Instant)> {
    std::mem::take(&mut *STEP_TIMES.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Greets a city (W1, W3, W5).
#[activity_trigger(name = "SayHelloBench")]
pub async fn say_hello_bench(city: String) -> String {
    format!("Hello {city}!")
}

/// The chain of three: greets Tokyo, Seattle and London one after another (W1, W3, and
/// each child of W5).
#[orchestration_trigger(name = "HelloCitiesBench")]
pub async fn hello_cities_bench(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let mut outputs = Vec::with_capacity(CITIES.len());
    for city in CITIES {
        outputs.push(ctx.call_activity::<String>("SayHelloBench", city).await?);
    }
    Ok(outputs)
}

/// Returns its input (W2's unit of parallel work).
#[activity_trigger(name = "NumberBench")]
pub async fn number_bench(index: u64) -> u64 {
    index
}

/// Fan-out/fan-in: calls `NumberBench` for 0..n in one turn and outputs the sum (W2).
#[orchestration_trigger(name = "FanOutBench")]
pub async fn fan_out_bench(ctx: OrchestrationContext, n: u64) -> Result<u64, DurableError> {
    let calls = (0..n).map(|i| ctx.call_activity::<u64>("NumberBench", i));
    let mut sum = 0;
    for result in when_all(calls).await {
        sum += result?;
    }
    Ok(sum)
}

/// Records when it ran and returns its input (W4's step).
#[activity_trigger(name = "StepBench")]
pub async fn step_bench(index: u64) -> u64 {
    STEP_TIMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((index, Instant::now()));
    index
}

/// Calls `StepBench` for 0..n one after another and outputs the sum of the results (W4).
#[orchestration_trigger(name = "SequenceBench")]
pub async fn sequence_bench(ctx: OrchestrationContext, n: u64) -> Result<u64, DurableError> {
    let mut sum = 0;
    for i in 0..n {
        sum += ctx.call_activity::<u64>("StepBench", i).await?;
    }
    Ok(sum)
}

/// Starts n `HelloCitiesBench` sub-orchestrations at once and outputs their outputs (W5).
#[orchestration_trigger(name = "SubOrchestrationsBench")]
pub async fn sub_orchestrations_bench(
    ctx: OrchestrationContext,
    n: u64,
) -> Result<Vec<Vec<String>>, DurableError> {
    let calls = (0..n).map(|_| ctx.call_sub_orchestrator::<Vec<String>>("HelloCitiesBench", ()));
    when_all(calls).await.into_iter().collect()
}

/// Waits for the event `GoBench` and outputs its data (idle).
#[orchestration_trigger(name = "WaitForEventBench")]
pub async fn wait_for_event_bench(ctx: OrchestrationContext) -> Result<u64, DurableError> {
    ctx.wait_for_external_event::<u64>(GO_EVENT).await
}
