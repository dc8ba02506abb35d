use durable_runtime::prelude::*;

#[activity_trigger]
struct SayHello {
    city: String,
}

fn main() {}
