//! Several hosts on one PostgreSQL task hub: work started through any host is done by all,
//! a killed host's work is taken over when its leases expire, a host started later picks
//! work up, a host that stops gracefully hands its work over at once, and a timer trigger
//! fires once per tick across the hosts.
//!
//! Needs `DURABLE_TEST_POSTGRES_URL`; without it these tests are skipped with a note, except
//! under `CI=true`, where they fail.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, PostgresHub, assert_well_formed, data_dir, postgres_url};

const HELLO: [&str; 3] = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"];

/// Starts `ids` (with their orchestrator and input) through the hosts in turn, one thread
/// per host.
fn start_all(hosts: &[&Host], work: &[(String, &str, Value)]) {
    std::thread::scope(|scope| {
        for (n, host) in hosts.iter().enumerate() {
            scope.spawn(move || {
                for (id, name, input) in work.iter().skip(n).step_by(hosts.len()) {
                    let started = host.start_orchestration(name, Some(id), Some(input));
                    assert_eq!(started["id"], id.as_str());
                }
            });
        }
    });
}

/// Waits for every instance to finish (asking the hosts in turn) and returns the statuses
/// with their histories.
fn finish_all(hosts: &[&Host], ids: &[String], timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    ids.iter()
        .enumerate()
        .map(|(n, id)| {
            let host = hosts[n % hosts.len()];
            let left = deadline.saturating_duration_since(Instant::now());
            host.wait_for_instance(id, left.max(Duration::from_millis(1)));
            host.status_with_history(id)
        })
        .collect()
}

/// Waits until `id` has made progress (Running), so work is in flight.
fn wait_until_running(host: &Host, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = host.get(&format!("/runtime/webhooks/durabletask/instances/{id}"));
        if status.body["runtimeStatus"] == "Running" || status.body["runtimeStatus"] == "Completed"
        {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never ran: {}", status.body);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn unfinished(host: &Host, ids: &[String]) -> usize {
    ids.iter()
        .filter(|id| {
            host.get(&format!("/runtime/webhooks/durabletask/instances/{id}"))
                .status
                == 202
        })
        .count()
}

fn slow_chains(prefix: &str, count: u64, ms: u64) -> Vec<(String, &'static str, Value)> {
    (0..count)
        .map(|n| {
            (
                format!("{prefix}-{n}"),
                "SlowChain",
                json!({"n": n, "ms": ms}),
            )
        })
        .collect()
}

fn assert_slow_chains_done(statuses: &[Value], ms: u64) {
    for (n, status) in statuses.iter().enumerate() {
        let id = status["instanceId"].as_str().unwrap_or_default().to_owned();
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"], format!("done {n} after {}ms", 2 * ms));
        assert_well_formed(&id, status);
    }
}

#[test]
fn three_hosts_finish_500_chains_and_fan_outs_started_through_any_of_them() {
    let Some(url) = postgres_url("three_hosts_finish_500_chains_and_fan_outs") else {
        return;
    };
    let hub = PostgresHub::new(url);
    let dirs = [data_dir(), data_dir(), data_dir()];
    let first = hub.start_host(dirs[0].path(), 5, &[]);
    let second = hub.start_host(dirs[1].path(), 5, &[]);
    let mut work: Vec<(String, &str, Value)> = (0..500)
        .map(|n| (format!("chain-{n}"), "HelloCities", Value::Null))
        .collect();
    work.extend((0..10).map(|n| (format!("fan-{n}"), "FanOutFanIn", json!(40 + n))));
    // Half the work goes in through two hosts; a third joins and takes the rest.
    let (early, late) = work.split_at(250);
    start_all(&[&first, &second], early);
    let third = hub.start_host(dirs[2].path(), 5, &[]);
    start_all(&[&first, &second, &third], late);

    let hosts = [&first, &second, &third];
    let ids: Vec<String> = work.iter().map(|(id, _, _)| id.clone()).collect();
    let statuses = finish_all(&hosts, &ids, Duration::from_secs(90));
    for (status, (id, name, input)) in statuses.iter().zip(&work) {
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        match *name {
            "HelloCities" => assert_eq!(status["output"], json!(HELLO), "{id}"),
            _ => {
                let n = input.as_u64().expect("a count");
                assert_eq!(status["output"], json!(n * (n - 1) / 2), "{id}");
            }
        }
        assert_well_formed(id, status);
    }
}

#[test]
fn a_killed_host_s_work_is_finished_by_the_others_once_its_leases_expire() {
    let Some(url) = postgres_url("a_killed_host_s_work_is_finished_by_the_others") else {
        return;
    };
    let hub = PostgresHub::new(url);
    let dirs = [data_dir(), data_dir(), data_dir()];
    // Each host takes at most 8 turns and 8 calls at once (its host.json), so the work is
    // spread over all three: the doomed host surely holds some when it is killed, however
    // busy the machine (one host could otherwise lease all 60 chains in one fetch).
    for dir in &dirs {
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"extensions":{"durableTask":{"maxConcurrentOrchestratorFunctions":8,"maxConcurrentActivityFunctions":8}}}"#,
        )
        .expect("host.json is written");
    }
    let first = hub.start_host(dirs[0].path(), 3, &[]);
    let mut doomed = hub.start_host(dirs[1].path(), 3, &[]);
    let third = hub.start_host(dirs[2].path(), 3, &[]);
    let work = slow_chains("killed", 60, 300);
    start_all(&[&first, &doomed, &third], &work);
    let ids: Vec<String> = work.iter().map(|(id, _, _)| id.clone()).collect();
    wait_until_running(&first, &ids[0]);
    std::thread::sleep(Duration::from_millis(200));
    doomed.kill9();
    let killed_at = Instant::now();
    assert!(
        unfinished(&first, &ids) > 0,
        "the kill came too late to test recovery: every instance had finished"
    );

    let statuses = finish_all(&[&first, &third], &ids, Duration::from_secs(60));
    assert_slow_chains_done(&statuses, 300);
    // The killed host renewed its activity leases every second: the last ones it held ran
    // out 2 to 3 seconds after the kill, and only then could the others take that work.
    let took = killed_at.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "finished {took:?} after the kill: the killed host held no work, or its leases were ignored"
    );
}

