//! Orchestration versioning across hosts: two releases of the same orchestrator, each on
//! its own host on one PostgreSQL hub, each running only the instances of its version.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::{Host, PostgresHub, data_dir, postgres_url};

const API: &str = "/runtime/webhooks/durabletask";

/// Polls until the instance's custom status is `waiting` (it waits for `Go`).
fn wait_until_waiting(host: &Host, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = host.get(&format!("{API}/instances/{id}")).body;
        if status["customStatus"] == json!("waiting") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never waited for Go: {status}\nhost stderr:\n{}",
            host.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(host: &Host, id: &str, query: &str) {
    let reply = host.post(
        &format!("{API}/orchestrators/VersionedSteps/{id}{query}"),
        None,
    );
    assert_eq!(reply.status, 202, "start {id}: {}", reply.body);
}

fn raise_go(host: &Host, id: &str) {
    let reply = host.post(
        &format!("{API}/instances/{id}/raiseEvent/Go"),
        Some(&json!(1)),
    );
    assert_eq!(reply.status, 202, "raise Go to {id}: {}", reply.body);
}

#[test]
fn instances_keep_running_on_the_code_of_their_version_while_a_newer_host_serves_new_ones() {
    let Some(url) = postgres_url("versioning") else {
        return;
    };
    let hub = PostgresHub::new(url);
    let (dir_v1, dir_v2) = (data_dir(), data_dir());
    let strict = ["--version-match", "Strict"];
    let v1 = hub.start_host_with_env(
        dir_v1.path(),
        &[&strict[..], &["--default-version", "1.0"]].concat(),
        &[("TEST_CODE_RELEASE", "1")],
    );
    start(&v1, "started-on-v1", "");
    let started = wait_until_waiting(&v1, "started-on-v1");
    assert_eq!(started["version"], json!("1.0"), "{started}");

    // The new release comes up beside the old one.
    let v2 = hub.start_host_with_env(
        dir_v2.path(),
        &[&strict[..], &["--default-version", "2.0"]].concat(),
        &[("TEST_CODE_RELEASE", "2")],
    );
    start(&v2, "started-on-v2", "");
    // A start request may name an older version: the v2 host leaves it to the v1 host.
    start(&v2, "asked-for-v1", "?version=1.0");
    for (id, version) in [("started-on-v2", "2.0"), ("asked-for-v1", "1.0")] {
        let status = wait_until_waiting(&v2, id);
        assert_eq!(status["version"], json!(version), "{status}");
    }

    // Listing by version, as a user looking for what still runs on the old release.
    let listed = v2.get(&format!("{API}/instances?version=1.0")).body;
    let mut ids: Vec<&str> = listed
        .as_array()
        .expect("a listing is an array")
        .iter()
        .filter_map(|status| status["instanceId"].as_str())
        .filter(|id| !id.contains(':'))
        .collect();
    ids.sort();
    assert_eq!(ids, ["asked-for-v1", "started-on-v1"], "{listed}");

    for id in ["started-on-v1", "started-on-v2", "asked-for-v1"] {
        raise_go(&v2, id);
    }
    let expect = |release: &str, version: &str| {
        json!({
            "step": format!("StepV{release}"),
            "version": version,
            "childVersion": version,
            "finishedBy": release,
        })
    };
    for (id, release, version) in [
        ("started-on-v1", "1", "1.0"),
        ("started-on-v2", "2", "2.0"),
        ("asked-for-v1", "1", "1.0"),
    ] {
        let done = v2.wait_for_instance(id, Duration::from_secs(30));
        assert_eq!(done["runtimeStatus"], json!("Completed"), "{id}: {done}");
        assert_eq!(done["output"], expect(release, version), "{id}: {done}");
    }

    // With the v1 host gone, a v1 instance waits: the v2 host does not take it...
    v1.terminate();
    start(&v2, "waits-for-v1", "?version=1.0");
    std::thread::sleep(Duration::from_millis(1_500));
    let waiting = v2.get(&format!("{API}/instances/waits-for-v1")).body;
    assert_eq!(waiting["runtimeStatus"], json!("Pending"), "{waiting}");
    assert_eq!(waiting["version"], json!("1.0"), "{waiting}");
    // ...until a v1 host is back.
    let v1_again = hub.start_host_with_env(
        dir_v1.path(),
        &[&strict[..], &["--default-version", "1.0"]].concat(),
        &[("TEST_CODE_RELEASE", "1")],
    );
    wait_until_waiting(&v1_again, "waits-for-v1");
    raise_go(&v1_again, "waits-for-v1");
    let done = v1_again.wait_for_instance("waits-for-v1", Duration::from_secs(30));
    assert_eq!(done["output"], expect("1", "1.0"), "{done}");
    drop(v1_again);

    // A host that fails what it does not run: an instance of an unknown version fails,
    // naming both versions.
    let dir_fail = data_dir();
    let failing = hub.start_host_with_env(
        dir_fail.path(),
        &[
            &strict[..],
            &["--default-version", "3.0", "--version-failure", "Fail"],
        ]
        .concat(),
        &[("TEST_CODE_RELEASE", "3")],
    );
    start(&v2, "from-the-future", "?version=9.9");
    let failed = failing.wait_for_instance("from-the-future", Duration::from_secs(30));
    assert_eq!(failed["runtimeStatus"], json!("Failed"), "{failed}");
    let message = failed["output"].to_string();
    assert!(
        message.contains("VersionMismatch") && message.contains("9.9") && message.contains("3.0"),
        "{failed}"
    );
}

#[test]
fn a_bad_version_strategy_is_refused_at_start_with_exit_code_2() {
    let dir = data_dir();
    for args in [
        ["--version-match", "Sometimes"],
        ["--version-failure", "Retry"],
    ] {
        let output = super::support::cli(dir.path(), &[&args[..], &["list"]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(args[0]) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}
