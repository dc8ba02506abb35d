//! The official Durable Functions clients, unchanged, against a real host: Python's
//! `azure-functions-durable` (pytest suite in `tests/clients/python`) and JavaScript's
//! `durable-functions` (node's test runner, `tests/clients/js`). Each client is built from
//! the binding data a Functions host would hand it: `rpcBaseUrl` on the host's key-less
//! loopback listener (`--rpc-listen`), the management URLs with the system key; the host
//! checks keys on its public API.
//!
//! The clients come from the package registries: `.ci/run` installs them (a virtual
//! environment in `tests/clients/python/.venv`, `npm ci` in `tests/clients/js`). Without
//! them these tests are skipped with a note, except under CI=true, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Host, SYSTEM_KEY, Store, data_dir};

/// The `tests/clients` folder.
pub(crate) fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Whether a suite's dependencies are installed; under CI=true they must be.
pub(crate) fn installed(what: &str, path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is not installed at {} (.ci/run installs it)",
        path.display()
    );
    eprintln!(
        "note: the {what} tests are skipped: install it as .ci/run does ({} is missing)",
        path.display()
    );
    false
}

/// A host with keys on and the key-less RPC listener, on `store`.
fn host_for_clients(dir: &Path, store: Store) -> Host {
    let mut args = vec!["--rpc-listen", "127.0.0.1:0"];
    if store == Store::Memory {
        args.extend(["--store", "memory:"]);
    }
    Host::start_with(dir, &args)
}

/// Runs `command` with the host's addresses in its environment and checks it passed.
fn run_suite(mut command: Command, host: &Host, extra: &[(&str, &str)]) {
    let rpc = host
        .rpc_base
        .as_deref()
        .expect("the host prints its RPC address");
    let output = command
        .env("DURABLE_TEST_BASE_URL", &host.base)
        .env("DURABLE_TEST_SYSTEM_KEY", SYSTEM_KEY)
        .env("DURABLE_TEST_RPC_BASE_URL", rpc)
        .envs(extra.iter().copied())
        .output()
        .expect("the suite runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the suite failed:\n{report}");
}

/// The Python of the clients' virtual environment (or `DURABLE_TEST_PYTHON`).
pub(crate) fn python() -> PathBuf {
    std::env::var_os("DURABLE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| clients_dir().join("python/.venv/bin/python"))
}

#[test]
fn the_python_client_works_unchanged() {
    let python = python();
    if !installed("Python client (azure-functions-durable)", &python) {
        return;
    }
    for store in [Store::Memory, Store::Sqlite] {
        let dir = data_dir();
        let host = host_for_clients(dir.path(), store);
        let mut pytest = Command::new(&python);
        pytest.current_dir(clients_dir().join("python")).args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rf",
        ]);
        run_suite(pytest, &host, &[]);
    }
}

#[test]
fn the_javascript_client_works_unchanged() {
    let js = clients_dir().join("js");
    if !installed(
        "JavaScript client (durable-functions)",
        &js.join("node_modules/durable-functions"),
    ) {
        return;
    }
    // rpc: the binding a Functions host hands over; legacy: no rpcBaseUrl, so the client
    // calls the keyed management URLs of the binding.
    for (mode, store) in [
        ("rpc", Store::Memory),
        ("rpc", Store::Sqlite),
        ("legacy", Store::Memory),
    ] {
        let dir = data_dir();
        let host = host_for_clients(dir.path(), store);
        let mut node = Command::new("node");
        node.current_dir(&js)
            .args(["--test", "--test-concurrency=1"]);
        for entry in std::fs::read_dir(js.join("test")).expect("the JS tests") {
            let path = entry.expect("an entry").path();
            if path.to_string_lossy().ends_with(".test.js") {
                node.arg(path);
            }
        }
        run_suite(node, &host, &[("DURABLE_TEST_JS_MODE", mode)]);
    }
}
