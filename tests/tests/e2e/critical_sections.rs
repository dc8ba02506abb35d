//! Critical sections through the HTTP API: orchestrations locking entities (`ctx.lock`),
//! checked by the invariants a user relies on: no lost update, no deadlock, nothing else
//! runs on a locked entity, a bank's total never changes, also across a kill -9.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, STORES, Store, data_dir};

const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";
const INSTANCES: &str = "/runtime/webhooks/durabletask/instances";
const ACCOUNTS: usize = 10;
const OPENING_BALANCE: i64 = 100;

/// Polls an entity until its state is `expected`; panics with the last answer otherwise.
fn wait_for_state(host: &Host, entity: &str, expected: &Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = host.get(&format!("{ENTITIES}/{entity}"));
        if reply.status == 200 && reply.body == *expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{entity} never reached {expected}; last answer {} {}\nhost stderr:\n{}",
            reply.status,
            reply.body,
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(host: &Host, entity: &str, operation: &str, input: &Value) {
    let reply = host.post(&format!("{ENTITIES}/{entity}?op={operation}"), Some(input));
    assert_eq!(
        reply.status, 202,
        "signal {entity} {operation}: {}",
        reply.body
    );
}

/// Waits until the instance's history shows its locks were granted.
fn wait_for_grant(host: &Host, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = host.get(&format!("{INSTANCES}/{id}?showHistory=true"));
        let granted = status.body["historyEvents"]
            .as_array()
            .is_some_and(|events| events.iter().any(|e| e["EventType"] == "EntityLockGranted"));
        if granted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never got its locks: {}",
            status.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn opposite_lock_orders_do_not_deadlock() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        for n in 0..4 {
            let (first, second) = if n % 2 == 0 { ("a", "b") } else { ("b", "a") };
            host.start_orchestration(
                "LockPair",
                Some(&format!("pair-{n}")),
                Some(&json!({"first": first, "second": second, "rounds": 5})),
            );
        }
        for n in 0..4 {
            let status = host.wait_for_instance(&format!("pair-{n}"), Duration::from_secs(60));
            assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
        }
        wait_for_state(&host, "Counter/a", &json!(20));
        wait_for_state(&host, "Counter/b", &json!(20));
    }
}

#[test]
fn synchronize_loses_no_increment() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        let count = 30;
        for n in 0..count {
            host.start_orchestration(
                "Synchronize",
                Some(&format!("sync-{n}")),
                Some(&json!("shared")),
            );
        }
        let mut seen: Vec<i64> = (0..count)
            .map(|n| {
                let status = host.wait_for_instance(&format!("sync-{n}"), Duration::from_secs(60));
                assert_eq!(status["runtimeStatus"], "Completed", "{store:?}: {status}");
                status["output"].as_i64().expect("a number")
            })
            .collect();
        seen.sort_unstable();
        // Each read-modify-write saw the one before it: every value from 1 to 30 once.
        assert_eq!(seen, (1..=count).collect::<Vec<i64>>(), "{store:?}");
        wait_for_state(&host, "Counter/shared", &json!(count));
    }
}

#[test]
fn a_held_lock_makes_others_wait_until_it_is_released() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    host.start_orchestration("HoldLock", Some("holder"), Some(&json!("held")));
    wait_for_grant(&host, "holder");
    signal(&host, "Counter/held", "add", &json!(5));
    std::thread::sleep(Duration::from_millis(500));
    let reply = host.get(&format!("{ENTITIES}/Counter/held"));
    assert_eq!(
        reply.status, 404,
        "the add ran while the lock was held: {}",
        reply.body
    );
    assert_eq!(
        host.post(
            &format!("{INSTANCES}/holder/raiseEvent/release"),
            Some(&json!(null))
        )
        .status,
        202
    );
    let status = host.wait_for_instance("holder", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    wait_for_state(&host, "Counter/held", &json!(5));

    // Terminating the holder releases its lock too.
    host.start_orchestration("HoldLock", Some("terminated-holder"), Some(&json!("held")));
    wait_for_grant(&host, "terminated-holder");
    signal(&host, "Counter/held", "add", &json!(1));
    std::thread::sleep(Duration::from_millis(300));
    wait_for_state(&host, "Counter/held", &json!(5));
    let reply = host.post(
        &format!("{INSTANCES}/terminated-holder/terminate?reason=stop"),
        None,
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_for_state(&host, "Counter/held", &json!(6));
    drop(host);

    // Every holder released its lock: nothing is orphaned.
    let output = crate::support::cli(dir.path(), &["clean-entities"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "released 0 orphaned lock(s)\n"
    );
}

/// A small deterministic generator, so a failing run can be repeated.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Opens the accounts and starts `count` random transfers between them, through the
/// hosts in turn.
pub(crate) fn start_transfers(hosts: &[&Host], count: usize) {
    let host = hosts[0];
    for account in 0..ACCOUNTS {
        signal(
            host,
            &format!("Account/acct-{account}"),
            "deposit",
            &json!(OPENING_BALANCE),
        );
    }
    for account in 0..ACCOUNTS {
        wait_for_state(
            host,
            &format!("Account/acct-{account}"),
            &json!({"balance": OPENING_BALANCE}),
        );
    }
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    for n in 0..count {
        let from = random.below(ACCOUNTS as u64);
        let to = (from + 1 + random.below(ACCOUNTS as u64 - 1)) % ACCOUNTS as u64;
        let amount = 1 + random.below(60);
        hosts[n % hosts.len()].start_orchestration(
            "Transfer",
            Some(&format!("transfer-{n}")),
            Some(&json!({"from": format!("acct-{from}"), "to": format!("acct-{to}"), "amount": amount})),
        );
    }
}

/// Waits for every transfer, then checks the bank: the total is unchanged, no balance is
/// negative, and at least some transfers moved money.
pub(crate) fn check_bank(host: &Host, count: usize) {
    let mut moved = 0;
    for n in 0..count {
        let status = host.wait_for_instance(&format!("transfer-{n}"), Duration::from_secs(120));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        if status["output"] == json!(true) {
            moved += 1;
        }
    }
    assert!(
        moved > count / 4,
        "only {moved} of {count} transfers moved money"
    );
    let balances: Vec<i64> = (0..ACCOUNTS)
        .map(|account| {
            let reply = host.get(&format!("{ENTITIES}/Account/acct-{account}"));
            assert_eq!(reply.status, 200, "acct-{account}: {}", reply.body);
            reply.body["balance"].as_i64().expect("a balance")
        })
        .collect();
    assert!(
        balances.iter().all(|b| *b >= 0),
        "a negative balance: {balances:?}"
    );
    assert_eq!(
        balances.iter().sum::<i64>(),
        OPENING_BALANCE * ACCOUNTS as i64,
        "money was made or lost: {balances:?}"
    );
}

#[test]
fn concurrent_transfers_under_locks_keep_the_total() {
    for store in STORES {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        start_transfers(&[&host], 200);
        check_bank(&host, 200);
    }
}

#[test]
fn transfers_keep_the_total_across_kill_9() {
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    let count = 200;
    start_transfers(&[&host], count);
    // Kill the host while transfers are in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get(&format!("{INSTANCES}/transfer-20")).body["runtimeStatus"] != "Completed" {
        assert!(Instant::now() < deadline, "transfer-20 never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    host.kill9();
    let host = Host::start(dir.path(), Store::Sqlite);
    let unfinished = (0..count)
        .filter(|n| host.get(&format!("{INSTANCES}/transfer-{n}")).status == 202)
        .count();
    assert!(
        unfinished > 0,
        "the kill came too late: every transfer had finished"
    );
    check_bank(&host, count);
}
