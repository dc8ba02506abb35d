//! The Durable Functions HTTP management API (routes, query parameters, status codes and
//! JSON names as Durable Functions has them). Handlers are thin: each reads the request,
//! calls one `DurableClient` operation and shapes the answer.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use durable_runtime::engine::store::{InstanceQuery, PurgeFilter};
use durable_runtime::wire::PurgeHistoryResult;
use durable_runtime::{
    DurableClient, DurableError, EntityId, EntityQuery, ListOptions, PurgeOptions, RestartOptions,
    RuntimeStatus, SignalEntityOptions, StartOptions, StatusOptions, TerminateOptions,
};
use serde_json::Value;

use super::ApiError;

/// Header that carries the continuation token of a listing, both ways.
const CONTINUATION_HEADER: &str = "x-ms-continuation-token";

/// Largest page of a listing.
const MAX_PAGE: usize = 1000;

pub(super) fn routes() -> Router {
    Router::new()
        .route("/orchestrators/{name}", post(start))
        .route("/orchestrators/{name}/{instance_id}", post(start_with_id))
        .route("/instances", get(list).delete(purge_many))
        .route("/instances/{instance_id}", get(status).delete(purge_one))
        .route(
            "/instances/{instance_id}/raiseEvent/{event_name}",
            post(raise_event),
        )
        .route("/instances/{instance_id}/terminate", post(terminate))
        .route("/instances/{instance_id}/suspend", post(suspend))
        .route("/instances/{instance_id}/resume", post(resume))
        .route("/instances/{instance_id}/rewind", post(rewind))
        .route("/instances/{instance_id}/restart", post(restart))
        .route("/entities", get(list_entities))
        .route("/entities/{name}", get(list_entities_named))
        .route(
            "/entities/{name}/{key}",
            get(read_entity).post(signal_entity),
        )
}

/// Reads `top` (1 to [`MAX_PAGE`], 100 when absent).
fn page_size(query: &HashMap<String, String>) -> Result<usize, ApiError> {
    match param(query, "top") {
        None => Ok(100),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter `top` must be a number from 1 to {MAX_PAGE}, not `{text}`"
                ))
            }),
    }
}

/// The continuation token a request carries, if any.
fn continuation(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(CONTINUATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
}

/// An answer with a JSON array and, when there is more, the continuation header.
fn page_response<T: serde::Serialize>(items: &[T], next: Option<String>) -> Response {
    let mut response = (StatusCode::OK, Json(items)).into_response();
    if let Some(next) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(CONTINUATION_HEADER, next);
    }
    response
}

/// `GET /entities[/{name}]`: entities, oldest first, paged like `/instances`; filtered by
/// `lastOperationTimeFrom`/`lastOperationTimeTo`, with their state unless
/// `fetchState=false`, and with stateless ones (only locked, say) when
/// `includeStateless=true`. Each names the orchestration that holds its lock (`lockedBy`).
async fn entity_listing(
    client: DurableClient,
    name: Option<String>,
    query: HashMap<String, String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let entity_query = EntityQuery {
        name,
        instance_id_prefix: None,
        last_operation_from: time(&query, "lastOperationTimeFrom")?,
        last_operation_to: time(&query, "lastOperationTimeTo")?,
        fetch_state: flag(&query, "fetchState", true)?,
        include_stateless: flag(&query, "includeStateless", false)?,
        page_size: page_size(&query)?,
        continuation_token: continuation(&headers).map(str::to_owned),
    };
    let page = client.list_entities(&entity_query).await?;
    Ok(page_response(&page.entities, page.continuation_token))
}

async fn list_entities(
    client: DurableClient,
    Query(query): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    entity_listing(client, None, query, headers).await
}

async fn list_entities_named(
    client: DurableClient,
    Path(name): Path<String>,
    Query(query): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    entity_listing(client, Some(name), query, headers).await
}

type Params = Query<HashMap<String, String>>;

