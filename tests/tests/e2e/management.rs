//! The management API route by route: status codes, headers, JSON names, keys; and the CLI
//! on a stopped host's data folder.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Host, SYSTEM_KEY, Store, cli, data_dir};

const W: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(60);

fn approval(host: &Host, id: &str) {
    host.start_orchestration(
        "ApprovalWorkflow",
        Some(id),
        Some(&json!({"timeoutSeconds": 600})),
    );
}

fn wait_for_status(host: &Host, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let body = host.get(&format!("{W}/instances/{id}")).body;
        if body["runtimeStatus"] == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn start_can_wait_for_the_output() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let reply = host.post(
        &format!("{W}/orchestrators/HelloCities?timeout=20&pollingInterval=1"),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!(["Hello Tokyo!", "Hello Seattle!", "Hello London!"])
    );

    let reply = host.post(
        &format!("{W}/orchestrators/SlowChain/slow?timeout=0"),
        Some(&json!({"n": 1, "ms": 500})),
    );
    assert_eq!(reply.status, 202);
    assert!(reply.headers.get("retry-after").is_some());
    assert!(reply.headers.get("location").is_some());
    let reply = host.post(&format!("{W}/orchestrators/HelloCities?timeout=soon"), None);
    assert_eq!(reply.status, 400);
}

#[test]
fn status_codes_follow_the_runtime_status() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    approval(&host, "waiting");
    let running = wait_for_status(&host, "waiting", "Running");
    assert_eq!(running["name"], "ApprovalWorkflow");
    let reply = host.get(&format!("{W}/instances/waiting"));
    assert_eq!(reply.status, 202);
    let location = reply
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(location.contains("/instances/waiting"), "{location}");
    assert_eq!(
        reply
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );

    host.start_orchestration("UnhandledActivityFailure", Some("broken"), None);
    host.wait_for_instance("broken", WAIT);
    assert_eq!(host.get(&format!("{W}/instances/broken")).status, 200);
    let reply = host.get(&format!(
        "{W}/instances/broken?returnInternalServerErrorOnFailure=true"
    ));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["runtimeStatus"], "Failed");

    let reply = host.get(&format!("{W}/instances/broken?showInput=false"));
    assert!(reply.body["input"].is_null());
}

#[test]
fn keys_guard_every_management_route() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let started = host.start_orchestration("HelloCities", Some("keyed"), None);
    host.wait_for_instance("keyed", WAIT);
    let routes = [
        (Method::POST, format!("{W}/orchestrators/HelloCities")),
        (Method::GET, format!("{W}/instances/keyed")),
        (Method::GET, format!("{W}/instances")),
        (Method::DELETE, format!("{W}/instances/keyed")),
        (Method::POST, format!("{W}/instances/keyed/raiseEvent/x")),
        (Method::POST, format!("{W}/instances/keyed/terminate")),
        (Method::POST, format!("{W}/instances/keyed/rewind")),
        (Method::POST, format!("{W}/instances/keyed/restart")),
    ];
    for (method, path) in &routes {
        for headers in [vec![], vec![("x-functions-key", "wrong")]] {
            let reply = host.request_without_key(method.clone(), path, &headers);
            assert_eq!(reply.status, 401, "{method} {path} {headers:?}");
            assert!(reply.body["message"].is_string());
            assert!(!reply.body.to_string().contains("keyed"), "reveals nothing");
        }
    }
    let with_code = host.request_without_key(
        Method::GET,
        &format!("{W}/instances/keyed?code={SYSTEM_KEY}"),
        &[],
    );
    assert_eq!(with_code.status, 200);
    // The check-status URLs carry the instance's own token (never the system key), so a
    // caller can follow them as they are (security.rs covers what the token opens).
    let status_uri = started["statusQueryGetUri"].as_str().expect("uri");
    assert!(status_uri.contains("code=it_"), "{status_uri}");
    assert!(!status_uri.contains(SYSTEM_KEY), "{status_uri}");
    assert_eq!(
        host.request_without_key(Method::GET, status_uri, &[])
            .status,
        200
    );
    // Client functions are not management routes.
    let reply = host.request_without_key(Method::POST, "/api/orchestrators/HelloCities", &[]);
    assert_eq!(reply.status, 202);
}

