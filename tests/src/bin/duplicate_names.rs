//! A host with two functions of one name (names ignore case): it must refuse to start.

use durable_runtime::prelude::*;

/// The first `Greet`.
#[activity_trigger(name = "Greet")]
async fn greet(name: String) -> String {
    format!("Hello {name}!")
}

/// The second `Greet`, spelled in lower case.
#[orchestration_trigger(name = "greet")]
async fn greet_orchestrator(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.call_activity("Greet", "twice").await
}

fn main() -> std::process::ExitCode {
    durable_host::run()
}
