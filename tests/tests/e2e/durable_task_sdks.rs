//! The official Durable Task SDKs, unchanged, against a real host's gRPC service
//! (`--grpc-listen`): Python's `durabletask` (pytest suites in `tests/clients/durabletask`,
//! the worker in `worker_app.py`) and JavaScript's `@microsoft/durabletask-js`
//! (`tests/clients/durabletask-js`), installed from the package registries by `.ci/run`.
//! Without them these tests are skipped with a note, except under CI=true.

use std::process::Command;

use crate::official_clients::{clients_dir, installed, python};
use crate::support::{Host, SYSTEM_KEY, data_dir};

/// Runs the pytest files `files` of the Durable Task suite against `host`.
fn run_pytest(host: &Host, files: &[&str]) {
    let mut pytest = Command::new(python());
    pytest
        .current_dir(clients_dir().join("durabletask"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf"])
        .args(files);
    run_against(host, pytest, "the Python Durable Task suite");
}

/// Runs `command` with the host's gRPC address and key in its environment; it must pass.
fn run_against(host: &Host, mut command: Command, suite: &str) {
    let address = host
        .grpc_address
        .as_deref()
        .expect("the host prints its gRPC address");
    let output = command
        .env("DURABLE_TEST_GRPC_ADDRESS", address)
        .env("DURABLE_TEST_SYSTEM_KEY", SYSTEM_KEY)
        .output()
        .unwrap_or_else(|e| panic!("{suite} runs: {e}"));
    assert!(
        output.status.success(),
        "{suite} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_durable_task_client_works_unchanged() {
    if !installed("Python Durable Task SDK (durabletask)", &python()) {
        return;
    }
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--grpc-listen", "127.0.0.1:0"]);
    run_pytest(&host, &["test_client_calls.py"]);
}

#[test]
fn python_durable_task_workers_run_beside_rust_functions() {
    if !installed("Python Durable Task SDK (durabletask)", &python()) {
        return;
    }
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--grpc-listen", "127.0.0.1:0"]);
    run_pytest(&host, &["test_workers.py"]);
}

#[test]
fn a_killed_python_worker_loses_nothing() {
    if !installed("Python Durable Task SDK (durabletask)", &python()) {
        return;
    }
    // A host of its own: another connected worker would take the work over.
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--grpc-listen", "127.0.0.1:0"]);
    run_pytest(&host, &["test_worker_restart.py"]);
}

#[test]
fn the_javascript_durable_task_sdk_runs_hello_cities() {
    let js = clients_dir().join("durabletask-js");
    if !installed(
        "JavaScript Durable Task SDK (@microsoft/durabletask-js)",
        &js.join("node_modules/@microsoft/durabletask-js"),
    ) {
        return;
    }
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--grpc-listen", "127.0.0.1:0"]);
    let mut node = Command::new("node");
    node.current_dir(&js).args([
        "--test",
        "--test-concurrency=1",
        "test/hello_cities.test.js",
    ]);
    run_against(&host, node, "the JavaScript Durable Task suite");
}
