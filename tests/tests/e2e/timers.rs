//! Timer triggers: one run per tick, and a tick missed while the host was down runs once
//! when it starts again.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Host, data_dir};

const W: &str = "/runtime/webhooks/durabletask";

fn ticks(host: &Host) -> Vec<Value> {
    let reply = host.get(&format!("{W}/instances?instanceIdPrefix=tick-&top=1000"));
    reply.body.as_array().cloned().unwrap_or_default()
}

#[test]
fn a_timer_fires_each_tick_and_catches_up_once_after_downtime() {
    let dir = data_dir();
    let env = [("DURABLE_TEST_TICKS", "1")];
    let host = Host::start_with_env(dir.path(), &[], &env);
    let deadline = Instant::now() + Duration::from_secs(20);
    while ticks(&host).len() < 2 {
        assert!(Instant::now() < deadline, "the timer did not fire twice");
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = ticks(&host);
    assert!(
        before.iter().all(|t| t["input"]["pastDue"] == false),
        "{before:?}"
    );
    let stopped = host.terminate();
    assert!(stopped.success());

    // Down for more than one tick.
    std::thread::sleep(Duration::from_millis(4500));
    let started = Instant::now();
    let host = Host::start_with_env(dir.path(), &[], &env);
    let deadline = Instant::now() + Duration::from_secs(20);
    let past_due = loop {
        let now = ticks(&host);
        let late: Vec<Value> = now
            .iter()
            .filter(|t| t["input"]["pastDue"] == true)
            .cloned()
            .collect();
        if !late.is_empty() {
            break late;
        }
        assert!(
            Instant::now() < deadline,
            "the missed tick never fired: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        past_due.len(),
        1,
        "missed ticks fire once, not once each: {past_due:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the missed tick fires at start"
    );
}
