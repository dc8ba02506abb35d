//! Replay engine tests: a literal history and the next turn's messages in, one turn out.
//!
//! A [`Case`] gives the recorded history, the time and messages of the next turn, and what
//! that turn must append, schedule and report; [`check`] replays, runs the turn and
//! compares. Histories are written with the event helpers below, turn by turn, as the
//! engine lays them out:
//! `[messages] OrchestratorStarted [TaskScheduled..] [ExecutionCompleted] OrchestratorCompleted`.
//! Orchestrators are hand-written invokers, as `#[orchestration_trigger]` expands them.

use std::future::Future;

use chrono::{DateTime, Utc};
use futures::future::{Either, join_all, select, select_all};
use serde::Serialize;
use serde_json::{Value, json};

use super::OrchestrationContext;
use super::replay::{Execution, Invoker, ScheduledActivity, TurnOutput, failed_turn};
use crate::__private::encode_orchestration_result;
use crate::error::DurableError;
use crate::history::{EventKind, FailureDetails, HistoryEvent};
use crate::registry::{BoxFuture, InvocationResult};
use crate::status::RuntimeStatus;

const INSTANCE: &str = "replay-test";

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// The start of turn `t`: `t` seconds after 2024-01-01T00:00:00Z.
fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200 + t, 0).expect("a valid time")
}

/// A message. Messages keep their sender's time, which is never a turn's time, so a test
/// notices when the engine takes the orchestration's time from anything but
/// OrchestratorStarted.
fn message(kind: EventKind) -> HistoryEvent {
    HistoryEvent::new(at(-1000), kind)
}

fn started(input: Value) -> HistoryEvent {
    message(EventKind::ExecutionStarted {
        name: "Test".to_owned(),
        input,
        execution_id: "execution-1".to_owned(),
        parent: None,
        scheduled_start: None,
        parent_trace_context: None,
        version: None,
    })
}

fn completed(id: i64, result: Value) -> HistoryEvent {
    message(EventKind::TaskCompleted {
        task_scheduled_id: id,
        result,
    })
}

fn failed(id: i64, error_type: &str, error_message: &str) -> HistoryEvent {
    message(EventKind::TaskFailed {
        task_scheduled_id: id,
        failure: FailureDetails::new(error_type, error_message),
    })
}

fn turn_start(t: i64) -> HistoryEvent {
    HistoryEvent::new(at(t), EventKind::OrchestratorStarted)
}

fn turn_end(t: i64) -> HistoryEvent {
    HistoryEvent::new(at(t), EventKind::OrchestratorCompleted)
}

/// An action of a turn; [`stamp`] gives it the turn's time.
fn action(event_id: i64, kind: EventKind) -> HistoryEvent {
    HistoryEvent {
        event_id,
        timestamp: DateTime::<Utc>::UNIX_EPOCH,
        kind,
    }
}

fn scheduled(id: i64, name: &str, input: Value) -> HistoryEvent {
    action(
        id,
        EventKind::TaskScheduled {
            name: name.to_owned(),
            input,
        },
    )
}

fn finished(output: Value) -> HistoryEvent {
    action(
        -1,
        EventKind::ExecutionCompleted {
            status: RuntimeStatus::Completed,
            result: output,
            failure: None,
        },
    )
}

fn execution_failed(failure: FailureDetails) -> HistoryEvent {
    action(
        -1,
        EventKind::ExecutionCompleted {
            status: RuntimeStatus::Failed,
            result: Value::Null,
            failure: Some(failure),
        },
    )
}

/// Gives every action the time of the turn it belongs to, as the engine records it.
fn stamp(mut events: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
    let mut turn_time = None;
    for event in &mut events {
        match event.kind {
            EventKind::OrchestratorStarted => turn_time = Some(event.timestamp),
            EventKind::TaskScheduled { .. }
            | EventKind::SubOrchestrationInstanceCreated { .. }
            | EventKind::TimerCreated { .. }
            | EventKind::EventSent { .. }
            | EventKind::EntityOperationSignaled { .. }
            | EventKind::EntityOperationCalled { .. }
            | EventKind::EntityLockRequested { .. }
            | EventKind::EntityUnlockSent { .. }
            | EventKind::ExecutionCompleted { .. } => {
                event.timestamp = turn_time.expect("an action outside a turn");
            }
            _ => {}
        }
    }
    events
}