#[test]
fn listing_filters_and_pages() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    for i in 0..5 {
        host.start_orchestration("HelloCities", Some(&format!("list-a-{i}")), None);
    }
    approval(&host, "list-b-0");
    for i in 0..5 {
        host.wait_for_instance(&format!("list-a-{i}"), WAIT);
    }
    let reply = host.get(&format!("{W}/instances?instanceIdPrefix=list-a-"));
    assert_eq!(reply.status, 200);
    let ids: Vec<&str> = reply
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["instanceId"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["list-a-0", "list-a-1", "list-a-2", "list-a-3", "list-a-4"]
    );
    let running = host.get(&format!("{W}/instances?runtimeStatus=Running,Pending"));
    let ids: Vec<&str> = running
        .body
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["instanceId"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["list-b-0"]);
    let future = host.get(&format!(
        "{W}/instances?createdTimeFrom=2999-01-01T00:00:00Z"
    ));
    assert_eq!(future.body, json!([]));
    let first = host.get(&format!("{W}/instances?top=2&instanceIdPrefix=list-"));
    assert_eq!(first.body.as_array().map(Vec::len), Some(2));
    let token = first
        .headers
        .get("x-ms-continuation-token")
        .and_then(|v| v.to_str().ok())
        .expect("token")
        .to_owned();
    let second = host.get_with(
        &format!("{W}/instances?top=10&instanceIdPrefix=list-"),
        &[("x-ms-continuation-token", &token)],
    );
    assert_eq!(second.body.as_array().map(Vec::len), Some(4));
    assert!(second.headers.get("x-ms-continuation-token").is_none());
    for bad in [
        "runtimeStatus=Sleeping",
        "top=0",
        "createdTimeFrom=yesterday",
    ] {
        assert_eq!(
            host.get(&format!("{W}/instances?{bad}")).status,
            400,
            "{bad}"
        );
    }
    let bad_token = host.get_with(
        &format!("{W}/instances"),
        &[("x-ms-continuation-token", "zz")],
    );
    assert_eq!(bad_token.status, 400);
}

#[test]
fn paging_over_a_thousand_instances_with_concurrent_inserts() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    for i in 0..1000 {
        host.start_orchestration(
            "ApprovalWorkflow",
            Some(&format!("page-{i:04}")),
            Some(&json!({"timeoutSeconds": 600})),
        );
    }
    let base = host.base.clone();
    let inserter = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        for i in 0..200 {
            let reply = client
                .post(format!(
                    "{base}{W}/orchestrators/ApprovalWorkflow/page-late-{i:03}"
                ))
                .header("x-functions-key", SYSTEM_KEY)
                .json(&json!({"timeoutSeconds": 600}))
                .send()
                .expect("insert");
            assert_eq!(reply.status().as_u16(), 202);
        }
    });
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let headers: Vec<(&str, &str)> = token
            .iter()
            .map(|t| ("x-ms-continuation-token", t.as_str()))
            .collect();
        let reply = host.get_with(
            &format!("{W}/instances?top=37&instanceIdPrefix=page-"),
            &headers,
        );
        assert_eq!(reply.status, 200);
        for status in reply.body.as_array().expect("array") {
            seen.push(status["instanceId"].as_str().unwrap_or_default().to_owned());
        }
        token = reply
            .headers
            .get("x-ms-continuation-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    inserter.join().expect("inserter");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an instance was listed twice");
    for i in 0..1000 {
        assert!(
            unique.contains(&format!("page-{i:04}")),
            "page-{i:04} was skipped"
        );
    }
}

fn rows_for(db: &std::path::Path, instance_id: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the store");
    ["instances", "history", "messages", "activities"]
        .iter()
        .map(|table| {
            conn.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE instance_id = ?1"),
                [instance_id],
                |r| r.get::<_, i64>(0),
            )
            .expect("count")
        })
        .sum()
}

#[test]
fn purge_removes_finished_instances_and_every_row() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let db = dir.path().join("DurableFunctionsHub.db");
    host.start_orchestration("HelloCities", Some("gone"), None);
    host.wait_for_instance("gone", WAIT);
    assert!(rows_for(&db, "gone") > 0);
    let reply = host.delete(&format!("{W}/instances/gone"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"instancesDeleted": 1}));
    assert_eq!(rows_for(&db, "gone"), 0, "purge left rows behind");
    assert_eq!(host.delete(&format!("{W}/instances/gone")).status, 404);
    assert_eq!(host.get(&format!("{W}/instances/gone")).status, 404);

    approval(&host, "alive");
    let reply = host.delete(&format!("{W}/instances/alive"));
    assert_eq!(reply.status, 404);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Running")
            || reply.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Pending")
    );
    assert!(rows_for(&db, "alive") > 0);

    for i in 0..3 {
        host.start_orchestration("HelloCities", Some(&format!("bulk-{i}")), None);
    }
    for i in 0..3 {
        host.wait_for_instance(&format!("bulk-{i}"), WAIT);
    }
    assert_eq!(
        host.delete(&format!("{W}/instances")).status,
        400,
        "createdTimeFrom is required"
    );
    let reply = host.delete(&format!(
        "{W}/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed"
    ));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"instancesDeleted": 3}));
    for i in 0..3 {
        assert_eq!(rows_for(&db, &format!("bulk-{i}")), 0);
    }
    assert!(
        rows_for(&db, "alive") > 0,
        "running instances are never purged"
    );
    let reply = host.delete(&format!(
        "{W}/instances?createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed"
    ));
    assert_eq!(reply.status, 404);
}

