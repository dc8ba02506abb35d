use durable_runtime::prelude::*;

#[client(name = "Start")]
async fn http_start(_client: DurableClient) -> &'static str {
    "started"
}

fn main() {}