/// The activities a turn's TaskScheduled events ask for, in order.
fn activities_in(events: &[HistoryEvent]) -> Vec<ScheduledActivity> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskScheduled { name, input } => Some(ScheduledActivity {
                task_id: event.event_id,
                name: name.clone(),
                input: input.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn failure_json(failure: &FailureDetails) -> Value {
    serde_json::to_value(failure).expect("failure details serialize")
}

// ---------------------------------------------------------------------------------------
// Running turns
// ---------------------------------------------------------------------------------------

/// One turn to check: the recorded history, the next turn, and what that turn must give.
struct Case {
    orchestrator: Invoker,
    history: Vec<HistoryEvent>,
    now: i64,
    messages: Vec<HistoryEvent>,
    appended: Vec<HistoryEvent>,
    status: RuntimeStatus,
    output: Value,
}

/// Replays the case's history on a fresh execution, runs the next turn and compares it.
/// The scheduled activities must be exactly the appended TaskScheduled events, and as the
/// orchestrators here only call activities, there is no other work.
#[track_caller]
fn check(case: Case) {
    let turn = run(case.orchestrator, &case.history, case.now, &case.messages);
    assert_eq!(turn.appended, stamp(case.appended), "appended events");
    assert_eq!(
        turn.activities,
        activities_in(&turn.appended),
        "scheduled activities"
    );
    assert!(turn.timers.is_empty(), "timers: {:?}", turn.timers);
    assert!(turn.children.is_empty(), "children: {:?}", turn.children);
    assert!(turn.events.is_empty(), "events: {:?}", turn.events);
    assert_eq!(turn.continue_as_new, None, "continue as new");
    assert_eq!(turn.status, case.status, "status");
    assert_eq!(turn.output, case.output, "output");
}

/// Rebuilds `orchestrator` from `history` and runs the next turn at `now`.
#[track_caller]
fn run(
    orchestrator: Invoker,
    history: &[HistoryEvent],
    now: i64,
    messages: &[HistoryEvent],
) -> TurnOutput {
    let mut execution = Execution::new(INSTANCE, orchestrator);
    if let Err(failure) = execution.replay(&stamp(history.to_vec())) {
        panic!("replay failed: {failure}");
    }
    execution.run_turn(at(now), messages.to_vec())
}

/// Replays `history`, which must fail, and returns the failure.
#[track_caller]
fn replay_failure(orchestrator: Invoker, history: &[HistoryEvent]) -> FailureDetails {
    Execution::new(INSTANCE, orchestrator)
        .replay(&stamp(history.to_vec()))
        .expect_err("replay should fail")
}

/// What the test activities return: `SayHello` greets its input, `Square` squares it,
/// any other activity answers its own name in lower case.
fn respond(activity: &ScheduledActivity) -> Value {
    match activity.name.as_str() {
        "SayHello" => json!(format!(
            "Hello {}!",
            activity.input.as_str().unwrap_or_default()
        )),
        "Square" => {
            let n = activity.input.as_i64().unwrap_or_default();
            json!(n * n)
        }
        other => json!(other.to_lowercase()),
    }
}

/// Which of the outstanding activities finish before the next turn.
type Pick = fn(&mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity>;

fn oldest(outstanding: &mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity> {
    vec![outstanding.remove(0)]
}

fn newest(outstanding: &mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity> {
    outstanding.pop().into_iter().collect()
}

fn all_reversed(outstanding: &mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity> {
    outstanding.drain(..).rev().collect()
}

/// Every third, counting from the newest, newest first: scattered completions over
/// several turns.
fn every_third_reversed(outstanding: &mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity> {
    let mut picked = Vec::new();
    let mut kept = Vec::new();
    for (i, activity) in outstanding.drain(..).rev().enumerate() {
        if i % 3 == 0 {
            picked.push(activity);
        } else {
            kept.push(activity);
        }
    }
    kept.reverse();
    *outstanding = kept;
    picked
}

/// Runs `orchestrator` live on one execution kept across turns, finishing activities as
/// `pick` says. At every turn a fresh execution that replays the history recorded so far
/// must produce the same turn; at the end the whole history must replay. Returns the turns.
#[track_caller]
fn drive(orchestrator: Invoker, input: Value, pick: Pick) -> Vec<TurnOutput> {
    let mut live = Execution::new(INSTANCE, orchestrator);
    let mut history: Vec<HistoryEvent> = Vec::new();
    let mut turns: Vec<TurnOutput> = Vec::new();
    let mut outstanding: Vec<ScheduledActivity> = Vec::new();
    let mut messages = vec![started(input)];
    for t in 1..=200 {
        let turn = live.run_turn(at(t), messages.clone());
        let mut fresh = Execution::new(INSTANCE, orchestrator);
        if let Err(failure) = fresh.replay(&history) {
            panic!("turn {t}: replaying the recorded history failed: {failure}");
        }
        let replayed = fresh.run_turn(at(t), messages);
        assert_eq!(
            replayed.appended, turn.appended,
            "turn {t}: appended events"
        );
        assert_eq!(replayed.activities, turn.activities, "turn {t}: activities");
        assert_eq!(replayed.status, turn.status, "turn {t}: status");
        assert_eq!(replayed.output, turn.output, "turn {t}: output");
        history.extend(turn.appended.iter().cloned());
        outstanding.extend(turn.activities.iter().cloned());
        let running = turn.status == RuntimeStatus::Running;
        turns.push(turn);
        if !running {
            if let Err(failure) = Execution::new(INSTANCE, orchestrator).replay(&history) {
                panic!("replaying the finished history failed: {failure}");
            }
            return turns;
        }
        assert!(
            !outstanding.is_empty(),
            "turn {t}: running with nothing to wait for"
        );
        messages = pick(&mut outstanding)
            .iter()
            .map(|a| completed(a.task_id, respond(a)))
            .collect();
    }
    panic!("the orchestration did not finish in 200 turns");
}

/// The history a driven run recorded.
fn history_of(turns: &[TurnOutput]) -> Vec<HistoryEvent> {
    turns.iter().flat_map(|t| t.appended.clone()).collect()
}

/// Checks that a non-determinism message points at a line of this file that calls an
/// activity, as `file:line`.
#[track_caller]
fn assert_points_at_a_call(message: &str) {
    let file = file!();
    let Some(start) = message.find(&format!("{file}:")) else {
        panic!("no location in {file} in: {message}");
    };
    let line: usize = message[start + file.len() + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a line number after the file");
    let source = include_str!("replay_tests.rs");
    let text = source
        .lines()
        .nth(line - 1)
        .expect("the line is in the file");
    assert!(
        text.contains("call_activity"),
        "{file}:{line} is `{}`, not a call, in: {message}",
        text.trim()
    );
}

// ---------------------------------------------------------------------------------------
// Orchestrators
// ---------------------------------------------------------------------------------------

/// An invoker's future: runs `body` and encodes its result as the macro expansion does.
fn orchestration<T, F>(body: F) -> BoxFuture<InvocationResult>
where
    T: Serialize,
    F: Future<Output = Result<T, DurableError>> + Send + 'static,
{
    Box::pin(async move { encode_orchestration_result(body.await) })
}

/// Greets each city of its input, one after another.
fn hello_cities(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let cities: Vec<String> = ctx.get_input()?;
        let mut greetings = Vec::new();
        for city in cities {
            greetings.push(ctx.call_activity::<String>("SayHello", city).await?);
        }
        Ok(greetings)
    })
}

/// Calls the activities its input names, one after another.
fn sequence(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let names: Vec<String> = ctx.get_input()?;
        let mut results = Vec::new();
        for name in names {
            results.push(ctx.call_activity::<Value>(&name, ()).await?);
        }
        Ok(results)
    })
}

/// Calls the activities its input names, all at once.
fn parallel(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let names: Vec<String> = ctx.get_input()?;
        let calls: Vec<_> = names
            .iter()
            .map(|name| ctx.call_activity::<Value>(name, ()))
            .collect();
        join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    })
}

/// Squares 1..=n in parallel, n being its input.
fn fan_out(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let n: i64 = ctx.get_input()?;
        let calls: Vec<_> = (1..=n)
            .map(|i| ctx.call_activity::<i64>("Square", i))
            .collect();
        join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    })
}

/// Races A against B with `select`, then announces the winner through an activity.
fn race(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let a = ctx.call_activity::<String>("A", ());
        let b = ctx.call_activity::<String>("B", ());
        let winner = match select(a, b).await {
            Either::Left((result, _)) => format!("A:{}", result?),
            Either::Right((result, _)) => format!("B:{}", result?),
        };
        let announced: String = ctx.call_activity("Announce", &winner).await?;
        Ok(json!([winner, announced]))
    })
}

/// Races A against B with `select_all`, then announces the winner through an activity.
fn race_all(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let calls = vec![
            ctx.call_activity::<String>("A", ()),
            ctx.call_activity::<String>("B", ()),
        ];
        let (result, index, _rest) = select_all(calls).await;
        let winner = format!("{index}:{}", result?);
        let announced: String = ctx.call_activity("Announce", &winner).await?;
        Ok(json!([winner, announced]))
    })
}

/// Starts A and B, waits for Gate, and only then selects between A and B.
fn gate_then_race(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let a = ctx.call_activity::<String>("A", ());
        let b = ctx.call_activity::<String>("B", ());
        ctx.call_activity::<Value>("Gate", ()).await?;
        Ok(match select(a, b).await {
            Either::Left((result, _)) => format!("A:{}", result?),
            Either::Right((result, _)) => format!("B:{}", result?),
        })
    })
}

/// Starts A and B, waits for Gate, and only then races A and B with `select_all`.
fn gate_then_race_all(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let calls = vec![
            ctx.call_activity::<String>("A", ()),
            ctx.call_activity::<String>("B", ()),
        ];
        ctx.call_activity::<Value>("Gate", ()).await?;
        let (result, index, _rest) = select_all(calls).await;
        Ok(format!("{index}:{}", result?))
    })
}

/// Starts A and B, waits for Gate, and only then races A and B with `when_any`.
fn gate_then_when_any(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let calls = vec![
            ctx.call_activity::<String>("A", ()),
            ctx.call_activity::<String>("B", ()),
        ];
        ctx.call_activity::<Value>("Gate", ()).await?;
        let (index, result) = crate::when_any(calls).await;
        Ok(format!("{index}:{}", result?))
    })
}

/// Calls Flaky and reports how it failed.
fn catches_failure(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        match ctx.call_activity::<Value>("Flaky", ()).await {
            Ok(value) => Ok(json!({ "ok": value })),
            Err(DurableError::TaskFailed { name, details }) => Ok(json!({
                "name": name,
                "type": details.error_type,
                "message": details.error_message,
            })),
            Err(other) => Err(other),
        }
    })
}

/// Calls Flaky and lets its failure fail the orchestration.
fn propagates_failure(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let value: Value = ctx.call_activity("Flaky", ()).await?;
        Ok(value)
    })
}

/// Expects a number from Count.
fn expects_a_number(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let count: i64 = ctx.call_activity("Count", ()).await?;
        Ok(count)
    })
}

/// Panics with a formatted message once SayHello answers.
fn panics_after_call(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let greeting: String = ctx.call_activity("SayHello", "Tokyo").await?;
        if !greeting.is_empty() {
            panic!("no room for {greeting}");
        }
        Ok(greeting)
    })
}

/// Panics before it even returns its future.
fn panics_on_start(_ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    panic!("not even started")
}

/// Panics with a payload that is not text.
fn panics_with_a_number(_ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        std::panic::panic_any(42_i32);
        #[allow(unreachable_code)]
        Ok(())
    })
}

