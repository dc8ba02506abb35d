//! The built-in dashboard at `/dashboard`: server-rendered pages (askama templates compiled
//! into the binary, no script from elsewhere) over what the management API offers:
//! instances with filters and counts, one instance with its history as a timeline and its
//! actions, entities, and the functions of this host. Behind the system key: a sign-in
//! form keeps it in a cookie for the dashboard's paths only.

mod pages;
mod timeline;

use axum::Router;
use axum::extract::{Extension, Form, Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use durable_runtime::engine::store::InstanceQuery;
use durable_runtime::wire::ErrorBody;
use durable_runtime::{
    DurableClient, DurableError, EntityId, ListOptions, RestartOptions, RuntimeStatus,
    TerminateOptions,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::http::{ApiError, KeyCheck};
use pages::{InstanceFilters, InstanceRow};

/// The cookie that carries the system key for the dashboard's pages.
pub(crate) const COOKIE: &str = "durable_dashboard";

/// Instances or entities on one page.
const PAGE_SIZE: usize = 50;

/// The dashboard's routes; with `keys`, every page but the sign-in form needs the system
/// key (the cookie set by signing in, or the usual `code` / `x-functions-key`).
pub fn routes(keys: Option<KeyCheck>) -> Router {
    let pages = Router::new()
        .route("/dashboard", get(instances))
        .route("/dashboard/instances/{id}", get(instance))
        .route("/dashboard/instances/{id}/{action}", post(act))
        .route("/dashboard/entities", get(entities))
        .route("/dashboard/entities/{name}/{key}", get(entity))
        .route("/dashboard/functions", get(functions));
    let pages = match &keys {
        Some(keys) => pages.layer(axum::middleware::from_fn_with_state(
            keys.clone(),
            crate::http::require_dashboard_key,
        )),
        None => pages,
    };
    Router::new()
        .route("/dashboard/login", get(login_form).post(sign_in))
        .route("/dashboard/logout", post(sign_out))
        .with_state(keys)
        .merge(pages)
}

/// A page as an HTML answer (a template that cannot render is a 500 with JSON).
fn html(page: impl askama::Template) -> Response {
    match page.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a dashboard page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(ErrorBody::new(format!("the page did not render: {error}"))),
            )
                .into_response()
        }
    }
}

/// A time as the pages show it.
fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// A JSON value as the pages show it: pretty, `null` for nothing.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A query string value.
fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

async fn login_form() -> Response {
    html(pages::Login { error: None })
}

#[derive(serde::Deserialize)]
struct SignIn {
    key: String,
}

async fn sign_in(
    axum::extract::State(keys): axum::extract::State<Option<KeyCheck>>,
    Form(form): Form<SignIn>,
) -> Response {
    let accepted = keys
        .as_ref()
        .is_none_or(|keys| keys.is_system_key(form.key.trim()));
    if !accepted {
        return html(pages::Login {
            error: Some("That is not this host's system key.".to_owned()),
        });
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/dashboard; HttpOnly; SameSite=Strict",
        encode(form.key.trim())
    );
    let mut answer = Redirect::to("/dashboard").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        answer.headers_mut().insert(header::SET_COOKIE, value);
    }
    answer
}

async fn sign_out() -> Response {
    let mut answer = Redirect::to("/dashboard/login").into_response();
    answer.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "durable_dashboard=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    answer
}

/// The instances filters as a store query; a filter that is not understood is bad input.
fn to_query(filters: &InstanceFilters) -> Result<InstanceQuery, ApiError> {
    let time = |text: &Option<String>, what: &str| {
        text.as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "{what} `{t}` is not a time like 2026-12-03T10:00:00Z"
                        ))
                    })
            })
            .transpose()
    };
    let statuses = match filters.status.as_deref() {
        None => Vec::new(),
        Some(text) => vec![
            text.parse::<RuntimeStatus>()
                .map_err(ApiError::bad_request)?,
        ],
    };
    Ok(InstanceQuery {
        instance_id_prefix: filters.prefix.clone(),
        name: filters.name.clone(),
        created_from: time(&filters.from, "created from")?,
        created_to: time(&filters.to, "created to")?,
        statuses,
        page_size: PAGE_SIZE,
        ..InstanceQuery::default()
    })
}

