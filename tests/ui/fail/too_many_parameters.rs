use durable_runtime::prelude::*;

#[activity_trigger]
async fn add(_ctx: ActivityContext, a: i64, b: i64) -> i64 {
    a + b
}

#[orchestration_trigger]
async fn run(_ctx: OrchestrationContext, a: i64, b: i64) -> i64 {
    a + b
}

fn main() {}
