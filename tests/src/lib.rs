//! Functions the end-to-end tests need beyond the examples: failures, panics, slow work
//! and an orchestrator that changes its mind between turns. The `test-host` binary serves
//! them together with every example.

pub mod program;

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

/// Input of `SlowCounterAdds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowCounterAddsInput {
    /// The `Counter` entity's key.
    pub key: String,
    /// How long each step sleeps, in milliseconds.
    pub ms: u64,
}

/// Adds 1 to a counter twice with slow steps around it, so a crash finds signals both sent
/// and not yet sent; returns the counter's value at the end.
#[orchestration_trigger(name = "SlowCounterAdds")]
pub async fn slow_counter_adds(
    ctx: OrchestrationContext,
    input: SlowCounterAddsInput,
) -> Result<i64, DurableError> {
    let counter = EntityId::new("Counter", input.key);
    ctx.signal_entity(&counter, "add", 1);
    let _: u64 = ctx.call_activity("Sleep", input.ms).await?;
    ctx.signal_entity(&counter, "add", 1);
    let _: u64 = ctx.call_activity("Sleep", input.ms).await?;
    ctx.call_entity(&counter, "get", ()).await
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

/// Calls `Echo` while the file named by its input is absent and `SayHello` once it exists,
/// then waits for `Continue`: creating the file between turns is a code change that replay
/// must catch.
#[orchestration_trigger(name = "ChangesItsMind")]
pub async fn changes_its_mind(
    ctx: OrchestrationContext,
    marker: String,
) -> Result<Value, DurableError> {
    let changed = std::path::Path::new(&marker).exists();
    let out: Value = if changed {
        ctx.call_activity("SayHello", "second").await?
    } else {
        ctx.call_activity("Echo", "first").await?
    };
    let _: Value = ctx.wait_for_external_event("Continue").await?;
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

/// Fans out to `count` `Echo` calls with no check of its own, as a careless orchestrator
/// would: the host's action limit is what stops a huge count.
#[orchestration_trigger(name = "Unbounded")]
pub async fn unbounded(ctx: OrchestrationContext, count: u64) -> Result<u64, DurableError> {
    let calls = (0..count).map(|i| ctx.call_activity::<u64>("Echo", i));
    let results: Vec<u64> = when_all(calls)
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(results.len() as u64)
}

static FLAKY_CALLS: Mutex<Option<std::collections::HashMap<String, u32>>> = Mutex::new(None);

/// Input of `Flaky` and `RetryFlaky`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlakyInput {
    /// How many calls fail before one succeeds.
    pub fail_times: u32,
    /// Retry policy: attempts in all.
    #[serde(default)]
    pub max_attempts: u32,
    /// Retry policy: first wait, in milliseconds.
    #[serde(default)]
    pub first_retry_ms: u64,
    /// Retry policy: backoff coefficient.
    #[serde(default)]
    pub backoff: f64,
}

/// Fails its first `fail_times` calls per calling instance, then returns the call count.
#[activity_trigger(name = "Flaky")]
pub async fn flaky(ctx: ActivityContext, input: FlakyInput) -> Result<u32, String> {
    let calls = {
        let mut calls = FLAKY_CALLS.lock().unwrap_or_else(PoisonError::into_inner);
        let count = calls
            .get_or_insert_with(Default::default)
            .entry(ctx.instance_id().to_owned())
            .or_insert(0);
        *count += 1;
        *count
    };
    if calls <= input.fail_times {
        Err(format!("transient failure {calls}"))
    } else {
        Ok(calls)
    }
}

/// Calls `Flaky` with the retry policy from its input.
#[orchestration_trigger(name = "RetryFlaky")]
pub async fn retry_flaky(
    ctx: OrchestrationContext,
    input: FlakyInput,
) -> Result<u32, DurableError> {
    let retry = RetryOptions::new(
        Duration::from_millis(input.first_retry_ms),
        input.max_attempts,
    )
    .with_backoff_coefficient(input.backoff);
    ctx.call_activity_with_retry("Flaky", &retry, &input).await
}

/// Sleeps first, then takes three `Item` events: events raised before the wait are kept
/// and delivered in arrival order.
#[orchestration_trigger(name = "EventsInOrder")]
pub async fn events_in_order(ctx: OrchestrationContext) -> Result<Vec<Value>, DurableError> {
    let _: u64 = ctx.call_activity("Sleep", 300).await?;
    let mut items = Vec::new();
    for _ in 0..3 {
        items.push(ctx.wait_for_external_event::<Value>("Item").await?);
    }
    Ok(items)
}

/// Races a slow and a fast `Sleep`, then calls one more activity so the race is replayed;
/// outputs the winner's index (1, the fast one).
#[orchestration_trigger(name = "RaceTwo")]
pub async fn race_two(ctx: OrchestrationContext) -> Result<usize, DurableError> {
    let slow = ctx.call_activity::<u64>("Sleep", 600);
    let fast = ctx.call_activity::<u64>("Sleep", 20);
    let (winner, result) = when_any([slow, fast]).await;
    result?;
    let _: Value = ctx.call_activity("Echo", winner).await?;
    Ok(winner)
}

/// Calls `ChangesItsMind` as a sub-orchestration: the child's non-determinism reaches the
/// parent as a failed call.
#[orchestration_trigger(name = "ParentOfChangingChild")]
pub async fn parent_of_changing_child(
    ctx: OrchestrationContext,
    marker: String,
) -> Result<Value, DurableError> {
    ctx.call_sub_orchestrator("ChangesItsMind", marker).await
}

/// Runs HelloCities twice as sub-orchestrations with default (derived) instance ids.
#[orchestration_trigger(name = "TwoChildren")]
pub async fn two_children(ctx: OrchestrationContext) -> Result<Vec<Vec<String>>, DurableError> {
    let first = ctx.call_sub_orchestrator::<Vec<String>>("HelloCities", ());
    let second = ctx.call_sub_orchestrator::<Vec<String>>("HelloCities", ());
    when_all([first, second]).await.into_iter().collect()
}

/// Sends `Approval: true` to the instance named by its input.
#[orchestration_trigger(name = "SendApproval")]
pub async fn send_approval(ctx: OrchestrationContext, target: String) -> String {
    ctx.raise_event(&target, "Approval", true);
    target
}

/// Input of `Accumulate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccumulateState {
    /// Sum so far.
    pub total: i64,
    /// Events still to take.
    pub remaining: u32,
}

