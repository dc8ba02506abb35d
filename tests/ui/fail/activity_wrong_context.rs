use durable_runtime::prelude::*;

#[activity_trigger]
async fn greet(prefix: String, city: String) -> String {
    format!("{prefix} {city}")
}

fn main() {}