/// A query parameter, its name compared ignoring case.
fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a boolean query parameter (`true`/`false`, any case).
fn flag(query: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match param(query, name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::bad_request(format!(
            "query parameter `{name}` must be true or false"
        ))),
    }
}

/// Reads a whole number of seconds.
fn seconds(query: &HashMap<String, String>, name: &str) -> Result<Option<Duration>, ApiError> {
    param(query, name)
        .map(|text| {
            text.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter `{name}` must be a whole number of seconds, not `{text}`"
                ))
            })
        })
        .transpose()
}

/// Reads an RFC 3339 time.
fn time(query: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    param(query, name)
        .map(|text| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "query parameter `{name}` must be an ISO 8601 time like 2024-01-31T12:00:00Z, not `{text}`"
                    ))
                })
        })
        .transpose()
}

/// Reads `runtimeStatus=a,b`.
fn statuses(query: &HashMap<String, String>) -> Result<Vec<RuntimeStatus>, ApiError> {
    let Some(text) = param(query, "runtimeStatus") else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(ApiError::bad_request))
        .collect()
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
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    start_instance(client, name, None, &query, &headers, &body).await
}

async fn start_with_id(
    client: DurableClient,
    Path((name, instance_id)): Path<(String, String)>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    start_instance(client, name, Some(instance_id), &query, &headers, &body).await
}

/// Starts an instance (at `scheduledStartTime` when given, Pending until then); with
/// `timeout` (and `pollingInterval`) waits for it and answers 200 with its output when it
/// finishes in time.
async fn start_instance(
    client: DurableClient,
    name: String,
    instance_id: Option<String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let input = json_body(headers, body)?;
    let timeout = seconds(query, "timeout")?;
    let polling = seconds(query, "pollingInterval")?.unwrap_or(Duration::from_secs(1));
    let options = StartOptions {
        instance_id,
        start_at: time(query, "scheduledStartTime")?,
        version: param(query, "version").map(str::to_owned),
        ..StartOptions::default()
    };
    let id = client.start_new_with_options(&name, options, input).await?;
    match timeout {
        // Woken by the commit that finishes the instance; `pollingInterval` only bounds how
        // long the wait goes without reading the store.
        Some(timeout) => Ok(client
            .wait_for_completion_or_create_check_status_response(&id, timeout, polling)
            .await?),
        None => Ok(client.create_check_status_response(&id)),
    }
}

fn add_polling_headers(response: &mut Response, client: &DurableClient, instance_id: &str) {
    let payload = client.create_http_management_payload(instance_id);
    if let Ok(location) = HeaderValue::from_str(&payload.status_query_get_uri) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
}

async fn status(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let options = StatusOptions {
        show_history: flag(&query, "showHistory", false)?,
        show_history_output: flag(&query, "showHistoryOutput", false)?,
        show_input: flag(&query, "showInput", true)?,
    };
    let fail_as_500 = flag(&query, "returnInternalServerErrorOnFailure", false)?;
    let Some(status) = client.get_status(&instance_id, options).await? else {
        return Err(ApiError::not_found(format!(
            "no instance with id `{instance_id}` exists"
        )));
    };
    let code = match status.runtime_status {
        RuntimeStatus::Failed if fail_as_500 => StatusCode::INTERNAL_SERVER_ERROR,
        other => other.http_status(),
    };
    let mut response = (code, Json(&status)).into_response();
    if !status.runtime_status.is_terminal() {
        add_polling_headers(&mut response, &client, &instance_id);
    }
    Ok(response)
}

async fn list(
    client: DurableClient,
    Query(query): Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let top = page_size(&query)?;
    let filter = InstanceQuery {
        instance_id_prefix: param(&query, "instanceIdPrefix").map(str::to_owned),
        version: param(&query, "version").map(str::to_owned),
        created_from: time(&query, "createdTimeFrom")?,
        created_to: time(&query, "createdTimeTo")?,
        statuses: statuses(&query)?,
        page_size: top,
        after: None,
        entities: false,
        ..InstanceQuery::default()
    };
    let options = ListOptions {
        show_input: flag(&query, "showInput", true)?,
        continuation_token: continuation(&headers).map(str::to_owned),
    };
    let page = client.list_instances(&filter, options).await?;
    Ok(page_response(&page.instances, page.continuation_token))
}

