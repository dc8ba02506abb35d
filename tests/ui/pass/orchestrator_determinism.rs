// An orchestrator may read the clock in a statement marked `#[allow_nondeterministic]`
// (the marker is removed), and draws random numbers that replay from the context.
use durable_runtime::__private::ORCHESTRATORS;
use durable_runtime::prelude::*;

#[orchestration_trigger(name = "Lottery")]
async fn lottery(ctx: OrchestrationContext) -> Result<u64, DurableError> {
    #[allow_nondeterministic]
    let logged_at = std::time::SystemTime::now();
    let _ = logged_at;
    let ticket = ctx.random_range(1..50);
    let bonus = ctx.random_u64() % 10;
    Ok(ticket + bonus)
}

fn main() {
    assert!(ORCHESTRATORS.iter().any(|o| o.name == "Lottery"));
}
