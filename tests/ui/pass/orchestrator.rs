// Orchestrators with and without input register under the right names.
use durable_runtime::__private::ORCHESTRATORS;
use durable_runtime::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Order {
    id: String,
    lines: Vec<String>,
}

#[orchestration_trigger(name = "HelloCities")]
async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let mut out = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        out.push(ctx.call_activity::<String>("SayHello", city).await?);
    }
    Ok(out)
}

#[orchestration_trigger]
async fn greet(context: OrchestrationContext, city: String) -> Result<String, DurableError> {
    context.call_activity::<String>("SayHello", city).await
}

#[orchestration_trigger]
async fn process_order(_: OrchestrationContext, Order { id, lines }: Order) -> (String, usize) {
    (id, lines.len())
}

#[orchestration_trigger]
async fn nothing(_ctx: OrchestrationContext) {}

fn main() {
    let mut names: Vec<&str> = ORCHESTRATORS
        .iter()
        .filter(|o| o.location.file.ends_with("orchestrator.rs"))
        .map(|o| o.name)
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["HelloCities", "greet", "nothing", "process_order"]);
}
