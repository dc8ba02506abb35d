//! Hard limits: one request cannot take the host down, health tells the truth about
//! writes, slow clients cannot hold the server, every error is JSON, and the CLI survives a
//! closed pipe.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Host, Store, cli, data_dir};

const W: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(60);

/// The host's resident memory, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Starts `name` through the anonymous `HttpStart` with a raw JSON body and returns its id.
fn start_anonymously(host: &Host, name: &str, body: &str) -> String {
    let reply = host.post_raw(
        &format!("/api/orchestrators/{name}"),
        "application/json",
        body,
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body["id"].as_str().expect("an id").to_owned()
}

#[test]
fn one_runaway_request_cannot_take_the_host_down() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let pid = host.pid();
    let id = start_anonymously(&host, "Unbounded", "18446744073709551615");
    let mut most_memory = 0;
    let mut slowest_ping = Duration::ZERO;
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        most_memory = most_memory.max(resident_bytes(pid));
        let asked = Instant::now();
        let ping = host.get("/admin/host/ping");
        slowest_ping = slowest_ping.max(asked.elapsed());
        assert_eq!(ping.status, 200);
        let status = host.get(&format!("{W}/instances/{id}"));
        if status.body["runtimeStatus"] == "Failed" {
            break status.body;
        }
        assert!(Instant::now() < deadline, "still {}", status.body);
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        failed["output"]["ErrorType"],
        "MaxOrchestrationActionsExceeded"
    );
    let message = failed["output"]["ErrorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("100000"), "names the limit: {message}");
    assert!(
        most_memory < 512 * 1024 * 1024,
        "resident memory reached {} MB",
        most_memory / 1024 / 1024
    );
    assert!(
        slowest_ping < Duration::from_secs(1),
        "ping took {slowest_ping:?}"
    );
    // Nothing of the runaway turn was scheduled.
    let history = host.get(&format!("{W}/instances/{id}?showHistory=true"));
    let scheduled = history.body["historyEvents"]
        .as_array()
        .expect("a history")
        .iter()
        .filter(|e| e["EventType"] == "TaskScheduled")
        .count();
    assert_eq!(scheduled, 0);
    // The example checks its own input.
    let id = start_anonymously(&host, "FanOutFanIn", "2000000");
    let refused = host.wait_for_instance(&id, WAIT);
    assert_eq!(refused["runtimeStatus"], "Failed");
    let message = refused["output"]["ErrorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("at most 10000"), "{message}");
    // And the host still stops cleanly.
    let started = Instant::now();
    let exit = host.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn the_action_limit_is_a_setting() {
    let dir = data_dir();
    let host = Host::start_with(
        dir.path(),
        &["--store", "memory:", "--max-orchestration-actions", "50"],
    );
    let over = host.start_orchestration("FanOutFanIn", Some("over"), Some(&json!(60)));
    assert_eq!(over["id"], "over");
    let failed = host.wait_for_instance("over", WAIT);
    assert_eq!(failed["runtimeStatus"], "Failed");
    assert!(
        failed["output"]["ErrorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("50 actions"),
        "{failed}"
    );
    host.start_orchestration("FanOutFanIn", Some("under"), Some(&json!(40)));
    let done = host.wait_for_instance("under", WAIT);
    assert_eq!(done["output"], json!(780));
}

/// A small file system of its own, mounted for a test and unmounted after.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a 4 MB tmpfs, or `None` when this process may not mount (not root); under
    /// CI=true that fails the test instead.
    fn mount() -> Option<SmallDisk> {
        let dir = data_dir();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).expect("a mount point");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(&path)
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk { path, _dir: dir }),
            other => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot mount a tmpfs for the full-disk test: {other:?}"
                );
                eprintln!("note: the full-disk test is skipped: mounting a tmpfs needs root");
                None
            }
        }
    }

    /// Fills the disk with a file, until it is full.
    fn fill(&self) -> std::path::PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("a filler file");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Waits until `/admin/host/status` answers `code`, and returns its body.