/// Takes one `Add` event per execution and continues as new, keeping unprocessed events;
/// outputs the sum once `remaining` events were taken.
#[orchestration_trigger(name = "Accumulate")]
pub async fn accumulate(
    ctx: OrchestrationContext,
    state: AccumulateState,
) -> Result<i64, DurableError> {
    if state.remaining == 0 {
        return Ok(state.total);
    }
    if state.total == 0 {
        let _: u64 = ctx.call_activity("Sleep", 300).await?;
    }
    let add: i64 = ctx.wait_for_external_event("Add").await?;
    ctx.continue_as_new_preserving_events(AccumulateState {
        total: state.total + add,
        remaining: state.remaining - 1,
    });
    Ok(0)
}

/// Logs a line before each of three steps; replayed steps must not log again.
#[orchestration_trigger(name = "LoggingChain")]
pub async fn logging_chain(ctx: OrchestrationContext) -> Result<u32, DurableError> {
    for step in 1..=3u32 {
        tracing::info!("logging chain step {step} of {}", ctx.instance_id());
        let _: Value = ctx.call_activity("Echo", step).await?;
    }
    Ok(3)
}

/// Fails until the file named by its input exists: a fault that an operator can fix.
#[activity_trigger(name = "FailsUntilFixed")]
pub async fn fails_until_fixed(marker: String) -> Result<String, String> {
    if std::path::Path::new(&marker).exists() {
        Ok("fixed".to_owned())
    } else {
        Err(format!("{marker} does not exist yet"))
    }
}

