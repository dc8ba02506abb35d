//! An HTTP fuzz run: random requests over every route, with random methods, ids, query
//! parameters, headers and bodies. None may get a 5xx answer or take the host down, and
//! every error answer is JSON. It sends 500 requests, 20,000 at full size
//! (`DURABLE_FAULTS_FULL=1`); `DURABLE_FUZZ_REQUESTS` sets another count,
//! `DURABLE_FUZZ_SEED` the seed.

use std::time::Duration;

use crate::support::{Host, SYSTEM_KEY, Store, assert_store_checks_clean, data_dir, full_size};

/// A small deterministic generator (xorshift64*), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const IDS: &[&str] = &[
    "fuzz-1",
    "fuzz-2",
    "missing",
    "%2E%2E",
    "%2E",
    "a%2Fb",
    "%40counter%40x",
    "%00",
    "%FF%FE",
    "very-long-id-very-long-id-very-long-id-very-long-id-very-long-id-very-long-id-very-long-id-xx",
    "%E2%9C%93",
    "with%20space",
    "",
];

const NAMES: &[&str] = &[
    "HelloCities",
    "ApprovalWorkflow",
    "Counter",
    "NoSuchThing",
    "%2E%2E",
    "Payload%3FProbe",
    "",
];

const QUERIES: &[&str] = &[
    "",
    "?timeout=abc",
    "?timeout=5&pollingInterval=-1",
    "?timeout=99999999999999999999",
    "?showHistory=true&showHistoryOutput=true",
    "?showHistory=maybe",
    "?top=-1",
    "?top=0",
    "?top=99999999999",
    "?runtimeStatus=Running,Nope",
    "?createdTimeFrom=yesterday",
    "?createdTimeFrom=2024-01-01T00:00:00Z&createdTimeTo=2023-01-01T00:00:00Z",
    "?scheduledStartTime=not-a-time",
    "?scheduledStartTime=2999-01-01T00:00:00Z",
    "?reason=%FF",
    "?recursive=yes",
    "?op=add",
    "?op=",
    "?restartWithNewInstanceId=nope",
    "?version=%00",
    "?fetchState=true&includeStateless=true",
    "?code=wrong",
    "?instanceIdPrefix=fuzz",
];

const BODIES: &[&str] = &[
    "",
    "null",
    "{}",
    "[]",
    "42",
    "\"text\"",
    "{\"timeoutSeconds\": 1}",
    "{\"timeoutSeconds\": -1}",
    "{not json",
    "\u{0}\u{1}\u{2}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "{\"a\": \"\\ud800\"}",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin1",
    "",
];

const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];

/// A random path over the host's routes.
fn path(rng: &mut Rng) -> String {
    let w = "/runtime/webhooks/durabletask";
    let id = rng.pick(IDS);
    let name = rng.pick(NAMES);
    let route = match rng.below(16) {
        0 => format!("{w}/orchestrators/{name}"),
        1 => format!("{w}/orchestrators/{name}/{id}"),
        2 => format!("{w}/instances/{id}"),
        3 => format!("{w}/instances"),
        4 => format!("{w}/instances/{id}/raiseEvent/{name}"),
        5 => format!(
            "{w}/instances/{id}/{}",
            rng.pick(&[
                "terminate",
                "suspend",
                "resume",
                "rewind",
                "restart",
                "nothing"
            ])
        ),
        6 => format!("{w}/entities/{name}/{id}"),
        7 => format!("{w}/entities/{name}"),
        8 => format!("{w}/entities"),
        9 => format!("/api/orchestrators/{name}"),
        10 => "/admin/host/status".to_owned(),
        11 => "/admin/host/ping".to_owned(),
        12 => "/metrics".to_owned(),
        13 => format!("/dashboard/instances/{id}"),
        14 => format!(
            "/dashboard/{}",
            rng.pick(&["", "entities", "functions", "login", "nowhere"])
        ),
        _ => format!("/{}", rng.pick(&["", "x", "%ZZ", "runtime", "api"])),
    };
    let trailing = if rng.below(5) == 0 { "/" } else { "" };
    format!("{route}{trailing}{}", rng.pick(QUERIES))
}

#[test]
fn random_requests_over_every_route_never_get_a_5xx_or_take_the_host_down() {
    let requests: usize = std::env::var("DURABLE_FUZZ_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full_size() { 20_000 } else { 500 });
    let seed: u64 = std::env::var("DURABLE_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x5eed_f022);
    let dir = data_dir();
    let mut host = Host::start(dir.path(), Store::Sqlite);
    host.start_orchestration("HelloCities", Some("fuzz-1"), None);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let mut rng = Rng(seed | 1);
    let mut failures = Vec::new();
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..requests {
        let method = rng.pick(METHODS);
        let path = path(&mut rng);
        let body = rng.pick(BODIES);
        let content_type = rng.pick(CONTENT_TYPES);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = http.request(method.clone(), format!("{}{path}", host.base));
        if rng.below(4) != 0 {
            request = request.header("x-functions-key", SYSTEM_KEY);
        }
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        if !body.is_empty() {
            request = request.body(body.to_owned());
        }
        let response = match request.send() {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("#{n} {method} {path}: no answer: {error}"));
                assert!(host.is_running(), "#{n} {method} {path} took the host down");
                continue;
            }
        };
        let status = response.status().as_u16();
        *answers.entry(status).or_default() += 1;
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let is_page = path.starts_with("/dashboard");
        if status >= 500 {
            let text = response.text().unwrap_or_default();
            failures.push(format!(
                "#{n} {method} {path} [{content_type}] {body:?}: {status} {text}"
            ));
        } else if status >= 400 && !json && !is_page && method != reqwest::Method::HEAD {
            failures.push(format!(
                "#{n} {method} {path}: a {status} answer that is not JSON"
            ));
        }
    }
    assert!(host.is_running(), "the host went down");
    let health = host.get("/admin/host/status");
    assert_eq!(health.status, 200, "healthy at the end: {}", health.body);
    assert!(
        failures.is_empty(),
        "{} of {requests} requests (seed {seed}) went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The run reached the routes' work and their refusals, not one error path.
    for expected in [200, 202, 400, 401, 404, 405] {
        assert!(
            answers.contains_key(&expected),
            "no {expected} answer in {requests} requests: {answers:?}"
        );
    }
    drop(host);
    assert_store_checks_clean(dir.path());
}
