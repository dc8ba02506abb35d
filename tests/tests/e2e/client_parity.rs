//! What `IDurableOrchestrationClient` has, over HTTP and the CLI: scheduled starts,
//! scheduled entity signals, recursive purges, entity queries with lock holders, and routes
//! that take a trailing slash.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, Store, cli, data_dir};

const W: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(60);

fn soon(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_start_and_a_signal_can_wait_for_their_time() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let at = soon(2);
    let reply = host.post(
        &format!("{W}/orchestrators/HelloCities/later?scheduledStartTime={at}"),
        None,
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        host.get(&format!("{W}/instances/later")).body["runtimeStatus"],
        "Pending"
    );
    let done = host.wait_for_instance("later", WAIT);
    assert_eq!(done["runtimeStatus"], "Completed");
    let started = done["lastUpdatedTime"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(started.as_str() >= &at[..19], "{started} before {at}");

    let at = soon(2);
    let signal = host.post(
        &format!("{W}/entities/Counter/later?op=add&scheduledTime={at}"),
        Some(&json!(5)),
    );
    assert_eq!(signal.status, 202, "{}", signal.body);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        host.get(&format!("{W}/entities/Counter/later")).status,
        404,
        "not before its time"
    );
    wait_until("the scheduled signal", || {
        host.get(&format!("{W}/entities/Counter/later")).body == json!(5)
    });
    let bad = host.post(
        &format!("{W}/orchestrators/HelloCities?scheduledStartTime=soon"),
        None,
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("scheduledStartTime")
    );
}

#[test]
fn the_cli_starts_at_a_time() {
    let dir = data_dir();
    let at = soon(3600);
    let started = cli(
        dir.path(),
        &["start", "HelloCities", "--id", "tomorrow", "--at", &at],
    );
    assert!(started.status.success(), "{started:?}");
    let status = cli(dir.path(), &["status", "tomorrow", "--json"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON status");
    assert_eq!(status["runtimeStatus"], "Pending");
    let refused = cli(dir.path(), &["start", "HelloCities", "--at", "yesterday"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn a_recursive_purge_takes_the_sub_orchestrations_along() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let instances = |prefix: &str| {
        host.get(&format!("{W}/instances?instanceIdPrefix={prefix}"))
            .body
            .as_array()
            .map_or(0, Vec::len)
    };
    for parent in ["plain", "deep"] {
        host.start_orchestration("TwoChildren", Some(parent), None);
        assert_eq!(
            host.wait_for_instance(parent, WAIT)["runtimeStatus"],
            "Completed"
        );
        assert_eq!(instances(parent), 3, "{parent} and its two children");
    }
    let plain = host.delete(&format!("{W}/instances/plain"));
    assert_eq!(plain.body, json!({"instancesDeleted": 1}));
    assert_eq!(instances("plain"), 2, "the children stay");
    let deep = host.delete(&format!("{W}/instances/deep?recursive=true"));
    assert_eq!(deep.body, json!({"instancesDeleted": 3}));
    assert_eq!(instances("deep"), 0);

    host.start_orchestration("TwoChildren", Some("by-cli"), None);
    host.wait_for_instance("by-cli", WAIT);
    drop(host);
    let purged = cli(dir.path(), &["purge", "by-cli", "--recursive"]);
    assert!(purged.status.success(), "{purged:?}");
    assert!(String::from_utf8_lossy(&purged.stdout).contains("purged 3"));
}

#[test]
fn entity_queries_filter_by_time_and_state_and_name_the_lock_holder() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Memory);
    assert_eq!(
        host.post(
            &format!("{W}/entities/Counter/plain?op=add"),
            Some(&json!(3))
        )
        .status,
        202
    );
    wait_until("the add", || {
        host.get(&format!("{W}/entities/Counter/plain")).body == json!(3)
    });
    // A lock on an entity with no state: only listed with includeStateless.
    host.start_orchestration("HoldLock", Some("holder"), Some(&json!("locked")));
    let listed = |query: &str| -> Vec<Value> {
        let reply = host.get(&format!("{W}/entities/counter/{query}"));
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        reply.body.as_array().cloned().unwrap_or_default()
    };
    wait_until("the lock", || {
        listed("?includeStateless=true")
            .iter()
            .any(|e| e["entityId"]["key"] == "locked" && e["lockedBy"] == "holder")
    });
    let keys = |entities: &[Value]| -> Vec<String> {
        entities
            .iter()
            .map(|e| e["entityId"]["key"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        keys(&listed("")),
        ["plain"],
        "stateless entities are left out by default"
    );
    let all = listed("?includeStateless=true");
    assert_eq!(keys(&all), ["plain", "locked"]);
    assert_eq!(all[0]["state"], 3);
    assert!(
        all[1].get("state").is_none(),
        "no state to show: {}",
        all[1]
    );
    let stateless = listed("?fetchState=false");
    assert!(stateless[0].get("state").is_none(), "{}", stateless[0]);
    assert!(listed(&format!("?lastOperationTimeFrom={}", soon(60))).is_empty());
    assert_eq!(
        keys(&listed(&format!("?lastOperationTimeTo={}", soon(60)))),
        ["plain"]
    );
    // Releasing the lock leaves no holder.
    assert_eq!(
        host.post(&format!("{W}/instances/holder/raiseEvent/release"), None)
            .status,
        202
    );
    host.wait_for_instance("holder", WAIT);
    wait_until("the unlock", || {
        listed("?includeStateless=true")
            .iter()
            .all(|e| e.get("lockedBy").is_none())
    });
}

#[test]
fn routes_answer_with_a_trailing_slash() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Memory);
    host.start_orchestration("HelloCities", Some("slash"), None);
    host.wait_for_instance("slash", WAIT);
    for path in [
        format!("{W}/instances/"),
        format!("{W}/instances/slash/"),
        format!("{W}/entities/"),
    ] {
        let reply = host.get(&path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    let purge = host.delete(&format!(
        "{W}/instances/?createdTimeFrom=2000-01-01T00:00:00Z"
    ));
    assert_eq!(purge.body, json!({"instancesDeleted": 1}));
}
