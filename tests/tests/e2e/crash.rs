//! `kill -9` mid-flight loses nothing: a host restarted on the same folder finishes it all.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Host, SYSTEM_KEY, Store, data_dir};

#[test]
fn fifty_instances_survive_kill_9() {
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    for n in 0..50 {
        let id = format!("crash-{n}");
        let started =
            host.start_orchestration("SlowChain", Some(&id), Some(&json!({"n": n, "ms": 400})));
        assert_eq!(started["id"], id.as_str());
    }
    // Wait until work is under way, then kill the host mid-flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = host.get("/runtime/webhooks/durabletask/instances/crash-0");
        if status.body["runtimeStatus"] == "Running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "crash-0 never ran: {}",
            status.body
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    host.kill9();

    let host = Host::start(dir.path(), Store::Sqlite);
    let unfinished_at_restart = (0..50)
        .filter(|n| {
            let status = host.get(&format!(
                "/runtime/webhooks/durabletask/instances/crash-{n}"
            ));
            status.status == 202
        })
        .count();
    assert!(
        unfinished_at_restart > 0,
        "the kill came too late to test recovery: every instance had finished"
    );
    for n in 0..50 {
        let status = host.wait_for_instance(&format!("crash-{n}"), Duration::from_secs(60));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"], format!("done {n} after 800ms"));
    }
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}

#[test]
fn every_start_answered_before_a_kill_9_finishes_after_it() {
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    // An instance completed in this host: later starts of HelloCities run eagerly, their
    // first turns before the instance is written.
    host.start_orchestration("HelloCities", Some("warm-up"), None);
    let status = host.wait_for_instance("warm-up", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    // Starts keep coming from four clients while the host is killed.
    let starters: Vec<_> = (0..4)
        .map(|client| {
            let base = host.base.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut answered = Vec::new();
                for n in 0..5_000 {
                    let id = format!("eager-{client}-{n}");
                    let url = format!(
                        "{base}/runtime/webhooks/durabletask/orchestrators/HelloCities/{id}"
                    );
                    let sent = http.post(url).header("x-functions-key", SYSTEM_KEY).send();
                    match sent {
                        Ok(reply) if reply.status() == 202 => answered.push(id),
                        Ok(reply) => panic!("start {id}: {}", reply.status()),
                        // The host is gone: what was not answered was not acknowledged.
                        Err(_) => break,
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    host.kill9();
    let answered: Vec<String> = starters
        .into_iter()
        .flat_map(|starter| starter.join().expect("the client thread"))
        .collect();
    assert!(
        !answered.is_empty() && answered.len() < 20_000,
        "the kill did not come while starts were flowing ({} answered)",
        answered.len()
    );

    let host = Host::start(dir.path(), Store::Sqlite);
    for id in &answered {
        let status = host.wait_for_instance(id, Duration::from_secs(60));
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(
            status["output"],
            json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
        );
    }
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}

#[test]
fn timers_event_waits_and_backoffs_survive_kill_9() {
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    host.start_orchestration(
        "ApprovalWorkflow",
        Some("timer"),
        Some(&json!({"timeoutSeconds": 2})),
    );
    host.start_orchestration(
        "ApprovalWorkflow",
        Some("event"),
        Some(&json!({"timeoutSeconds": 600})),
    );
    let retry = json!({"failTimes": 1, "maxAttempts": 3, "firstRetryMs": 1500, "backoff": 1.0});
    host.start_orchestration("RetryFlaky", Some("backoff"), Some(&retry));
    let deadline = Instant::now() + Duration::from_secs(20);
    while host
        .get("/runtime/webhooks/durabletask/instances/event")
        .body["customStatus"]
        != "Waiting for approval"
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    host.kill9();

    let host = Host::start(dir.path(), Store::Sqlite);
    let raised = host.post(
        "/runtime/webhooks/durabletask/instances/event/raiseEvent/Approval",
        Some(&json!(true)),
    );
    assert_eq!(raised.status, 202);
    assert_eq!(
        host.wait_for_instance("event", Duration::from_secs(30))["output"],
        "Approved"
    );
    assert_eq!(
        host.wait_for_instance("timer", Duration::from_secs(30))["output"],
        "TimedOut"
    );
    let status = host.wait_for_instance("backoff", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}

#[test]
fn an_activity_that_keeps_killing_its_host_becomes_a_poison_message() {
    let dir = data_dir();
    let args = ["--max-dequeue-count", "2"];
    let mut host = Host::start_with(dir.path(), &args);
    host.start_orchestration("CrashesTheHost", Some("poison"), None);
    let status = host.wait_for_exit(Duration::from_secs(30));
    assert!(!status.success(), "the activity aborted the host");
    let mut host = Host::start_with(dir.path(), &args);
    host.wait_for_exit(Duration::from_secs(30));
    // The third hand-out is over the limit: the call fails instead of running.
    let host = Host::start_with(dir.path(), &args);
    let status = host.wait_for_instance("poison", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let message = status["output"]["ErrorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("CrashTheHost") && message.contains("2 times"),
        "{message}"
    );
    assert!(
        status["output"]["StackTrace"]
            .as_str()
            .unwrap_or_default()
            .contains("PoisonMessage"),
        "{status}"
    );
    let (text, metrics) = host.scrape_metrics();
    assert_eq!(
        metrics.get("durable_poison_messages_total{queue=\"activity\"}"),
        Some(&1.0),
        "{text}"
    );
    assert!(
        metrics
            .get("durable_lease_takeovers_total{queue=\"activity\"}")
            .is_some_and(|n| *n >= 1.0),
        "the call came back after its host died: {text}"
    );
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}

#[test]
fn an_orchestration_whose_turn_keeps_killing_its_host_fails_as_a_poison_message() {
    let dir = data_dir();
    let args = ["--max-dequeue-count", "2"];
    let mut host = Host::start_with(dir.path(), &args);
    host.start_orchestration("AbortsItsHost", Some("poison-turn"), None);
    assert!(!host.wait_for_exit(Duration::from_secs(30)).success());
    let mut host = Host::start_with(dir.path(), &args);
    assert!(!host.wait_for_exit(Duration::from_secs(30)).success());
    let host = Host::start_with(dir.path(), &args);
    let status = host.wait_for_instance("poison-turn", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    assert_eq!(status["output"]["ErrorType"], "PoisonMessage");
    let message = status["output"]["ErrorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("2 times"), "{message}");
    let (text, metrics) = host.scrape_metrics();
    assert_eq!(
        metrics.get("durable_poison_messages_total{queue=\"orchestration\"}"),
        Some(&1.0),
        "{text}"
    );
    assert!(
        metrics
            .get("durable_lease_takeovers_total{queue=\"orchestration\"}")
            .is_some_and(|n| *n >= 1.0),
        "{text}"
    );
    // The host keeps serving.
    let other = host.start_orchestration("HelloCities", None, None);
    let id = other["id"].as_str().expect("id").to_owned();
    assert_eq!(
        host.wait_for_instance(&id, Duration::from_secs(30))["runtimeStatus"],
        "Completed"
    );
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}