fn deleted(count: u64) -> Response {
    let result = PurgeHistoryResult {
        instances_deleted: count,
    };
    (StatusCode::OK, Json(result)).into_response()
}

async fn purge_one(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let options = PurgeOptions {
        recursive: flag(&query, "recursive", false)?,
    };
    match client
        .purge_instance_with_options(&instance_id, options)
        .await
    {
        Ok(0) => Err(ApiError::not_found(format!(
            "no instance with id `{instance_id}` exists"
        ))),
        Ok(count) => Ok(deleted(count)),
        // Durable Functions answers 404 when nothing was purged; say why.
        Err(DurableError::InvalidStatus(message)) => Err(ApiError::not_found(format!(
            "{message}; only Completed, Failed or Terminated instances can be purged"
        ))),
        Err(other) => Err(other.into()),
    }
}

async fn purge_many(client: DurableClient, Query(query): Params) -> Result<Response, ApiError> {
    let created_from = time(&query, "createdTimeFrom")?.ok_or_else(|| {
        ApiError::bad_request("query parameter `createdTimeFrom` is required to purge by filter")
    })?;
    let filter = PurgeFilter {
        created_from,
        created_to: time(&query, "createdTimeTo")?,
        statuses: statuses(&query)?,
    };
    match client.purge_instances(&filter).await? {
        0 => Err(ApiError::not_found(
            "no finished instance matches the filter",
        )),
        count => Ok(deleted(count)),
    }
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

/// `POST /entities/{name}/{key}?op=...[&scheduledTime=...]`: signals the operation with
/// the body as input, delivered at `scheduledTime` when given.
async fn signal_entity(
    client: DurableClient,
    Path((name, key)): Path<(String, String)>,
    Query(query): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let operation = param(&query, "op")
        .filter(|op| !op.is_empty())
        .ok_or_else(|| ApiError::bad_request("query parameter `op` (the operation) is required"))?;
    let input = json_body(&headers, &body)?;
    let options = SignalEntityOptions {
        signal_time: time(&query, "scheduledTime")?,
    };
    client
        .signal_entity_with_options(&EntityId::new(name, key), operation, input, options)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /entities/{name}/{key}`: the entity's state, 404 when it has none.
async fn read_entity(
    client: DurableClient,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = EntityId::new(name, key);
    match client.read_entity_state::<Value>(&id).await? {
        Some(state) => Ok((StatusCode::OK, Json(state)).into_response()),
        None => Err(ApiError::not_found(format!("entity `{id}` does not exist"))),
    }
}

fn reason(query: &HashMap<String, String>) -> String {
    param(query, "reason").unwrap_or_default().to_owned()
}

async fn terminate(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let options = TerminateOptions {
        reason: reason(&query),
        recursive: flag(&query, "recursive", false)?,
    };
    client.terminate(&instance_id, options).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn suspend(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    client.suspend(&instance_id, &reason(&query)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    client.resume(&instance_id, &reason(&query)).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn rewind(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    match client.rewind(&instance_id, &reason(&query)).await {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        // 412 for an instance that has not failed, as the Durable Functions extension
        // answers (the official clients read it so).
        Err(DurableError::InvalidStatus(message)) => Err(ApiError::precondition_failed(message)),
        Err(other) => Err(other.into()),
    }
}

async fn restart(
    client: DurableClient,
    Path(instance_id): Path<String>,
    Query(query): Params,
) -> Result<Response, ApiError> {
    let options = RestartOptions {
        new_instance_id: flag(&query, "restartWithNewInstanceId", true)?,
    };
    let id = client.restart(&instance_id, options).await?;
    Ok(client.create_check_status_response(&id))
}
