//! Failures in user code end in the right status with the failure's details, and the host
//! keeps serving.

use std::time::Duration;

use serde_json::Value;

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

#[test]
fn a_changed_orchestrator_fails_with_a_non_determinism_error() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let status = run(&host, "ChangesItsMind");
        assert_eq!(status["runtimeStatus"], "Failed", "{store:?}: {status}");
        assert_eq!(
            status["output"]["ErrorType"],
            "NonDeterministicOrchestrationError"
        );
        let message = status["output"]["ErrorMessage"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("call_activity(\"Echo\")"), "{message}");
        assert!(message.contains("call_activity(\"SayHello\")"), "{message}");
        assert!(message.contains("tests/src/lib.rs:"), "{message}");
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
