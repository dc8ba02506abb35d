//! Durable entities through the HTTP API: the Counter entity of the examples, signaled by
//! orchestrations and clients, read back with `GET /entities/{name}/{key}`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, STORES, Store, data_dir};

const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";

/// Polls the counter until it holds `expected`; panics with the last answer otherwise.
fn wait_for_counter(host: &Host, key: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = host.get(&format!("{ENTITIES}/Counter/{key}"));
        if reply.status == 200 && reply.body == json!(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "counter {key} never reached {expected}; last answer {} {}\nhost stderr:\n{}",
            reply.status,
            reply.body,
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(host: &Host, key: &str, operation: &str, input: Option<&Value>) {
    let reply = host.post(&format!("{ENTITIES}/Counter/{key}?op={operation}"), input);
    assert_eq!(reply.status, 202, "signal {operation}: {}", reply.body);
}

#[test]
fn a_hundred_orchestrations_each_add_one() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        assert_eq!(host.get(&format!("{ENTITIES}/Counter/votes")).status, 404);
        for n in 0..100 {
            host.start_orchestration(
                "AddToCounter",
                Some(&format!("add-{n}")),
                Some(&json!({"key": "votes", "amount": 1})),
            );
        }
        for n in 0..100 {
            let status = host.wait_for_instance(&format!("add-{n}"), Duration::from_secs(60));
            assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        }
        wait_for_counter(&host, "votes", 100);
        // Nothing is applied twice: the value stays.
        std::thread::sleep(Duration::from_millis(300));
        wait_for_counter(&host, "votes", 100);
    }
}

#[test]
fn a_failed_operation_changes_nothing_and_its_caller_learns_why() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        host.start_orchestration(
            "CallCounter",
            Some("ok"),
            Some(&json!({"key": "stock", "amount": 5})),
        );
        let status = host.wait_for_instance("ok", Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        assert_eq!(status["output"], 5);

        host.start_orchestration(
            "CallCounter",
            Some("too-much"),
            Some(&json!({"key": "stock", "amount": -8})),
        );
        let status = host.wait_for_instance("too-much", Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Failed", "{store:?}: {status}");
        let output = status["output"].to_string();
        assert!(output.contains("cannot go below zero"), "{output}");
        wait_for_counter(&host, "stock", 5);

        // The entity is not poisoned: later operations still run.
        signal(&host, "stock", "add", Some(&json!(2)));
        wait_for_counter(&host, "stock", 7);
    }
}

