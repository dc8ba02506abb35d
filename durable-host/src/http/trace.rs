//! A tracing span around every HTTP request (method, path and, once answered, status),
//! joined to the caller's trace when the request carries a W3C `traceparent`; instances
//! the request starts are stored with that trace.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use durable_runtime::trace_context::{self, TraceContext};
use tracing::Instrument;

/// Runs the request in an `http_request` span (the turns it causes run in spans of their
/// own, on the worker, in the same trace).
pub(super) async fn request_span(request: Request, next: Next) -> Response {
    let incoming = incoming_context(request.headers());
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    trace_context::attach(&span, incoming.as_ref());
    let response = trace_context::scope(incoming, next.run(request).instrument(span.clone())).await;
    span.record("status", response.status().as_u16());
    response
}

/// The caller's trace context, when its `traceparent` is valid.
fn incoming_context(headers: &axum::http::HeaderMap) -> Option<TraceContext> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    TraceContext::parse(header("traceparent")?, header("tracestate"))
}
