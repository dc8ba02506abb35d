//! The orchestration API end to end: the docs' samples for sub-orchestrations, timers,
//! external events, retries, continue-as-new and fan-out, on SQLite and memory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, STORES, data_dir};

const WEBHOOKS: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(60);

fn raise(host: &Host, id: &str, event: &str, data: &Value) -> u16 {
    host.post(
        &format!("{WEBHOOKS}/instances/{id}/raiseEvent/{event}"),
        Some(data),
    )
    .status
}

/// Raises an event once the instance exists (children are created by their parent's turn).
fn raise_when_created(host: &Host, id: &str, event: &str, data: &Value) {
    let deadline = Instant::now() + WAIT;
    loop {
        match raise(host, id, event, data) {
            202 => return,
            404 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("raising {event} at {id}: {other}"),
        }
    }
}

fn history(host: &Host, id: &str) -> Vec<Value> {
    let reply = host.get(&format!(
        "{WEBHOOKS}/instances/{id}?showHistory=true&showHistoryOutput=true"
    ));
    reply.body["historyEvents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn count(events: &[Value], event_type: &str) -> usize {
    events
        .iter()
        .filter(|e| e["EventType"] == event_type)
        .count()
}

#[test]
fn provision_new_devices_fans_out_children_that_wait_for_acks() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("ProvisionNewDevices", Some("prov"), None);
        for device in ["device-1", "device-2", "device-3"] {
            raise_when_created(
                &host,
                &format!("prov-{device}"),
                "DownloadCompletedAck",
                &json!({}),
            );
        }
        let status = host.wait_for_instance("prov", WAIT);
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        assert_eq!(
            status["output"],
            json!(["device-1", "device-2", "device-3"])
        );
        let child = host.wait_for_instance("prov-device-2", WAIT);
        assert_eq!(child["name"], "DeviceProvisioningOrchestration");
        assert_eq!(child["output"], "device-2");
        let events = history(&host, "prov");
        assert_eq!(count(&events, "SubOrchestrationInstanceCreated"), 3);
        assert_eq!(count(&events, "SubOrchestrationInstanceCompleted"), 3);
    }
}

#[test]
fn hundreds_of_children_in_one_turn() {
    let dir = data_dir();
    let host = Host::start(dir.path(), crate::support::Store::Sqlite);
    let devices: Vec<String> = (0..200).map(|i| format!("d{i}")).collect();
    host.start_orchestration("ProvisionNewDevices", Some("many"), Some(&json!(devices)));
    for device in &devices {
        raise_when_created(
            &host,
            &format!("many-{device}"),
            "DownloadCompletedAck",
            &json!(1),
        );
    }
    let status = host.wait_for_instance("many", WAIT);
    assert_eq!(status["output"], json!(devices));
    let events = history(&host, "many");
    let first_turn_end = events
        .iter()
        .position(|e| e["EventType"] == "OrchestratorCompleted")
        .expect("a turn");
    // GetNewDeviceIds is skipped when ids are given: the first turn starts all 200 children.
    assert_eq!(
        count(&events[..first_turn_end], "SubOrchestrationInstanceCreated"),
        200
    );
}

#[test]
fn approval_is_approved_rejected_or_timed_out() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let long = json!({"timeoutSeconds": 60});
        host.start_orchestration("ApprovalWorkflow", Some("yes"), Some(&long));
        host.start_orchestration("ApprovalWorkflow", Some("no"), Some(&long));
        host.start_orchestration(
            "ApprovalWorkflow",
            Some("late"),
            Some(&json!({"timeoutSeconds": 1})),
        );
        // The custom status is visible while the instance waits.
        let deadline = Instant::now() + WAIT;
        loop {
            let status = host.get(&format!("{WEBHOOKS}/instances/yes")).body;
            if status["customStatus"] == "Waiting for approval" {
                assert_eq!(status["runtimeStatus"], "Running");
                break;
            }
            assert!(Instant::now() < deadline, "{status}");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(raise(&host, "yes", "Approval", &json!(true)), 202);
        assert_eq!(
            raise(&host, "no", "approval", &json!(false)),
            202,
            "names ignore case"
        );
        assert_eq!(host.wait_for_instance("yes", WAIT)["output"], "Approved");
        assert_eq!(host.wait_for_instance("no", WAIT)["output"], "Rejected");
        let late = host.wait_for_instance("late", WAIT);
        assert_eq!(late["output"], "TimedOut", "{store:?}");
        assert_eq!(late["customStatus"], "TimedOut");

        // Events to finished or unknown instances are refused; bad bodies too.
        assert_eq!(raise(&host, "yes", "Approval", &json!(true)), 410);
        assert_eq!(raise(&host, "nobody", "Approval", &json!(true)), 404);
        let bad = host.post_raw(
            &format!("{WEBHOOKS}/instances/late/raiseEvent/Approval"),
            "application/json",
            "{oops",
        );
        assert_eq!(bad.status, 400);
        assert!(bad.body["message"].is_string());
    }
}

#[test]
fn one_orchestration_raises_an_event_at_another() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration(
            "ApprovalWorkflow",
            Some("target"),
            Some(&json!({"timeoutSeconds": 60})),
        );
        host.start_orchestration("SendApproval", Some("sender"), Some(&json!("target")));
        assert_eq!(host.wait_for_instance("target", WAIT)["output"], "Approved");
        let events = history(&host, "sender");
        assert_eq!(count(&events, "EventSent"), 1);
    }
}

