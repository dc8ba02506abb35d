//! The CLI on the same binary: functions, start, status and history against the store.

use std::time::Duration;

use crate::support::{Host, Store, cli, data_dir};

#[test]
fn functions_lists_every_registered_function() {
    let dir = data_dir();
    let out = cli(dir.path(), &["functions"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "HelloCities",
        "SayHello",
        "HttpStart",
        "GetWeatherOrchestrator",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains("examples/src/hello_cities.rs:"), "{text}");
    assert!(text.contains("POST /api/orchestrators/{name}"), "{text}");
}

#[test]
fn start_while_stopped_then_serve_then_read_the_history() {
    let dir = data_dir();
    let out = cli(dir.path(), &["start", "HelloCities", "--id", "from-cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "from-cli");

    let out = cli(dir.path(), &["status", "from-cli"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pending"));

    let host = Host::start(dir.path(), Store::Sqlite);
    let status = host.wait_for_instance("from-cli", Duration::from_secs(30));
    assert_eq!(status["runtimeStatus"], "Completed");
    drop(host);

    let out = cli(dir.path(), &["history", "from-cli"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("EventType"), "{text}");
    assert!(lines[2].starts_with("ExecutionStarted"), "{text}");
    assert!(text.contains("\"Hello Seattle!\""), "{text}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("OrchestratorCompleted"))
    );
    assert_eq!(lines.len(), 2 + 16, "{text}");

    let out = cli(dir.path(), &["status", "from-cli", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["runtimeStatus"], "Completed");
}

#[test]
fn bad_cli_input_exits_2_with_one_line() {
    let dir = data_dir();
    for args in [
        vec!["start", "NoSuchOrchestrator"],
        vec!["start", "HelloCities", "--id", "@bad"],
        vec!["start", "HelloCities", "--input", "{oops"],
        vec!["status", "nobody"],
        vec!["frobnicate"],
    ] {
        let out = cli(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error"), "{args:?}: {stderr}");
        if args[0] != "frobnicate" {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn duplicate_names_stop_the_host_naming_both_places() {
    let dir = data_dir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_duplicate_names"))
        .current_dir(dir.path())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`greet` is registered twice"), "{stderr}");
    assert!(
        stderr.contains("tests/src/bin/duplicate_names.rs:7"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tests/src/bin/duplicate_names.rs:13"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "it must not serve");
}
