//! The host's health, as Azure Functions hosts report it: `GET /admin/host/ping` answers
//! while the process serves HTTP; `GET /admin/host/status` also checks that the store
//! answers reads and takes writes, and says 503 Unhealthy while it does not (a lost
//! database connection, a full disk, a read-only file).

use std::time::Duration;

use axum::Router;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use durable_runtime::DurableClient;
use durable_runtime::wire::HostHealth;

/// How long the store may take to answer before the host counts as unhealthy.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `/admin/host/ping` (no key needed) and `/admin/host/status`; `status` goes behind the
/// system key like the management API (the caller adds that layer).
pub(super) fn routes() -> (Router, Router) {
    let open = Router::new().route("/admin/host/ping", get(ping));
    let guarded = Router::new().route("/admin/host/status", get(status));
    (open, guarded)
}

async fn ping() -> StatusCode {
    StatusCode::OK
}

async fn status(Extension(client): Extension<DurableClient>) -> Response {
    match client.check_store(STORE_CHECK_TIMEOUT).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(HostHealth {
                state: "Running".to_owned(),
                store: "ok".to_owned(),
                message: None,
            }),
        )
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(HostHealth {
                    state: "Unhealthy".to_owned(),
                    store: error.to_string(),
                    message: Some(format!("the host is unhealthy: {error}")),
                }),
            )
                .into_response()
        }
    }
}
