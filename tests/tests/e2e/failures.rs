//! Failures in user code end in the right status with the failure's details, and the host
//! keeps serving.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Host, STORES, data_dir};

fn run(host: &Host, name: &str) -> Value {
    let started = host.start_orchestration(name, None, None);
    let id = started["id"].as_str().expect("id").to_owned();
    host.wait_for_instance(&id, Duration::from_secs(30))
}

#[test]
fn failures_and_panics_are_reported_not_fatal() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);

        let status = run(&host, "UnhandledActivityFailure");
        assert_eq!(status["runtimeStatus"], "Failed", "{store:?}: {status}");
        let message = status["output"]["ErrorMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("ChargeCard")
                && message.contains("payment refused: card 4111 was declined"),
            "{status}"
        );
        assert_eq!(status["output"]["ErrorType"], "TaskFailedException");
        let cause = status["output"]["StackTrace"].as_str().unwrap_or_default();
        assert!(cause.contains("PaymentError"), "{status}");

        let status = run(&host, "CaughtActivityFailure");
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"]["caughtType"], "PaymentError");
        assert_eq!(
            status["output"]["caughtMessage"],
            "payment refused: card 4111 was declined"
        );

        let status = run(&host, "ActivityPanic");
        assert_eq!(status["runtimeStatus"], "Failed", "{status}");
        let message = status["output"]["ErrorMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("the activity exploded"), "{status}");
        assert!(
            status["output"]["StackTrace"]
                .as_str()
                .unwrap_or_default()
                .contains("panic"),
            "{status}"
        );

        let status = run(&host, "OrchestratorPanic");
        assert_eq!(status["runtimeStatus"], "Failed", "{status}");
        assert_eq!(status["output"]["ErrorType"], "panic");
        assert_eq!(
            status["output"]["ErrorMessage"],
            "the orchestrator exploded"
        );

        // Still serving after all of that.
        let status = run(&host, "HelloCities");
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}");
    }
}

/// Starts `orchestrator` (which runs `ChangesItsMind` as `changing`), lets its first call
/// finish, then changes the code under it: on SQLite by restarting the host after the change
/// (the real way code changes), on memory by running with the cache off. Returns the host.
fn change_code_mid_flight(
    dir: &std::path::Path,
    store: crate::support::Store,
    orchestrator: &str,
    id: &str,
    changing: &str,
) -> Host {
    let marker = dir.join("code-changed");
    let start = |dir: &std::path::Path| match store {
        crate::support::Store::Sqlite => Host::start(dir, store),
        crate::support::Store::Memory => {
            Host::start_with(dir, &["--store", "memory:", "--orchestration-cache", "0"])
        }
    };
    let mut host = start(dir);
    host.start_orchestration(
        orchestrator,
        Some(id),
        Some(&json!(marker.to_string_lossy())),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let history = host.get(&format!(
            "/runtime/webhooks/durabletask/instances/{changing}?showHistory=true"
        ));
        let done = history.body["historyEvents"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["EventType"] == "TaskCompleted"));
        if done {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", history.body);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(&marker, "changed").expect("marker");
    if store == crate::support::Store::Sqlite {
        host.kill9();
        host = start(dir);
    }
    let raised = host.post(
        &format!("/runtime/webhooks/durabletask/instances/{changing}/raiseEvent/Continue"),
        Some(&json!(null)),
    );
    assert_eq!(raised.status, 202);
    host
}

fn assert_names_both_calls(status: &Value) {
    let message = status["output"]["ErrorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("non-deterministic"), "{message}");
    assert!(message.contains("call_activity(\"Echo\")"), "{message}");
    assert!(message.contains("call_activity(\"SayHello\")"), "{message}");
    assert!(message.contains("tests/src/lib.rs:"), "{message}");
}

#[test]
fn a_changed_orchestrator_fails_with_a_non_determinism_error() {
    for store in STORES {
        let dir = data_dir();
        let host = change_code_mid_flight(dir.path(), store, "ChangesItsMind", "mind", "mind");
        let status = host.wait_for_instance("mind", Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Failed", "{store:?}: {status}");
        assert_eq!(
            status["output"]["ErrorType"],
            "NonDeterministicOrchestrationError"
        );
        assert_names_both_calls(&status);
    }
}

#[test]
fn a_changed_sub_orchestration_fails_its_parent() {
    for store in STORES {
        let dir = data_dir();
        let host = change_code_mid_flight(
            dir.path(),
            store,
            "ParentOfChangingChild",
            "parent",
            "parent:0",
        );
        let child = host.wait_for_instance("parent:0", Duration::from_secs(30));
        assert_eq!(child["runtimeStatus"], "Failed", "{store:?}: {child}");
        assert_names_both_calls(&child);
        let status = host.wait_for_instance("parent", Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Failed", "{status}");
        let message = status["output"]["ErrorMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("ChangesItsMind") && message.contains("non-deterministic"),
            "{message}"
        );
    }
}

#[test]
fn orchestrator_logs_are_not_repeated_on_replay() {
    let dir = data_dir();
    let host = crate::support::Host::start_logging(dir.path(), "info");
    host.start_orchestration("LoggingChain", Some("logs"), None);
    let status = host.wait_for_instance("logs", Duration::from_secs(30));
    assert_eq!(status["output"], 3);
    let stderr = host.stderr();
    for step in 1..=3 {
        let line = format!("logging chain step {step} of logs");
        assert_eq!(stderr.matches(&line).count(), 1, "{line:?} in:\n{stderr}");
    }
}