#[test]
fn terminate_ends_instances_and_optionally_their_children() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    approval(&host, "term");
    wait_for_status(&host, "term", "Running");
    let reply = host.post(
        &format!("{W}/instances/term/terminate?reason=no%20longer%20needed"),
        None,
    );
    assert_eq!(reply.status, 202);
    let status = host.wait_for_instance("term", WAIT);
    assert_eq!(status["runtimeStatus"], "Terminated");
    assert_eq!(status["output"], "no longer needed");
    let history = host
        .get(&format!("{W}/instances/term?showHistory=true"))
        .body;
    let types: Vec<&str> = history["historyEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["EventType"].as_str())
        .collect();
    assert!(types.contains(&"ExecutionTerminated"), "{types:?}");
    assert_eq!(
        host.post(&format!("{W}/instances/term/terminate"), None)
            .status,
        410
    );
    assert_eq!(
        host.post(&format!("{W}/instances/nobody/terminate"), None)
            .status,
        404
    );
    // An event at a terminated instance is refused and does not bring it back.
    assert_eq!(
        host.post(
            &format!("{W}/instances/term/raiseEvent/Approval"),
            Some(&json!(true))
        )
        .status,
        410
    );
    assert_eq!(
        host.get(&format!("{W}/instances/term")).body["runtimeStatus"],
        "Terminated"
    );

    for (parent, recursive) in [("tree-r", true), ("tree-n", false)] {
        host.start_orchestration(
            "ProvisionNewDevices",
            Some(parent),
            Some(&json!(["x", "y"])),
        );
        for child in ["x", "y"] {
            wait_for_status(&host, &format!("{parent}-{child}"), "Running");
        }
        let reply = host.post(
            &format!("{W}/instances/{parent}/terminate?recursive={recursive}"),
            None,
        );
        assert_eq!(reply.status, 202);
        host.wait_for_instance(parent, WAIT);
        for child in ["x", "y"] {
            let id = format!("{parent}-{child}");
            if recursive {
                assert_eq!(
                    host.wait_for_instance(&id, WAIT)["runtimeStatus"],
                    "Terminated"
                );
            } else {
                std::thread::sleep(Duration::from_millis(200));
                assert_eq!(
                    host.get(&format!("{W}/instances/{id}")).body["runtimeStatus"],
                    "Running"
                );
            }
        }
    }
}

#[test]
fn suspended_instances_keep_events_until_resumed() {
    for store in [Store::Sqlite, Store::Memory] {
        let dir = data_dir();
        let host = Host::start(dir.path(), store);
        approval(&host, "nap");
        wait_for_status(&host, "nap", "Running");
        assert_eq!(
            host.post(
                &format!("{W}/instances/nap/suspend?reason=maintenance"),
                None
            )
            .status,
            202
        );
        wait_for_status(&host, "nap", "Suspended");
        let reply = host.get(&format!("{W}/instances/nap"));
        assert_eq!(reply.status, 202, "suspended instances are not finished");
        assert_eq!(
            host.post(
                &format!("{W}/instances/nap/raiseEvent/Approval"),
                Some(&json!(true))
            )
            .status,
            202
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            host.get(&format!("{W}/instances/nap")).body["runtimeStatus"],
            "Suspended",
            "{store:?}"
        );
        assert_eq!(
            host.post(&format!("{W}/instances/nap/resume?reason=done"), None)
                .status,
            202
        );
        let status = host.wait_for_instance("nap", WAIT);
        assert_eq!(status["output"], "Approved", "{store:?}");
        assert_eq!(
            host.post(&format!("{W}/instances/nap/suspend"), None)
                .status,
            410
        );
        assert_eq!(
            host.post(&format!("{W}/instances/nap/resume"), None).status,
            410
        );
        assert_eq!(
            host.post(&format!("{W}/instances/nobody/suspend"), None)
                .status,
            404
        );
    }
}