fn health_becomes(host: &Host, code: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = host.get("/admin/host/status");
        if reply.status == code {
            return reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "health stayed {}: {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_says_unhealthy_while_the_store_refuses_writes() {
    const CHAINS: usize = 8;
    const STEPS: u32 = 5;
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let mut host = Host::start(&disk.path, Store::Sqlite);
    host.start_orchestration("HelloCities", Some("before"), None);
    host.wait_for_instance("before", WAIT);
    assert_eq!(health_becomes(&host, 200)["state"], "Running");

    // Work in flight when the disk fills: chains of slow steps, acknowledged before, whose
    // turns and results then cannot be written. The ledger lives off the small disk.
    let ledger_dir = data_dir();
    let ledger = ledger_dir.path().join("ledger.txt");
    let input = json!({"ledger": ledger.to_string_lossy(), "steps": STEPS, "step_ms": 300});
    for chain in 0..CHAINS {
        host.start_orchestration("LedgerChain", Some(&format!("chain-{chain}")), Some(&input));
    }
    let filler = disk.fill();
    let unhealthy = health_becomes(&host, 503);
    assert_eq!(unhealthy["state"], "Unhealthy");
    let reason = unhealthy["store"].as_str().unwrap_or_default();
    assert!(reason.contains("full"), "says why: {reason}");
    let refused = host.post(&format!("{W}/orchestrators/HelloCities/while-full"), None);
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body["message"].is_string());
    assert!(host.is_running(), "the host keeps running");

    // A while full, so the chains' writes are refused for real.
    std::thread::sleep(Duration::from_secs(2));
    assert!(host.is_running(), "the host keeps running");

    std::fs::remove_file(filler).expect("the filler goes");
    assert_eq!(health_becomes(&host, 200)["state"], "Running");
    for chain in 0..CHAINS {
        let id = format!("chain-{chain}");
        let done = host.wait_for_instance(&id, WAIT);
        assert_eq!(done["runtimeStatus"], "Completed", "{id}: {done}");
        assert_eq!(done["output"], json!(15), "{id}: {done}");
        crate::support::assert_well_formed(&id, &host.status_with_history(&id));
    }
    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    for step in 1..=STEPS {
        let runs = text.lines().filter(|l| *l == step.to_string()).count();
        assert!(
            runs >= CHAINS,
            "step {step} ran {runs} times for {CHAINS} chains"
        );
    }
    host.start_orchestration("HelloCities", Some("after"), None);
    assert_eq!(
        host.wait_for_instance("after", WAIT)["runtimeStatus"],
        "Completed"
    );
    host.kill9();
    crate::support::assert_store_checks_clean(&disk.path);
}

/// Sends a raw HTTP/1.1 request and returns the status and the JSON body.
fn raw_request(host: &Host, head: &str) -> (u16, Value) {
    let address = host.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .write_all(format!("{head}\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn every_error_answer_is_json() {
    let dir = data_dir();
    let host = Host::start_with(
        dir.path(),
        &["--store", "memory:", "--max-request-body-bytes", "1024"],
    );
    let key = format!("x-functions-key: {}", crate::support::SYSTEM_KEY);
    let cases = [
        (format!("GET {W}/instances/%FF HTTP/1.1\r\n{key}"), 400),
        (
            "POST /api/orchestrators/%FF HTTP/1.1\r\nContent-Length: 0".to_owned(),
            400,
        ),
        (
            format!("PUT {W}/instances/x HTTP/1.1\r\n{key}\r\nContent-Length: 0"),
            405,
        ),
        (
            format!("POST {W}/orchestrators/HelloCities/. HTTP/1.1\r\n{key}\r\nContent-Length: 0"),
            400,
        ),
        (
            format!("POST {W}/orchestrators/HelloCities/.. HTTP/1.1\r\n{key}\r\nContent-Length: 0"),
            400,
        ),
        ("GET /nowhere HTTP/1.1".to_owned(), 404),
    ];
    for (head, expected) in &cases {
        let (status, body) = raw_request(&host, head);
        assert_eq!(status, *expected, "{head}: {body}");
        assert!(
            body["message"].is_string(),
            "{head}: a JSON message, not {body}"
        );
    }
    let big = format!("[\"{}\"]", "x".repeat(4096));
    let too_big = host.post_raw(
        &format!("{W}/orchestrators/HelloCities"),
        "application/json",
        &big,
    );
    assert_eq!(too_big.status, 413);
    assert!(too_big.body["message"].is_string(), "{}", too_big.body);
    let wrong_type = host.post_raw(
        &format!("{W}/orchestrators/HelloCities"),
        "text/plain",
        "hi",
    );
    assert_eq!(wrong_type.status, 415);
    assert!(wrong_type.body["message"].is_string());
    // A dot id is refused by the CLI too, with one line and exit code 2.
    let refused = cli(dir.path(), &["start", "HelloCities", "--id", ".."]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("`.` or `..`"));
}

#[test]
fn slow_clients_are_cut_off_and_connections_are_capped() {
    let dir = data_dir();
    let host = Host::start_with(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--header-read-timeout-seconds",
            "1",
            "--max-connections",
            "2",
        ],
    );
    let address = host.base.trim_start_matches("http://").to_owned();
    // Two clients send half a request head and stop: they hold both connections.
    let mut slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&address).expect("connects");
            stream
                .write_all(b"GET /admin/host/ping HTTP/1.1\r\nHost: slow\r\n")
                .expect("half a head");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // A third client waits for a free connection: at least until the head deadline cuts
    // one of the slow ones.
    let asked = Instant::now();
    let ping = host.get("/admin/host/ping");
    let waited = asked.elapsed();
    assert_eq!(ping.status, 200);
    assert!(
        waited >= Duration::from_millis(500),
        "not capped: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
    // The slow clients were disconnected.
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let mut rest = Vec::new();
        let closed = stream.read_to_end(&mut rest);
        assert!(closed.is_ok() || closed.is_err(), "read ends");
        let text = String::from_utf8_lossy(&rest);
        assert!(
            !text.contains("200 OK"),
            "a half-sent head is never served: {text}"
        );
    }
}