/// Greets once, then calls `FailsUntilFixed`, then greets again; outputs all three.
#[orchestration_trigger(name = "NeedsAFix")]
pub async fn needs_a_fix(
    ctx: OrchestrationContext,
    marker: String,
) -> Result<Vec<String>, DurableError> {
    let first: String = ctx.call_activity("SayHello", "before").await?;
    let fixed: String = ctx.call_activity("FailsUntilFixed", &marker).await?;
    let last: String = ctx.call_activity("SayHello", "after").await?;
    Ok(vec![first, fixed, last])
}

/// `GET /api/whoami/function`: needs the function key (or the system key).
#[client(name = "FunctionLevel", http(route = "whoami/function", methods = ["GET"]))]
pub async fn function_level() -> &'static str {
    "function"
}

/// `GET /api/whoami/admin`: needs the system key.
#[client(name = "AdminLevel", http(route = "whoami/admin", methods = ["GET"], auth = "admin"))]
pub async fn admin_level() -> &'static str {
    "admin"
}

/// Every two seconds, when `DURABLE_TEST_TICKS` is set, starts `RecordTick` with the tick's
/// time in its id: a tick fired twice would collide on that id.
#[client(name = "EveryTwoSeconds", timer(schedule = "*/2 * * * * *"))]
pub async fn every_two_seconds(client: DurableClient, info: TimerInfo) -> Result<(), DurableError> {
    if std::env::var_os("DURABLE_TEST_TICKS").is_none() {
        return Ok(());
    }
    let id = format!("tick-{}", info.scheduled_time.timestamp());
    let input = serde_json::json!({ "pastDue": info.is_past_due });
    client.start_new("RecordTick", Some(&id), input).await?;
    Ok(())
}

/// Returns its input: a record of one timer tick.
#[orchestration_trigger(name = "RecordTick")]
pub async fn record_tick(_ctx: OrchestrationContext, tick: Value) -> Value {
    tick
}

/// Kills the whole host process, as a fatal bug in an activity would.
#[activity_trigger(name = "CrashTheHost")]
pub async fn crash_the_host() -> String {
    std::process::abort()
}

/// Calls `CrashTheHost`: each host that runs it dies, until the call is a poison message.
#[orchestration_trigger(name = "CrashesTheHost")]
pub async fn crashes_the_host(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.call_activity("CrashTheHost", ()).await
}

/// Kills the whole host process during its turn, as a fatal bug in orchestrator code would.
#[orchestration_trigger(name = "AbortsItsHost")]
pub async fn aborts_its_host(_ctx: OrchestrationContext) -> String {
    std::process::abort()
}

/// Input of `LockPair`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockPairInput {
    /// The key of the `Counter` named first (the lock order is the runtime's, not this).
    pub first: String,
    /// The other counter's key.
    pub second: String,
    /// How many critical sections to run.
    pub rounds: u32,
}

/// Runs `rounds` critical sections over two counters, adding 1 to each inside: two
/// instances naming the counters in opposite orders must not deadlock.
#[orchestration_trigger(name = "LockPair")]
pub async fn lock_pair(
    ctx: OrchestrationContext,
    input: LockPairInput,
) -> Result<u32, DurableError> {
    let first = EntityId::new("Counter", input.first);
    let second = EntityId::new("Counter", input.second);
    for _ in 0..input.rounds {
        let _section = ctx.lock([&first, &second]).await?;
        ctx.call_entity::<()>(&first, "add", 1).await?;
        ctx.call_entity::<()>(&second, "add", 1).await?;
    }
    Ok(input.rounds)
}

/// Locks the counter with the input's key and holds the lock until the `release` event.
#[orchestration_trigger(name = "HoldLock")]
pub async fn hold_lock(ctx: OrchestrationContext, key: String) -> Result<(), DurableError> {
    let counter = EntityId::new("Counter", key);
    let _section = ctx.lock([counter]).await?;
    ctx.wait_for_external_event::<Value>("release").await?;
    Ok(())
}

