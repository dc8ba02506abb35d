use durable_runtime::prelude::*;

#[orchestration_trigger(name = HelloCities)]
async fn hello_cities(_ctx: OrchestrationContext) {}

fn main() {}