/// The link to the page after `token`, with the same filters.
fn next_page(filters: &InstanceFilters, token: &str) -> String {
    let mut link = String::from("/dashboard?");
    for (name, value) in [
        ("status", &filters.status),
        ("name", &filters.name),
        ("prefix", &filters.prefix),
        ("from", &filters.from),
        ("to", &filters.to),
    ] {
        if let Some(value) = value {
            link.push_str(&format!("{name}={}&", encode(value)));
        }
    }
    if filters.live {
        link.push_str("live=1&");
    }
    link.push_str(&format!("continuation={}", encode(token)));
    link
}

async fn instances(
    Extension(client): Extension<DurableClient>,
    Query(filters): Query<InstanceFilters>,
) -> Result<Response, ApiError> {
    let query = to_query(&filters)?;
    let options = ListOptions {
        show_input: false,
        continuation_token: filters.continuation.clone(),
    };
    let page = client.list_instances(&query, options).await?;
    let backlog = client.store().backlog().await?;
    let counts = RuntimeStatus::ALL
        .iter()
        .map(|status| (status.as_str(), backlog.instances_with(*status)))
        .collect();
    let rows = page
        .instances
        .into_iter()
        .map(|status| InstanceRow {
            name: status.name,
            id: status.instance_id,
            status: status.runtime_status.as_str(),
            created: when(status.created_time),
            updated: when(status.last_updated_time),
        })
        .collect();
    let next = page
        .continuation_token
        .map(|token| next_page(&filters, &token));
    Ok(html(pages::Instances {
        filters,
        statuses: RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect(),
        counts,
        rows,
        next,
    }))
}

async fn instance(
    Extension(client): Extension<DurableClient>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = client.store();
    let record = store
        .get_instance(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no instance has the id `{id}`")))?;
    let history = store.get_history(&id).await?;
    let rows = timeline::timeline(&history, Utc::now());
    let span = match (history.first(), history.last()) {
        (Some(first), Some(last)) => timeline::format_duration(last.timestamp - first.timestamp),
        _ => String::new(),
    };
    let mut children: Vec<String> = rows.iter().filter_map(|r| r.link.clone()).collect();
    children.dedup();
    let failure = (record.status == RuntimeStatus::Failed).then(|| pretty(&record.output));
    Ok(html(pages::Instance {
        name: record.name,
        status: record.status.as_str(),
        created: when(record.created_at),
        updated: when(record.updated_at),
        version: record.version,
        parent: record.parent.map(|p| p.instance_id),
        children,
        input: pretty(&record.input),
        output: pretty(&record.output),
        custom_status: pretty(&record.custom_status),
        failure,
        rows,
        span,
        id,
    }))
}

/// What an action's form sends.
#[derive(Debug, Default, serde::Deserialize)]
struct ActionForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    new_id: Option<String>,
}

