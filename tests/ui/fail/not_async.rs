use durable_runtime::prelude::*;

#[activity_trigger(name = "SayHello")]
fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

fn main() {}
