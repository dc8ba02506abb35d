//! What an operator sees of the work: Prometheus metrics at `/metrics` that move as work
//! runs, and lifecycle logs written once per instance, never again on replay.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::support::{Host, STORES, data_dir};

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[test]
fn metrics_move_as_work_runs_and_name_functions_never_instances() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let (text, before) = host.scrape_metrics();
        assert!(
            text.ends_with("# EOF\n"),
            "{store:?}: OpenMetrics text: {text}"
        );
        assert_eq!(
            value(&before, "durable_instances{status=\"Completed\"}"),
            0.0,
            "{store:?}: {text}"
        );

        let hello = host.start_orchestration("HelloCities", Some("metrics-hello"), None);
        let failing =
            host.start_orchestration("UnhandledActivityFailure", Some("metrics-fail"), None);
        for (id, status) in [("metrics-hello", "Completed"), ("metrics-fail", "Failed")] {
            let done = host.wait_for_instance(id, Duration::from_secs(30));
            assert_eq!(done["runtimeStatus"], status, "{store:?}: {done}");
        }
        assert!(hello["id"].is_string() && failing["id"].is_string());

        let (text, after) = host.scrape_metrics();
        let moved = |series: &str| value(&after, series) - value(&before, series);
        assert_eq!(
            moved("durable_activity_executions_total{activity=\"SayHello\",outcome=\"completed\"}"),
            3.0,
            "{store:?}: three greetings, each run once:\n{text}"
        );
        assert_eq!(
            moved("durable_activity_executions_total{activity=\"ChargeCard\",outcome=\"failed\"}"),
            1.0,
            "{store:?}: the declined card:\n{text}"
        );
        assert_eq!(
            moved("durable_activity_duration_seconds_count{activity=\"SayHello\"}"),
            3.0,
            "{store:?}:\n{text}"
        );
        assert!(
            moved("durable_orchestration_turns_total{orchestrator=\"HelloCities\"}") >= 1.0,
            "{store:?}:\n{text}"
        );
        assert!(
            moved("durable_turn_duration_seconds_count") >= 2.0
                && moved("durable_commit_duration_seconds_count") >= 2.0,
            "{store:?}:\n{text}"
        );
        assert_eq!(
            value(&after, "durable_instances{status=\"Completed\"}"),
            1.0,
            "{store:?}:\n{text}"
        );
        assert_eq!(
            value(&after, "durable_instances{status=\"Failed\"}"),
            1.0,
            "{store:?}:\n{text}"
        );
        assert_eq!(
            value(&after, "durable_instances{status=\"Running\"}"),
            0.0,
            "{store:?}:\n{text}"
        );
        assert_eq!(
            value(&after, "durable_queue_ready{queue=\"orchestration\"}"),
            0.0,
            "{store:?}:\n{text}"
        );
        assert_eq!(
            value(&after, "durable_stale_commits_rejected_total"),
            0.0,
            "{store:?}:\n{text}"
        );
        assert!(
            !text.contains("metrics-hello") && !text.contains("metrics-fail"),
            "{store:?}: no instance id in a label:\n{text}"
        );
    }
}

#[test]
fn metrics_need_the_system_key_and_can_be_turned_off() {
    let dir = data_dir();
    let host = Host::start(dir.path(), crate::support::Store::Sqlite);
    let anonymous = host.request_without_key(reqwest::Method::GET, "/metrics", &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(
        anonymous.body["error"].is_string() || anonymous.body["message"].is_string(),
        "{}",
        anonymous.body
    );
    drop(host);

    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--metrics", "off"]);
    let off = host.get("/metrics");
    assert_eq!(off.status, 404, "{}", off.body);
    let done = host.start_orchestration("HelloCities", Some("no-metrics"), None);
    assert!(done["id"].is_string());
    let status = host.wait_for_instance("no-metrics", Duration::from_secs(30));
    assert_eq!(
        status["runtimeStatus"], "Completed",
        "the work runs as before: {status}"
    );

    let bad = crate::support::cli(dir.path(), &["--metrics", "sometimes", "list"]);
    assert_eq!(bad.status.code(), Some(2));
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(message.contains("--metrics `sometimes`"), "{message}");
    let bad = crate::support::cli(dir.path(), &["--otlp-endpoint", "localhost:4318", "list"]);
    assert_eq!(bad.status.code(), Some(2));
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("not an http:// or https:// URL"),
        "{message}"
    );
}