/// Every second, when `DURABLE_TEST_FIRES` is set, starts `RecordTick` under a fresh id with
/// the tick (Unix seconds), whether it was past due and the host's process id: each fire
/// leaves an instance of its own, so a tick fired twice or never shows.
#[client(name = "EverySecond", timer(schedule = "* * * * * *"))]
pub async fn every_second(client: DurableClient, info: TimerInfo) -> Result<(), DurableError> {
    if std::env::var_os("DURABLE_TEST_FIRES").is_none() {
        return Ok(());
    }
    let input = serde_json::json!({
        "tick": info.scheduled_time.timestamp(),
        "pastDue": info.is_past_due,
        "host": std::process::id(),
    });
    client.start_new("RecordTick", None, input).await?;
    Ok(())
}

/// The input of `CallHttp`: one durable HTTP call, described in JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCallInput {
    /// The method [default: GET].
    #[serde(default = "get_method")]
    pub method: String,
    /// The URL.
    pub url: String,
    /// Plain headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Headers marked secret.
    #[serde(default)]
    pub secret_headers: std::collections::BTreeMap<String, String>,
    /// Headers marked secret, by the environment variable holding each value: the value
    /// reaches the request without passing through the instance's input, as a secret from
    /// configuration would.
    #[serde(default)]
    pub secret_headers_from_env: std::collections::BTreeMap<String, String>,
    /// The body.
    pub body: Option<String>,
    /// The token source to name.
    pub token_source: Option<String>,
    /// The call's timeout.
    pub timeout_ms: Option<u64>,
    /// The wait between polls without `Retry-After`.
    pub poll_interval_ms: Option<u64>,
    /// The most polls.
    pub max_polls: Option<u32>,
    /// Whether 202 answers are polled [default: true].
    pub asynchronous_pattern: Option<bool>,
    /// Retries: `{ "firstIntervalMs", "attempts", "statusCodes" }`.
    pub retry: Option<HttpCallRetry>,
}

fn get_method() -> String {
    "GET".to_owned()
}

/// The retry part of [`HttpCallInput`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCallRetry {
    /// The wait before the first retry.
    pub first_interval_ms: u64,
    /// Attempts in all.
    pub attempts: u32,
    /// Answers to retry.
    #[serde(default)]
    pub status_codes: Vec<u16>,
}

