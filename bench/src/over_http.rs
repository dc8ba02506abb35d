//! W1 and W3 over HTTP: this binary serves a real host process (`durable-bench host ...`,
//! the bench's functions linked in) and drives it like a user's program would, each
//! request "start HelloCitiesBench and wait for its output"
//! (`POST /runtime/webhooks/durabletask/orchestrators/HelloCitiesBench?timeout=30` with the
//! system key), over keep-alive connections. `--url` sends the same requests to a peer's
//! endpoint instead, so both are measured by one load tool.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use crate::workloads::{Report, StoreKind, Workload, greetings, millis, percentile, rate, round3};

/// The system key the bench's host is started with.
const KEY: &str = "durable-bench-key";

/// A host process on a free loopback port, stopped when dropped.
struct HostProcess {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl HostProcess {
    fn start(store: &StoreKind) -> Result<HostProcess, String> {
        let data = tempfile::tempdir().map_err(|e| format!("cannot make a temp folder: {e}"))?;
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let mut command = Command::new(exe);
        command
            .args(["host", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("DURABLE_SYSTEM_KEY", KEY)
            .env("DURABLE_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        match store {
            StoreKind::Sqlite => {}
            StoreKind::Memory => {
                command.args(["--store", "memory:"]);
            }
            StoreKind::Postgres(url) => {
                let hub = format!("bench{}", std::process::id());
                command.args(["--store", url, "--hub", &hub]);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the host: {e}"))?;
        let stdout = child.stdout.take().ok_or("the host has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        break address.to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    return Err("the host exited before it listened".to_owned());
                }
            }
        };
        // Keep reading so the host never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(HostProcess {
            child,
            base,
            _data: data,
        })
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One "start and wait" request; its output must be the three greetings.
async fn start_and_wait(http: &reqwest::Client, url: &str, expected: &Value) -> Result<(), String> {
    let response = http
        .post(url)
        .header("x-functions-key", KEY)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("the answer is not JSON: {e}"))?;
    if status != reqwest::StatusCode::OK || &body != expected {
        return Err(format!(
            "expected 200 with {expected}, got {status} with {body}"
        ));
    }
    Ok(())
}

/// Runs W1 or W3 over HTTP against a host on `store`, with `clients` concurrent clients
/// for W1. With `external`, the requests go to that URL instead (a peer's endpoint that
/// runs the same chain of three and answers 200 with the three greetings), and no host is
/// started.
pub async fn run(
    workload: Workload,
    store: &StoreKind,
    n: u64,
    clients: usize,
    external: Option<&str>,
) -> Result<Report, String> {
    let (host, url) = match external {
        Some(url) => (None, url.to_owned()),
        None => {
            let host = HostProcess::start(store)?;
            let url = format!(
                "{}/runtime/webhooks/durabletask/orchestrators/HelloCitiesBench?timeout=30",
                host.base
            );
            (Some(host), url)
        }
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients.max(1))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let expected = greetings();
    // One request first: the host then starts later instances of the orchestrator eagerly,
    // as it does once one has completed.
    start_and_wait(&http, &url, &expected).await?;
    let mut report = match workload {
        Workload::W1 => {
            let permits = Arc::new(Semaphore::new(clients.max(1)));
            let started = Instant::now();
            let requests = (0..n).map(|_| {
                let (http, url, expected, permits) =
                    (http.clone(), url.clone(), expected.clone(), permits.clone());
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                    start_and_wait(&http, &url, &expected).await
                })
            });
            for request in futures::future::join_all(requests).await {
                request.map_err(|e| format!("a client task failed: {e}"))??;
            }
            let wall = started.elapsed();
            let mut report = Report::new(Workload::W1, store, n, wall);
            report.orch_per_s = rate(n, wall);
            report.steps_per_s = rate(3 * n, wall);
            report
        }
        Workload::W3 => {
            let mut latencies = Vec::new();
            let started = Instant::now();
            for _ in 0..n {
                let asked = Instant::now();
                start_and_wait(&http, &url, &expected).await?;
                latencies.push(millis(asked.elapsed()));
            }
            let wall = started.elapsed();
            latencies.sort_by(f64::total_cmp);
            let mut report = Report::new(Workload::W3, store, n, wall);
            report.steps_per_s = rate(3 * n, wall);
            report.p50_ms = Some(round3(percentile(&latencies, 0.50)));
            report.p99_ms = Some(round3(percentile(&latencies, 0.99)));
            report
        }
        other => {
            return Err(format!(
                "{} does not run over HTTP; only w1 and w3 do",
                other.name()
            ));
        }
    };
    report.via = "http";
    report.url = external.map(str::to_owned);
    if external.is_some() {
        // The peer keeps its own store.
        report.store = "peer";
    }
    drop(host);
    Ok(report)
}