#[test]
fn operations_from_one_sender_apply_in_order_and_delete_removes_the_state() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    signal(&host, "ordered", "add", Some(&json!(40)));
    signal(&host, "ordered", "reset", None);
    for amount in [1, 2, 3] {
        signal(&host, "ordered", "add", Some(&json!(amount)));
    }
    wait_for_counter(&host, "ordered", 6);
    signal(&host, "ordered", "delete", None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get(&format!("{ENTITIES}/Counter/ordered")).status != 404 {
        assert!(Instant::now() < deadline, "the state was never deleted");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Names ignore case; operations need a name; unknown entities are refused.
    signal(&host, "ordered", "add", Some(&json!(3)));
    let reply = host.get(&format!("{ENTITIES}/counter/ordered"));
    assert!(reply.status == 200 || reply.status == 404, "{}", reply.body);
    wait_for_counter(&host, "ordered", 3);
    assert_eq!(
        host.post(&format!("{ENTITIES}/Counter/x"), None).status,
        400
    );
    assert_eq!(
        host.post(&format!("{ENTITIES}/NoSuchEntity/x?op=add"), None)
            .status,
        400
    );
}

#[test]
fn counter_state_survives_kill_9() {
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    for _ in 0..100 {
        signal(&host, "durable", "add", Some(&json!(1)));
    }
    // Orchestrations with signals sent and signals still to send when the host dies.
    for n in 0..50 {
        host.start_orchestration(
            "SlowCounterAdds",
            Some(&format!("crash-add-{n}")),
            Some(&json!({"key": "durable", "ms": 400})),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while host
        .get("/runtime/webhooks/durabletask/instances/crash-add-49")
        .body["runtimeStatus"]
        != "Running"
    {
        assert!(Instant::now() < deadline, "crash-add-49 never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    host.kill9();

    let host = Host::start(dir.path(), Store::Sqlite);
    let unfinished_at_restart = (0..50)
        .filter(|n| {
            let status = host.get(&format!(
                "/runtime/webhooks/durabletask/instances/crash-add-{n}"
            ));
            status.status == 202
        })
        .count();
    assert!(
        unfinished_at_restart > 0,
        "the kill came too late to test recovery: every orchestration had finished"
    );
    for n in 0..50 {
        let status = host.wait_for_instance(&format!("crash-add-{n}"), Duration::from_secs(60));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    }
    // Each orchestration's two signals are applied once, crash or not.
    wait_for_counter(&host, "durable", 200);
    std::thread::sleep(Duration::from_millis(300));
    wait_for_counter(&host, "durable", 200);
}

#[test]
fn entities_are_not_listed_as_instances() {
    let dir = crate::support::data_dir();
    let host = crate::support::Host::start(dir.path(), crate::support::Store::Sqlite);
    let reply = host.post(
        "/runtime/webhooks/durabletask/entities/Counter/listed?op=add",
        Some(&serde_json::json!(1)),
    );
    assert_eq!(reply.status, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while host
        .get("/runtime/webhooks/durabletask/entities/Counter/listed")
        .status
        != 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the signal was never applied"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let listed = host.get("/runtime/webhooks/durabletask/instances");
    assert_eq!(listed.status, 200);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["instanceId"].as_str())
        .collect();
    assert!(ids.iter().all(|id| !id.starts_with('@')), "{ids:?}");
}

#[test]
fn entities_with_state_are_listed_by_name_and_paged() {
    let dir = crate::support::data_dir();
    let host = crate::support::Host::start(dir.path(), crate::support::Store::Sqlite);
    let w = "/runtime/webhooks/durabletask";
    for key in ["a", "b", "c"] {
        let reply = host.post(
            &format!("{w}/entities/Counter/{key}?op=add"),
            Some(&serde_json::json!(5)),
        );
        assert_eq!(reply.status, 202);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for key in ["a", "b", "c"] {
        while host.get(&format!("{w}/entities/Counter/{key}")).status != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "signal to {key} never applied"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let first = host.get(&format!("{w}/entities/counter?top=2"));
    assert_eq!(first.status, 200, "{}", first.body);
    let listed = first.body.as_array().expect("array").clone();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0]["entityId"],
        serde_json::json!({"name": "counter", "key": "a"})
    );
    assert_eq!(listed[0]["state"], 5);
    assert!(listed[0]["lastOperationTime"].is_string());
    let token = first
        .headers
        .get("x-ms-continuation-token")
        .and_then(|v| v.to_str().ok())
        .expect("more")
        .to_owned();
    let rest = host.get_with(
        &format!("{w}/entities/Counter?top=2"),
        &[("x-ms-continuation-token", &token)],
    );
    let rest = rest.body.as_array().expect("array").clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["entityId"]["key"], "c");
    assert_eq!(
        host.get(&format!("{w}/entities"))
            .body
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        host.get(&format!("{w}/entities/Nothing")).body,
        serde_json::json!([])
    );

    // A deleted entity is no longer listed.
    host.post(&format!("{w}/entities/Counter/b?op=delete"), None);
    while host.get(&format!("{w}/entities/Counter/b")).status != 404 {
        assert!(std::time::Instant::now() < deadline, "delete never applied");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let keys: Vec<String> = host
        .get(&format!("{w}/entities/Counter"))
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["entityId"]["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys, ["a", "c"]);
}

/// Polls `GET /entities/{name}/{key}` until it answers `status` with `body` (when given).
fn wait_for_entity(host: &Host, path: &str, status: u16, body: Option<&Value>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = host.get(&format!("{ENTITIES}/{path}"));
        if reply.status == status && body.is_none_or(|b| &reply.body == b) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {status} {body:?}; last answer {} {}\nhost stderr:\n{}",
            reply.status,
            reply.body,
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_typed_entity_runs_its_methods_as_operations() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let account = |op: &str, input: Option<&Value>| {
        let reply = host.post(&format!("{ENTITIES}/Account/alice?op={op}"), input);
        assert_eq!(reply.status, 202, "signal {op}: {}", reply.body);
    };
    // Reading the balance of an account without state creates none.
    account("balance", None);
    account("deposit", Some(&json!(50)));
    wait_for_entity(&host, "Account/alice", 200, Some(&json!({"balance": 50})));

    // An overdraft fails and changes nothing; later operations still run, names ignore case.
    account("withdraw", Some(&json!(80)));
    account("WITHDRAW", Some(&json!(20)));
    wait_for_entity(&host, "Account/alice", 200, Some(&json!({"balance": 30})));

    // Unknown operations and bad inputs fail alone.
    account("transfer", Some(&json!(1)));
    account("deposit", Some(&json!("ten")));
    account("deposit", Some(&json!(5)));
    wait_for_entity(&host, "Account/alice", 200, Some(&json!({"balance": 35})));

    // `delete` is implicit.
    account("delete", None);
    wait_for_entity(&host, "Account/alice", 404, None);

    // A read alone leaves no entity behind.
    let reply = host.post(&format!("{ENTITIES}/Account/nobody?op=balance"), None);
    assert_eq!(reply.status, 202, "{}", reply.body);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.get(&format!("{ENTITIES}/Account/nobody")).status, 404);
}
