//! Every error answer is JSON. Rejections made below the handlers (a path that is not
//! UTF-8, a body over the size limit, a wrong method, a content type a handler refuses)
//! come as plain text or empty from axum; this layer rewrites any error answer that is not
//! JSON into the [`ErrorBody`] every other error has, keeping its status and headers.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use durable_runtime::wire::ErrorBody;

/// The most of a text error body that is kept as the message.
const MAX_MESSAGE: usize = 4 * 1024;

/// Rewrites a non-JSON error answer as JSON.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match to_bytes(body, MAX_MESSAGE).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        let reason = status.canonical_reason().unwrap_or("error");
        format!("{} {reason}", status.as_u16())
    } else {
        text
    };
    let body = serde_json::to_vec(&ErrorBody::new(message)).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
}
