//! Durable HTTP calls (`call_http`) from a real host against real local HTTP servers: the
//! 202 polling pattern, retries, bounds, refused destinations, credentials that stay with
//! their origin and out of history, and the cross-app pair with the caller killed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::support::{Host, Store, data_dir};

const TOKEN: &str = "tok-9f8e7d6c5b";
const SECRET: &str = "secret-api-key-31337";

/// A request a target server saw.
#[derive(Debug, Clone)]
struct Seen {
    server: &'static str,
    path: String,
    headers: HashMap<String, String>,
}

#[derive(Clone)]
struct Target {
    name: &'static str,
    /// The other server's base URL (for answers that point across origins).
    other: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl Target {
    fn hit(&self, key: &str) -> u32 {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        let count = hits.entry(key.to_owned()).or_default();
        *count += 1;
        *count
    }
}

/// Two HTTP servers (two origins) on loopback, recording every request.
struct Targets {
    a: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<Mutex<HashMap<String, u32>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Targets {
    fn start() -> Targets {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let other_of_a = Arc::new(Mutex::new(String::new()));
        let other_of_b = Arc::new(Mutex::new(String::new()));
        let serve = |name, other: &Arc<Mutex<String>>| {
            let target = Target {
                name,
                other: other.clone(),
                seen: seen.clone(),
                hits: hits.clone(),
            };
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("a port");
            let address: SocketAddr = listener.local_addr().expect("an address");
            let app = axum::Router::new()
                .route("/{*path}", any(answer))
                .with_state(target);
            runtime.spawn(async move { axum::serve(listener, app).await });
            format!("http://{address}")
        };
        let a = serve("a", &other_of_a);
        let b = serve("b", &other_of_b);
        *other_of_a.lock().unwrap_or_else(PoisonError::into_inner) = b.clone();
        *other_of_b.lock().unwrap_or_else(PoisonError::into_inner) = a.clone();
        Targets {
            a,
            seen,
            hits,
            _runtime: runtime,
        }
    }

    fn seen(&self, path_prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    fn hits(&self, key: &str) -> u32 {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or_default()
    }
}

fn accepted(location: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, location.to_owned()),
            (header::RETRY_AFTER, "1".to_owned()),
        ],
        "still working",
    )
        .into_response()
}

/// The target servers' behaviour, by path.
async fn answer(
    State(target): State<Target>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    target
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            server: target.name,
            path: format!("/{path}"),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
        });
    let other = target
        .other
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["ok"] => (StatusCode::OK, "ok").into_response(),
        ["status", code] => {
            let code = code.parse().unwrap_or(500);
            (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "as asked",
            )
                .into_response()
        }
        // 202 with a relative Location, polled `polls` times before it is done.
        ["async", key] => accepted(&format!("/async/{key}/poll?polls={}", query["polls"])),
        ["async", key, "poll"] => {
            let polls: u32 = query.get("polls").and_then(|p| p.parse().ok()).unwrap_or(1);
            let count = target.hit(key);
            if count < polls {
                accepted(&format!("/async/{key}/poll?polls={polls}"))
            } else {
                (StatusCode::OK, Json(json!({"polls": count}))).into_response()
            }
        }
        // 500 for the first two requests of a key, then 200.
        ["flaky", key] => {
            if target.hit(key) <= 2 {
                (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response()
            } else {
                (StatusCode::OK, "recovered").into_response()
            }
        }
        ["forever"] => {
            target.hit("forever");
            accepted("/forever")
        }
        // Pointing at the other origin, by a 202 and by a redirect.
        ["cross"] => accepted(&format!("{other}/landing")),
        ["redirect"] => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{other}/landing"))],
        )
            .into_response(),
        ["landing"] => (StatusCode::OK, "landed").into_response(),
        _ => (StatusCode::NOT_FOUND, "no such target").into_response(),
    }
}

use axum::Json;

