//! The HTTP server's routes: client functions under the route prefix, the Durable
//! Functions management API under `/runtime/webhooks/durabletask`, the host's health under
//! `/admin/host`, and the key checks.

mod auth;
mod error;
mod health;
mod json_errors;
mod management;
mod metrics;
mod public_url;
mod rpc_bodies;
mod serve;
mod trace;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use durable_runtime::DurableClient;
use durable_runtime::engine::registry::{AuthLevel, ClientTrigger, Registry};

pub use auth::{KeyCheck, require_dashboard_key};
pub use error::ApiError;
pub use public_url::PublicUrl;
pub use serve::{ConnectionLimits, serve};

/// The router of the key-less loopback listener (`--rpc-listen`): the management API under
/// `/durabletask` and under `webhook_path`, for the official clients' `rpcBaseUrl`.
pub fn rpc_router(
    client: DurableClient,
    webhook_path: &str,
    max_body: usize,
    urls: PublicUrl,
) -> Router {
    Router::new()
        .nest("/durabletask", management::routes())
        .nest(webhook_path, management::routes())
        .fallback(|| async { ApiError::not_found("no route matches this path") })
        .layer(axum::middleware::from_fn_with_state(
            max_body,
            rpc_bodies::unwrap_string_bodies,
        ))
        .layer(axum::middleware::from_fn(rpc_bodies::rewind_errors_as_text))
        .layer(axum::middleware::from_fn_with_state(
            (client, urls),
            public_url::attach_client,
        ))
        .layer(axum::middleware::from_fn(json_errors::json_errors))
        .layer(axum::middleware::from_fn(trace::request_span))
}

/// What the host's router serves, besides the client functions.
pub struct RouterOptions {
    /// Prefix of client function routes (`api`).
    pub route_prefix: String,
    /// Path of the management API.
    pub webhook_path: String,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// The key checks; `None` when they are off.
    pub keys: Option<KeyCheck>,
    /// Where the URLs in answers point.
    pub urls: PublicUrl,
    /// The metrics served at `/metrics` (behind the system key); `None`: no such route.
    pub metrics: Option<std::sync::Arc<durable_runtime::engine::metrics::Metrics>>,
}

/// Builds the host's router: client functions under the route prefix, the management API
/// under the webhook path, health and metrics.
pub fn router(client: DurableClient, registry: &Registry, options: RouterOptions) -> Router {
    let RouterOptions {
        route_prefix,
        webhook_path,
        max_body,
        keys,
        urls,
        metrics,
    } = options;
    let mut functions = Router::new();
    for function in registry.clients() {
        match &function.trigger {
            ClientTrigger::Http { mount, auth, .. } => {
                let mut routes = mount(Router::new());
                if let Some(keys) = &keys
                    && *auth != AuthLevel::Anonymous
                {
                    routes = routes.layer(axum::middleware::from_fn_with_state(
                        (keys.clone(), *auth),
                        auth::require_level,
                    ));
                }
                functions = functions.merge(routes);
            }
            ClientTrigger::Timer { .. } => {}
        }
    }
    let dashboard = crate::dashboard::routes(keys.clone());
    let mut management = management::routes();
    let (ping, mut status) = health::routes();
    if let Some(metrics) = metrics {
        status = status.merge(metrics::routes(metrics));
    }
    if let Some(keys) = keys {
        management = management.layer(axum::middleware::from_fn_with_state(
            keys.clone(),
            auth::require_management_access,
        ));
        status = status.layer(axum::middleware::from_fn_with_state(
            keys,
            auth::require_system_key,
        ));
    }
    let app = if route_prefix.is_empty() {
        Router::new().merge(functions)
    } else {
        Router::new().nest(&format!("/{route_prefix}"), functions)
    };
    app.nest(&webhook_path, management)
        .merge(ping)
        .merge(status)
        .merge(dashboard)
        .fallback(|| async { ApiError::not_found("no route matches this path") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            (client, urls),
            public_url::attach_client,
        ))
        .layer(axum::middleware::from_fn(json_errors::json_errors))
        .layer(axum::middleware::from_fn(trace::request_span))
}
