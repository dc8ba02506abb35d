//! `RunProgram`: an orchestrator that runs a program given as its input, step by step. The
//! property-based fault test generates random programs, runs them on a host that crashes
//! on purpose, and compares each output with what a plain interpreter of the same program
//! says it must be.

use std::time::Duration;

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One step of a program, and what it adds to the program's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Step {
    /// Calls `ProgramStep` (which writes `tag` to the ledger, then takes `ms`
    /// milliseconds): adds `value * 2 + 1`.
    Activity {
        /// The ledger line of this call, unique in a test case.
        tag: String,
        /// The call's input.
        value: i64,
        /// How long the call takes.
        #[serde(default, skip_serializing_if = "is_zero")]
        ms: u64,
    },
    /// Calls `ProgramStep` once per pair at the same time and waits for all: adds the list
    /// of results, in the order given.
    FanOut {
        /// Each call's tag and value.
        calls: Vec<(String, i64)>,
    },
    /// Waits `ms` milliseconds on a durable timer: adds `"timer"`.
    Timer {
        /// How long.
        ms: u64,
    },
    /// Waits for the external event `name`, an integer the test raises: adds it.
    Event {
        /// The event's name, unique in its instance.
        name: String,
    },
    /// Raises the event `name` with `value` to its own instance, then waits for it: adds
    /// `value`.
    SelfEvent {
        /// The event's name, unique in its instance.
        name: String,
        /// What the event carries.
        value: i64,
    },
    /// Races a `ProgramStep` call against an event that never comes, with `when_any`:
    /// adds `{"winner": 1, "value": value * 2 + 1}`.
    Race {
        /// The call's ledger line.
        tag: String,
        /// The call's input.
        value: i64,
    },
    /// Waits up to `ms` milliseconds for an event that never comes: adds `"timeout"`.
    EventTimeout {
        /// How long.
        ms: u64,
    },
    /// Runs `steps` as a sub-orchestration: adds its output.
    Child {
        /// The child's program.
        steps: Vec<Step>,
    },
    /// Continues as new with the steps left and the output so far, keeping events that
    /// arrived early: adds nothing.
    ContinueAsNew,
}

/// The input of `RunProgram`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramInput {
    /// The file `ProgramStep` appends each call's tag to.
    pub ledger: String,
    /// The steps to run.
    pub steps: Vec<Step>,
    /// What earlier executions (before a continue-as-new) added.
    #[serde(default)]
    pub output: Vec<Value>,
}

fn is_zero(ms: &u64) -> bool {
    *ms == 0
}

/// What `ProgramStep` returns for `value`.
pub fn step_result(value: i64) -> i64 {
    value * 2 + 1
}

/// Appends `tag` to the ledger (one line per execution, so a re-run shows as a repeated
/// line), takes `ms` milliseconds, and returns [`step_result`] of `value`.
#[activity_trigger(name = "ProgramStep")]
pub async fn program_step(
    (ledger, tag, value, ms): (String, String, i64, u64),
) -> Result<i64, String> {
    crate::append_to_ledger(&ledger, &tag)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(step_result(value))
}

/// Runs the program in its input; outputs what its steps added, in order.
#[orchestration_trigger(name = "RunProgram")]
pub async fn run_program(
    ctx: OrchestrationContext,
    input: ProgramInput,
) -> Result<Vec<Value>, DurableError> {
    let ProgramInput {
        ledger,
        steps,
        mut output,
    } = input;
    let call = |tag: &str, value: i64, ms: u64| {
        ctx.call_activity::<i64>("ProgramStep", (ledger.as_str(), tag, value, ms))
    };
    let mut steps = steps.into_iter();
    while let Some(step) = steps.next() {
        let added = match step {
            Step::Activity { tag, value, ms } => json!(call(&tag, value, ms).await?),
            Step::FanOut { calls } => {
                let results = when_all(calls.iter().map(|(tag, value)| call(tag, *value, 0))).await;
                json!(results.into_iter().collect::<Result<Vec<_>, _>>()?)
            }
            Step::Timer { ms } => {
                ctx.sleep(Duration::from_millis(ms)).await?;
                json!("timer")
            }
            Step::Event { name } => json!(ctx.wait_for_external_event::<i64>(&name).await?),
            Step::SelfEvent { name, value } => {
                ctx.raise_event(&ctx.instance_id(), &name, value);
                json!(ctx.wait_for_external_event::<i64>(&name).await?)
            }
            Step::Race { tag, value } => {
                let never = ctx.wait_for_external_event::<i64>("never");
                let (winner, result) = when_any([never, call(&tag, value, 0)]).await;
                json!({"winner": winner, "value": result?})
            }
            Step::EventTimeout { ms } => {
                let waited = ctx
                    .wait_for_external_event_with_timeout::<i64>("never", Duration::from_millis(ms))
                    .await;
                match waited {
                    Err(DurableError::EventTimeout { .. }) => json!("timeout"),
                    other => json!({"unexpected": format!("{other:?}")}),
                }
            }
            Step::Child { steps } => {
                let child = ProgramInput {
                    ledger: ledger.clone(),
                    steps,
                    output: Vec::new(),
                };
                json!(
                    ctx.call_sub_orchestrator::<Vec<Value>>("RunProgram", child)
                        .await?
                )
            }
            Step::ContinueAsNew => {
                ctx.continue_as_new_preserving_events(ProgramInput {
                    ledger,
                    steps: steps.collect(),
                    output,
                });
                return Ok(Vec::new());
            }
        };
        output.push(added);
    }
    Ok(output)
}