/// Starts `CallHttp` with `input` and waits for it to finish.
fn call(host: &Host, id: &str, input: Value) -> Value {
    host.start_orchestration("CallHttp", Some(id), Some(&input));
    host.wait_for_instance(id, Duration::from_secs(60))
}

fn scheduled_http_requests(host: &Host, id: &str) -> Vec<Value> {
    let status = host.status_with_history(id);
    status["historyEvents"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| {
            e["EventType"] == "TaskScheduled" && e["FunctionName"] == "BuiltIn::HttpActivity"
        })
        .cloned()
        .collect()
}

#[test]
fn durable_http_calls_poll_retry_and_stay_bounded() {
    let targets = Targets::start();
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let a = &targets.a;

    // The 202 pattern: a relative Location, polled after each Retry-After (1s, not the
    // 30s default) until the answer is 200.
    let started = Instant::now();
    let status = call(
        &host,
        "async",
        json!({"method": "POST", "url": format!("{a}/async/job1?polls=2"), "body": "{}"}),
    );
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(status["output"]["statusCode"], 200, "{status}");
    assert_eq!(status["output"]["content"], r#"{"polls":2}"#, "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "Retry-After was not used"
    );
    let requests = scheduled_http_requests(&host, "async");
    assert_eq!(requests.len(), 3, "one POST and two polls: {requests:?}");
    let polls: Vec<&Value> = requests.iter().skip(1).collect();
    for poll in polls {
        assert!(
            poll.to_string().contains("GET") && poll.to_string().contains("/async/job1/poll"),
            "{poll}"
        );
    }
    assert_eq!(targets.hits("job1"), 2, "each poll ran once");

    // Polling off: the 202 is the answer.
    let status = call(
        &host,
        "no-polling",
        json!({"url": format!("{a}/async/job2?polls=1"), "asynchronousPattern": false}),
    );
    assert_eq!(status["output"]["statusCode"], 202, "{status}");
    assert_eq!(targets.hits("job2"), 0);

    // 500 twice, then 200: retried with the status codes to retry.
    let status = call(
        &host,
        "flaky",
        json!({"url": format!("{a}/flaky/k1"), "retry": {"firstIntervalMs": 300, "attempts": 4, "statusCodes": [500]}}),
    );
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    assert_eq!(status["output"]["statusCode"], 200, "{status}");
    assert_eq!(status["output"]["content"], "recovered");
    assert_eq!(targets.hits("k1"), 3);
    assert_eq!(scheduled_http_requests(&host, "flaky").len(), 3);
    // Without a retry policy a 500 is an answer like any other.
    let status = call(&host, "no-retry", json!({"url": format!("{a}/flaky/k2")}));
    assert_eq!(status["output"]["statusCode"], 500, "{status}");

    // A target that never stops answering 202 is bounded by the call's timeout.
    let started = Instant::now();
    let status = call(
        &host,
        "forever",
        json!({"url": format!("{a}/forever"), "timeoutMs": 3000}),
    );
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let failure = status["output"].to_string();
    assert!(
        failure.contains("BuiltIn::HttpActivity")
            && failure.contains("HttpTimeout")
            && failure.contains("timeout of 3s"),
        "{failure}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    let forever_polls = targets.hits("forever");
    assert!((2..=4).contains(&forever_polls), "{forever_polls} requests");
    // ...and by its poll count.
    let status = call(
        &host,
        "forever-counted",
        json!({"url": format!("{a}/forever"), "maxPolls": 2}),
    );
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let failure = status["output"].to_string();
    assert!(
        failure.contains("HttpPollingLimit") && failure.contains("after 2 polls"),
        "{failure}"
    );
    assert_eq!(
        targets.hits("forever"),
        forever_polls + 3,
        "the request and two polls"
    );

    // Refused destinations fail with a clear TaskFailed, without a request.
    for (id, url, kind, expected) in [
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/",
            "HttpDestinationRefused",
            "link-local",
        ),
        (
            "metadata-v6",
            "http://[fd00:ec2::254]/latest/",
            "HttpDestinationRefused",
            "cloud metadata",
        ),
        (
            "file",
            "file:///etc/passwd",
            "HttpDestinationRefused",
            "only http and https",
        ),
        (
            "not-a-url",
            "not a url",
            "InvalidHttpRequest",
            "is not a URL",
        ),
    ] {
        let status = call(&host, id, json!({"url": url}));
        assert_eq!(status["runtimeStatus"], "Failed", "{id}: {status}");
        let failure = status["output"].to_string();
        assert!(
            failure.contains("BuiltIn::HttpActivity")
                && failure.contains(kind)
                && failure.contains(expected),
            "{id}: {failure}"
        );
    }

    // The docs' CheckSiteAvailable.
    for (id, path, code, available) in [
        ("site-up", "/ok", 200, true),
        ("site-missing", "/status/404", 404, false),
    ] {
        host.start_orchestration(
            "CheckSiteAvailable",
            Some(id),
            Some(&json!(format!("{a}{path}"))),
        );
        let status = host.wait_for_instance(id, Duration::from_secs(30));
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"]["statusCode"], code, "{status}");
        assert_eq!(status["output"]["available"], available, "{status}");
    }
}