/// Makes the durable HTTP call its input describes and completes with the answer.
#[orchestration_trigger(name = "CallHttp")]
pub async fn call_http(
    ctx: OrchestrationContext,
    input: HttpCallInput,
) -> Result<durable_runtime::http::DurableHttpResponse, DurableError> {
    use durable_runtime::http::{DurableHttpRequest, HttpRetryOptions};
    let mut request = DurableHttpRequest::new(input.method, input.url);
    for (name, value) in input.headers {
        request = request.header(name, value);
    }
    for (name, value) in input.secret_headers {
        request = request.secret_header(name, value);
    }
    for (name, variable) in input.secret_headers_from_env {
        request = request.secret_header(name, std::env::var(variable).unwrap_or_default());
    }
    if let Some(body) = input.body {
        request = request.body(body);
    }
    if let Some(source) = input.token_source {
        request = request.token_source(source);
    }
    if let Some(ms) = input.timeout_ms {
        request = request.timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = input.poll_interval_ms {
        request = request.poll_interval(Duration::from_millis(ms));
    }
    if let Some(polls) = input.max_polls {
        request = request.max_polls(polls);
    }
    if let Some(enabled) = input.asynchronous_pattern {
        request = request.asynchronous_pattern(enabled);
    }
    if let Some(retry) = input.retry {
        let options = RetryOptions::new(
            Duration::from_millis(retry.first_interval_ms),
            retry.attempts,
        );
        request =
            request.retry(HttpRetryOptions::new(options).status_codes_to_retry(retry.status_codes));
    }
    ctx.call_http(request).await
}

/// A token source linked into the test host: the token is `TEST_LINKED_TOKEN`.
struct LinkedTokenSource;

#[durable_runtime::http::async_trait]
impl durable_runtime::http::TokenSource for LinkedTokenSource {
    async fn token(&self) -> Result<String, String> {
        std::env::var("TEST_LINKED_TOKEN").map_err(|_| "TEST_LINKED_TOKEN is not set".to_owned())
    }
}

fn linked_token_source() -> std::sync::Arc<dyn durable_runtime::http::TokenSource> {
    std::sync::Arc::new(LinkedTokenSource)
}

durable_runtime::register_token_source!("linked", linked_token_source);

/// Which "release" of the code this host process runs (`TEST_CODE_RELEASE`, `1` unless
/// set): the versioning test runs two releases of [`versioned_steps`] side by side.
fn code_release() -> String {
    std::env::var("TEST_CODE_RELEASE").unwrap_or_else(|_| "1".to_owned())
}

/// An orchestrator whose code changed between releases: release 1 calls `StepV1`,
/// release 2 calls `StepV2` in its place. Replaying an instance of one release on the
/// other's code breaks replay, so each instance must stay on hosts of its own version.
/// It then calls a child (which reports the version it inherited), waits for `Go`, and
/// says which release finished it.
#[orchestration_trigger(name = "VersionedSteps")]
pub async fn versioned_steps(ctx: OrchestrationContext) -> Result<Value, DurableError> {
    let step = if code_release() == "1" {
        "StepV1"
    } else {
        "StepV2"
    };
    let step: String = ctx.call_activity(step, ()).await?;
    let child_version: Option<String> = ctx.call_sub_orchestrator("VersionedChild", ()).await?;
    ctx.set_custom_status("waiting");
    let _: Value = ctx.wait_for_external_event("Go").await?;
    Ok(serde_json::json!({
        "step": step,
        "version": ctx.version(),
        "childVersion": child_version,
        "finishedBy": code_release(),
    }))
}

/// Reports the orchestration version it runs with.
#[orchestration_trigger(name = "VersionedChild")]
pub async fn versioned_child(ctx: OrchestrationContext) -> Result<Option<String>, DurableError> {
    Ok(ctx.version())
}

/// Release 1's step.
#[activity_trigger(name = "StepV1")]
pub async fn step_v1(_: Value) -> String {
    "StepV1".to_owned()
}

/// Release 2's step.
#[activity_trigger(name = "StepV2")]
pub async fn step_v2(_: Value) -> String {
    "StepV2".to_owned()
}

/// Input of `LedgerChain`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerInput {
    /// The file each step's run appends a line to: the test's own count of executions.
    pub ledger: String,
    /// How many steps.
    pub steps: u32,
    /// How long each step takes after writing its line, in milliseconds.
    #[serde(default)]
    pub step_ms: u64,
}

/// One step of `LedgerChain`: appends `{step}` to the ledger (one line per execution, so a
/// re-run shows as a repeated line), takes `ms` milliseconds, and returns the step.
#[activity_trigger(name = "LedgerStep")]
pub async fn ledger_step((ledger, step, ms): (String, u32, u64)) -> Result<u32, String> {
    append_to_ledger(&ledger, &step.to_string())?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(step)
}

/// Appends `line` to the ledger file a test keeps of executions.
pub fn append_to_ledger(ledger: &str, line: &str) -> Result<(), String> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ledger)
        .map_err(|e| format!("cannot open the ledger {ledger}: {e}"))?;
    // One write of the whole line: concurrent appends then never interleave.
    file.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("cannot write the ledger: {e}"))
}

/// Runs `steps` ledger steps one after another; outputs their sum.
#[orchestration_trigger(name = "LedgerChain")]
pub async fn ledger_chain(
    ctx: OrchestrationContext,
    input: LedgerInput,
) -> Result<u32, DurableError> {
    let mut sum = 0;
    for step in 1..=input.steps {
        let done: u32 = ctx
            .call_activity("LedgerStep", (&input.ledger, step, input.step_ms))
            .await?;
        sum += done;
    }
    Ok(sum)
}

