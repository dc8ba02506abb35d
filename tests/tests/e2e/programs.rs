//! Random programs, random crashes: proptest generates orchestration programs (activities,
//! fan-outs, timers, external events, events an instance sends itself, `when_any` races,
//! event timeouts, sub-orchestrations, continue-as-new) and a failpoint that aborts the
//! host or fails a write at some point of its work. A host on SQLite runs the programs;
//! when it dies, a new host on the same folder finishes them. Each output must be what a
//! plain interpreter of the program says, every activity must have run at least once and
//! again at most once, every history well formed, and `check` clean.
//!
//! `DURABLE_FAULTS_FULL=1` runs 500 cases instead of 24; `DURABLE_PROGRAM_SEED` picks other
//! programs (the same seed gives the same programs).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use durable_tests::program::{Step, step_result};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

use crate::support::{Host, assert_store_checks_clean, assert_well_formed, data_dir, full_size};

const API: &str = "/runtime/webhooks/durabletask";

/// Where a host may be stopped: the commit path, the activity runner, the dispatcher.
const POINTS: &[&str] = &[
    "turn.commit.before",
    "turn.commit.after",
    "sqlite.commit.uncommitted",
    "activity.run.before",
    "activity.run.after",
    "dispatch.fetch",
];

/// A failpoint setting: `point=action@at`.
#[derive(Debug, Clone)]
struct Fault {
    point: &'static str,
    /// `abort` (the host dies) or `error` (the step fails, the host goes on).
    action: &'static str,
    /// From which time the point is reached.
    at: u32,
}

impl Fault {
    fn setting(&self) -> String {
        format!("{}={}@{}", self.point, self.action, self.at)
    }
}

/// One generated test case: programs run side by side, one fault, and the events the
/// test raises (instance, name, value).
#[derive(Debug, Clone)]
struct Case {
    programs: Vec<Vec<Step>>,
    fault: Fault,
    events: Vec<(String, String, i64)>,
}

/// A step with no steps inside; no external events (a child's id is not known outside).
fn simple_step() -> impl Strategy<Value = Step> {
    let untagged = String::new;
    prop_oneof![
        4 => (0i64..1000).prop_map(move |value| Step::Activity { tag: untagged(), value, ms: 0 }),
        2 => vec(0i64..1000, 1..4).prop_map(move |values| Step::FanOut {
            calls: values.into_iter().map(|value| (untagged(), value)).collect(),
        }),
        2 => (1u64..400).prop_map(|ms| Step::Timer { ms }),
        1 => (0i64..1000).prop_map(move |value| Step::SelfEvent { name: untagged(), value }),
        1 => (0i64..1000).prop_map(move |value| Step::Race { tag: untagged(), value }),
        1 => (1u64..400).prop_map(|ms| Step::EventTimeout { ms }),
        1 => Just(Step::ContinueAsNew),
    ]
}

/// A step of a top-level program: a simple step, a child program, or an external event.
fn top_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => simple_step(),
        2 => vec(simple_step(), 1..5).prop_map(|steps| Step::Child { steps }),
        2 => Just(Step::Event { name: String::new() }),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    (
        proptest::sample::select(POINTS),
        prop_oneof![3 => Just("abort"), 1 => Just("error")],
        1u32..10,
    )
        .prop_map(|(point, action, at)| Fault { point, action, at })
}

fn case() -> impl Strategy<Value = Case> {
    (vec(vec(top_step(), 1..8), 1..4), fault()).prop_map(|(mut programs, fault)| {
        let mut events = Vec::new();
        let mut next = 0;
        for (index, steps) in programs.iter_mut().enumerate() {
            let instance = instance_id(index);
            name_steps(steps, &mut next, &mut |name| {
                events.push((
                    instance.clone(),
                    name.to_owned(),
                    1000 + events.len() as i64,
                ));
            });
        }
        Case {
            programs,
            fault,
            events,
        }
    })
}

fn instance_id(index: usize) -> String {
    format!("program-{index}")
}

/// Gives every call tag and event name in `steps` its own number; `on_event` hears each
/// external event's name.
fn name_steps(steps: &mut [Step], next: &mut usize, on_event: &mut dyn FnMut(&str)) {
    fn fresh(next: &mut usize, prefix: &str) -> String {
        *next += 1;
        format!("{prefix}{next}")
    }
    for step in steps {
        match step {
            Step::Activity { tag, .. } | Step::Race { tag, .. } => *tag = fresh(next, "call-"),
            Step::FanOut { calls } => calls
                .iter_mut()
                .for_each(|(tag, _)| *tag = fresh(next, "call-")),
            Step::SelfEvent { name, .. } => *name = fresh(next, "self-"),
            Step::Event { name } => {
                *name = fresh(next, "event-");
                on_event(name);
            }
            Step::Child { steps } => name_steps(steps, next, on_event),
            Step::Timer { .. } | Step::EventTimeout { .. } | Step::ContinueAsNew => {}
        }
    }
}

/// What a program outputs, worked out without any runtime; `calls` gathers the tags of
/// the activity calls it makes.
fn interpret(steps: &[Step], events: &HashMap<&str, i64>, calls: &mut Vec<String>) -> Vec<Value> {
    fn call(calls: &mut Vec<String>, tag: &str, value: i64) -> i64 {
        calls.push(tag.to_owned());
        step_result(value)
    }
    let mut output = Vec::new();
    for step in steps {
        output.push(match step {
            Step::Activity { tag, value, .. } => json!(call(calls, tag, *value)),
            Step::FanOut { calls: fan } => json!(
                fan.iter()
                    .map(|(tag, value)| call(calls, tag, *value))
                    .collect::<Vec<_>>()
            ),
            Step::Timer { .. } => json!("timer"),
            Step::Event { name } => json!(events[name.as_str()]),
            Step::SelfEvent { value, .. } => json!(value),
            Step::Race { tag, value } => json!({"winner": 1, "value": call(calls, tag, *value)}),
            Step::EventTimeout { .. } => json!("timeout"),
            Step::Child { steps } => json!(interpret(steps, events, calls)),
            Step::ContinueAsNew => continue,
        });
    }
    output
}