#[test]
fn a_host_started_later_takes_over_from_one_that_stops_gracefully_without_lease_expiry() {
    let Some(url) = postgres_url("a_host_started_later_takes_over_from_one_that_stops_gracefully")
    else {
        return;
    };
    let hub = PostgresHub::new(url);
    let dirs = [data_dir(), data_dir()];
    // Leases far longer than the test may take: handing over must not wait for them.
    let lease = 120;
    let leaving = hub.start_host(dirs[0].path(), lease, &[]);
    // Each step takes a second, so work is still in flight once the second host is up.
    let work = slow_chains("handover", 40, 1000);
    start_all(&[&leaving], &work);
    let ids: Vec<String> = work.iter().map(|(id, _, _)| id.clone()).collect();
    wait_until_running(&leaving, &ids[0]);

    let staying = hub.start_host(dirs[1].path(), lease, &[]);
    let stopped_at = Instant::now();
    let exit = leaving.terminate();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    assert!(
        unfinished(&staying, &ids) > 0,
        "the stop came too late to test the hand-over: every instance had finished"
    );

    let statuses = finish_all(&[&staying], &ids, Duration::from_secs(60));
    assert_slow_chains_done(&statuses, 1000);
    let took = stopped_at.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "finished {took:?} after the stop: the hand-over waited for leases ({lease} s) to expire"
    );
}

/// Starts a host on the hub whose `EverySecond` timer records each fire as an instance.
fn start_firing_host(hub: &PostgresHub, dir: &Path) -> Host {
    let args = [
        "--store",
        hub.url.as_str(),
        "--hub",
        hub.name.as_str(),
        "--lease-seconds",
        "5",
    ];
    Host::start_with_env(dir, &args, &[("DURABLE_TEST_FIRES", "1")])
}

/// The fires recorded on the hub so far: how many times each tick (Unix seconds) fired, and
/// by which hosts (process ids).
fn fires(host: &Host) -> BTreeMap<i64, Vec<u64>> {
    let reply = host.get("/runtime/webhooks/durabletask/instances?top=1000");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.headers.get("x-ms-continuation-token").is_none(),
        "more fires than one page"
    );
    let mut fires: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for instance in reply.body.as_array().into_iter().flatten() {
        let input = &instance["input"];
        let (Some(tick), Some(pid)) = (input["tick"].as_i64(), input["host"].as_u64()) else {
            panic!("not a fire of EverySecond: {instance}");
        };
        fires.entry(tick).or_default().push(pid);
    }
    fires
}