#[test]
fn lifecycle_is_logged_once_per_instance_and_not_again_on_replay() {
    let dir = data_dir();
    let host = Host::start_logging(dir.path(), "info");
    host.start_orchestration("EventsInOrder", Some("lifecycle-1"), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !host.stderr().contains("orchestration started") {
        assert!(std::time::Instant::now() < deadline, "{}", host.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    host.terminate();

    // A new host replays the waiting instance from its history to take the events.
    let host = Host::start_logging(dir.path(), "info");
    for item in 1..=3 {
        let reply = host.post(
            "/runtime/webhooks/durabletask/instances/lifecycle-1/raiseEvent/Item",
            Some(&json!(item)),
        );
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let status = host.wait_for_instance("lifecycle-1", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    let logs = host.stderr();
    let lines = |needle: &str| {
        logs.lines()
            .filter(|line| line.contains(needle) && line.contains("lifecycle-1"))
            .count()
    };
    assert_eq!(
        lines("orchestration started"),
        0,
        "replay logs no start again:\n{logs}"
    );
    assert_eq!(lines("orchestration finished"), 1, "{logs}");
    assert!(
        logs.lines()
            .any(|line| line.contains("orchestration finished") && line.contains("Completed")),
        "{logs}"
    );
    // Logs to a file, not a terminal: plain text, no colour codes.
    assert!(
        !logs.contains('\u{1b}'),
        "no ANSI escapes in a log file:\n{logs}"
    );
    assert!(
        logs.contains("status=Completed"),
        "fields read as written:\n{logs}"
    );
}

/// A span as the OTLP receiver got it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// A local OTLP/HTTP receiver: collects the spans posted to `/v1/traces`.
fn otlp_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use prost::Message;

    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let collected = spans.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("non-blocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let collected = collected.clone();
                    async move {
                        let request =
                            ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        let mut spans = collected.lock().expect("lock");
                        for span in request
                            .resource_spans
                            .into_iter()
                            .flat_map(|r| r.scope_spans)
                            .flat_map(|s| s.spans)
                        {
                            let attributes = span
                                .attributes
                                .iter()
                                .filter_map(|kv| {
                                    let value = match kv.value.as_ref()?.value.as_ref()? {
                                        AnyValue::StringValue(s) => s.clone(),
                                        AnyValue::IntValue(i) => i.to_string(),
                                        other => format!("{other:?}"),
                                    };
                                    Some((kv.key.clone(), value))
                                })
                                .collect();
                            spans.push(Received {
                                name: span.name,
                                trace_id: hex(&span.trace_id),
                                parent_span_id: hex(&span.parent_span_id),
                                attributes,
                            });
                        }
                        (
                            [("content-type", "application/x-protobuf")],
                            Vec::<u8>::new(),
                        )
                    }
                }),
            );
            axum::serve(listener, app).await.expect("serves");
        });
    });
    (url, spans)
}

#[test]
fn traces_follow_a_start_through_its_turns_activities_and_children_to_an_otlp_collector() {
    let (url, spans) = otlp_receiver();
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--otlp-endpoint", &url]);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{caller}-01");
    let headers = [
        ("x-functions-key", crate::support::SYSTEM_KEY),
        ("traceparent", traceparent.as_str()),
        ("content-type", "application/json"),
    ];
    let started = host.request_without_key(
        reqwest::Method::POST,
        "/runtime/webhooks/durabletask/orchestrators/HelloCities/traced-hello",
        &headers,
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let other_trace = "0af7651916cd43dd8448eb211c80319c";
    let other = format!("00-{other_trace}-b7ad6b7169203331-01");
    let headers = [
        ("x-functions-key", crate::support::SYSTEM_KEY),
        ("traceparent", other.as_str()),
        ("content-type", "application/json"),
    ];
    let parent = host.request_without_key(
        reqwest::Method::POST,
        "/runtime/webhooks/durabletask/orchestrators/TwoChildren/traced-parent",
        &headers,
    );
    assert_eq!(parent.status, 202, "{}", parent.body);
    for id in ["traced-hello", "traced-parent"] {
        let done = host.wait_for_instance(id, Duration::from_secs(30));
        assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    }
    // Stopping flushes the exporter.
    host.terminate();
    let spans = spans.lock().expect("lock").clone();
    let of = |trace: &str, name: &str| -> Vec<&Received> {
        spans
            .iter()
            .filter(|s| s.trace_id == trace && s.name == name)
            .collect()
    };
    let requests = of(trace, "http_request");
    assert!(
        requests.iter().any(|s| s.parent_span_id == caller),
        "the start request joins the caller's trace: {spans:#?}"
    );
    let turns = of(trace, "turn");
    assert!(
        !turns.is_empty()
            && turns.iter().all(
                |s| s.attributes.get("instance_id").map(String::as_str) == Some("traced-hello")
            ),
        "{spans:#?}"
    );
    let activities = of(trace, "activity");
    assert_eq!(
        activities
            .iter()
            .filter(|s| s.attributes.get("activity").map(String::as_str) == Some("SayHello"))
            .count(),
        3,
        "each greeting's activity is in the trace: {spans:#?}"
    );
    // The sub-orchestrations join their parent's trace, under their own instance ids.
    let child_turns: Vec<&str> = of(other_trace, "turn")
        .iter()
        .filter_map(|s| s.attributes.get("instance_id").map(String::as_str))
        .filter(|id| *id != "traced-parent")
        .collect();
    assert!(child_turns.len() >= 2, "{spans:#?}");
    assert_eq!(
        of(other_trace, "activity").len(),
        6,
        "two children of three greetings each: {spans:#?}"
    );
    assert!(
        spans
            .iter()
            .filter(|s| s.name == "turn" || s.name == "activity")
            .all(|s| s.trace_id == trace || s.trace_id == other_trace),
        "no turn or activity of these instances starts a trace of its own: {spans:#?}"
    );
}
