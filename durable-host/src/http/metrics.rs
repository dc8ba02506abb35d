//! `GET /metrics`: the engine's Prometheus metrics, with the store's backlog (instances by
//! status, ready work) counted for each scrape.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use durable_runtime::DurableClient;
use durable_runtime::engine::metrics::{self, Metrics};

/// How long a scrape waits for the store's counts; after that it answers without them.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(2);

/// The `/metrics` route; it goes behind the system key (the caller adds that layer).
pub(super) fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(metrics)
}

async fn scrape(
    State(metrics): State<Arc<Metrics>>,
    Extension(client): Extension<DurableClient>,
) -> Response {
    let backlog = match tokio::time::timeout(BACKLOG_TIMEOUT, client.store().backlog()).await {
        Ok(Ok(backlog)) => Some(backlog),
        Ok(Err(error)) => {
            tracing::warn!(%error, "metrics: the store's counts are not available");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the store's counts took too long");
            None
        }
    };
    let text = metrics.encode(backlog.as_ref(), chrono::Utc::now());
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}
