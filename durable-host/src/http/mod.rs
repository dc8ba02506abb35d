//! The HTTP server's routes: client functions under the route prefix, the Durable
//! Functions management API under `/runtime/webhooks/durabletask`.

mod error;
mod management;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use durable_runtime::DurableClient;
use durable_runtime::registry::{ClientTrigger, Registry};

pub use error::ApiError;

/// Path of the management API.
pub const WEBHOOK_PATH: &str = "/runtime/webhooks/durabletask";

/// Builds the host's router.
pub fn router(
    client: DurableClient,
    registry: &Registry,
    route_prefix: &str,
    max_body: usize,
) -> Router {
    let mut functions = Router::new();
    for function in registry.clients() {
        match &function.trigger {
            ClientTrigger::Http { mount, .. } => functions = mount(functions),
        }
    }
    let app = if route_prefix.is_empty() {
        Router::new().merge(functions)
    } else {
        Router::new().nest(&format!("/{route_prefix}"), functions)
    };
    app.nest(WEBHOOK_PATH, management::routes())
        .fallback(|| async { ApiError::not_found("no route matches this path") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(client))
}
