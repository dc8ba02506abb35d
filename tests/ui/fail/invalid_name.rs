use durable_runtime::prelude::*;

#[activity_trigger(name = "Say Hello")]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

#[activity_trigger]
async fn _private() {}

fn main() {}