/// Input of `PayloadProbe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayloadProbeInput {
    /// What to make of the given size: `activity` (a result), `activityInput` (a call's
    /// input), `output`, `customStatus`, `entity` (an entity's state) or `event` (wait for
    /// `Data` and return it).
    pub what: String,
    /// The size, in bytes of JSON: a string of `bytes - 2` characters.
    #[serde(default)]
    pub bytes: usize,
}

/// A JSON string of exactly `bytes` bytes as stored.
fn text_of(bytes: usize) -> String {
    "x".repeat(bytes.saturating_sub(2))
}

/// Returns a text of `bytes` bytes of JSON.
#[activity_trigger(name = "MakeText")]
pub async fn make_text(bytes: usize) -> String {
    text_of(bytes)
}

/// A state of a chosen size: `fill` (a size in bytes) makes it a text of that many bytes
/// of JSON, `get` returns it.
#[entity_trigger(name = "Blob")]
pub async fn blob(mut ctx: EntityContext<Value>) -> Result<(), DurableError> {
    match ctx.operation_name() {
        "fill" => {
            let bytes: usize = ctx.get_input()?;
            ctx.set_state(Value::String(text_of(bytes)));
        }
        _ => {
            let value = ctx.state().clone();
            ctx.return_value(value);
        }
    }
    Ok(())
}

/// Makes a payload of the given size where asked, and reports what came back: the size it
/// got, or the failure's type.
#[orchestration_trigger(name = "PayloadProbe")]
pub async fn payload_probe(
    ctx: OrchestrationContext,
    input: PayloadProbeInput,
) -> Result<Value, DurableError> {
    let failure = |error: DurableError| {
        let details = error.task_failure().cloned();
        serde_json::json!({
            "failed": details.as_ref().map(|d| d.error_type.clone()),
            "message": details.map(|d| d.error_message).unwrap_or_else(|| error.to_string()),
        })
    };
    match input.what.as_str() {
        "activity" => Ok(
            match ctx.call_activity::<String>("MakeText", input.bytes).await {
                Ok(text) => serde_json::json!({"bytes": text.len() + 2}),
                Err(error) => failure(error),
            },
        ),
        "output" => Ok(Value::String(text_of(input.bytes))),
        "activityInput" => {
            let back: String = ctx.call_activity("Echo", text_of(input.bytes)).await?;
            Ok(serde_json::json!({"bytes": back.len() + 2}))
        }
        "customStatus" => {
            ctx.set_custom_status(text_of(input.bytes));
            Ok(Value::from("set"))
        }
        "entity" => {
            let entity = EntityId::new("Blob", ctx.instance_id());
            let stored = ctx.call_entity::<()>(&entity, "fill", input.bytes).await;
            Ok(match stored {
                Ok(()) => {
                    let back: Value = ctx.call_entity(&entity, "get", ()).await?;
                    serde_json::json!({"bytes": back.as_str().map_or(0, |s| s.len() + 2)})
                }
                Err(error) => failure(error),
            })
        }
        _ => ctx.wait_for_external_event::<Value>("Data").await,
    }
}

/// Input of `CallActivityByName`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCall {
    /// The activity to call: a Rust one, or one a remote worker (another language's SDK)
    /// runs.
    pub activity: String,
    /// Its input.
    pub input: Value,
}

/// Calls the activity its input names, twice in sequence, and returns both results: a
/// Rust orchestration calling another language's activity.
#[orchestration_trigger(name = "CallActivityByName")]
pub async fn call_activity_by_name(
    ctx: OrchestrationContext,
    call: NamedCall,
) -> Result<Vec<Value>, DurableError> {
    let first: Value = ctx
        .call_activity(&call.activity, call.input.clone())
        .await?;
    let second: Value = ctx.call_activity(&call.activity, first.clone()).await?;
    Ok(vec![first, second])
}
