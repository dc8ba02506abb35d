//! The Durable Functions HTTP management API (routes, query parameters, status codes and
//! JSON names as Durable Functions has them).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use durable_runtime::DurableClient;
use serde_json::Value;

use super::ApiError;

pub(super) fn routes() -> Router {
    Router::new()
        .route("/orchestrators/{name}", post(start))
        .route("/orchestrators/{name}/{instance_id}", post(start_with_id))
        .route("/instances/{instance_id}", get(status))
        .route(
            "/instances/{instance_id}/raiseEvent/{event_name}",
            post(raise_event),
        )
}

/// Reads an optional JSON body: empty means null; anything else must be JSON.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let text = content_type
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = text.split(';').next().unwrap_or_default().trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::unsupported_media_type(format!(
                "the request body must be JSON (Content-Type: application/json), not `{essence}`"
            )));
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn start(
    client: DurableClient,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    start_instance(client, name, None, &headers, &body).await
}

async fn start_with_id(
    client: DurableClient,
    Path((name, instance_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    start_instance(client, name, Some(instance_id), &headers, &body).await
}

async fn start_instance(
    client: DurableClient,
    name: String,
    instance_id: Option<String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let input = json_body(headers, body)?;
    let id = client
        .start_new(&name, instance_id.as_deref(), input)
        .await?;
    Ok(client.create_check_status_response(&id))
}

/// Reads a boolean query parameter (`true`/`false`, any case).
fn flag(query: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ApiError> {
    let Some((_, value)) = query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
        return Ok(default);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "query parameter `{name}` must be true or false, not `{value}`"
        ))),
    }
}

async fn status(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let show_history = flag(&query, "showHistory", false)?;
    let show_history_output = flag(&query, "showHistoryOutput", false)?;
    let show_input = flag(&query, "showInput", true)?;
    let Some(status) = client
        .get_status(&instance_id, show_history, show_history_output, show_input)
        .await?
    else {
        return Err(ApiError::not_found(format!(
            "no instance with id `{instance_id}` exists"
        )));
    };
    let code = status.runtime_status.http_status();
    let mut response = (code, Json(&status)).into_response();
    if !status.runtime_status.is_terminal() {
        let payload = client.create_http_management_payload(&instance_id);
        if let Ok(location) = HeaderValue::from_str(&payload.status_query_get_uri) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(response)
}

async fn raise_event(
    client: DurableClient,
    Path((instance_id, event_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let data = json_body(&headers, &body)?;
    client.raise_event(&instance_id, &event_name, data).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
