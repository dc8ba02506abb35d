use durable_runtime::prelude::*;

#[activity_trigger]
async fn echo<T: serde::Serialize>(value: T) -> T {
    value
}

fn main() {}
