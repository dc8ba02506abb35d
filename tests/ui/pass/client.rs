// Client functions register their HTTP trigger.
use durable_runtime::__private::{CLIENTS, ClientTrigger, Router};
use durable_runtime::prelude::*;

#[client(http(route = "orchestrators/{name}", methods = ["post"]))]
async fn http_start(
    client: DurableClient,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Result<impl IntoResponse, DurableError> {
    let id = client.start_new(&name, None, body.map(|b| b.0)).await?;
    Ok(client.create_check_status_response(&id))
}

#[client(name = "Health", http(route = "health"))]
async fn health() -> &'static str {
    "ok"
}

fn main() {
    let mut triggers: Vec<(&str, &str, Vec<&str>)> = CLIENTS
        .iter()
        .filter(|c| c.location.file.ends_with("client.rs"))
        .filter_map(|c| match &c.trigger {
            ClientTrigger::Http { route, methods, .. } => Some((c.name, *route, methods.to_vec())),
            ClientTrigger::Timer { .. } => None,
        })
        .collect();
    triggers.sort_unstable();
    assert_eq!(
        triggers,
        [
            ("Health", "health", vec!["GET", "POST"]),
            ("http_start", "orchestrators/{name}", vec!["POST"]),
        ]
    );
    // Mounting runs axum's route parser, which panics on a malformed route.
    let router = CLIENTS
        .iter()
        .fold(Router::new(), |router, c| match &c.trigger {
            ClientTrigger::Http { mount, .. } => mount(router),
            ClientTrigger::Timer { .. } => router,
        });
    drop(router);
}