/// Posts to a host that may be dying: whether it acknowledged.
fn acknowledged(host: &Host, path: &str, body: &Value) -> bool {
    host.try_post(path, body)
        .is_some_and(|reply| reply.status == 202)
}

/// Whether a host that may be dying says the instance has finished.
fn is_finished(host: &Host, id: &str) -> bool {
    host.try_get(&format!("{API}/instances/{id}"))
        .is_some_and(|reply| {
            matches!(
                reply.body["runtimeStatus"].as_str(),
                Some("Completed" | "Failed" | "Terminated")
            )
        })
}

/// Runs one case; panics (which proptest reports with the case) when a promise is broken.
fn run_case(case: &Case) {
    let dir = data_dir();
    let ledger = dir.path().join("ledger.txt");
    let setting = case.fault.setting();
    // A short lease: calls leased in a write the worker was told failed wait it out.
    let args = ["--lease-seconds", "2"];
    let mut host = Host::start_with_env(dir.path(), &args, &[("DURABLE_FAILPOINTS", &setting)]);
    let ids: Vec<String> = (0..case.programs.len()).map(instance_id).collect();
    let input = |steps: &Vec<Step>| json!({"ledger": ledger.to_string_lossy(), "steps": steps});
    let mut started = vec![false; ids.len()];
    let mut raised = vec![false; case.events.len()];
    let mut crashed = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    // As a client would: ask until acknowledged (a start only while its id is unknown, as
    // an unanswered start may have been written), restart a host that died, and wait.
    loop {
        if !host.is_running() {
            crashed = true;
            host = Host::start_with(dir.path(), &args);
        }
        for ((id, steps), started) in ids.iter().zip(&case.programs).zip(&mut started) {
            if *started {
                continue;
            }
            let known = host
                .try_get(&format!("{API}/instances/{id}"))
                .map(|reply| reply.status != 404);
            *started = match known {
                // An earlier start was written; only its answer was lost.
                Some(true) => true,
                Some(false) => {
                    let path = format!("{API}/orchestrators/RunProgram/{id}");
                    acknowledged(&host, &path, &input(steps))
                }
                None => false,
            };
        }
        for ((id, name, value), raised) in case.events.iter().zip(&mut raised) {
            if !*raised {
                let path = format!("{API}/instances/{id}/raiseEvent/{name}");
                // 410: an earlier try was written, only its answer was lost, and the
                // instance has finished since (its output shows whether it got the event).
                *raised = host
                    .try_post(&path, &json!(value))
                    .is_some_and(|reply| [202, 410].contains(&reply.status));
            }
        }
        let all_asked = started.iter().chain(&raised).all(|done| *done);
        if all_asked && ids.iter().all(|id| is_finished(&host, id)) {
            break;
        }
        if Instant::now() > deadline {
            let statuses: Vec<Value> = ids
                .iter()
                .map(|id| {
                    host.try_get(&format!("{API}/instances/{id}?showHistory=true"))
                        .map_or(Value::Null, |reply| reply.body)
                })
                .collect();
            panic!(
                "{setting}: the programs did not finish (started {started:?}, events \
                 raised {raised:?}): {statuses:#?}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let events: HashMap<&str, i64> = case
        .events
        .iter()
        .map(|(_, name, value)| (name.as_str(), *value))
        .collect();
    let mut calls = Vec::new();
    for (id, steps) in ids.iter().zip(&case.programs) {
        let expected = interpret(steps, &events, &mut calls);
        let done = host.get(&format!("{API}/instances/{id}")).body;
        assert_eq!(
            done["runtimeStatus"], "Completed",
            "{setting}: {id}: {done}"
        );
        assert_eq!(done["output"], json!(expected), "{setting}: {id}");
        assert_well_formed(id, &host.status_with_history(id));
    }
    assert_ledger(&ledger, &calls, &setting);
    eprintln!(
        "{setting}: {} programs, {} calls, {} events; {}",
        case.programs.len(),
        calls.len(),
        case.events.len(),
        if crashed {
            "the host died"
        } else {
            "the host lived"
        }
    );
    drop(host);
    assert_store_checks_clean(dir.path());
}

/// Every call the programs make ran at least once and, after the one fault, again at most
/// once; nothing else ran.
fn assert_ledger(ledger: &Path, calls: &[String], setting: &str) {
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for line in text.lines() {
        *runs.entry(line).or_default() += 1;
    }
    for call in calls {
        let count = runs.remove(call.as_str()).unwrap_or(0);
        assert!(
            (1..=2).contains(&count),
            "{setting}: {call} ran {count} times"
        );
    }
    assert!(
        runs.is_empty(),
        "{setting}: calls no program made ran: {runs:?}"
    );
}

#[test]
fn random_programs_with_a_random_fault_finish_as_a_plain_interpreter_says() {
    let seed: u64 = std::env::var("DURABLE_PROGRAM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x0d0_ab1e);
    let config = Config {
        cases: if full_size() { 500 } else { 24 },
        // Each case runs hosts: shrinking is worth a few tries, not hundreds.
        max_shrink_iters: 24,
        failure_persistence: None,
        ..Config::default()
    };
    let seed_bytes: Vec<u8> = std::iter::repeat_n(seed.to_le_bytes(), 4)
        .flatten()
        .collect();
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let outcome = runner.run(&case(), |case| {
        run_case(&case);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("seed {seed}: {failure}");
    }
}
