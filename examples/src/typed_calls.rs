//! Typed calls: each `#[activity_trigger]` and `#[orchestration_trigger]` function's name is
//! also its handle, and `ctx.call(handle, input)` is checked by rustc: the input and output
//! types, and that the function exists.

use durable_runtime::prelude::*;

use crate::hello_cities::{hello_cities, say_hello};

/// Greets Cairo and Lima through the `say_hello` handle, then runs HelloCities as a
/// sub-orchestration, and returns every greeting in order.
#[orchestration_trigger(name = "HelloTyped")]
pub async fn hello_typed(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let mut greetings = Vec::new();
    for city in ["Cairo", "Lima"] {
        greetings.push(ctx.call(say_hello, city.to_owned()).await?);
    }
    greetings.extend(ctx.call(hello_cities, ()).await?);
    Ok(greetings)
}
