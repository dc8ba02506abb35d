use durable_runtime::prelude::*;

#[orchestration_trigger]
async fn hello_cities() -> Vec<String> {
    Vec::new()
}

fn main() {}
