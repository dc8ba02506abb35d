//! Durable entities: the docs' Counter entity, and orchestrations that signal it (one-way)
//! or call it (two-way).

use durable_runtime::prelude::*;
use serde::Deserialize;

/// A counter per key: `add` (an amount), `reset`, `get` (returns the value) and `delete`.
/// An `add` that would take the counter below zero fails, and its change is rolled back.
#[entity_trigger(name = "Counter")]
pub async fn counter(mut ctx: EntityContext<i64>) -> Result<(), DurableError> {
    match ctx.operation_name() {
        "add" => {
            let amount: i64 = ctx.get_input()?;
            *ctx.state_mut() += amount;
            if *ctx.state() < 0 {
                return Err(DurableError::Custom(format!(
                    "counter `{}` cannot go below zero",
                    ctx.entity_id().key
                )));
            }
        }
        "reset" => ctx.set_state(0),
        "get" => {
            let value = *ctx.state();
            ctx.return_value(value);
        }
        "delete" => ctx.delete_state(),
        other => {
            return Err(DurableError::Custom(format!(
                "the counter has no operation `{other}`"
            )));
        }
    }
    Ok(())
}

/// Which counter to change, and by how much.
#[derive(Debug, Deserialize)]
pub struct CounterChange {
    /// The counter's key.
    pub key: String,
    /// The amount to add.
    pub amount: i64,
}

/// Signals `add` to a counter (one-way) and finishes.
#[orchestration_trigger(name = "AddToCounter")]
pub async fn add_to_counter(ctx: OrchestrationContext) -> Result<(), DurableError> {
    let change: CounterChange = ctx.get_input()?;
    ctx.signal_entity(&EntityId::new("Counter", change.key), "add", change.amount);
    Ok(())
}

/// Calls `add` on a counter (two-way: a failed `add` fails the orchestration), then returns
/// the counter's value.
#[orchestration_trigger(name = "CallCounter")]
pub async fn call_counter(ctx: OrchestrationContext) -> Result<i64, DurableError> {
    let change: CounterChange = ctx.get_input()?;
    let id = EntityId::new("Counter", change.key);
    ctx.call_entity::<()>(&id, "add", change.amount).await?;
    ctx.call_entity(&id, "get", ()).await
}