#[test]
fn credentials_stay_with_the_first_origin_and_out_of_history() {
    let targets = Targets::start();
    let dir = data_dir();
    let host = Host::start_with_env(
        dir.path(),
        &["--http-token", "testapi=env:TEST_API_TOKEN"],
        &[
            ("TEST_API_TOKEN", TOKEN),
            ("TEST_SECRET_HEADER", SECRET),
            ("TEST_LINKED_TOKEN", "linked-token-42"),
            ("DURABLE_LOG", "debug"),
        ],
    );
    let a = &targets.a;
    let credentials = |url: String| {
        json!({
            "url": url,
            "tokenSource": "testapi",
            "headers": {"Accept": "text/plain"},
            "secretHeadersFromEnv": {"X-Api-Key": "TEST_SECRET_HEADER"},
        })
    };

    // A 202 whose Location is on another origin, and a redirect to another origin.
    for (id, path) in [("cross-poll", "/cross"), ("cross-redirect", "/redirect")] {
        let status = call(&host, id, credentials(format!("{a}{path}")));
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(status["output"]["content"], "landed", "{id}: {status}");
    }
    let first = targets.seen("/cross");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].server, "a");
    assert_eq!(first[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(first[0].headers["x-api-key"], SECRET);
    let landed = targets.seen("/landing");
    assert_eq!(landed.len(), 2, "{landed:?}");
    for other_origin in &landed {
        assert_eq!(other_origin.server, "b");
        assert!(
            !other_origin.headers.contains_key("authorization")
                && !other_origin.headers.contains_key("x-api-key"),
            "credentials crossed to another origin: {other_origin:?}"
        );
        assert_eq!(other_origin.headers["accept"], "text/plain");
    }

    // Same origin: the poll carries the credentials again.
    let status = call(
        &host,
        "same-origin",
        credentials(format!("{a}/async/job3?polls=1")),
    );
    assert_eq!(status["output"]["statusCode"], 200, "{status}");
    let polls = targets.seen("/async/job3/poll");
    assert_eq!(polls[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(polls[0].headers["x-api-key"], SECRET);

    // Neither the token nor the secret is in history or the logs; history shows the secret
    // header redacted.
    for id in ["cross-poll", "cross-redirect", "same-origin"] {
        let history = host.status_with_history(id).to_string();
        assert!(
            !history.contains(TOKEN) && !history.contains(SECRET),
            "{history}"
        );
        assert!(
            history.contains("[redacted]") && history.contains("testapi"),
            "{history}"
        );
    }
    let listed = host
        .get("/runtime/webhooks/durabletask/instances?showInput=true")
        .body
        .to_string();
    assert!(!listed.contains(TOKEN), "{listed}");
    let logs = host.stderr();
    assert!(!logs.contains(TOKEN) && !logs.contains(SECRET), "{logs}");

    // A token source linked into the binary with `register_token_source!`.
    let status = call(
        &host,
        "linked-source",
        json!({"url": format!("{a}/status/204"), "tokenSource": "linked"}),
    );
    assert_eq!(status["output"]["statusCode"], 204, "{status}");
    let seen = targets.seen("/status/204");
    assert_eq!(seen[0].headers["authorization"], "Bearer linked-token-42");

    // A token source the host does not have fails the call by name.
    let status = call(
        &host,
        "unknown-source",
        json!({"url": format!("{a}/ok"), "tokenSource": "nope"}),
    );
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let failure = status["output"].to_string();
    assert!(
        failure.contains("TokenSourceNotFound") && failure.contains("testapi"),
        "{failure}"
    );
}

#[test]
fn an_allow_list_restricts_destinations() {
    let targets = Targets::start();
    let port = targets.a.rsplit(':').next().expect("a port").to_owned();
    let dir = data_dir();
    let host = Host::start_with(dir.path(), &["--http-allow", "localhost"]);
    let status = call(
        &host,
        "listed",
        json!({"url": format!("http://localhost:{port}/ok")}),
    );
    assert_eq!(status["output"]["statusCode"], 200, "{status}");
    let status = call(
        &host,
        "unlisted",
        json!({"url": format!("{}/ok", targets.a)}),
    );
    assert_eq!(status["runtimeStatus"], "Failed", "{status}");
    let failure = status["output"].to_string();
    assert!(
        failure.contains("HttpDestinationRefused") && failure.contains("allow-list"),
        "{failure}"
    );
    assert_eq!(
        targets.seen("/ok").len(),
        1,
        "the unlisted host got no request"
    );
    drop(host);

    // A malformed setting is refused at start with a one-line message and exit code 2.
    let output = crate::support::cli(dir.path(), &["--http-token", "oops", "functions"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("--http-token"), "{message}");
}

/// Instances of `OrchestratorB` on a host, by their input's work name.
fn remote_instances(host: &Host) -> HashMap<String, usize> {
    let listed = host.get("/runtime/webhooks/durabletask/instances?showInput=true");
    let mut counts = HashMap::new();
    for instance in listed.body.as_array().expect("a list") {
        if instance["name"] == "OrchestratorB" {
            let name = instance["input"]["name"].as_str().unwrap_or_default();
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    counts
}

#[test]
fn cross_app_orchestrations_survive_a_kill_9_of_the_caller() {
    let dir_a = data_dir();
    let dir_b = data_dir();
    let host_b = Host::start(dir_b.path(), Store::Sqlite);
    let mut host_a = Host::start(dir_a.path(), Store::Sqlite);
    for (orchestrator, id, work) in [
        ("OrchestratorA", "docs-form", "activity form"),
        ("OrchestratorAHttp", "http-form", "http form"),
    ] {
        let input = json!({
            "remoteBaseUrl": host_b.base,
            "work": {"name": work, "seconds": 4},
            "checkIntervalSeconds": 1,
        });
        host_a.start_orchestration(orchestrator, Some(id), Some(&input));
    }
    // Kill A while both wait on B.
    let deadline = Instant::now() + Duration::from_secs(30);
    while remote_instances(&host_b).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "B was never started: {}",
            host_a.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    host_a.kill9();

    let host_a = Host::start(dir_a.path(), Store::Sqlite);
    for (id, work) in [("docs-form", "activity form"), ("http-form", "http form")] {
        let status = host_a.wait_for_instance(id, Duration::from_secs(60));
        assert_eq!(status["runtimeStatus"], "Completed", "{id}: {status}");
        assert_eq!(status["output"], format!("OrchestratorB finished {work}"));
    }
    let counts = remote_instances(&host_b);
    assert_eq!(
        counts,
        HashMap::from([("activity form".to_owned(), 1), ("http form".to_owned(), 1)]),
        "B ran once per call"
    );
}
