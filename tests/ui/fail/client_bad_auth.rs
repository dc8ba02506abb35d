use durable_runtime::prelude::*;

#[client(http(route = "orchestrators/{name}", auth = "everyone"))]
async fn http_start(_client: DurableClient, Path(name): Path<String>) -> String {
    name
}

fn main() {}
