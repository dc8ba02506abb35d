// The expansion compiles in crates that forbid `unsafe` code and deny warnings, as the
// workspace's crates do.
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs)]
//! A documented crate.

use durable_runtime::prelude::*;

#[activity_trigger]
async fn documented(n: u8) -> u8 {
    n
}

/// Public functions: the handles are the items users see and need docs; nothing generated
/// does.
pub mod functions {
    use durable_runtime::prelude::*;

    /// Greets a city.
    #[activity_trigger(name = "SayHello")]
    pub async fn say_hello(city: String) -> String {
        format!("Hello {city}!")
    }

    /// Greets Tokyo.
    #[orchestration_trigger]
    pub async fn hello_tokyo(ctx: OrchestrationContext) -> Result<String, DurableError> {
        ctx.call(say_hello, "Tokyo".to_owned()).await
    }
}

/// Entry point.
fn main() {
    let _ = documented(1);
}