#[test]
fn the_cli_ends_quietly_when_its_reader_goes_away() {
    let dir = data_dir();
    for i in 0..30 {
        let started = cli(
            dir.path(),
            &["start", "HelloCities", "--id", &format!("pipe-{i}")],
        );
        assert!(started.status.success(), "{started:?}");
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_test-host"))
        .current_dir(dir.path())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the CLI runs");
    // The reader goes away before the command writes (like `| head` that is done).
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

/// A compact JSON object `{"pad": "x..", "what": what}` of exactly `bytes` bytes.
fn input_of(what: &str, bytes: usize) -> Value {
    let bare = serde_json::to_vec(&serde_json::json!({"pad": "", "what": what}))
        .expect("JSON")
        .len();
    serde_json::json!({"pad": "x".repeat(bytes - bare), "what": what})
}

/// A JSON string of exactly `bytes` bytes.
fn text_of(bytes: usize) -> Value {
    Value::String("x".repeat(bytes - 2))
}

#[test]
fn payloads_at_the_limit_round_trip_and_one_byte_over_is_refused_everywhere() {
    const LIMIT: usize = 2048;
    let dir = data_dir();
    let limit = LIMIT.to_string();
    let host = Host::start_with(dir.path(), &["--max-payload-bytes", limit.as_str()]);
    let start = |id: &str, input: &Value| {
        host.post(&format!("{W}/orchestrators/PayloadProbe/{id}"), Some(input))
    };

    // The start input.
    let at_limit = input_of("event", LIMIT);
    assert_eq!(serde_json::to_vec(&at_limit).expect("JSON").len(), LIMIT);
    assert_eq!(start("at-limit", &at_limit).status, 202);
    let over = start("over-limit", &input_of("event", LIMIT + 1));
    assert_eq!(over.status, 413, "{}", over.body);
    let message = over.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2048") && message.contains("input"),
        "{message}"
    );
    assert_eq!(
        host.get(&format!("{W}/instances/over-limit")).status,
        404,
        "nothing written"
    );

    // Event data: one byte over is refused, and the one at the limit arrives unchanged.
    let event = format!("{W}/instances/at-limit/raiseEvent/Data");
    let refused = host.post(&event, Some(&text_of(LIMIT + 1)));
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert_eq!(host.post(&event, Some(&text_of(LIMIT))).status, 202);
    let done = host.wait_for_instance("at-limit", WAIT);
    assert_eq!(
        done["output"],
        text_of(LIMIT),
        "the event's data round-trips"
    );
    assert_eq!(done["input"], at_limit, "the input round-trips");

    // An entity operation's input from outside.
    let signal = host.post(
        &format!("{W}/entities/Blob/outside?op=fill"),
        Some(&text_of(LIMIT + 1)),
    );
    assert_eq!(signal.status, 413, "{}", signal.body);

    // Inside: an activity result, an entity's state, the output, the custom status.
    let probe = |what: &str, bytes: usize| {
        let id = format!("{what}-{bytes}");
        let input = serde_json::json!({"what": what, "bytes": bytes});
        assert_eq!(start(&id, &input).status, 202);
        host.wait_for_instance(&id, WAIT)
    };
    for what in ["activity", "entity"] {
        let fits = probe(what, LIMIT);
        assert_eq!(
            fits["output"],
            serde_json::json!({"bytes": LIMIT}),
            "{what}: {fits}"
        );
        let over = probe(what, LIMIT + 1);
        assert_eq!(
            over["output"]["failed"], "PayloadTooLarge",
            "{what}: {over}"
        );
        let message = over["output"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("2048"), "{what}: {message}");
    }
    let fits = probe("activityInput", LIMIT);
    assert_eq!(
        fits["output"],
        serde_json::json!({"bytes": LIMIT}),
        "{fits}"
    );
    let over = probe("activityInput", LIMIT + 1);
    assert_eq!(over["runtimeStatus"], "Failed", "{over}");
    assert_eq!(over["output"]["ErrorType"], "PayloadTooLarge", "{over}");
    let message = over["output"]["ErrorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("call_activity(\"Echo\")") && message.contains("tests/src/lib.rs:"),
        "names the call and its line: {message}"
    );
    let fits = probe("output", LIMIT);
    assert_eq!(fits["output"], text_of(LIMIT));
    let over = probe("output", LIMIT + 1);
    assert_eq!(over["runtimeStatus"], "Failed", "{over}");
    assert_eq!(over["output"]["ErrorType"], "PayloadTooLarge", "{over}");
    let fits = probe("customStatus", LIMIT);
    assert_eq!(fits["customStatus"], text_of(LIMIT));
    let over = probe("customStatus", LIMIT + 1);
    assert_eq!(over["runtimeStatus"], "Failed", "{over}");
    assert_eq!(over["output"]["ErrorType"], "PayloadTooLarge", "{over}");
    assert!(
        over["customStatus"].is_null(),
        "the oversized status was not kept: {over}"
    );
    drop(host);
    crate::support::assert_store_checks_clean(dir.path());
}

#[test]
fn the_payload_limit_is_checked_at_start() {
    let dir = data_dir();
    let output = crate::support::cli(dir.path(), &["--max-payload-bytes", "10", "list"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-payload-bytes"));
}