#[test]
fn rewind_retries_a_failed_instance_from_the_point_of_failure() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let marker = dir.path().join("fixed");
    let marker_text = marker.to_string_lossy().to_string();
    host.start_orchestration("NeedsAFix", Some("fixme"), Some(&json!(marker_text)));
    let status = host.wait_for_instance("fixme", WAIT);
    assert_eq!(status["runtimeStatus"], "Failed");
    assert_eq!(
        host.post(&format!("{W}/instances/nobody/rewind"), None)
            .status,
        404
    );
    approval(&host, "healthy");
    assert_eq!(
        host.post(&format!("{W}/instances/healthy/rewind"), None)
            .status,
        412,
        "a running instance: Precondition Failed"
    );

    std::fs::write(&marker, "ok").expect("fix the fault");
    assert_eq!(
        host.post(&format!("{W}/instances/fixme/rewind?reason=fixed"), None)
            .status,
        202
    );
    // The rewind is carried out by the worker: wait until the instance leaves Failed.
    let deadline = Instant::now() + WAIT;
    while host.get(&format!("{W}/instances/fixme")).body["runtimeStatus"] == "Failed" {
        assert!(Instant::now() < deadline, "the rewind never took effect");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = host.wait_for_instance("fixme", WAIT);
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(
        status["output"],
        json!(["Hello before!", "fixed", "Hello after!"])
    );
    let history = host
        .get(&format!("{W}/instances/fixme?showHistory=true"))
        .body;
    let events = history["historyEvents"].as_array().expect("events");
    let hello_before = events
        .iter()
        .filter(|e| e["EventType"] == "TaskScheduled" && e["FunctionName"] == "SayHello")
        .count();
    assert_eq!(
        hello_before, 2,
        "the first step ran once, not again from scratch"
    );
    assert!(events.iter().any(|e| e["EventType"] == "ExecutionRewound"));
    assert!(
        !events.iter().any(|e| e["EventType"] == "TaskFailed"),
        "the failure was rewound"
    );
}

#[test]
fn restart_starts_again_with_the_same_input() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    host.start_orchestration("GetCourseRecommendations", Some("again"), Some(&json!(3)));
    let first = host.wait_for_instance("again", WAIT);
    let reply = host.post(&format!("{W}/instances/again/restart"), None);
    assert_eq!(reply.status, 202);
    let new_id = reply.body["id"].as_str().expect("new id").to_owned();
    assert_ne!(new_id, "again");
    assert_eq!(
        host.wait_for_instance(&new_id, WAIT)["output"],
        first["output"]
    );
    let reply = host.post(
        &format!("{W}/instances/again/restart?restartWithNewInstanceId=false"),
        None,
    );
    assert_eq!(reply.status, 202);
    assert_eq!(reply.body["id"], "again");
    assert_eq!(
        host.wait_for_instance("again", WAIT)["output"],
        first["output"]
    );
    approval(&host, "busy");
    assert_eq!(
        host.post(
            &format!("{W}/instances/busy/restart?restartWithNewInstanceId=false"),
            None
        )
        .status,
        409
    );
    assert_eq!(
        host.post(&format!("{W}/instances/nobody/restart"), None)
            .status,
        404
    );
}

