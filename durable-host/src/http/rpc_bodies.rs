//! Bodies on the key-less RPC listener. The official Python client serializes a payload
//! and sends that text as a JSON string (`{"a": 1}` arrives as `"{\"a\": 1}"`), which the
//! Durable Functions Python worker decodes once more. The RPC listener serves the official
//! clients only, so there a body that is a JSON string holding JSON text is decoded once
//! before the routes read it: functions receive the value the caller passed. (A string
//! that is not JSON text, `"hello"`, stays a string; the public API takes bodies as sent.)
//!
//! Answers too: the clients read the reason of a refused rewind from a body that is a JSON
//! string, as the Durable Functions extension sends it there, so on this listener a
//! rewind's error answer carries its message as a JSON string.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ApiError;

/// Decodes a body that is JSON text inside a JSON string; `max_body` bounds what is read.
pub async fn unwrap_string_bodies(
    State(max_body): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, max_body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::payload_too_large(format!(
                "the request body is larger than {max_body} bytes"
            ))
            .into_response();
        }
    };
    let mut parts = parts;
    let body = match unwrap(&bytes) {
        Some(inner) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Body::from(inner)
        }
        None => Body::from(bytes),
    };
    next.run(Request::from_parts(parts, body)).await
}

/// Sends a rewind's error message as a JSON string (the clients' reading of it).
pub async fn rewind_errors_as_text(request: Request, next: Next) -> Response {
    let is_rewind = request.uri().path().ends_with("/rewind");
    let response = next.run(request).await;
    if !is_rewind || !response.status().is_client_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = match to_bytes(body, 64 * 1024).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|body| {
                body.get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => String::new(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let text = serde_json::to_vec(&Value::String(message)).unwrap_or_default();
    Response::from_parts(parts, Body::from(text))
}

/// The JSON text inside a body that is a JSON string holding JSON text.
fn unwrap(body: &[u8]) -> Option<Vec<u8>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::String(text)) if serde_json::from_str::<Value>(&text).is_ok() => {
            Some(text.into_bytes())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::unwrap;

    #[test]
    fn only_a_string_of_json_text_is_unwrapped() {
        let body = json!("{\"a\": 1}").to_string();
        assert_eq!(unwrap(body.as_bytes()).as_deref(), Some(&b"{\"a\": 1}"[..]));
        assert_eq!(
            unwrap(json!("5").to_string().as_bytes()).as_deref(),
            Some(&b"5"[..])
        );
        assert_eq!(unwrap(json!("hello").to_string().as_bytes()), None);
        assert_eq!(unwrap(b"{\"a\": 1}"), None);
        assert_eq!(unwrap(b"\"\""), None);
        assert_eq!(unwrap(b""), None);
    }
}
