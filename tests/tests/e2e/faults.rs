//! Faults on purpose: the host dies (or is told a write failed) at the failpoints of a
//! commit, and a host restarted on the same folder finishes everything it acknowledged
//! with a well-formed history; `check` then finds every invariant of the store holding.
//! `check` itself is shown to catch a store broken by hand.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::support::{
    Host, assert_failpoint_fired, assert_store_checks_clean, assert_well_formed, cli, data_dir,
    wait_until,
};

const API: &str = "/runtime/webhooks/durabletask";

/// How many times each step ran, from the ledger the steps append to.
fn ledger_counts(ledger: &Path, steps: u32) -> Vec<usize> {
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    (1..=steps)
        .map(|step| text.lines().filter(|l| *l == step.to_string()).count())
        .collect()
}

#[test]
fn a_crash_at_each_failpoint_of_a_commit_loses_nothing_acknowledged() {
    const STEPS: u32 = 3;
    for point in [
        "turn.commit.before",
        "sqlite.commit.uncommitted",
        "turn.commit.after",
    ] {
        let dir = data_dir();
        let ledger = dir.path().join("ledger.txt");
        let input = json!({"ledger": ledger.to_string_lossy(), "steps": STEPS});
        // The writer's transactions include the start's and the fetches' leases: the
        // third is in the instance's first turns.
        let setting = match point {
            "sqlite.commit.uncommitted" => format!("{point}=abort@3"),
            _ => format!("{point}=abort"),
        };
        let mut doomed =
            Host::start_with_env(dir.path(), &[], &[("DURABLE_FAILPOINTS", setting.as_str())]);
        let reply = doomed.try_post(&format!("{API}/orchestrators/LedgerChain/chain"), &input);
        // Acknowledged or not: the start's own write may be the one that dies.
        let acknowledged = reply.is_some_and(|reply| reply.status == 202);
        let status = doomed.wait_for_exit(Duration::from_secs(30));
        assert!(!status.success(), "{point}: the host aborted: {status:?}");

        let host = Host::start(dir.path(), crate::support::Store::Sqlite);
        let found = host.get(&format!("{API}/instances/chain"));
        if acknowledged {
            assert_ne!(found.status, 404, "{point}: an acknowledged start was lost");
        }
        if found.status == 404 {
            // Never acknowledged, never written: nothing to finish.
            assert_store_checks_clean(dir.path());
            continue;
        }
        let done = host.wait_for_instance("chain", Duration::from_secs(30));
        assert_eq!(done["runtimeStatus"], json!("Completed"), "{point}: {done}");
        assert_eq!(done["output"], json!(6), "{point}: {done}");
        assert_well_formed("chain", &host.status_with_history("chain"));
        let runs = ledger_counts(&ledger, STEPS);
        // At least once each, and again at most once: a step whose result the one crash
        // kept from a commit (with running ahead, a whole chain may be in one commit).
        assert!(
            runs.iter().all(|&n| (1..=2).contains(&n)),
            "{point}: runs per step {runs:?}"
        );
        drop(host);
        assert_store_checks_clean(dir.path());
    }
}

#[test]
fn a_commit_reported_failed_after_it_was_written_changes_nothing() {
    let dir = data_dir();
    let ledger = dir.path().join("ledger.txt");
    // Every turn's write succeeds but the worker is told it failed, three times over.
    // The calls the worker leased to itself in a write it was told failed wait out their
    // lease: a short one keeps the test short.
    let host = Host::start_with_env(
        dir.path(),
        &["--lease-seconds", "2"],
        &[("DURABLE_FAILPOINTS", "turn.commit.after=error*3")],
    );
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": 4});
    host.start_orchestration("LedgerChain", Some("told-failed"), Some(&input));
    let done = host.wait_for_instance("told-failed", Duration::from_secs(60));
    assert_eq!(done["runtimeStatus"], json!("Completed"), "{done}");
    assert_eq!(done["output"], json!(10), "{done}");
    assert_well_formed("told-failed", &host.status_with_history("told-failed"));
    let runs = ledger_counts(&ledger, 4);
    assert!(runs.iter().all(|&n| n >= 1), "every step ran: {runs:?}");
    assert_failpoint_fired(&host, "the failpoint fired");
    drop(host);
    assert_store_checks_clean(dir.path());
}