/// Runs an action the instance page offers and shows what the management API answers.
async fn act(
    Extension(client): Extension<DurableClient>,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ApiError> {
    let reason = if form.reason.trim().is_empty() {
        "from the dashboard".to_owned()
    } else {
        form.reason.trim().to_owned()
    };
    let mut target = id.clone();
    let (title, outcome): (&'static str, Result<(StatusCode, Value), ApiError>) =
        match action.as_str() {
            "raise-event" => {
                let data = if form.data.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&form.data).map_err(|error| {
                        ApiError::bad_request(format!("the event data is not JSON: {error}"))
                    })
                };
                let outcome = match data {
                    Ok(data) => accepted(client.raise_event(&id, form.event.trim(), data).await),
                    Err(error) => Err(error),
                };
                ("Raise event", outcome)
            }
            "terminate" => (
                "Terminate",
                accepted(client.terminate(&id, TerminateOptions::new(reason)).await),
            ),
            "suspend" => ("Suspend", accepted(client.suspend(&id, &reason).await)),
            "resume" => ("Resume", accepted(client.resume(&id, &reason).await)),
            "rewind" => ("Rewind", accepted(client.rewind(&id, &reason).await)),
            "restart" => {
                let options = RestartOptions {
                    new_instance_id: form.new_id.is_some(),
                };
                let outcome = client.restart(&id, options).await.map_err(ApiError::from);
                let outcome = outcome.map(|new_id| {
                    target = new_id.clone();
                    let payload = client.create_http_management_payload(&new_id);
                    (
                        StatusCode::ACCEPTED,
                        serde_json::to_value(payload).unwrap_or_default(),
                    )
                });
                ("Restart", outcome)
            }
            "purge" => {
                let outcome = match client.purge_instance(&id).await {
                    Ok(0) => Err(ApiError::not_found(format!(
                        "no instance has the id `{id}`"
                    ))),
                    Ok(n) => Ok((StatusCode::OK, serde_json::json!({ "instancesDeleted": n }))),
                    Err(error) => Err(ApiError::from(error)),
                };
                ("Purge", outcome)
            }
            other => {
                return Err(ApiError::not_found(format!(
                    "the dashboard has no action `{other}`"
                )));
            }
        };
    let (status, body) = match outcome {
        Ok((status, body)) => (status, body),
        Err(error) => (
            error.status(),
            serde_json::to_value(ErrorBody::new(error.message())).unwrap_or_default(),
        ),
    };
    let status_line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    Ok(html(pages::Answer {
        action: title,
        id,
        target,
        status: status_line,
        body: if body.is_null() {
            String::new()
        } else {
            pretty(&body)
        },
    }))
}

/// A request the management API answers 202 to when it is taken.
fn accepted(result: Result<(), DurableError>) -> Result<(StatusCode, Value), ApiError> {
    result
        .map(|()| (StatusCode::ACCEPTED, Value::Null))
        .map_err(ApiError::from)
}

#[derive(serde::Deserialize)]
struct EntityFilters {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    continuation: Option<String>,
}

async fn entities(
    Extension(client): Extension<DurableClient>,
    Query(filters): Query<EntityFilters>,
) -> Result<Response, ApiError> {
    let name = filters
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let query = durable_runtime::EntityQuery {
        name: name.clone(),
        fetch_state: true,
        include_stateless: true,
        page_size: PAGE_SIZE,
        continuation_token: filters.continuation.filter(|t| !t.is_empty()),
        ..durable_runtime::EntityQuery::default()
    };
    let page = client.list_entities(&query).await?;
    let mut rows = Vec::with_capacity(page.entities.len());
    for entity in page.entities {
        let id = EntityId::new(&entity.entity_id.name, &entity.entity_id.key);
        let queued = client.store().queued_messages(&id.instance_id()).await?;
        rows.push(pages::EntityRow {
            name: entity.entity_id.name,
            key: entity.entity_id.key,
            last_operation: when(entity.last_operation_time),
            locked_by: entity.locked_by,
            queued,
            state: entity
                .state
                .map(|state| state.to_string())
                .unwrap_or_default(),
        });
    }
    let next = page.continuation_token.map(|token| {
        let name = name
            .as_deref()
            .map(|n| format!("name={}&", encode(n)))
            .unwrap_or_default();
        format!("/dashboard/entities?{name}continuation={}", encode(&token))
    });
    Ok(html(pages::Entities { name, rows, next }))
}

async fn entity(
    Extension(client): Extension<DurableClient>,
    Path((name, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = EntityId::new(&name, &key);
    let status = client
        .get_entity(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entity `{name}` has the key `{key}`")))?;
    let queued = client.store().queued_messages(&id.instance_id()).await?;
    Ok(html(pages::Entity {
        entity: pages::EntityRow {
            name: status.entity_id.name,
            key: status.entity_id.key,
            last_operation: when(status.last_operation_time),
            locked_by: status.locked_by,
            queued,
            state: status.state.as_ref().map(pretty).unwrap_or_default(),
        },
    }))
}

async fn functions(Extension(client): Extension<DurableClient>) -> Response {
    let rows = client
        .registry()
        .functions()
        .into_iter()
        .map(|f| pages::FunctionRow {
            name: f.name,
            kind: f.kind.to_string(),
            trigger: f.trigger.unwrap_or_default(),
            location: f.location.to_string(),
        })
        .collect();
    html(pages::Functions { rows })
}
