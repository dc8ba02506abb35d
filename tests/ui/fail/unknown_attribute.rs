use durable_runtime::prelude::*;

#[activity_trigger(nmae = "SayHello")]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

fn main() {}
