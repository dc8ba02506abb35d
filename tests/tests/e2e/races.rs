//! Lifecycle races: requests that meet results, timers and each other in one batch, and
//! ids reused while the old instance's work is still out. Each ends with a well-formed
//! history and a store that passes `check`.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    Host, Store, assert_failpoint_fired, assert_store_checks_clean, assert_well_formed, data_dir,
    wait_until,
};

const W: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(30);

fn post_ok(host: &Host, path: &str) {
    let reply = host.post(&format!("{W}{path}"), None);
    assert_eq!(reply.status, 202, "{path}: {}", reply.body);
}

fn wait_for_custom_status(host: &Host, id: &str, expected: &serde_json::Value) {
    wait_until(WAIT, &format!("{id} never got {expected}"), || {
        host.get(&format!("{W}/instances/{id}")).body["customStatus"] == *expected
    });
}

#[test]
fn a_terminate_in_the_same_batch_as_the_awaited_event_ends_the_instance_once() {
    let dir = data_dir();
    // Every fetch waits a moment first, so what arrives meanwhile is fetched together.
    let host = Host::start_with_env(
        dir.path(),
        &[],
        &[("DURABLE_FAILPOINTS", "dispatch.fetch=sleep(300)*")],
    );
    let request = json!({"timeoutSeconds": 3600});
    host.start_orchestration("ApprovalWorkflow", Some("both"), Some(&request));
    wait_for_custom_status(&host, "both", &json!("Waiting for approval"));
    let raised = host.post(
        &format!("{W}/instances/both/raiseEvent/Approval"),
        Some(&json!(true)),
    );
    assert_eq!(raised.status, 202, "{}", raised.body);
    post_ok(&host, "/instances/both/terminate?reason=both%20at%20once");
    let done = host.wait_for_instance("both", WAIT);
    // Whichever comes first in the batch ends the instance; the other changes nothing.
    match done["runtimeStatus"].as_str() {
        Some("Terminated") => assert_eq!(done["output"], "both at once", "{done}"),
        Some("Completed") => assert_eq!(done["output"], "Approved", "{done}"),
        _ => panic!("the instance ended oddly: {done}"),
    }
    let status = host.status_with_history("both");
    assert_well_formed("both", &status);
    drop(host);
    assert_store_checks_clean(dir.path());
}

#[test]
fn a_suspended_instance_keeps_its_fired_timer_and_events_until_resumed() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    host.start_orchestration(
        "ApprovalWorkflow",
        Some("nap"),
        Some(&json!({"timeoutSeconds": 1})),
    );
    wait_for_custom_status(&host, "nap", &json!("Waiting for approval"));
    post_ok(&host, "/instances/nap/suspend");
    wait_until(WAIT, "never suspended", || {
        host.get(&format!("{W}/instances/nap")).body["runtimeStatus"] == "Suspended"
    });
    let suspended = host.status_with_history("nap");
    // The timer comes due and an event arrives while it is suspended.
    std::thread::sleep(Duration::from_millis(1_500));
    let raised = host.post(
        &format!("{W}/instances/nap/raiseEvent/Approval"),
        Some(&json!(true)),
    );
    assert_eq!(raised.status, 202, "{}", raised.body);
    std::thread::sleep(Duration::from_millis(300));
    let still = host.status_with_history("nap");
    assert_eq!(still["runtimeStatus"], "Suspended", "{still}");
    assert_eq!(
        still["historyEvents"].as_array().map(Vec::len),
        suspended["historyEvents"].as_array().map(Vec::len),
        "nothing ran while suspended"
    );
    post_ok(&host, "/instances/nap/resume");
    let done = host.wait_for_instance("nap", WAIT);
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    // The timer fired first, so it wins the race, as history orders them.
    assert_eq!(done["output"], "TimedOut", "{done}");
    assert_well_formed("nap", &host.status_with_history("nap"));
    drop(host);
    assert_store_checks_clean(dir.path());
}

#[test]
fn an_id_purged_and_started_again_ignores_the_old_instance_s_late_result() {
    let dir = data_dir();
    let ledger = dir.path().join("ledger.txt");
    let host = Host::start(dir.path(), Store::Sqlite);
    // The old instance's first step is running (800 ms) when it is terminated and purged.
    let slow = json!({"ledger": ledger.to_string_lossy(), "steps": 2, "step_ms": 800});
    host.start_orchestration("LedgerChain", Some("reused"), Some(&slow));
    wait_until(WAIT, "the first step never started", || {
        std::fs::read_to_string(&ledger).is_ok_and(|t| t.lines().count() == 1)
    });
    post_ok(&host, "/instances/reused/terminate?reason=replaced");
    let terminated = host.wait_for_instance("reused", WAIT);
    assert_eq!(terminated["runtimeStatus"], "Terminated", "{terminated}");
    let purged = host.delete(&format!("{W}/instances/reused"));
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(host.get(&format!("{W}/instances/reused")).status, 404);
    // The same id again, quick steps: it must finish with its own results only.
    let quick = json!({"ledger": ledger.to_string_lossy(), "steps": 3, "step_ms": 0});
    host.start_orchestration("LedgerChain", Some("reused"), Some(&quick));
    let done = host.wait_for_instance("reused", WAIT);
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], 6, "{done}");
    // The old step finishes after all this and reports: its result goes nowhere.
    std::thread::sleep(Duration::from_millis(1_000));
    let status = host.status_with_history("reused");
    assert_eq!(status["output"], 6, "{status}");
    assert_well_formed("reused", &status);
    drop(host);
    assert_store_checks_clean(dir.path());
}

#[test]
fn a_result_that_finds_its_instance_busy_runs_no_step_twice() {
    let dir = data_dir();
    let ledger = dir.path().join("ledger.txt");
    // The turn for the event waits 1.5 s once it has the instance: the slow step's result,
    // with the quick steps it runs ahead of its commit, finds the instance busy. Those
    // steps ran; the turn that schedules them again must not run them a second time.
    let host = Host::start_with_env(
        dir.path(),
        &["--run-ahead-ms", "100"],
        &[("DURABLE_FAILPOINTS", "turn.run.before=sleep(1500)@2")],
    );
    let steps = json!([
        {"kind": "activity", "tag": "slow", "value": 1, "ms": 1000},
        {"kind": "activity", "tag": "quick-1", "value": 2},
        {"kind": "activity", "tag": "quick-2", "value": 3},
        {"kind": "activity", "tag": "quick-3", "value": 4},
    ]);
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": steps});
    host.start_orchestration("RunProgram", Some("busy"), Some(&input));
    wait_until(WAIT, "the slow step never began", || {
        std::fs::read_to_string(&ledger).is_ok_and(|text| text.contains("slow"))
    });
    post_ok(&host, "/instances/busy/raiseEvent/nudge");

    let done = host.wait_for_instance("busy", WAIT);
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(done["output"], json!([3, 5, 7, 9]), "{done}");
    assert_failpoint_fired(&host, "the event's turn was held");
    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    let mut runs: Vec<&str> = text.lines().collect();
    runs.sort_unstable();
    assert_eq!(
        runs,
        ["quick-1", "quick-2", "quick-3", "slow"],
        "each step ran once"
    );
    assert_well_formed("busy", &host.status_with_history("busy"));
    drop(host);
    assert_store_checks_clean(dir.path());
}
