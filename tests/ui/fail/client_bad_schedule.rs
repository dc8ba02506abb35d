use durable_runtime::prelude::*;

#[client(timer(schedule = "*/5 * * *"))]
async fn tick(_client: DurableClient) {}

fn main() {}
