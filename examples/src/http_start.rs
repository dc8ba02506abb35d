//! The docs' HttpStart: starts any orchestrator by name over HTTP.

use durable_runtime::prelude::*;

/// `POST /api/orchestrators/{name}` with an optional JSON body as the input; answers 202
/// with the check-status payload. Anonymous, as in the docs' sample.
#[client(
    name = "HttpStart",
    http(route = "orchestrators/{name}", methods = ["POST"], auth = "anonymous")
)]
pub async fn http_start(
    client: DurableClient,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Result<impl IntoResponse, DurableError> {
    let instance_id = client.start_new(&name, None, body.map(|b| b.0)).await?;
    Ok(client.create_check_status_response(&instance_id))
}
