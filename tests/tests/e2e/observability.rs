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
}
