use durable_runtime::prelude::*;

struct Greeter;

impl Greeter {
    #[activity_trigger]
    async fn say_hello(&self, city: String) -> String {
        format!("Hello {city}!")
    }
}

fn main() {}
