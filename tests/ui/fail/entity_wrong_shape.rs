use durable_runtime::prelude::*;

#[entity_trigger]
async fn with_input(_ctx: EntityContext<i64>, _amount: i64) {}

#[entity_trigger]
async fn with_output(_ctx: EntityContext<i64>) -> i64 {
    1
}

#[entity_trigger]
async fn without_context() {}

fn main() {}