#[test]
fn monitor_continues_as_new_until_done() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration(
            "Monitor",
            Some("mon"),
            Some(&json!({"checks": 3, "intervalSeconds": 1})),
        );
        let status = host.wait_for_instance("mon", WAIT);
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        assert_eq!(status["output"], 3);
        assert_eq!(
            status["input"],
            json!({"checks": 3, "intervalSeconds": 1, "done": 2})
        );
        // History was reset for the last execution: it holds one check only.
        let events = history(&host, "mon");
        assert_eq!(count(&events, "ExecutionStarted"), 1);
        assert_eq!(count(&events, "TaskScheduled"), 1);
    }
}

#[test]
fn fan_out_fan_in_sums_in_one_turn() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("FanOutFanIn", Some("fan"), Some(&json!(300)));
        let status = host.wait_for_instance("fan", WAIT);
        assert_eq!(status["output"], json!((0..300).sum::<u64>()), "{store:?}");
    }
}

#[test]
fn saga_compensates_completed_steps_in_reverse() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        for (id, fail_at) in [
            ("ok", Value::Null),
            ("charge", json!("ChargeCustomer")),
            ("ship", json!("CreateShipment")),
        ] {
            host.start_orchestration("OrderSaga", Some(id), Some(&json!({"failAt": fail_at})));
        }
        assert_eq!(
            host.wait_for_instance("ok", WAIT)["output"],
            json!({"ran": ["CheckInventory", "ChargeCustomer", "CreateShipment"], "compensated": [], "failed": null})
        );
        assert_eq!(
            host.wait_for_instance("charge", WAIT)["output"],
            json!({"ran": ["CheckInventory"], "compensated": ["CheckInventory"], "failed": "ChargeCustomer failed"})
        );
        assert_eq!(
            host.wait_for_instance("ship", WAIT)["output"],
            json!({"ran": ["CheckInventory", "ChargeCustomer"], "compensated": ["ChargeCustomer", "CheckInventory"], "failed": "CreateShipment failed"})
        );
    }
}

#[test]
fn events_raised_before_the_wait_arrive_in_order() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("EventsInOrder", Some("ordered"), None);
        for item in ["one", "two", "three"] {
            assert_eq!(raise(&host, "ordered", "Item", &json!(item)), 202);
        }
        let status = host.wait_for_instance("ordered", WAIT);
        assert_eq!(
            status["output"],
            json!(["one", "two", "three"]),
            "{store:?}"
        );
    }
}

#[test]
fn continue_as_new_can_carry_unprocessed_events() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration(
            "Accumulate",
            Some("acc"),
            Some(&json!({"total": 0, "remaining": 4})),
        );
        for add in [1, 10, 100, 1000] {
            assert_eq!(raise(&host, "acc", "Add", &json!(add)), 202);
        }
        let status = host.wait_for_instance("acc", WAIT);
        assert_eq!(status["output"], 1111, "{store:?}: {status}");
    }
}

#[test]
fn retries_are_timers_in_history_with_backoff() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let input = json!({"failTimes": 2, "maxAttempts": 4, "firstRetryMs": 200, "backoff": 2.0});
        host.start_orchestration("RetryFlaky", Some("flaky"), Some(&input));
        let status = host.wait_for_instance("flaky", WAIT);
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        assert_eq!(status["output"], 3, "succeeds on the third attempt");
        let events = history(&host, "flaky");
        assert_eq!(count(&events, "TaskScheduled"), 3);
        assert_eq!(count(&events, "TaskFailed"), 2);
        let waits: Vec<i64> = events
            .iter()
            .filter(|e| e["EventType"] == "TimerCreated")
            .map(|e| {
                let at = |field: &str| {
                    chrono::DateTime::parse_from_rfc3339(e[field].as_str().expect("time"))
                        .expect("RFC 3339")
                };
                (at("FireAt") - at("Timestamp")).num_milliseconds()
            })
            .collect();
        assert_eq!(waits, [200, 400], "waits grow by the backoff coefficient");

        let input = json!({"failTimes": 9, "maxAttempts": 3, "firstRetryMs": 50, "backoff": 1.0});
        host.start_orchestration("RetryFlaky", Some("exhausted"), Some(&input));
        let status = host.wait_for_instance("exhausted", WAIT);
        assert_eq!(status["runtimeStatus"], "Failed");
        assert!(
            status["output"]["ErrorMessage"]
                .as_str()
                .unwrap_or_default()
                .contains("transient failure 3"),
            "{status}"
        );
        assert_eq!(count(&history(&host, "exhausted"), "TaskFailed"), 3);
    }
}

#[test]
fn when_any_picks_the_same_winner_on_replay() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("RaceTwo", Some("race"), None);
        let status = host.wait_for_instance("race", WAIT);
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        assert_eq!(status["output"], 1);
    }
}

#[test]
fn sub_orchestrations_use_derived_ids() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration("TwoChildren", Some("kids"), None);
        let status = host.wait_for_instance("kids", WAIT);
        let greetings = json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
        assert_eq!(status["output"], json!([greetings, greetings]), "{store:?}");
        for child in ["kids:0", "kids:1"] {
            let child = host.wait_for_instance(child, WAIT);
            assert_eq!(child["name"], "HelloCities");
        }
    }
}
