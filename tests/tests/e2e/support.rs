//! Starts real host processes and talks HTTP to them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The system key the test hosts use (`DURABLE_SYSTEM_KEY`).
pub const SYSTEM_KEY: &str = "test-system-key";

/// The stores the orchestration tests run on.
pub const STORES: [Store; 2] = [Store::Sqlite, Store::Memory];

/// Which store a host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The default: an SQLite file in the data folder.
    Sqlite,
    /// `--store memory:`.
    Memory,
}

/// A running host process on a free loopback port.
pub struct Host {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The key-less RPC listener's base (`http://127.0.0.1:PORT/durabletask/`), when the
    /// host was started with `--rpc-listen`.
    pub rpc_base: Option<String>,
    /// The Durable Task gRPC service's `127.0.0.1:PORT`, when the host was started with
    /// `--grpc-listen`.
    pub grpc_address: Option<String>,
    http: reqwest::blocking::Client,
    stderr: PathBuf,
}

/// A response: status code, headers and the JSON body (null when not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_test-host")
}

/// Runs the host binary with arguments to completion (CLI commands).
pub fn cli(data_dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .current_dir(data_dir)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DURABLE_STORE")
        .output()
        .expect("the host binary runs")
}

impl Host {
    /// Starts a host on `data_dir` with the given store.
    pub fn start(data_dir: &Path, store: Store) -> Host {
        let mut args = vec![];
        if store == Store::Memory {
            args.extend(["--store", "memory:"]);
        }
        Host::start_with(data_dir, &args)
    }

    /// Starts a host on `data_dir` with extra arguments.
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Host {
        Host::launch(data_dir, args, "warn")
    }

    /// Starts a host on `data_dir` that logs at `level`.
    pub fn start_logging(data_dir: &Path, level: &str) -> Host {
        Host::launch(data_dir, &[], level)
    }

