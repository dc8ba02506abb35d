//! Exporting the host's spans over OTLP/HTTP (the `otlp` cargo feature and
//! `--otlp-endpoint`): a tracing layer that turns spans into OpenTelemetry spans, and the
//! span linker that makes turns and activities children of the trace stored with their
//! instance.

use std::collections::HashMap;

use durable_runtime::trace_context::{SpanLinker, TraceContext};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The running exporter; [`Exporter::shutdown`] sends what is still buffered.
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Starts exporting to `endpoint` (the collector's base URL; spans go to
    /// `{endpoint}/v1/traces`) and installs the span linker. Returns the tracing layer.
    pub fn start<S>(endpoint: &str) -> Result<(Exporter, impl tracing_subscriber::Layer<S>), String>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|error| format!("cannot set up the OTLP exporter: {error}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("durable-rs")
                    .build(),
            )
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("durable-rs"));
        durable_runtime::trace_context::set_linker(Box::new(Linker));
        Ok((Exporter { provider }, layer))
    }

    /// Sends the spans still buffered and stops.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: exporting the last spans failed: {error}");
        }
    }
}

/// Links spans through W3C trace context headers, as they travel between services.
struct Linker;

impl SpanLinker for Linker {
    fn link(&self, span: &tracing::Span, context: &TraceContext) {
        let mut carrier = HashMap::from([("traceparent".to_owned(), context.traceparent.clone())]);
        if let Some(state) = &context.tracestate {
            carrier.insert("tracestate".to_owned(), state.clone());
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }

    fn current(&self) -> Option<TraceContext> {
        let context = tracing::Span::current().context();
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        TraceContext::parse(
            carrier.get("traceparent")?,
            carrier.get("tracestate").map(String::as_str),
        )
    }
}