#[test]
fn a_timer_fires_exactly_once_per_tick_across_three_hosts() {
    let Some(url) = postgres_url("a_timer_fires_exactly_once_per_tick_across_three_hosts") else {
        return;
    };
    let hub = PostgresHub::new(url);
    let dirs = [data_dir(), data_dir(), data_dir()];
    let hosts: Vec<Host> = dirs
        .iter()
        .map(|dir| start_firing_host(&hub, dir.path()))
        .collect();
    // Every tick from here to `last` fires with all three hosts claiming it.
    let all_up = chrono::Utc::now().timestamp();
    let last = all_up + 4;
    // A fire claims its tick before it starts its instance: wait two ticks past `last`, so
    // the fires up to `last` have all landed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let seen = fires(&hosts[0]);
        if seen
            .keys()
            .next_back()
            .is_some_and(|&tick| tick >= last + 2)
        {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "the timer stopped firing: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = *seen.keys().next().unwrap_or(&last);
    assert!(first <= all_up + 1, "the timer fired late: {seen:?}");
    for tick in first..=last {
        let by = seen.get(&tick).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            by.len(),
            1,
            "tick {tick} fired {} times (by hosts {by:?}), not once; all fires: {seen:?}",
            by.len()
        );
    }
}

#[test]
fn entities_and_critical_sections_keep_their_invariants_across_hosts() {
    let Some(url) = postgres_url("entities_and_critical_sections_keep_their_invariants") else {
        return;
    };
    let hub = PostgresHub::new(url);
    let dirs = [data_dir(), data_dir(), data_dir()];
    let first = hub.start_host(dirs[0].path(), 3, &[]);
    let second = hub.start_host(dirs[1].path(), 3, &[]);
    let mut third = hub.start_host(dirs[2].path(), 3, &[]);
    let count = 200;
    crate::critical_sections::start_transfers(&[&first, &second, &third], count);
    let adds: Vec<(String, &str, Value)> = (0..100)
        .map(|n| {
            (
                format!("add-{n}"),
                "AddToCounter",
                json!({"key": "shared", "amount": 1}),
            )
        })
        .collect();
    start_all(&[&first, &second, &third], &adds);
    // One host dies with transfers in flight; the others take its work over.
    wait_until_running(&first, "transfer-30");
    third.kill9();
    let transfers: Vec<String> = (0..count).map(|n| format!("transfer-{n}")).collect();
    assert!(
        unfinished(&first, &transfers) > 0,
        "the kill came too late: every transfer had finished"
    );
    crate::critical_sections::check_bank(&first, count);
    let ids: Vec<String> = adds.iter().map(|(id, _, _)| id.clone()).collect();
    for status in finish_all(&[&first, &second], &ids, Duration::from_secs(60)) {
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = second.get("/runtime/webhooks/durabletask/entities/Counter/shared");
        if reply.status == 200 && reply.body == json!(100) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the counter never reached 100: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_host_that_loses_its_database_reports_unhealthy_keeps_running_and_loses_nothing() {
    let Some(url) = postgres_url("a_host_that_loses_its_database") else {
        return;
    };
    let (scheme_user, rest) = url.split_once('@').expect("a URL with user@host:port");
    let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
    let proxy = crate::proxy::CuttableProxy::start(address.to_owned());
    let hub = PostgresHub::new(format!("{scheme_user}@127.0.0.1:{}/{path}", proxy.port));
    let dir = data_dir();
    let mut host = hub.start_host(dir.path(), 3, &[]);
    assert_eq!(host.get("/admin/host/status").status, 200);
    let chains = slow_chains("outage", 20, 300);
    start_all(&[&host], &chains);
    wait_until_running(&host, "outage-19");

    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = host.get("/admin/host/status");
        if status.status == 503 {
            assert_eq!(status.body["state"], "Unhealthy", "{}", status.body);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still healthy without a database: {}",
            status.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // New work is refused, not acknowledged and lost; the process stays up.
    let refused = host.post(
        "/runtime/webhooks/durabletask/orchestrators/HelloCities/during-outage",
        None,
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body["message"].is_string(), "{}", refused.body);
    std::thread::sleep(Duration::from_secs(2));
    assert!(host.is_running(), "the host exited without its database");
    assert_eq!(host.get("/admin/host/ping").status, 200);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get("/admin/host/status").status != 200 {
        assert!(Instant::now() < deadline, "never healthy again");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ids: Vec<String> = chains.iter().map(|(id, _, _)| id.clone()).collect();
    let statuses = finish_all(&[&host], &ids, Duration::from_secs(60));
    assert_slow_chains_done(&statuses, 300);
    assert_eq!(
        host.get("/runtime/webhooks/durabletask/instances/during-outage")
            .status,
        404,
        "the refused start left nothing behind"
    );
}