#[test]
fn check_names_what_is_broken_in_a_store_damaged_by_hand() {
    let dir = data_dir();
    let host = Host::start(dir.path(), crate::support::Store::Sqlite);
    host.start_orchestration("HelloCities", Some("damaged"), None);
    host.wait_for_instance("damaged", Duration::from_secs(30));
    drop(host);
    assert_store_checks_clean(dir.path());

    let db = dir.path().join("DurableFunctionsHub.db");
    let conn = rusqlite::Connection::open(&db).expect("the store file opens");
    conn.execute_batch(
        "DELETE FROM history WHERE instance_id = 'damaged'
           AND seq >= (SELECT max(seq) - 1 FROM history WHERE instance_id = 'damaged');
         INSERT INTO messages (instance_id, execution_id, event, visible_at)
           SELECT 'purged-long-ago', '', event, 0 FROM history LIMIT 1;",
    )
    .expect("the damage is done");
    drop(conn);

    let output = cli(dir.path(), &["check"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "damaged: history-length",
        "damaged: row-matches-history",
        "purged-long-ago: work-for-missing-instance",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
}

#[test]
fn a_bad_failpoint_setting_is_refused_at_start() {
    let dir = data_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_test-host"))
        .args(["--data-dir"])
        .arg(dir.path())
        .arg("functions")
        .env("DURABLE_FAILPOINTS", "turn.commit.afterwards=abort")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("turn.commit.afterwards") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn a_host_paused_past_its_lease_on_postgres_has_its_late_commit_rejected_and_counted() {
    let Some(url) = crate::support::postgres_url("paused past its lease") else {
        return;
    };
    let hub = crate::support::PostgresHub::new(url);
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let ledger = dir_a.path().join("ledger.txt");
    let lease = ["--lease-seconds", "2", "--run-ahead-ms", "0"];
    // A stalls its first turn's commit for twice its lease: a GC pause, a frozen VM.
    let paused = hub.start_host_with_env(
        dir_a.path(),
        &lease,
        &[("DURABLE_FAILPOINTS", "turn.commit.before=sleep(4500)")],
    );
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": 2});
    paused.start_orchestration("LedgerChain", Some("paused"), Some(&input));
    std::thread::sleep(Duration::from_millis(300));
    // B comes up while A is stalled; once A's lease expires, B takes the instance over.
    let taker = hub.start_host_with_env(dir_b.path(), &lease, &[]);
    let done = taker.wait_for_instance("paused", Duration::from_secs(30));
    assert_eq!(done["runtimeStatus"], json!("Completed"), "{done}");
    assert_eq!(done["output"], json!(3), "{done}");
    // A wakes, writes its stale turn, and is refused.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (text, metrics) = paused.scrape_metrics();
        if metrics
            .get("durable_stale_commits_rejected_total")
            .is_some_and(|n| *n >= 1.0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the late commit was not counted:\n{text}\nA's log:\n{}",
            paused.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = taker.status_with_history("paused");
    assert_well_formed("paused", &status);
    assert_eq!(status["output"], json!(3), "{status}");
    drop((paused, taker));
    check_hub_clean(&hub, dir_b.path());
}

#[test]
fn an_activity_whose_host_is_sigstopped_runs_again_elsewhere_and_its_late_result_is_dropped() {
    let Some(url) = crate::support::postgres_url("sigstopped activity") else {
        return;
    };
    let hub = crate::support::PostgresHub::new(url);
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let ledger = dir_a.path().join("ledger.txt");
    // Without running ahead the step runs as a dispatched call, under its own lease.
    let lease = ["--lease-seconds", "2", "--run-ahead-ms", "0"];
    // A stalls each step's result for a moment, so the test can freeze it mid-call.
    let frozen = hub.start_host_with_env(
        dir_a.path(),
        &lease,
        &[("DURABLE_FAILPOINTS", "activity.run.after=sleep(1000)")],
    );
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": 1});
    frozen.start_orchestration("LedgerChain", Some("frozen"), Some(&input));
    wait_until(Duration::from_secs(20), "the step never ran", || {
        ledger_counts(&ledger, 1) == [1]
    });
    let pid = frozen.pid().to_string();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    };
    signal("-STOP");
    let taker = hub.start_host_with_env(dir_b.path(), &lease, &[]);
    let done = taker.wait_for_instance("frozen", Duration::from_secs(30));
    signal("-CONT");
    assert_eq!(done["runtimeStatus"], json!("Completed"), "{done}");
    assert_eq!(done["output"], json!(1), "{done}");
    assert_eq!(
        ledger_counts(&ledger, 1),
        [2],
        "the frozen host's run was lost with its lease, so the step ran again"
    );
    // The frozen host's late result changes nothing.
    std::thread::sleep(Duration::from_millis(1_500));
    let status = taker.status_with_history("frozen");
    assert_well_formed("frozen", &status);
    drop((frozen, taker));
    check_hub_clean(&hub, dir_b.path());
}

#[test]
fn an_activity_three_times_longer_than_its_lease_keeps_it_and_runs_once() {
    let Some(url) = crate::support::postgres_url("long activity") else {
        return;
    };
    let hub = crate::support::PostgresHub::new(url);
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let ledger = dir_a.path().join("ledger.txt");
    let lease = ["--lease-seconds", "2", "--run-ahead-ms", "0"];
    let first = hub.start_host_with_env(dir_a.path(), &lease, &[]);
    // A second host polls the whole time, ready to take an expired lease.
    let second = hub.start_host_with_env(dir_b.path(), &lease, &[]);
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": 1, "step_ms": 6_000});
    first.start_orchestration("LedgerChain", Some("long"), Some(&input));
    let done = second.wait_for_instance("long", Duration::from_secs(30));
    assert_eq!(done["runtimeStatus"], json!("Completed"), "{done}");
    assert_eq!(ledger_counts(&ledger, 1), [1], "the step ran once");
    drop((first, second));
    check_hub_clean(&hub, dir_b.path());
}

/// Runs `check` on a PostgreSQL hub and asserts every invariant holds.
fn check_hub_clean(hub: &crate::support::PostgresHub, dir: &Path) {
    let store = ["--store", hub.url.as_str(), "--hub", hub.name.as_str()];
    crate::support::assert_checks_clean_with(dir, &store);
}

#[test]
fn a_host_whose_clock_is_five_minutes_ahead_fires_no_timer_early_and_takes_no_lease_early() {
    let Some(url) = crate::support::postgres_url("clock skew") else {
        return;
    };
    let hub = crate::support::PostgresHub::new(url);
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let ledger = dir_a.path().join("ledger.txt");
    let args = ["--lease-seconds", "4", "--run-ahead-ms", "0"];
    let honest = hub.start_host_with_env(dir_a.path(), &args, &[]);
    // A long step starts on the honest host: its lease runs out 4 s after each renewal.
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": 1, "step_ms": 5_000});
    honest.start_orchestration("LedgerChain", Some("leased"), Some(&input));
    wait_until(Duration::from_secs(20), "the step never started", || {
        ledger_counts(&ledger, 1) == [1]
    });
    // The host whose clock is 5 minutes ahead comes up beside it.
    let ahead = hub.start_host_with_env(
        dir_b.path(),
        &args,
        &[("DURABLE_TEST_CLOCK_SKEW_SECONDS", "300")],
    );
    // A 3-second timer, set by the honest host.
    let started = std::time::Instant::now();
    honest.start_orchestration(
        "ApprovalWorkflow",
        Some("timer"),
        Some(&json!({"timeoutSeconds": 3})),
    );
    let timed_out = ahead.wait_for_instance("timer", Duration::from_secs(30));
    assert_eq!(timed_out["output"], "TimedOut", "{timed_out}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the timer fired after {:?}, before its time",
        started.elapsed()
    );
    let done = ahead.wait_for_instance("leased", Duration::from_secs(30));
    assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    assert_eq!(
        ledger_counts(&ledger, 1),
        [1],
        "the step ran once: its lease was not taken early"
    );
    drop((honest, ahead));
    check_hub_clean(&hub, dir_b.path());
}