#[test]
fn the_cli_manages_a_stopped_hosts_data_folder() {
    let dir = data_dir();
    let run = |args: &[&str]| {
        let out = cli(dir.path(), args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, _) = run(&[
        "start",
        "ApprovalWorkflow",
        "--id",
        "c1",
        "--input",
        r#"{"timeoutSeconds": 600}"#,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), "c1");
    run(&["start", "HelloCities", "--id", "c2"]);
    let (_, out, _) = run(&["list"]);
    assert!(
        out.contains("c1") && out.contains("c2") && out.contains("Pending"),
        "{out}"
    );
    let (_, out, _) = run(&["list", "--json", "--prefix", "c2"]);
    let listed: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(listed["instances"][0]["instanceId"], "c2");
    assert_eq!(run(&["raise", "c1", "Approval", "true"]).0, Some(0));
    assert_eq!(run(&["raise", "c1", "Approval", "{bad"]).0, Some(2));
    assert_eq!(run(&["terminate", "nobody"]).0, Some(2));
    let (code, _, err) = run(&["purge", "c1"]);
    assert_eq!(code, Some(2), "a pending instance is not purged");
    assert_eq!(err.trim().lines().count(), 1);
    let (code, out, _) = run(&["keys"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("system key"), "{out}");
    assert_eq!(run(&["list", "--status", "Sleeping"]).0, Some(2));

    // A host serving the folder runs what the CLI queued, including the raised event.
    let host = Host::start(dir.path(), Store::Sqlite);
    assert_eq!(host.wait_for_instance("c1", WAIT)["output"], "Approved");
    host.wait_for_instance("c2", WAIT);
    drop(host);
    assert_eq!(
        run(&["terminate", "c1"]).0,
        Some(2),
        "finished instances are not terminated"
    );
    let (code, out, _) = run(&["purge", "c2"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("purged 1"), "{out}");
    let (code, out, _) = run(&["purge", "--from", "2000-01-01T00:00:00Z"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("purged 1"), "{out}");
}

#[test]
fn auth_none_is_refused_off_loopback() {
    let dir = data_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_test-host"))
        .current_dir(dir.path())
        .args(["--listen", "0.0.0.0:0", "--auth", "none", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--auth none"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn client_functions_check_their_auth_level() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("keys.json")).expect("keys.json"),
    )
    .expect("JSON");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "keys are readable by the owner only");
    }
    let function_key = keys["functionKey"].as_str().expect("function key");
    let get = |path: &str, key: Option<&str>| {
        let headers: Vec<(&str, &str)> = key.iter().map(|k| ("x-functions-key", *k)).collect();
        host.request_without_key(Method::GET, path, &headers).status
    };
    assert_eq!(get("/api/whoami/function", None), 401);
    assert_eq!(get("/api/whoami/function", Some("wrong")), 401);
    assert_eq!(get("/api/whoami/function", Some(function_key)), 200);
    assert_eq!(get("/api/whoami/function", Some(SYSTEM_KEY)), 200);
    assert_eq!(
        get(&format!("/api/whoami/function?code={function_key}"), None),
        200
    );
    assert_eq!(get("/api/whoami/admin", Some(function_key)), 401);
    assert_eq!(get("/api/whoami/admin", Some(SYSTEM_KEY)), 200);
    // The function key does not open the management API: it is a key, but not this one.
    assert_eq!(get(&format!("{W}/instances"), Some(function_key)), 403);
}

#[test]
fn the_management_path_can_be_moved() {
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--webhook-path", "/ops/durable"]);
    let reply = host.post("/ops/durable/orchestrators/HelloCities/moved", None);
    assert_eq!(reply.status, 202, "{}", reply.body);
    let status_uri = reply.body["statusQueryGetUri"].as_str().expect("uri");
    assert!(
        status_uri.contains("/ops/durable/instances/moved?"),
        "{status_uri}"
    );
    host.wait_for_instance_at("/ops/durable", "moved", WAIT);
    assert_eq!(host.get(&format!("{W}/instances/moved")).status, 404);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_test-host"))
        .current_dir(dir.path())
        .args(["--webhook-path", "no-slash", "functions"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--webhook-path"));
}

#[test]
fn the_host_reports_its_health() {
    let dir = crate::support::data_dir();
    let host = crate::support::Host::start(dir.path(), crate::support::Store::Sqlite);
    let ping = host.request_without_key(reqwest::Method::GET, "/admin/host/ping", &[]);
    assert_eq!(ping.status, 200, "ping needs no key");
    let status = host.get("/admin/host/status");
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["state"], "Running");
    assert_eq!(status.body["store"], "ok");
    let anonymous = host.request_without_key(reqwest::Method::GET, "/admin/host/status", &[]);
    assert_eq!(
        anonymous.status, 401,
        "the status needs the system key: {}",
        anonymous.body
    );
}

#[test]
fn a_start_that_waits_is_answered_when_the_instance_finishes_not_at_the_next_poll() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let base = host.base.clone();
    let raiser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let client = reqwest::blocking::Client::new();
        let raised = client
            .post(format!("{base}{W}/instances/waited/raiseEvent/Approval"))
            .header("x-functions-key", SYSTEM_KEY)
            .json(&true)
            .send()
            .expect("raises");
        assert_eq!(raised.status().as_u16(), 202);
    });
    // A ten-minute polling interval: only the commit that finishes the instance can
    // answer this request within the test.
    let asked = Instant::now();
    let reply = host.post(
        &format!("{W}/orchestrators/ApprovalWorkflow/waited?timeout=60&pollingInterval=600"),
        Some(&json!({"timeoutSeconds": 600})),
    );
    raiser.join().expect("the raiser ran");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "Approved");
    assert!(asked.elapsed() < Duration::from_secs(30));
}