/// Returns at once.
fn returns_at_once(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let input: Value = ctx.get_input()?;
        Ok(json!({ "echo": input }))
    })
}

/// Calls an activity without awaiting it and returns.
fn fire_and_forget(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        drop(ctx.call_activity::<Value>("Forgotten", ()));
        Ok("done")
    })
}

/// Sends an event to another instance and returns.
fn notifies_and_returns(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        ctx.raise_event("other-instance", "Ping", 1);
        Ok("sent")
    })
}

/// What the context says at one point of the orchestration.
fn observe(ctx: &OrchestrationContext) -> Value {
    json!({
        "replaying": ctx.is_replaying(),
        "time": ctx.current_utc_datetime(),
        "guids": [ctx.new_guid(), ctx.new_guid()],
        "random": [ctx.random_u64(), ctx.random_range(10..20)],
    })
}

/// Observes the context before A, between A and B, and after B.
fn observer(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let mut seen = vec![observe(&ctx)];
        ctx.call_activity::<Value>("A", ()).await?;
        seen.push(observe(&ctx));
        ctx.call_activity::<Value>("B", ()).await?;
        seen.push(observe(&ctx));
        Ok(seen)
    })
}

// ---------------------------------------------------------------------------------------
// A chain of calls
// ---------------------------------------------------------------------------------------

fn cities() -> Value {
    json!(["Tokyo", "Seattle", "London"])
}

fn chain_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(cities()),
        turn_start(1),
        scheduled(0, "SayHello", json!("Tokyo")),
        turn_end(1),
    ]
}

fn chain_turn_2() -> Vec<HistoryEvent> {
    vec![
        completed(0, json!("Hello Tokyo!")),
        turn_start(2),
        scheduled(1, "SayHello", json!("Seattle")),
        turn_end(2),
    ]
}

fn chain_turn_3() -> Vec<HistoryEvent> {
    vec![
        completed(1, json!("Hello Seattle!")),
        turn_start(3),
        scheduled(2, "SayHello", json!("London")),
        turn_end(3),
    ]
}

