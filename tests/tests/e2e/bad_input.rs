//! Bad requests get a 4xx with a JSON message and change nothing.

use serde_json::json;

use crate::support::{Host, Store, data_dir};

const START: &str = "/runtime/webhooks/durabletask/orchestrators";

fn assert_message(reply: &crate::support::Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(needle),
        "message {message:?} should mention {needle:?}"
    );
}

#[test]
fn bad_starts_are_refused_and_change_nothing() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);

    let reply = host.post(&format!("{START}/NoSuchOrchestrator"), None);
    assert_message(&reply, 400, "NoSuchOrchestrator");
    let reply = host.post("/api/orchestrators/NoSuchOrchestrator", None);
    assert_message(&reply, 400, "NoSuchOrchestrator");

    let reply = host.post_raw(
        &format!("{START}/HelloCities/bad-json"),
        "application/json",
        "{not json",
    );
    assert_message(&reply, 400, "not valid JSON");
    let reply = host.post_raw(
        &format!("{START}/HelloCities/bad-type"),
        "text/plain",
        "hello",
    );
    assert_message(&reply, 415, "JSON");
    // Client functions' JSON bodies are refused the same way.
    let reply = host.post_raw(
        "/api/orchestrators/HelloCities",
        "application/json",
        "{not json",
    );
    assert_message(&reply, 400, "not valid JSON");
    let reply = host.post_raw("/api/orchestrators/HelloCities", "text/plain", "hello");
    assert_message(&reply, 415, "JSON");

    let long = "x".repeat(101);
    for (id, needle) in [
        ("@counter@1", "`@`"),
        (long.as_str(), "at most 100"),
        ("a%23b", "`#`"),
        ("a%3Fb", "`?`"),
        ("a%5Cb", "`\\`"),
        ("a%0Ab", "control"),
    ] {
        let reply = host.post(&format!("{START}/HelloCities/{id}"), None);
        assert_message(&reply, 400, needle);
    }

    // None of the refused requests created an instance.
    for id in ["bad-json", "bad-type", "@counter@1", "a#b", "a?b"] {
        let encoded: String = id.bytes().map(|b| format!("%{b:02X}")).collect();
        let reply = host.get(&format!(
            "/runtime/webhooks/durabletask/instances/{encoded}"
        ));
        assert_eq!(reply.status, 404, "{id}: {}", reply.body);
        assert!(reply.body["message"].is_string());
    }
}

#[test]
fn a_running_id_cannot_be_started_twice_but_a_finished_one_can() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let input = json!({"n": 7, "ms": 300});
    host.start_orchestration("SlowChain", Some("twice"), Some(&input));
    let reply = host.post(&format!("{START}/SlowChain/twice"), Some(&input));
    assert_message(&reply, 409, "twice");
    let status = host.wait_for_instance("twice", std::time::Duration::from_secs(30));
    assert_eq!(status["output"], "done 7 after 600ms");
    let again = host.start_orchestration("HelloCities", Some("twice"), None);
    assert_eq!(again["id"], "twice");
    let status = host.wait_for_instance("twice", std::time::Duration::from_secs(30));
    assert_eq!(status["name"], "HelloCities");
}

#[test]
fn unknown_instances_and_routes_are_404_with_json() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let reply = host.get("/runtime/webhooks/durabletask/instances/nobody");
    assert_message(&reply, 404, "nobody");
    let reply = host.get("/no/such/route");
    assert_eq!(reply.status, 404);
    assert!(reply.body["message"].is_string());
    let reply = host.get("/runtime/webhooks/durabletask/instances/x?showHistory=maybe");
    assert_message(&reply, 400, "showHistory");
}