    /// Starts a host with extra environment variables.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        Host::launch_with(data_dir, args, "warn", env)
    }

    fn launch(data_dir: &Path, args: &[&str], log_level: &str) -> Host {
        Host::launch_with(data_dir, args, log_level, &[])
    }

    /// Starts a host whose keys come from the data folder's `keys.json` (made on first
    /// start, rotated by `keys rotate`), not from the environment; `key` is the system key
    /// the returned host sends.
    pub fn start_with_keys_file(data_dir: &Path, args: &[&str], key: &str) -> Host {
        let mut host = Host::launch_with(data_dir, args, "info", &[("DURABLE_SYSTEM_KEY", "")]);
        host.http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .default_headers(
                [(
                    reqwest::header::HeaderName::from_static("x-functions-key"),
                    reqwest::header::HeaderValue::from_str(key).expect("a key is a header value"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .expect("http client");
        host
    }

    fn launch_with(data_dir: &Path, args: &[&str], log_level: &str, env: &[(&str, &str)]) -> Host {
        let stderr = data_dir.join(format!(
            "host-{}.stderr",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let mut child = Command::new(binary())
            .current_dir(data_dir)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("DURABLE_LOG", log_level)
            .env("DURABLE_SYSTEM_KEY", SYSTEM_KEY)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("the host starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, address) = mpsc::channel();
        let (found_rpc, rpc_address) = mpsc::channel();
        let (found_grpc, grpc_address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(address) = line.strip_prefix("listening on ") {
                    let _ = found.send(address.to_owned());
                } else if let Some(address) = line.strip_prefix("rpc listening on ") {
                    let _ = found_rpc.send(address.to_owned());
                } else if let Some(address) = line.strip_prefix("grpc listening on ") {
                    let _ = found_grpc.send(address.to_owned());
                }
            }
        });
        let base = match address.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the host did not print its address; stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
        };
        // Printed right after the main address when the host has one.
        let rpc_base = if args.contains(&"--rpc-listen") {
            rpc_address.recv_timeout(Duration::from_secs(10)).ok()
        } else {
            None
        };
        let grpc_address = if args.contains(&"--grpc-listen") {
            grpc_address.recv_timeout(Duration::from_secs(10)).ok()
        } else {
            None
        };
        Host {
            child,
            base,
            rpc_base,
            grpc_address,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .default_headers(
                    [(
                        reqwest::header::HeaderName::from_static("x-functions-key"),
                        reqwest::header::HeaderValue::from_static(SYSTEM_KEY),
                    )]
                    .into_iter()
                    .collect(),
                )
                .build()
                .expect("http client"),
            stderr,
        }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the host wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the host to exit by itself.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the host did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the host with SIGKILL and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn reply(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// POSTs a JSON body (or nothing) to a path or a full URL.
    pub fn post(&self, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self.http.post(self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        Host::reply(request.send().expect("POST"))
    }

    /// POSTs a JSON body to a host that may die answering: `None` when no answer came.
    pub fn try_post(&self, path: &str, body: &Value) -> Option<Reply> {
        Host::try_reply(self.http.post(self.url(path)).json(body))
    }

    /// GETs from a host that may die answering: `None` when no answer came.
    pub fn try_get(&self, path: &str) -> Option<Reply> {
        Host::try_reply(self.http.get(self.url(path)))
    }

    fn try_reply(request: reqwest::blocking::RequestBuilder) -> Option<Reply> {
        let response = request.send().ok()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().ok()?;
        Some(Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    /// POSTs raw bytes with a content type.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Reply {
        let request = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_owned());
        Host::reply(request.send().expect("POST"))
    }

    /// GETs a path with the key: status, content type and the body as text.
    pub fn get_text(&self, path: &str) -> (u16, String, String) {
        let response = self.http.get(self.url(path)).send().expect("GET");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().expect("body"))
    }

    /// Scrapes `/metrics` (checking the answer is OpenMetrics text): the text, and the
    /// samples by series (`name{labels}`).
    pub fn scrape_metrics(&self) -> (String, std::collections::HashMap<String, f64>) {
        let (status, content_type, text) = self.get_text("/metrics");
        assert_eq!(status, 200, "{text}");
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect();
        (text, samples)
    }

    /// GETs a path or a full URL.
    pub fn get(&self, path: &str) -> Reply {
        Host::reply(self.http.get(self.url(path)).send().expect("GET"))
    }

    /// Sends a request with any method, headers as given, and no key unless given.
    pub fn request_without_key(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let client = reqwest::blocking::Client::new();
        let mut request = client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Host::reply(request.send().expect("request"))
    }

    /// Whether the host process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// DELETEs a path.
    pub fn delete(&self, path: &str) -> Reply {
        Host::reply(self.http.delete(self.url(path)).send().expect("DELETE"))
    }

    /// GETs a path with extra headers, keeping the key.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Host::reply(request.send().expect("GET"))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Starts an orchestrator through the management API and returns the check-status body.
    pub fn start_orchestration(
        &self,
        name: &str,
        id: Option<&str>,
        input: Option<&Value>,
    ) -> Value {
        let path = match id {
            Some(id) => format!("/runtime/webhooks/durabletask/orchestrators/{name}/{id}"),
            None => format!("/runtime/webhooks/durabletask/orchestrators/{name}"),
        };
        let reply = self.post(&path, input);
        assert_eq!(reply.status, 202, "start {name}: {}", reply.body);
        reply.body
    }

    /// Polls an instance's status until it is Completed, Failed or Terminated.
    pub fn wait_for_instance(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for_instance_at("/runtime/webhooks/durabletask", id, timeout)
    }

    /// [`Host::wait_for_instance`] with the management API at another path.
    pub fn wait_for_instance_at(&self, webhook_path: &str, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.get(&format!("{webhook_path}/instances/{id}"));
            if reply.status == 200 {
                return reply.body;
            }
            assert!(
                reply.status == 202 || reply.status == 404,
                "unexpected status {} for {id}: {}",
                reply.status,
                reply.body
            );
            assert!(
                Instant::now() < deadline,
                "instance {id} did not finish in {timeout:?}; last status {}\nhost stderr:\n{}",
                reply.body,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 10 ms until it holds; fails the test with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts the host logged that a failpoint fired: the fault was injected as arranged.
pub fn assert_failpoint_fired(host: &Host, what: &str) {
    assert!(
        host.stderr().contains("failpoint reached"),
        "{what}:\n{}",
        host.stderr()
    );
}

/// A fresh, empty data folder.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// The PostgreSQL database of the multi-host tests, from `DURABLE_TEST_POSTGRES_URL`.
/// Unset, the test is skipped with a note, except under `CI=true`, where it fails.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("DURABLE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "{test}: DURABLE_TEST_POSTGRES_URL is not set, and with CI=true the PostgreSQL tests \
             must run, not skip (.ci/run starts a throw-away cluster and sets it)"
        ),
        _ => {
            use std::io::Write;
            static SAID: std::sync::Once = std::sync::Once::new();
            // Once, and past the harness's capture, so the note shows for passing tests too.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\nnote: the PostgreSQL tests ({test} and the others) are skipped: set \
                     DURABLE_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DATABASE to run them"
                );
            });
            None
        }
    }
}

/// A task hub of its own in a PostgreSQL database; its schema is dropped (with `psql`, when
/// installed) when this goes out of scope.
pub struct PostgresHub {
    /// The database URL.
    pub url: String,
    /// The hub's name (`--hub`).
    pub name: String,
}

impl PostgresHub {
    /// A hub name no other test uses, in this process or another.
    pub fn new(url: String) -> PostgresHub {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "mh{}x{}x{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        PostgresHub { url, name }
    }

    /// Starts a host on this hub with its own data folder, leases of `lease_seconds`, and
    /// extra arguments.
    pub fn start_host(&self, data_dir: &Path, lease_seconds: u64, args: &[&str]) -> Host {
        let lease = lease_seconds.to_string();
        let mut all = vec![
            "--store",
            self.url.as_str(),
            "--hub",
            self.name.as_str(),
            "--lease-seconds",
            lease.as_str(),
        ];
        all.extend_from_slice(args);
        Host::start_with(data_dir, &all)
    }

    /// [`PostgresHub::start_host`] with extra environment variables.
    pub fn start_host_with_env(
        &self,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Host {
        let mut all = vec!["--store", self.url.as_str(), "--hub", self.name.as_str()];
        all.extend_from_slice(args);
        Host::start_with_env(data_dir, &all, env)
    }
}

impl Drop for PostgresHub {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .env("PGOPTIONS", "-c lock_timeout=5000")
            .arg(&self.url)
            .args(["-q", "-c"])
            .arg(format!(
                "DROP SCHEMA IF EXISTS durable_{} CASCADE",
                self.name.to_ascii_lowercase()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Host {
    /// The instance's status with its full history (`showHistory`, `showHistoryOutput`).
    pub fn status_with_history(&self, id: &str) -> Value {
        let reply = self.get(&format!(
            "/runtime/webhooks/durabletask/instances/{id}?showHistory=true&showHistoryOutput=true"
        ));
        assert!(
            reply.status == 200 || reply.status == 202,
            "status of {id}: {} {}",
            reply.status,
            reply.body
        );
        reply.body
    }
}

/// Checks an instance's history as the management API shows it: exactly one
/// ExecutionCompleted, each call scheduled once and answered once.
pub fn assert_well_formed(id: &str, status: &Value) {
    let history = status["historyEvents"]
        .as_array()
        .unwrap_or_else(|| panic!("{id} has no history: {status}"));
    let of_type = |t: &str| {
        history
            .iter()
            .filter(move |e| e["EventType"] == t)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of_type("ExecutionCompleted").len(),
        1,
        "{id}: not exactly one ExecutionCompleted: {status}"
    );
    let scheduled: Vec<i64> = of_type("TaskScheduled")
        .iter()
        .map(|e| {
            e["EventId"]
                .as_i64()
                .expect("a TaskScheduled has an EventId")
        })
        .collect();
    let mut answered: Vec<i64> = of_type("TaskCompleted")
        .into_iter()
        .chain(of_type("TaskFailed"))
        .map(|e| {
            e["TaskScheduledId"]
                .as_i64()
                .expect("a completion names its call")
        })
        .collect();
    let mut unique = scheduled.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        scheduled.len(),
        "{id}: a call was scheduled twice: {status}"
    );
    answered.sort_unstable();
    assert_eq!(
        answered, unique,
        "{id}: each call must be answered exactly once: {status}"
    );
}

/// Whether the fault scenarios run at full size (`DURABLE_FAULTS_FULL` set), rather than
/// the reduced size `cargo test` runs them at.
pub fn full_size() -> bool {
    std::env::var_os("DURABLE_FAULTS_FULL").is_some_and(|value| !value.is_empty())
}

/// Runs `check` on the data folder's store and asserts that every invariant holds.
pub fn assert_store_checks_clean(dir: &Path) {
    assert_checks_clean_with(dir, &[]);
}

/// [`assert_store_checks_clean`] on the store that `store_args` name (`--store`, `--hub`).
pub fn assert_checks_clean_with(dir: &Path, store_args: &[&str]) {
    let args = [store_args, &["check", "--json"]].concat();
    let output = cli(dir, &args);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    assert!(
        output.status.success(),
        "check failed: {report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
}