#[test]
fn first_turn_of_a_chain_schedules_the_first_call() {
    check(Case {
        orchestrator: hello_cities,
        history: vec![],
        now: 1,
        messages: vec![started(cities())],
        appended: chain_turn_1(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn each_later_turn_delivers_a_result_and_schedules_the_next_call() {
    check(Case {
        orchestrator: hello_cities,
        history: chain_turn_1(),
        now: 2,
        messages: vec![completed(0, json!("Hello Tokyo!"))],
        appended: chain_turn_2(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    check(Case {
        orchestrator: hello_cities,
        history: [chain_turn_1(), chain_turn_2()].concat(),
        now: 3,
        messages: vec![completed(1, json!("Hello Seattle!"))],
        appended: chain_turn_3(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn last_turn_of_a_chain_completes_with_the_output() {
    let output = json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
    check(Case {
        orchestrator: hello_cities,
        history: [chain_turn_1(), chain_turn_2(), chain_turn_3()].concat(),
        now: 4,
        messages: vec![completed(2, json!("Hello London!"))],
        appended: vec![
            completed(2, json!("Hello London!")),
            turn_start(4),
            finished(output.clone()),
            turn_end(4),
        ],
        status: RuntimeStatus::Completed,
        output,
    });
}

#[test]
fn an_orchestrator_that_returns_at_once_completes_in_its_first_turn() {
    check(Case {
        orchestrator: returns_at_once,
        history: vec![],
        now: 1,
        messages: vec![started(json!(7))],
        appended: vec![
            started(json!(7)),
            turn_start(1),
            finished(json!({ "echo": 7 })),
            turn_end(1),
        ],
        status: RuntimeStatus::Completed,
        output: json!({ "echo": 7 }),
    });
}

#[test]
fn a_turn_without_messages_only_records_the_turn() {
    check(Case {
        orchestrator: hello_cities,
        history: chain_turn_1(),
        now: 2,
        messages: vec![],
        appended: vec![turn_start(2), turn_end(2)],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn replaying_a_live_chain_gives_the_same_turns() {
    for pick in [oldest, all_reversed] {
        let turns = drive(hello_cities, cities(), pick);
        assert_eq!(turns.len(), 4);
        assert_eq!(
            history_of(&turns[..3]),
            stamp([chain_turn_1(), chain_turn_2(), chain_turn_3()].concat())
        );
        let last = &turns[3];
        assert_eq!(last.status, RuntimeStatus::Completed);
        assert_eq!(
            last.output,
            json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
        );
    }
}

// ---------------------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------------------

fn fan_out_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(json!(3)),
        turn_start(1),
        scheduled(0, "Square", json!(1)),
        scheduled(1, "Square", json!(2)),
        scheduled(2, "Square", json!(3)),
        turn_end(1),
    ]
}

#[test]
fn fan_out_schedules_every_call_in_one_turn() {
    check(Case {
        orchestrator: fan_out,
        history: vec![],
        now: 1,
        messages: vec![started(json!(3))],
        appended: fan_out_turn_1(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn fan_out_takes_completions_in_any_order_and_keeps_call_order() {
    let turn_2 = vec![completed(2, json!(9)), turn_start(2), turn_end(2)];
    check(Case {
        orchestrator: fan_out,
        history: fan_out_turn_1(),
        now: 2,
        messages: vec![completed(2, json!(9))],
        appended: turn_2.clone(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    check(Case {
        orchestrator: fan_out,
        history: [fan_out_turn_1(), turn_2].concat(),
        now: 3,
        messages: vec![completed(1, json!(4)), completed(0, json!(1))],
        appended: vec![
            completed(1, json!(4)),
            completed(0, json!(1)),
            turn_start(3),
            finished(json!([1, 4, 9])),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output: json!([1, 4, 9]),
    });
}

#[test]
fn fan_out_over_three_replays_like_the_live_run() {
    for pick in [oldest, newest, all_reversed, every_third_reversed] {
        let turns = drive(fan_out, json!(3), pick);
        let last = turns.last().expect("at least one turn");
        assert_eq!(last.status, RuntimeStatus::Completed);
        assert_eq!(last.output, json!([1, 4, 9]));
    }
}

/// 50 futures make `join_all` use `FuturesOrdered`, whose inner wakers the engine must
/// wake one completion at a time.
#[test]
fn fan_out_over_fifty_replays_like_the_live_run() {
    let squares: Vec<i64> = (1..=50).map(|i| i * i).collect();
    for pick in [oldest, newest, all_reversed, every_third_reversed] {
        let turns = drive(fan_out, json!(50), pick);
        let first = &turns[0];
        assert_eq!(first.activities.len(), 50, "all calls in the first turn");
        assert_eq!(
            first
                .activities
                .iter()
                .map(|a| a.task_id)
                .collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
        let last = turns.last().expect("at least one turn");
        assert_eq!(last.status, RuntimeStatus::Completed);
        assert_eq!(last.output, json!(squares));
    }
}

#[test]
fn fan_out_over_fifty_finishes_on_the_last_completion_only() {
    let mut history = vec![started(json!(50)), turn_start(1)];
    history.extend((0..50).map(|i| scheduled(i, "Square", json!(i + 1))));
    history.push(turn_end(1));
    // All but task 0, newest first, in one turn: still waiting for the first call.
    let all_but_first: Vec<HistoryEvent> = (1..50)
        .rev()
        .map(|i| completed(i, json!((i + 1) * (i + 1))))
        .collect();
    let mut appended = all_but_first.clone();
    appended.extend([turn_start(2), turn_end(2)]);
    check(Case {
        orchestrator: fan_out,
        history: history.clone(),
        now: 2,
        messages: all_but_first,
        appended: appended.clone(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    history.extend(appended);
    let squares: Vec<i64> = (1..=50).map(|i| i * i).collect();
    check(Case {
        orchestrator: fan_out,
        history,
        now: 3,
        messages: vec![completed(0, json!(1))],
        appended: vec![
            completed(0, json!(1)),
            turn_start(3),
            finished(json!(squares)),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output: json!(squares),
    });
}

// ---------------------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------------------

fn race_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "A", Value::Null),
        scheduled(1, "B", Value::Null),
        turn_end(1),
    ]
}

#[test]
fn select_takes_the_completion_that_comes_first_in_history() {
    check(Case {
        orchestrator: race,
        history: race_turn_1(),
        now: 2,
        messages: vec![completed(1, json!("b")), completed(0, json!("a"))],
        appended: vec![
            completed(1, json!("b")),
            completed(0, json!("a")),
            turn_start(2),
            scheduled(2, "Announce", json!("B:b")),
            turn_end(2),
        ],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    check(Case {
        orchestrator: race,
        history: race_turn_1(),
        now: 2,
        messages: vec![completed(0, json!("a")), completed(1, json!("b"))],
        appended: vec![
            completed(0, json!("a")),
            completed(1, json!("b")),
            turn_start(2),
            scheduled(2, "Announce", json!("A:a")),
            turn_end(2),
        ],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn select_takes_the_same_winner_on_replay() {
    for (first, second, winner) in [
        (completed(1, json!("b")), completed(0, json!("a")), "B:b"),
        (completed(0, json!("a")), completed(1, json!("b")), "A:a"),
    ] {
        // The race was decided in a recorded turn; the output shows who replay picked.
        let history = [
            race_turn_1(),
            vec![
                first,
                second,
                turn_start(2),
                scheduled(2, "Announce", json!(winner)),
                turn_end(2),
            ],
        ]
        .concat();
        check(Case {
            orchestrator: race,
            history,
            now: 3,
            messages: vec![completed(2, json!("announced"))],
            appended: vec![
                completed(2, json!("announced")),
                turn_start(3),
                finished(json!([winner, "announced"])),
                turn_end(3),
            ],
            status: RuntimeStatus::Completed,
            output: json!([winner, "announced"]),
        });
    }
}

#[test]
fn select_all_takes_the_completion_that_comes_first_in_history_on_replay_too() {
    check(Case {
        orchestrator: race_all,
        history: race_turn_1(),
        now: 2,
        messages: vec![completed(1, json!("b")), completed(0, json!("a"))],
        appended: vec![
            completed(1, json!("b")),
            completed(0, json!("a")),
            turn_start(2),
            scheduled(2, "Announce", json!("1:b")),
            turn_end(2),
        ],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    let history = [
        race_turn_1(),
        vec![
            completed(1, json!("b")),
            turn_start(2),
            scheduled(2, "Announce", json!("1:b")),
            turn_end(2),
            completed(0, json!("a")),
            turn_start(3),
            turn_end(3),
        ],
    ]
    .concat();
    check(Case {
        orchestrator: race_all,
        history,
        now: 4,
        messages: vec![completed(2, json!("announced"))],
        appended: vec![
            completed(2, json!("announced")),
            turn_start(4),
            finished(json!(["1:b", "announced"])),
            turn_end(4),
        ],
        status: RuntimeStatus::Completed,
        output: json!(["1:b", "announced"]),
    });
}

#[test]
fn races_replay_like_the_live_run() {
    for orchestrator in [race as Invoker, race_all] {
        for pick in [oldest, newest, all_reversed] {
            let turns = drive(orchestrator, Value::Null, pick);
            let last = turns.last().expect("at least one turn");
            assert_eq!(last.status, RuntimeStatus::Completed);
        }
    }
}

/// Finishes every call but Gate first, newest first, and Gate last.
fn gate_last(outstanding: &mut Vec<ScheduledActivity>) -> Vec<ScheduledActivity> {
    let next = outstanding
        .iter()
        .rposition(|a| a.name != "Gate")
        .unwrap_or(outstanding.len() - 1);
    vec![outstanding.remove(next)]
}

#[test]
fn a_race_over_calls_that_already_finished_is_the_same_live_and_on_replay() {
    for orchestrator in [gate_then_race as Invoker, gate_then_race_all] {
        let turns = drive(orchestrator, Value::Null, gate_last);
        assert_eq!(turns.len(), 4);
        assert_eq!(turns[3].status, RuntimeStatus::Completed);
    }
}

/// A and B both finished (B first) while the orchestrator waited for Gate; when it then
/// races them with `when_any`, both are ready at once and B wins, as its completion comes
/// first in history. (`futures::select` would take its first argument; it is still the
/// same live and on replay, see the test above.)
#[test]
fn a_race_over_calls_that_already_finished_takes_the_first_completion_in_history() {
    let history = vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "A", Value::Null),
        scheduled(1, "B", Value::Null),
        scheduled(2, "Gate", Value::Null),
        turn_end(1),
        completed(1, json!("b")),
        completed(0, json!("a")),
        turn_start(2),
        turn_end(2),
    ];
    let winner = json!("1:b");
    check(Case {
        orchestrator: gate_then_when_any,
        history,
        now: 3,
        messages: vec![completed(2, Value::Null)],
        appended: vec![
            completed(2, Value::Null),
            turn_start(3),
            finished(winner.clone()),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output: winner,
    });
}

// ---------------------------------------------------------------------------------------
// Messages that change nothing
// ---------------------------------------------------------------------------------------

fn two_cities_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(json!(["Tokyo", "Seattle"])),
        turn_start(1),
        scheduled(0, "SayHello", json!("Tokyo")),
        turn_end(1),
    ]
}

fn two_cities_turn_2() -> Vec<HistoryEvent> {
    vec![
        completed(0, json!("Hello Tokyo!")),
        turn_start(2),
        scheduled(1, "SayHello", json!("Seattle")),
        turn_end(2),
    ]
}

#[test]
fn unknown_early_and_duplicate_completions_are_ignored_and_not_appended() {
    check(Case {
        orchestrator: hello_cities,
        history: two_cities_turn_1(),
        now: 2,
        messages: vec![
            // Task 1 is not scheduled yet.
            completed(1, json!("too early")),
            completed(0, json!("Hello Tokyo!")),
            // Task 1 is being scheduled by this very turn: no result can exist yet.
            completed(1, json!("still too early")),
            completed(7, json!("no such task")),
            failed(7, "Stray", "no such task"),
            completed(0, json!("a second copy")),
        ],
        appended: two_cities_turn_2(),
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn a_duplicate_of_an_earlier_turns_completion_is_ignored() {
    check(Case {
        orchestrator: hello_cities,
        history: [two_cities_turn_1(), two_cities_turn_2()].concat(),
        now: 3,
        messages: vec![completed(0, json!("a late copy"))],
        appended: vec![turn_start(3), turn_end(3)],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
    let output = json!(["Hello Tokyo!", "Hello Seattle!"]);
    check(Case {
        orchestrator: hello_cities,
        history: [two_cities_turn_1(), two_cities_turn_2()].concat(),
        now: 3,
        messages: vec![
            completed(0, json!("a late copy")),
            completed(1, json!("Hello Seattle!")),
            completed(1, json!("another late copy")),
        ],
        appended: vec![
            completed(1, json!("Hello Seattle!")),
            turn_start(3),
            finished(output.clone()),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output,
    });
}

#[test]
fn a_second_execution_started_is_ignored() {
    check(Case {
        orchestrator: hello_cities,
        history: two_cities_turn_1(),
        now: 2,
        messages: vec![started(json!(["Paris"]))],
        appended: vec![turn_start(2), turn_end(2)],
        status: RuntimeStatus::Running,
        output: Value::Null,
    });
}

#[test]
fn completions_after_the_orchestration_finished_are_not_appended() {
    check(Case {
        orchestrator: race,
        history: [
            race_turn_1(),
            vec![
                completed(0, json!("a")),
                turn_start(2),
                scheduled(2, "Announce", json!("A:a")),
                turn_end(2),
            ],
        ]
        .concat(),
        now: 3,
        messages: vec![completed(2, json!("announced")), completed(1, json!("b"))],
        appended: vec![
            completed(2, json!("announced")),
            turn_start(3),
            finished(json!(["A:a", "announced"])),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output: json!(["A:a", "announced"]),
    });
}

/// Calls made in the poll that finishes the orchestration are recorded and scheduled too,
/// before the end.
#[test]
fn a_call_made_by_a_finishing_orchestrator_is_still_scheduled() {
    check(Case {
        orchestrator: fire_and_forget,
        history: vec![],
        now: 1,
        messages: vec![started(Value::Null)],
        appended: vec![
            started(Value::Null),
            turn_start(1),
            scheduled(0, "Forgotten", Value::Null),
            finished(json!("done")),
            turn_end(1),
        ],
        status: RuntimeStatus::Completed,
        output: json!("done"),
    });
}

/// Whatever a live turn recorded must replay, also a call made on the way out.
#[test]
fn a_history_with_a_call_in_the_finishing_turn_replays() {
    let turn = run(fire_and_forget, &[], 1, &[started(Value::Null)]);
    let replayed = Execution::new(INSTANCE, fire_and_forget).replay(&turn.appended);
    assert!(replayed.is_ok(), "{replayed:?}");
}

/// `raise_event` has no result to await, so "send, then return" is its ordinary use.
#[test]
fn an_event_raised_just_before_returning_is_sent() {
    let turn = run(notifies_and_returns, &[], 1, &[started(Value::Null)]);
    assert_eq!(turn.status, RuntimeStatus::Completed);
    assert!(
        turn.appended
            .iter()
            .any(|e| matches!(e.kind, EventKind::EventSent { .. })),
        "no EventSent in {:?}",
        turn.appended
    );
    assert_eq!(turn.events.len(), 1, "events to send");
    let replayed = Execution::new(INSTANCE, notifies_and_returns).replay(&turn.appended);
    assert!(replayed.is_ok(), "{replayed:?}");
}

// ---------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------

fn flaky_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "Flaky", Value::Null),
        turn_end(1),
    ]
}

#[test]
fn an_activity_failure_surfaces_as_task_failed_with_its_details() {
    let output = json!({ "name": "Flaky", "type": "Timeout", "message": "took too long" });
    check(Case {
        orchestrator: catches_failure,
        history: flaky_turn_1(),
        now: 2,
        messages: vec![failed(0, "Timeout", "took too long")],
        appended: vec![
            failed(0, "Timeout", "took too long"),
            turn_start(2),
            finished(output.clone()),
            turn_end(2),
        ],
        status: RuntimeStatus::Completed,
        output,
    });
}

#[test]
fn an_unhandled_activity_failure_fails_the_orchestration_with_its_details() {
    let failure = FailureDetails {
        error_type: "TaskFailedException".to_owned(),
        error_message: "task `Flaky` failed: Timeout: took too long".to_owned(),
        stack_trace: Some("caused by Timeout: took too long".to_owned()),
    };
    check(Case {
        orchestrator: propagates_failure,
        history: flaky_turn_1(),
        now: 2,
        messages: vec![failed(0, "Timeout", "took too long")],
        appended: vec![
            failed(0, "Timeout", "took too long"),
            turn_start(2),
            execution_failed(failure.clone()),
            turn_end(2),
        ],
        status: RuntimeStatus::Failed,
        output: json!({
            "ErrorType": "TaskFailedException",
            "ErrorMessage": "task `Flaky` failed: Timeout: took too long",
            "StackTrace": "caused by Timeout: took too long",
        }),
    });
}

#[test]
fn a_result_of_the_wrong_type_fails_the_orchestration() {
    let history = vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "Count", Value::Null),
        turn_end(1),
    ];
    let turn = run(
        expects_a_number,
        &history,
        2,
        &[completed(0, json!("many"))],
    );
    assert_eq!(turn.status, RuntimeStatus::Failed);
    let failure: FailureDetails = serde_json::from_value(turn.output).expect("failure details");
    assert_eq!(failure.error_type, "SerializationError");
    assert!(
        failure
            .error_message
            .contains("the result of `Count` does not match `i64`"),
        "{failure}"
    );
}

#[test]
fn a_panic_in_the_orchestrator_fails_it_with_the_panic_message() {
    let failure = FailureDetails::new("panic", "no room for Hello Tokyo!");
    check(Case {
        orchestrator: panics_after_call,
        history: vec![
            started(Value::Null),
            turn_start(1),
            scheduled(0, "SayHello", json!("Tokyo")),
            turn_end(1),
        ],
        now: 2,
        messages: vec![completed(0, json!("Hello Tokyo!"))],
        appended: vec![
            completed(0, json!("Hello Tokyo!")),
            turn_start(2),
            execution_failed(failure.clone()),
            turn_end(2),
        ],
        status: RuntimeStatus::Failed,
        output: json!({ "ErrorType": "panic", "ErrorMessage": "no room for Hello Tokyo!" }),
    });
}

#[test]
fn a_panic_before_the_first_poll_fails_the_orchestration() {
    let failure = FailureDetails::new("panic", "not even started");
    check(Case {
        orchestrator: panics_on_start,
        history: vec![],
        now: 1,
        messages: vec![started(Value::Null)],
        appended: vec![
            started(Value::Null),
            turn_start(1),
            execution_failed(failure.clone()),
            turn_end(1),
        ],
        status: RuntimeStatus::Failed,
        output: failure_json(&failure),
    });
}

#[test]
fn a_panic_without_a_message_fails_the_orchestration() {
    let turn = run(panics_with_a_number, &[], 1, &[started(Value::Null)]);
    assert_eq!(turn.status, RuntimeStatus::Failed);
    assert_eq!(
        turn.output,
        failure_json(&FailureDetails::new(
            "panic",
            "a panic with a non-text payload"
        ))
    );
}

#[test]
fn a_recorded_failure_replays() {
    let failure = FailureDetails::new("panic", "no room for Hello Tokyo!");
    let history = stamp(vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "SayHello", json!("Tokyo")),
        turn_end(1),
        completed(0, json!("Hello Tokyo!")),
        turn_start(2),
        execution_failed(failure),
        turn_end(2),
    ]);
    let replayed = Execution::new(INSTANCE, panics_after_call).replay(&history);
    assert!(replayed.is_ok(), "{replayed:?}");
}

#[test]
fn failed_turn_ends_the_instance_with_the_failure() {
    let failure = FailureDetails::new("OrchestratorNotFound", "no orchestrator named `X`");
    let turn = failed_turn(at(5), Vec::new(), &failure);
    assert_eq!(
        turn.appended,
        stamp(vec![
            turn_start(5),
            execution_failed(failure.clone()),
            turn_end(5),
        ])
    );
    assert!(turn.activities.is_empty());
    assert_eq!(turn.status, RuntimeStatus::Failed);
    assert_eq!(turn.output, failure_json(&failure));
}

// ---------------------------------------------------------------------------------------
// Non-determinism
// ---------------------------------------------------------------------------------------

const NON_DETERMINISM: &str = "NonDeterministicOrchestrationError";

#[test]
fn a_different_activity_at_the_same_call_number_is_non_deterministic() {
    // The code, given ["B"], calls B first; history recorded A.
    let failure = replay_failure(
        sequence,
        &[
            started(json!(["B"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    let message = &failure.error_message;
    assert!(message.contains("call #0"), "{message}");
    assert!(message.contains(r#"call_activity("A")"#), "{message}");
    assert!(message.contains(r#"call_activity("B")"#), "{message}");
    assert_points_at_a_call(message);
}

#[test]
fn a_call_left_out_in_a_later_turn_is_non_deterministic() {
    // History recorded A, B, C; the code now calls A then C.
    let failure = replay_failure(
        sequence,
        &[
            started(json!(["A", "C"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
            completed(0, json!("a")),
            turn_start(2),
            scheduled(1, "B", Value::Null),
            turn_end(2),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    let message = &failure.error_message;
    assert!(message.contains("call #1"), "{message}");
    assert!(message.contains(r#"call_activity("B")"#), "{message}");
    assert!(message.contains(r#"call_activity("C")"#), "{message}");
    assert_points_at_a_call(message);
}

#[test]
fn a_missing_last_call_is_non_deterministic() {
    // History recorded A then B; the code now returns after A.
    let failure = replay_failure(
        sequence,
        &[
            started(json!(["A"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
            completed(0, json!("a")),
            turn_start(2),
            scheduled(1, "B", Value::Null),
            turn_end(2),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    let message = &failure.error_message;
    assert!(message.contains("call #1"), "{message}");
    assert!(message.contains(r#"call_activity("B")"#), "{message}");
    assert!(message.contains("did not make that call"), "{message}");
}

#[test]
fn an_extra_call_is_non_deterministic() {
    // History recorded A alone; the code now calls A and B at once.
    let failure = replay_failure(
        parallel,
        &[
            started(json!(["A", "B"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    let message = &failure.error_message;
    assert!(message.contains("call #1"), "{message}");
    assert!(message.contains(r#"call_activity("B")"#), "{message}");
    assert!(message.contains("history has no such call"), "{message}");
    assert_points_at_a_call(message);
}

#[test]
fn an_extra_call_where_history_finished_is_non_deterministic() {
    // History recorded A and the end; the code now calls B after A.
    let failure = replay_failure(
        sequence,
        &[
            started(json!(["A", "B"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
            completed(0, json!("a")),
            turn_start(2),
            finished(json!(["a"])),
            turn_end(2),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    // The extra call is named, not only the missing end.
    assert!(
        failure.error_message.contains("history has no such call"),
        "{failure}"
    );
}

#[test]
fn an_extra_call_where_history_finished_names_the_call_and_its_location() {
    let failure = replay_failure(
        sequence,
        &[
            started(json!(["A", "B"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
            completed(0, json!("a")),
            turn_start(2),
            finished(json!(["a"])),
            turn_end(2),
        ],
    );
    let message = &failure.error_message;
    assert!(message.contains(r#"call_activity("B")"#), "{message}");
    assert_points_at_a_call(message);
}

#[test]
fn finishing_where_history_continues_is_non_deterministic() {
    // History recorded A and B in parallel and a turn that kept waiting after A; the code
    // now only calls A and so finishes there.
    let failure = replay_failure(
        parallel,
        &[
            started(json!(["A"])),
            turn_start(1),
            scheduled(0, "A", Value::Null),
            turn_end(1),
            completed(0, json!("a")),
            turn_start(2),
            turn_end(2),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    assert!(
        failure.error_message.contains("history continues"),
        "{failure}"
    );
}

#[test]
fn a_history_without_turn_boundaries_is_corrupt() {
    for history in [
        vec![started(Value::Null)],
        vec![
            started(Value::Null),
            turn_start(1),
            scheduled(0, "SayHello", json!("Tokyo")),
        ],
    ] {
        let failure = replay_failure(hello_cities, &history);
        assert_eq!(failure.error_type, "CorruptHistory", "{failure}");
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic context helpers
// ---------------------------------------------------------------------------------------

fn observer_history() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "A", Value::Null),
        turn_end(1),
        completed(0, json!("a")),
        turn_start(2),
        scheduled(1, "B", Value::Null),
        turn_end(2),
    ]
}

/// The observations of a finished `observer` run.
fn observations(turn: &TurnOutput) -> Vec<Value> {
    assert_eq!(turn.status, RuntimeStatus::Completed, "{:?}", turn.output);
    turn.output.as_array().expect("a list").clone()
}

#[test]
fn is_replaying_is_true_in_recorded_turns_and_false_in_the_live_one() {
    let turn = run(
        observer,
        &observer_history(),
        3,
        &[completed(1, json!("b"))],
    );
    let replaying: Vec<Value> = observations(&turn)
        .iter()
        .map(|seen| seen["replaying"].clone())
        .collect();
    assert_eq!(replaying, [json!(true), json!(true), json!(false)]);
}

#[test]
fn current_time_is_the_turns_orchestrator_started_timestamp() {
    let turn = run(
        observer,
        &observer_history(),
        3,
        &[completed(1, json!("b"))],
    );
    let times: Vec<Value> = observations(&turn)
        .iter()
        .map(|seen| seen["time"].clone())
        .collect();
    assert_eq!(times, [json!(at(1)), json!(at(2)), json!(at(3))]);
}

#[test]
fn new_guid_is_the_same_on_replay_and_differs_between_calls() {
    // Live, on one execution kept across the turns.
    let mut live = Execution::new(INSTANCE, observer);
    let mut history = Vec::new();
    let turns = [
        vec![started(Value::Null)],
        vec![completed(0, json!("a"))],
        vec![completed(1, json!("b"))],
    ];
    let mut last = None;
    for (t, messages) in (1..).zip(turns) {
        let turn = live.run_turn(at(t), messages);
        history.extend(turn.appended.iter().cloned());
        last = Some(turn);
    }
    let live_seen = observations(&last.expect("three turns"));
    assert_eq!(history[..8], stamp(observer_history()));
    // Rebuilt from history for the last turn.
    let replayed = run(
        observer,
        &observer_history(),
        3,
        &[completed(1, json!("b"))],
    );
    let replayed_seen = observations(&replayed);

    let guids = |seen: &[Value]| -> Vec<Value> {
        seen.iter()
            .flat_map(|s| s["guids"].as_array().expect("guids").clone())
            .collect()
    };
    let live_guids = guids(&live_seen);
    let replayed_guids = guids(&replayed_seen);
    assert_eq!(live_guids, replayed_guids);
    assert_eq!(live_guids.len(), 6);
    for (i, a) in live_guids.iter().enumerate() {
        for b in &live_guids[i + 1..] {
            assert_ne!(a, b, "guids repeat: {live_guids:?}");
        }
    }
    // Random numbers replay the same, and stay in their range.
    let randoms = |seen: &[Value]| -> Vec<Value> {
        seen.iter()
            .flat_map(|s| s["random"].as_array().expect("random").clone())
            .collect()
    };
    assert_eq!(randoms(&live_seen), randoms(&replayed_seen));
    for pair in randoms(&live_seen).chunks(2) {
        let in_range = pair[1].as_u64().expect("a number");
        assert!((10..20).contains(&in_range), "{pair:?}");
    }
    let draws: Vec<Value> = randoms(&live_seen).into_iter().step_by(2).collect();
    assert!(draws[0] != draws[1] && draws[1] != draws[2], "{draws:?}");
    let times = |seen: &[Value]| -> Vec<Value> { seen.iter().map(|s| s["time"].clone()).collect() };
    assert_eq!(times(&live_seen), times(&replayed_seen));
}

// ---------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------

fn votes() -> crate::entity::EntityId {
    crate::entity::EntityId::new("Counter", "votes")
}

/// Signals `add` to a counter, then calls `get` and returns what it answered.
fn counts_votes(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        ctx.signal_entity(&votes(), "add", 1);
        ctx.call_entity::<i64>(&votes(), "get", ()).await
    })
}

/// Calls `get` on a counter; history recorded a signal at that call number.
fn calls_instead_of_signaling(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move { ctx.call_entity::<i64>(&votes(), "add", 1).await })
}

fn entity_signaled(id: i64, operation: &str, input: Value) -> HistoryEvent {
    action(
        id,
        EventKind::EntityOperationSignaled {
            request_id: format!("{INSTANCE}:{id}"),
            target_instance_id: "@counter@votes".to_owned(),
            operation: operation.to_owned(),
            input,
            critical_section_id: None,
        },
    )
}

fn entity_called(id: i64, operation: &str, input: Value) -> HistoryEvent {
    action(
        id,
        EventKind::EntityOperationCalled {
            request_id: format!("{INSTANCE}:{id}"),
            target_instance_id: "@counter@votes".to_owned(),
            operation: operation.to_owned(),
            input,
            critical_section_id: None,
            caller: None,
        },
    )
}

fn votes_turn_1() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        entity_signaled(0, "add", json!(1)),
        entity_called(1, "get", Value::Null),
        turn_end(1),
    ]
}

#[test]
fn entity_signals_and_calls_are_recorded_and_sent() {
    let turn = run(counts_votes, &[], 1, &[started(Value::Null)]);
    assert_eq!(turn.appended, stamp(votes_turn_1()));
    assert_eq!(turn.status, RuntimeStatus::Running);
    let sent: Vec<(&str, &EventKind)> = turn
        .entity_operations
        .iter()
        .map(|m| (m.instance_id.as_str(), &m.event.kind))
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|(id, _)| *id == "@counter@votes"),
        "{sent:?}"
    );
    assert_eq!(turn.entity_operations[1].event.event_id, 1);
    assert!(turn.activities.is_empty() && turn.events.is_empty());
}

#[test]
fn an_entity_call_resolves_with_its_response_on_replay() {
    let response = message(EventKind::EntityOperationCompleted {
        task_scheduled_id: 1,
        result: json!(7),
    });
    check(Case {
        orchestrator: counts_votes,
        history: votes_turn_1(),
        now: 2,
        messages: vec![response.clone()],
        appended: vec![response, turn_start(2), finished(json!(7)), turn_end(2)],
        status: RuntimeStatus::Completed,
        output: json!(7),
    });
}

#[test]
fn a_failed_entity_call_fails_the_awaiting_orchestration() {
    let response = message(EventKind::EntityOperationFailed {
        task_scheduled_id: 1,
        failure: FailureDetails::new("Custom", "no such counter"),
    });
    let turn = run(counts_votes, &votes_turn_1(), 2, &[response]);
    assert_eq!(turn.status, RuntimeStatus::Failed);
    assert!(
        turn.output.to_string().contains("no such counter"),
        "{}",
        turn.output
    );
}

#[test]
fn a_call_where_history_has_a_signal_is_non_deterministic() {
    let failure = replay_failure(
        calls_instead_of_signaling,
        &[
            started(Value::Null),
            turn_start(1),
            entity_signaled(0, "add", json!(1)),
            turn_end(1),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    let message = &failure.error_message;
    assert!(
        message.contains(r#"signal_entity("@counter@votes", "add")"#),
        "{message}"
    );
    assert!(
        message.contains(r#"call_entity("@counter@votes", "add")"#),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------
// Critical sections
// ---------------------------------------------------------------------------------------

fn account(key: &str) -> crate::entity::EntityId {
    crate::entity::EntityId::new("Account", key)
}

/// Locks accounts b and a (given out of order), reads a's balance inside the section,
/// releases, and returns the balance.
fn reads_under_lock(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let guard = ctx.lock([account("b"), account("a"), account("b")]).await?;
        let balance: i64 = ctx.call_entity(&account("a"), "balance", ()).await?;
        guard.release();
        Ok(balance)
    })
}

/// Breaks the rules inside a section (the errors name the rule) and reports what it held
/// outside and inside; returned as output.
fn breaks_locking_rules(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let outside = ctx.locked_entities().len();
        let _guard = ctx.lock([account("a")]).await?;
        let locked: Vec<String> = ctx
            .locked_entities()
            .iter()
            .map(|e| e.to_string())
            .collect();
        let nested = ctx.lock(&[account("b")]).await.err().map(|e| e.to_string());
        let unlocked = ctx
            .call_entity::<i64>(&account("b"), "balance", ())
            .await
            .err()
            .map(|e| e.to_string());
        Ok((nested, unlocked, outside, locked))
    })
}

/// Locks one account and returns while holding it (the guard is forgotten).
fn forgets_its_lock(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let guard = ctx.lock(&[account("a")]).await?;
        std::mem::forget(guard);
        Ok(())
    })
}

const SECTION: &str = "replay-test:0";

fn lock_requested(id: i64, lock_set: &[&str]) -> HistoryEvent {
    action(
        id,
        EventKind::EntityLockRequested {
            critical_section_id: format!("{INSTANCE}:{id}"),
            lock_set: lock_set.iter().map(|s| (*s).to_owned()).collect(),
            position: 0,
            caller: None,
        },
    )
}

fn lock_granted(id: i64) -> HistoryEvent {
    message(EventKind::EntityLockGranted {
        task_scheduled_id: id,
        critical_section_id: format!("{INSTANCE}:{id}"),
    })
}

fn unlock_sent(id: i64, entity: &str) -> HistoryEvent {
    action(
        id,
        EventKind::EntityUnlockSent {
            critical_section_id: SECTION.to_owned(),
            target_instance_id: entity.to_owned(),
        },
    )
}

fn locked_call(id: i64, entity: &str, operation: &str) -> HistoryEvent {
    action(
        id,
        EventKind::EntityOperationCalled {
            request_id: format!("{INSTANCE}:{id}"),
            target_instance_id: entity.to_owned(),
            operation: operation.to_owned(),
            input: Value::Null,
            critical_section_id: Some(SECTION.to_owned()),
            caller: None,
        },
    )
}

fn locking_turns() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        lock_requested(0, &["@account@a", "@account@b"]),
        turn_end(1),
        lock_granted(0),
        turn_start(2),
        locked_call(1, "@account@a", "balance"),
        turn_end(2),
    ]
}

#[test]
fn a_lock_request_goes_to_the_first_entity_of_the_sorted_set() {
    let turn = run(reads_under_lock, &[], 1, &[started(Value::Null)]);
    assert_eq!(turn.appended, stamp(locking_turns()[..4].to_vec()));
    assert_eq!(turn.entity_operations.len(), 1);
    assert_eq!(turn.entity_operations[0].instance_id, "@account@a");
}

#[test]
fn inside_the_section_calls_carry_it_and_the_guard_releases_every_entity() {
    let granted = run(
        reads_under_lock,
        &locking_turns()[..4],
        2,
        &[lock_granted(0)],
    );
    assert_eq!(granted.appended, stamp(locking_turns()[4..].to_vec()));
    let response = message(EventKind::EntityOperationCompleted {
        task_scheduled_id: 1,
        result: json!(30),
    });
    check(Case {
        orchestrator: reads_under_lock,
        history: locking_turns(),
        now: 3,
        messages: vec![response.clone()],
        appended: vec![
            response,
            turn_start(3),
            unlock_sent(2, "@account@a"),
            unlock_sent(3, "@account@b"),
            finished(json!(30)),
            turn_end(3),
        ],
        status: RuntimeStatus::Completed,
        output: json!(30),
    });
}

#[test]
fn locking_twice_or_calling_an_unlocked_entity_inside_a_section_fails() {
    let history = [
        started(Value::Null),
        turn_start(1),
        lock_requested(0, &["@account@a"]),
        turn_end(1),
    ];
    let turn = run(breaks_locking_rules, &history, 2, &[lock_granted(0)]);
    assert_eq!(turn.status, RuntimeStatus::Completed);
    let [nested, unlocked] = [&turn.output[0], &turn.output[1]].map(|v| v.to_string());
    assert!(
        nested.contains("cannot lock entities inside a critical section"),
        "{nested}"
    );
    assert!(
        unlocked.contains("cannot call entity `@account@b`"),
        "{unlocked}"
    );
    assert_eq!(
        turn.output[2],
        json!(0),
        "nothing is locked outside a section"
    );
    assert_eq!(turn.output[3], json!(["@account@a"]));
    let unlocks = turn
        .entity_operations
        .iter()
        .filter(|m| matches!(m.event.kind, EventKind::EntityUnlockSent { .. }))
        .count();
    assert_eq!(unlocks, 1, "the guard is dropped on return");
}

#[test]
fn an_execution_that_ends_holding_locks_releases_them() {
    let history = [
        started(Value::Null),
        turn_start(1),
        lock_requested(0, &["@account@a"]),
        turn_end(1),
    ];
    let turn = run(forgets_its_lock, &history, 2, &[lock_granted(0)]);
    assert_eq!(turn.status, RuntimeStatus::Completed);
    let released: Vec<(&str, i64)> = turn
        .appended
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::EntityUnlockSent {
                target_instance_id, ..
            } => Some((target_instance_id.as_str(), e.event_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        released,
        [("@account@a", -1)],
        "released by the engine, not a call"
    );
    assert_eq!(turn.entity_operations.len(), 1);
}

#[test]
fn a_lock_where_history_has_another_set_is_non_deterministic() {
    let failure = replay_failure(
        reads_under_lock,
        &[
            started(Value::Null),
            turn_start(1),
            lock_requested(0, &["@account@a", "@account@c"]),
            turn_end(1),
        ],
    );
    assert_eq!(failure.error_type, NON_DETERMINISM);
    assert!(
        failure.error_message.contains("@account@c"),
        "{}",
        failure.error_message
    );
}

// ---------------------------------------------------------------------------------------
// Retried calls compose with races
// ---------------------------------------------------------------------------------------

/// Races A, retried up to `attempts` attempts 5 s apart, against B.
fn race_retried(ctx: OrchestrationContext, attempts: u32) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let retry = super::RetryOptions::new(std::time::Duration::from_secs(5), attempts);
        let (index, result) = crate::when_any([
            ctx.call_activity::<String>("A", ()).with_retry(retry),
            ctx.call_activity::<String>("B", ()),
        ])
        .await;
        Ok(format!("{index}:{}", result?))
    })
}

fn race_retried_three_times(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    race_retried(ctx, 3)
}

fn race_retried_once(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    race_retried(ctx, 1)
}

fn timer_created(id: i64, fire_at: i64) -> HistoryEvent {
    action(
        id,
        EventKind::TimerCreated {
            fire_at: at(fire_at),
        },
    )
}

fn timer_fired(id: i64, fire_at: i64) -> HistoryEvent {
    message(EventKind::TimerFired {
        timer_id: id,
        fire_at: at(fire_at),
    })
}

/// A and B scheduled; A's first attempt failed at 2, and its retry waits until 7.
fn retried_race_backing_off() -> Vec<HistoryEvent> {
    vec![
        started(Value::Null),
        turn_start(1),
        scheduled(0, "A", Value::Null),
        scheduled(1, "B", Value::Null),
        turn_end(1),
        failed(0, "Boom", "first try"),
        turn_start(2),
        timer_created(2, 7),
        turn_end(2),
    ]
}

#[test]
fn a_retried_call_that_failed_backs_off_on_a_durable_timer_while_the_race_goes_on() {
    let history = &retried_race_backing_off()[..5];
    let turn = run(
        race_retried_three_times,
        history,
        2,
        &[failed(0, "Boom", "first try")],
    );
    assert_eq!(
        turn.appended,
        stamp(retried_race_backing_off()[5..].to_vec())
    );
    assert_eq!(turn.timers, [(2, at(7))]);
    assert_eq!(turn.status, RuntimeStatus::Running);
}

#[test]
fn the_other_call_wins_while_the_retried_one_backs_off() {
    let turn = run(
        race_retried_three_times,
        &retried_race_backing_off(),
        3,
        &[completed(1, json!("b"))],
    );
    assert_eq!(turn.status, RuntimeStatus::Completed);
    assert_eq!(turn.output, json!("1:b"));
}

#[test]
fn a_retried_call_wins_the_race_with_its_next_attempt() {
    let mut history = retried_race_backing_off();
    let turn = run(race_retried_three_times, &history, 7, &[timer_fired(2, 7)]);
    let next_attempt = vec![
        timer_fired(2, 7),
        turn_start(7),
        scheduled(3, "A", Value::Null),
        turn_end(7),
    ];
    assert_eq!(turn.appended, stamp(next_attempt.clone()));
    assert_eq!(turn.activities, activities_in(&turn.appended));
    history.extend(next_attempt);
    let turn = run(
        race_retried_three_times,
        &history,
        8,
        &[completed(3, json!("a"))],
    );
    assert_eq!(turn.status, RuntimeStatus::Completed);
    assert_eq!(turn.output, json!("0:a"));
}

#[test]
fn a_retried_call_that_fails_for_the_last_time_ends_the_race_with_its_failure() {
    let history = &retried_race_backing_off()[..5];
    let turn = run(
        race_retried_once,
        history,
        2,
        &[failed(0, "Boom", "only try")],
    );
    assert!(
        turn.timers.is_empty(),
        "no retry is left: {:?}",
        turn.timers
    );
    assert_eq!(turn.status, RuntimeStatus::Failed);
    let failure: FailureDetails =
        serde_json::from_value(turn.output).expect("the output is the failure");
    assert!(failure.error_message.contains("only try"), "{failure}");
}

// ---------------------------------------------------------------------------------------
// Limits on what one orchestration schedules
// ---------------------------------------------------------------------------------------

/// Schedules activities without end, as a loop over a huge input would.
fn schedules_without_end(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move {
        let mut calls = Vec::new();
        loop {
            calls.push(ctx.call_activity::<Value>("Work", calls.len()));
            if calls.len() == usize::MAX {
                return Ok(Value::Null);
            }
        }
    })
}

/// Awaits one activity after another without end.
fn calls_one_after_another(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration::<Value, _>(async move {
        loop {
            let _: Value = ctx.call_activity("Work", ()).await?;
        }
    })
}

fn limits(per_turn: usize, per_execution: u64) -> super::ActionLimits {
    super::ActionLimits {
        per_turn,
        per_execution,
        ..super::ActionLimits::default()
    }
}

#[test]
fn a_turn_over_the_action_limit_fails_the_instance_and_schedules_nothing() {
    let mut execution =
        Execution::new(INSTANCE, schedules_without_end).with_limits(limits(1_000, 100_000));
    let turn = execution.run_turn(at(1), vec![started(Value::Null)]);
    assert_eq!(turn.status, RuntimeStatus::Failed);
    assert!(
        turn.activities.is_empty(),
        "{} scheduled",
        turn.activities.len()
    );
    assert!(
        !turn
            .appended
            .iter()
            .any(|e| matches!(e.kind, EventKind::TaskScheduled { .. })),
        "nothing recorded as scheduled"
    );
    let failure: FailureDetails =
        serde_json::from_value(turn.output).expect("the output is the failure");
    assert_eq!(failure.error_type, "MaxOrchestrationActionsExceeded");
    assert!(failure.error_message.contains("1000"), "{failure}");
}

#[test]
fn a_history_over_the_action_limit_fails_the_instance() {
    let mut execution =
        Execution::new(INSTANCE, calls_one_after_another).with_limits(limits(100, 3));
    let mut turn = execution.run_turn(at(1), vec![started(Value::Null)]);
    let mut t = 1;
    while turn.status == RuntimeStatus::Running {
        t += 1;
        let call = turn.activities.first().expect("one call a turn").task_id;
        turn = execution.run_turn(at(t), vec![completed(call, Value::Null)]);
        assert!(t < 10, "the limit stops it");
    }
    assert_eq!(turn.status, RuntimeStatus::Failed);
    assert_eq!(t, 4, "three calls, then the fourth is refused");
    let failure: FailureDetails = serde_json::from_value(turn.output).expect("the failure");
    assert_eq!(failure.error_type, "MaxOrchestrationActionsExceeded");
    assert!(failure.error_message.contains("history"), "{failure}");
}

// ---------------------------------------------------------------------------------------
// The parent of a sub-orchestration
// ---------------------------------------------------------------------------------------

/// Outputs its parent's instance id, or null.
fn tells_its_parent(ctx: OrchestrationContext) -> BoxFuture<InvocationResult> {
    orchestration(async move { Ok(ctx.parent_instance().map(|p| p.instance_id)) })
}

#[test]
fn a_sub_orchestration_knows_its_parent_and_a_started_one_has_none() {
    let turn = run(tells_its_parent, &[], 1, &[started(Value::Null)]);
    assert_eq!(turn.output, Value::Null);
    let child_start = message(EventKind::ExecutionStarted {
        name: "Test".to_owned(),
        input: Value::Null,
        execution_id: "execution-1".to_owned(),
        parent: Some(crate::history::ParentInstance {
            instance_id: "the-parent".to_owned(),
            execution_id: "parent-execution".to_owned(),
            task_scheduled_id: 4,
        }),
        scheduled_start: None,
        parent_trace_context: None,
        version: None,
    });
    let turn = run(tells_its_parent, &[], 1, &[child_start]);
    assert_eq!(turn.output, json!("the-parent"));
}
