use durable_runtime::prelude::*;

#[orchestration_trigger]
async fn greet(city: String) -> String {
    city
}

fn main() {}
