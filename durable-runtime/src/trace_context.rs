//! W3C trace context carried through an orchestration: the `traceparent` of the request
//! that started it is kept in its `ExecutionStarted` event (and handed to its
//! sub-orchestrations), so every turn and activity of it can join that trace.
//!
//! Without an exporter the ids show in the `turn` and `activity` spans as a `trace_id`
//! field. A host that exports traces (durable-host's `otlp` feature) installs a
//! [`SpanLinker`] with [`set_linker`], which makes each span a child of the stored context.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A W3C trace context: `traceparent` and, when given, `tracestate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
    #[serde(rename = "traceParent")]
    pub traceparent: String,
    /// Vendor data that travels with it.
    #[serde(
        rename = "traceState",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// A context from a request's `traceparent` (and `tracestate`) headers; `None` when
    /// `traceparent` is not a valid W3C trace parent (such a header is ignored, as the
    /// W3C recommendation says).
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceContext> {
        let traceparent = traceparent.trim();
        let mut parts = traceparent.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |part: &str, len: usize| {
            part.len() == len
                && part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let valid = hex(version, 2)
            && version != "ff"
            && hex(trace_id, 32)
            && trace_id.bytes().any(|b| b != b'0')
            && hex(parent_id, 16)
            && parent_id.bytes().any(|b| b != b'0')
            && hex(flags, 2)
            && (version != "00" || parts.next().is_none());
        valid.then(|| TraceContext {
            traceparent: traceparent.to_owned(),
            tracestate: tracestate
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        })
    }

    /// The trace id (32 hex digits).
    pub fn trace_id(&self) -> &str {
        self.traceparent.get(3..35).unwrap_or_default()
    }
}

/// Makes spans children of a stored trace context, and reads the context of the current
/// span: what a trace exporter adds (see [`set_linker`]).
pub trait SpanLinker: Send + Sync + 'static {
    /// Makes `span` (not yet entered) a child of `context`.
    fn link(&self, span: &tracing::Span, context: &TraceContext);

    /// The current span's context, to store with an instance started under it.
    fn current(&self) -> Option<TraceContext>;
}

static LINKER: OnceLock<Box<dyn SpanLinker>> = OnceLock::new();

/// Installs the process's span linker (once; later calls are ignored).
pub fn set_linker(linker: Box<dyn SpanLinker>) {
    let _ = LINKER.set(linker);
}

tokio::task_local! {
    static INCOMING: Option<TraceContext>;
}

/// Runs `work` with `context` as the trace context of what it starts (the HTTP layer
/// calls this with the request's `traceparent`).
pub async fn scope<F: Future>(context: Option<TraceContext>, work: F) -> F::Output {
    INCOMING.scope(context, work).await
}

/// The context a start made now is stored with: the current span's (when a linker is
/// installed), else the one of the request being served.
pub fn for_new_instance() -> Option<TraceContext> {
    LINKER
        .get()
        .and_then(|linker| linker.current())
        .or_else(|| INCOMING.try_with(Clone::clone).ok().flatten())
}

/// Records `context` on `span` (its `trace_id` field) and, with a linker, makes the span
/// its child. Call before the span is entered.
pub fn attach(span: &tracing::Span, context: Option<&TraceContext>) {
    let Some(context) = context else {
        return;
    };
    span.record("trace_id", context.trace_id());
    if let Some(linker) = LINKER.get() {
        linker.link(span, context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_w3c_trace_parents_and_refuses_the_rest() {
        let good = TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("congo=t61rcWkgMzE"),
        )
        .expect("valid");
        assert_eq!(good.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(good.tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad}");
        }
    }
}
