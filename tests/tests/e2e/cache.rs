//! The orchestration cache changes speed, never results: every example produces the same
//! history with the cache on and off.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Host, data_dir};

const W: &str = "/runtime/webhooks/durabletask";

/// The history without times, which differ from run to run.
fn timeless_history(host: &Host, id: &str) -> Vec<Value> {
    let reply = host.get(&format!(
        "{W}/instances/{id}?showHistory=true&showHistoryOutput=true"
    ));
    reply.body["historyEvents"]
        .as_array()
        .expect("history")
        .iter()
        .map(|event| {
            let mut event = event.clone();
            if let Some(object) = event.as_object_mut() {
                for field in ["Timestamp", "ScheduledTime", "FireAt"] {
                    object.remove(field);
                }
            }
            event
        })
        .collect()
}

fn run_examples(cache: &str) -> Vec<(String, Vec<Value>)> {
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--orchestration-cache", cache]);
    let runs: [(&str, Option<Value>); 7] = [
        ("HelloCities", None),
        ("GetCourseRecommendations", Some(json!(2))),
        ("GetWeatherOrchestrator", None),
        ("OrderSaga", Some(json!({"failAt": "CreateShipment"}))),
        ("Monitor", Some(json!({"checks": 2, "intervalSeconds": 1}))),
        ("ApprovalWorkflow", Some(json!({"timeoutSeconds": 1}))),
        ("FanOutFanIn", Some(json!(20))),
    ];
    let mut histories = Vec::new();
    for (name, input) in runs {
        host.start_orchestration(name, Some(name), input.as_ref());
        let status = host.wait_for_instance(name, Duration::from_secs(60));
        assert_eq!(
            status["runtimeStatus"], "Completed",
            "{name} with cache {cache}: {status}"
        );
        let mut history = timeless_history(&host, name);
        if name == "FanOutFanIn" {
            // Parallel results arrive in any order and in any number of turns, with or
            // without the cache: compare the events, not their grouping into turns.
            history.retain(|e| {
                e["EventType"] != "OrchestratorStarted" && e["EventType"] != "OrchestratorCompleted"
            });
            history.sort_by_key(|e| e.to_string());
        }
        histories.push((name.to_owned(), history));
    }
    histories
}

#[test]
fn cache_on_and_off_give_identical_histories() {
    let cached = run_examples("5000");
    let replayed = run_examples("0");
    for ((name, with_cache), (_, without_cache)) in cached.iter().zip(&replayed) {
        assert!(!with_cache.is_empty());
        assert_eq!(with_cache, without_cache, "{name}: histories differ");
    }
}
