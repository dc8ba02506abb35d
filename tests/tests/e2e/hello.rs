//! The docs' samples run to completion with the outputs and histories the docs show.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Host, STORES, data_dir};

fn event_types(status: &Value) -> Vec<String> {
    status["historyEvents"]
        .as_array()
        .expect("historyEvents is an array")
        .iter()
        .map(|e| e["EventType"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn hello_cities_over_http_with_the_docs_history() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let started = host.post("/api/orchestrators/HelloCities", None);
        assert_eq!(started.status, 202, "{store:?}: {}", started.body);
        let status_uri = started.body["statusQueryGetUri"]
            .as_str()
            .expect("statusQueryGetUri")
            .to_owned();
        assert_eq!(
            started
                .headers
                .get("location")
                .and_then(|l| l.to_str().ok()),
            Some(status_uri.as_str())
        );
        for key in [
            "id",
            "sendEventPostUri",
            "terminatePostUri",
            "purgeHistoryDeleteUri",
            "rewindPostUri",
            "restartPostUri",
            "suspendPostUri",
            "resumePostUri",
        ] {
            assert!(
                started.body[key].is_string(),
                "{key} missing: {}",
                started.body
            );
        }
        let id = started.body["id"].as_str().expect("id").to_owned();
        assert!(status_uri.starts_with(&host.base), "{status_uri}");

        let mut status;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let reply = host.get(&status_uri);
            status = reply.body;
            if reply.status == 200 {
                break;
            }
            assert_eq!(reply.status, 202, "{status}");
            assert!(
                std::time::Instant::now() < deadline,
                "not finished: {status}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}");
        assert_eq!(status["name"], "HelloCities");
        assert_eq!(status["instanceId"], id.as_str());
        assert_eq!(
            status["output"],
            json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
        );
        assert!(status["createdTime"].is_string() && status["lastUpdatedTime"].is_string());

        let with_history = host.get(&format!(
            "/runtime/webhooks/durabletask/instances/{id}?showHistory=true&showHistoryOutput=true"
        ));
        assert_eq!(with_history.status, 200);
        let mut expected = vec!["ExecutionStarted"];
        for _ in 0..3 {
            expected.extend([
                "OrchestratorStarted",
                "TaskScheduled",
                "OrchestratorCompleted",
                "TaskCompleted",
            ]);
        }
        expected.extend([
            "OrchestratorStarted",
            "ExecutionCompleted",
            "OrchestratorCompleted",
        ]);
        assert_eq!(event_types(&with_history.body), expected, "{store:?}");
        let events = with_history.body["historyEvents"]
            .as_array()
            .expect("events");
        let completed: Vec<&Value> = events
            .iter()
            .filter(|e| e["EventType"] == "TaskCompleted")
            .collect();
        let results: Vec<&Value> = completed.iter().map(|e| &e["Result"]).collect();
        assert_eq!(
            results,
            [
                &json!("Hello Tokyo!"),
                &json!("Hello Seattle!"),
                &json!("Hello London!")
            ]
        );
        for event in &completed {
            assert_eq!(event["FunctionName"], "SayHello");
            assert!(event["ScheduledTime"].is_string(), "{event}");
            assert!(event["Timestamp"].is_string(), "{event}");
        }
        assert_eq!(events[0]["FunctionName"], "HelloCities");
        let last = &events[events.len() - 2];
        assert_eq!(last["OrchestrationStatus"], "Completed");

        // Without showHistoryOutput, results are left out; without showHistory, no events.
        let plain = host.get(&format!(
            "/runtime/webhooks/durabletask/instances/{id}?showHistory=true"
        ));
        assert!(plain.body["historyEvents"][4].get("Result").is_none());
        let bare = host.get(&format!("/runtime/webhooks/durabletask/instances/{id}"));
        assert!(bare.body.get("historyEvents").is_none());
    }
}

#[test]
fn tuple_and_struct_inputs_reach_activities() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let started = host.start_orchestration("GetCourseRecommendations", None, Some(&json!(2)));
        let id = started["id"].as_str().expect("id");
        let status = host.wait_for_instance(id, Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(
            status["output"],
            json!({
                "major": "ComputerScience",
                "universityYear": 2,
                "recommendedCourses": [
                    "Introduction to .NET Programming",
                    "Introduction to Linux",
                    "Becoming an Entrepreneur"
                ]
            })
        );
        assert_eq!(status["input"], json!(2));

        let started = host.start_orchestration("GetWeatherOrchestrator", Some("weather-1"), None);
        assert_eq!(started["id"], "weather-1");
        let status = host.wait_for_instance("weather-1", Duration::from_secs(30));
        assert_eq!(
            status["output"],
            json!("The weather in Seattle, WA is sunny with a high of 72°F.")
        );
    }
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let dir = data_dir();
    let host = Host::start(dir.path(), crate::support::Store::Sqlite);
    let started = host.start_orchestration(
        "SlowChain",
        Some("drain-1"),
        Some(&json!({"n": 1, "ms": 300})),
    );
    assert_eq!(started["id"], "drain-1");
    std::thread::sleep(Duration::from_millis(100));
    let status = host.terminate();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    // The work that was in flight is not lost: a new host finishes it.
    let host = Host::start(dir.path(), crate::support::Store::Sqlite);
    let status = host.wait_for_instance("drain-1", Duration::from_secs(30));
    assert_eq!(status["output"], "done 1 after 600ms");
}

#[test]
fn join_all_fans_out_in_one_turn_and_keeps_call_order() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("FanOutGreetings", Some("fan"), Some(&json!(40)));
        let status = host.wait_for_instance("fan", Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        let expected: Vec<String> = (0..40).map(|i| format!("Hello city {i}!")).collect();
        assert_eq!(status["output"], json!(expected));
        let history = host.get("/runtime/webhooks/durabletask/instances/fan?showHistory=true");
        let types = event_types(&history.body);
        // All 40 calls are scheduled by the first turn, before its OrchestratorCompleted.
        let first_turn_end = types
            .iter()
            .position(|t| t == "OrchestratorCompleted")
            .expect("a turn");
        let scheduled_first = types[..first_turn_end]
            .iter()
            .filter(|t| *t == "TaskScheduled")
            .count();
        assert_eq!(scheduled_first, 40, "{types:?}");
        assert_eq!(types.iter().filter(|t| *t == "TaskCompleted").count(), 40);
    }
}
