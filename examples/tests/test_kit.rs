//! The examples tested as a user tests their own functions: on the test host of
//! `durable_runtime::testing` (memory store, manual clock, test doubles), and by replaying
//! a recorded history against the current code.

use std::time::Duration;

use durable_examples::saga::OrderOutcome;
use durable_runtime::testing::{ReplayError, ReplayMode, ReplayOptions, TestHost, replay_with};
use durable_runtime::{RuntimeStatus, StatusOptions};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test]
async fn hello_cities_greets_each_city_in_order() {
    let host = TestHost::new();
    let id = host
        .client()
        .start_new("HelloCities", None, ())
        .await
        .expect("starts");
    let status = host.wait_for_completion(&id).await.expect("finishes");
    assert_eq!(
        status.output,
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );
    let scheduled = host
        .history(&id)
        .await
        .expect("reads the history")
        .iter()
        .filter(|event| event.kind.type_name() == "TaskScheduled")
        .count();
    assert_eq!(scheduled, 3);
}

#[tokio::test]
async fn a_thirty_day_approval_times_out_only_when_thirty_days_have_passed() {
    let host = TestHost::new();
    let request = json!({ "timeoutSeconds": 30 * 24 * 3600 });
    let waiting = host
        .client()
        .start_new("ApprovalWorkflow", Some("waits"), &request)
        .await
        .expect("starts");
    let approved = host
        .client()
        .start_new("ApprovalWorkflow", Some("approved"), &request)
        .await
        .expect("starts");

    host.advance(29 * DAY).await;
    let status = host.status(&waiting).await.expect("reads").expect("exists");
    assert_eq!(status.runtime_status, RuntimeStatus::Running);
    assert_eq!(status.custom_status, json!("Waiting for approval"));
    host.client()
        .raise_event(&approved, "Approval", true)
        .await
        .expect("raises");
    let status = host.wait_for_completion(&approved).await.expect("finishes");
    assert_eq!(status.output, json!("Approved"));

    host.advance(2 * DAY).await;
    let status = host.wait_for_completion(&waiting).await.expect("finishes");
    assert_eq!(status.output, json!("TimedOut"));
}

#[tokio::test]
async fn the_saga_compensates_when_a_test_double_fails_the_shipment() {
    let host = TestHost::builder()
        .replace_activity("CreateShipment", |_: Option<String>| async {
            Err::<String, _>("the carrier is down")
        })
        .start();
    let id = host
        .client()
        .start_new("OrderSaga", None, ())
        .await
        .expect("starts");
    let status = host.wait_for_completion(&id).await.expect("finishes");
    let outcome: OrderOutcome = serde_json::from_value(status.output).expect("an outcome");
    assert_eq!(outcome.ran, ["CheckInventory", "ChargeCustomer"]);
    assert_eq!(outcome.compensated, ["ChargeCustomer", "CheckInventory"]);
    assert_eq!(outcome.failed.as_deref(), Some("the carrier is down"));
}

/// A finished HelloCities instance's status with its whole history, as
/// `GET instances/{id}?showHistory=true&showHistoryOutput=true` answers.
async fn recorded_hello_cities() -> Value {
    let host = TestHost::new();
    let id = host
        .client()
        .start_new("HelloCities", Some("recorded"), ())
        .await
        .expect("starts");
    host.wait_for_completion(&id).await.expect("finishes");
    let status = host
        .client()
        .get_status(&id, StatusOptions::with_history())
        .await
        .expect("reads")
        .expect("exists");
    serde_json::to_value(status).expect("a status is JSON")
}

#[tokio::test]
async fn a_recorded_history_replays_on_the_current_code_both_ways() {
    let recorded = recorded_hello_cities().await.to_string();
    for mode in [ReplayMode::Whole, ReplayMode::TurnByTurn] {
        let options = ReplayOptions {
            mode,
            ..ReplayOptions::default()
        };
        assert_eq!(
            replay_with(&recorded, "HelloCities", &options),
            Ok(()),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn a_history_the_code_no_longer_matches_names_the_call_and_its_line() {
    let mut recorded = recorded_hello_cities().await;
    // As if an older release had called another activity first.
    let events = recorded["historyEvents"].as_array_mut().expect("a history");
    let first_call = events
        .iter_mut()
        .find(|event| event["EventType"] == "TaskScheduled")
        .expect("a scheduled call");
    first_call["FunctionName"] = json!("SayGoodbye");
    for mode in [ReplayMode::Whole, ReplayMode::TurnByTurn] {
        let options = ReplayOptions {
            mode,
            ..ReplayOptions::default()
        };
        let Err(ReplayError::NonDeterministic(message)) =
            replay_with(&recorded.to_string(), "HelloCities", &options)
        else {
            panic!("{mode:?}: the changed history must not replay");
        };
        assert!(
            message.contains("call_activity(\"SayGoodbye\")")
                && message.contains("call_activity(\"SayHello\")")
                && message.contains("examples/src/hello_cities.rs:"),
            "{mode:?}: {message}"
        );
    }
}

#[tokio::test]
async fn a_history_without_results_is_refused_with_the_reason() {
    let mut recorded = recorded_hello_cities().await;
    for event in recorded["historyEvents"].as_array_mut().expect("a history") {
        if let Some(event) = event.as_object_mut() {
            event.remove("Result");
        }
    }
    let error = durable_runtime::testing::replay(&recorded.to_string(), "HelloCities")
        .expect_err("results are needed");
    assert!(
        matches!(&error, ReplayError::BadHistory(m) if m.contains("showHistoryOutput")),
        "{error}"
    );
    assert_eq!(
        durable_runtime::testing::replay("[]", "NoSuchOrchestrator"),
        Err(ReplayError::UnknownOrchestrator(
            "NoSuchOrchestrator".to_owned()
        ))
    );
}
