//! The management surface as an anonymous caller, a holder of one instance's URLs and an
//! operator see it: which credential opens which route, where answer URLs point, and key
//! rotation.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Host, SYSTEM_KEY, Store, cli, data_dir};

const W: &str = "/runtime/webhooks/durabletask";
const WAIT: Duration = Duration::from_secs(30);

/// The `code` a URL carries.
fn code_of(url: &str) -> String {
    url.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or_default()
        .to_owned()
}

/// Starts `name` as `id` and returns the token its check-status URLs carry.
fn start(host: &Host, name: &str, id: &str, input: Option<&Value>) -> String {
    let started = host.start_orchestration(name, Some(id), input);
    let token = code_of(started["statusQueryGetUri"].as_str().expect("a status URL"));
    assert!(token.starts_with("it_"), "an instance token: {token}");
    token
}

/// Waits until the instance has the status.
fn wait_for_status(host: &Host, id: &str, status: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let reply = host.get(&format!("{W}/instances/{id}"));
        if reply.body["runtimeStatus"] == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never became {status}: {}",
            reply.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status_of(host: &Host, id: &str) -> Value {
    let reply = host.get(&format!("{W}/instances/{id}"));
    if reply.status == 404 {
        return Value::Null;
    }
    reply.body["runtimeStatus"].clone()
}

/// One route and the instance whose state a refused call must leave alone.
struct Route {
    method: Method,
    path: String,
    /// The instance the route is about (its token opens it), `None` for hub routes.
    own: Option<&'static str>,
    /// What an accepted call answers.
    accepted: u16,
}

#[test]
fn every_management_route_takes_exactly_the_credentials_that_open_it() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let function_key = {
        let keys: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("keys.json")).expect("keys.json"),
        )
        .expect("JSON");
        keys["functionKey"]
            .as_str()
            .expect("a function key")
            .to_owned()
    };
    let waiting = json!({"timeoutSeconds": 600});
    let mut tokens = std::collections::HashMap::new();
    for (id, name, input) in [
        ("status-me", "HelloCities", None),
        ("raise-me", "ApprovalWorkflow", Some(&waiting)),
        ("terminate-me", "ApprovalWorkflow", Some(&waiting)),
        ("suspend-me", "ApprovalWorkflow", Some(&waiting)),
        ("resume-me", "ApprovalWorkflow", Some(&waiting)),
        ("rewind-me", "UnhandledActivityFailure", None),
        ("restart-me", "HelloCities", None),
        ("purge-me", "HelloCities", None),
    ] {
        tokens.insert(id, start(&host, name, id, input));
    }
    for id in ["status-me", "restart-me", "purge-me"] {
        wait_for_status(&host, id, "Completed");
    }
    wait_for_status(&host, "rewind-me", "Failed");
    for id in ["raise-me", "terminate-me", "suspend-me", "resume-me"] {
        wait_for_status(&host, id, "Running");
    }
    assert_eq!(
        host.post(&format!("{W}/instances/resume-me/suspend"), None)
            .status,
        202
    );
    wait_for_status(&host, "resume-me", "Suspended");
    let routes = [
        Route {
            method: Method::GET,
            path: format!("{W}/instances/status-me"),
            own: Some("status-me"),
            accepted: 200,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/raise-me/raiseEvent/Nudge"),
            own: Some("raise-me"),
            accepted: 202,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/terminate-me/terminate?reason=done"),
            own: Some("terminate-me"),
            accepted: 202,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/suspend-me/suspend"),
            own: Some("suspend-me"),
            accepted: 202,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/resume-me/resume"),
            own: Some("resume-me"),
            accepted: 202,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/rewind-me/rewind"),
            own: Some("rewind-me"),
            accepted: 202,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/instances/restart-me/restart?restartWithNewInstanceId=false"),
            own: Some("restart-me"),
            accepted: 202,
        },
        Route {
            method: Method::DELETE,
            path: format!("{W}/instances/purge-me"),
            own: Some("purge-me"),
            accepted: 200,
        },
        Route {
            method: Method::GET,
            path: format!("{W}/instances"),
            own: None,
            accepted: 200,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/orchestrators/HelloCities/started-by-a-stranger"),
            own: None,
            accepted: 202,
        },
        Route {
            method: Method::DELETE,
            path: format!("{W}/instances?createdTimeFrom=2000-01-01T00:00:00Z"),
            own: None,
            accepted: 200,
        },
        Route {
            method: Method::POST,
            path: format!("{W}/entities/counter/stranger?op=add"),
            own: None,
            accepted: 202,
        },
        Route {
            method: Method::GET,
            path: format!("{W}/entities"),
            own: None,
            accepted: 200,
        },
        Route {
            method: Method::GET,
            path: "/admin/host/status".to_owned(),
            own: None,
            accepted: 200,
        },
    ];
    let before: Vec<(&str, Value)> = tokens
        .keys()
        .map(|id| (*id, status_of(&host, id)))
        .collect();
    let count = |host: &Host| {
        host.get(&format!("{W}/instances?top=1000"))
            .body
            .as_array()
            .map_or(0, Vec::len)
    };
    let instances_before = count(&host);
    for route in &routes {
        let other_token = match route.own {
            Some("status-me") => tokens["raise-me"].clone(),
            _ => tokens["status-me"].clone(),
        };
        let mut refusals: Vec<(&str, Option<String>, u16)> = vec![
            ("no credential", None, 401),
            ("a wrong key", Some("not-a-key".to_owned()), 401),
            ("the function key", Some(function_key.clone()), 403),
            ("another instance's token", Some(other_token), 403),
        ];
        if route.own.is_none() {
            refusals.push((
                "an instance token on a hub route",
                Some(tokens["status-me"].clone()),
                403,
            ));
        }
        for (what, credential, expected) in refusals {
            for in_query in [false, true] {
                let (path, headers) = match (&credential, in_query) {
                    (Some(credential), true) => {
                        let glue = if route.path.contains('?') { '&' } else { '?' };
                        (format!("{}{glue}code={credential}", route.path), vec![])
                    }
                    (Some(credential), false) => (
                        route.path.clone(),
                        vec![("x-functions-key", credential.as_str())],
                    ),
                    (None, _) => (route.path.clone(), vec![]),
                };
                let reply = host.request_without_key(route.method.clone(), &path, &headers);
                assert_eq!(
                    reply.status, expected,
                    "{} {} with {what}: {}",
                    route.method, route.path, reply.body
                );
                let message = reply.body["message"].as_str().expect("a JSON message");
                assert!(!message.contains(SYSTEM_KEY), "{message}");
                assert!(!message.contains("it_"), "{message}");
            }
        }
    }
    // Nothing refused changed anything.
    for (id, status) in &before {
        assert_eq!(&status_of(&host, id), status, "{id} after the refusals");
    }
    assert_eq!(
        count(&host),
        instances_before,
        "no instance started or purged"
    );
    assert_eq!(
        host.get(&format!("{W}/entities/counter/stranger")).status,
        404,
        "no entity signalled"
    );
    // Each instance's own token opens its routes; the system key opens everything (the
    // hub routes last: one of them purges).
    let accept = |route: &Route, credential: &str| {
        let reply = host.request_without_key(
            route.method.clone(),
            &route.path,
            &[("x-functions-key", credential)],
        );
        assert_eq!(
            reply.status, route.accepted,
            "{} {}: {}",
            route.method, route.path, reply.body
        );
    };
    for route in routes.iter().filter(|r| r.own.is_some()) {
        accept(route, &tokens[route.own.unwrap_or_default()]);
    }
    wait_for_status(&host, "terminate-me", "Terminated");
    wait_for_status(&host, "suspend-me", "Suspended");
    wait_for_status(&host, "raise-me", "Running");
    wait_for_status(&host, "resume-me", "Running");
    assert_eq!(status_of(&host, "purge-me"), Value::Null, "purged");
    // The system key opens an instance route too.
    assert_eq!(
        host.request_without_key(
            Method::GET,
            &format!("{W}/instances/rewind-me?code={SYSTEM_KEY}"),
            &[]
        )
        .status
            / 100,
        2
    );
    for route in routes.iter().filter(|r| r.own.is_none()) {
        accept(route, SYSTEM_KEY);
    }
}

#[test]
fn a_token_opens_its_instance_whatever_its_id_looks_like() {
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Memory);
    let reply = host.post(
        &format!("{W}/orchestrators/HelloCities/order%2042%20%E2%9C%93"),
        None,
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let status_uri = reply.body["statusQueryGetUri"]
        .as_str()
        .expect("a status URL");
    let followed = host.request_without_key(Method::GET, status_uri, &[]);
    assert_eq!(followed.status / 100, 2, "{}", followed.body);
    assert_eq!(followed.body["instanceId"], "order 42 ✓");
}

/// Starts HelloCities through the anonymous `HttpStart` with `headers` and returns the
/// status URL and the `Location` header.
fn start_anonymously(host: &Host, headers: &[(&str, &str)]) -> (String, String) {
    let reply = host.request_without_key(Method::POST, "/api/orchestrators/HelloCities", headers);
    assert_eq!(reply.status, 202, "{}", reply.body);
    let status = reply.body["statusQueryGetUri"]
        .as_str()
        .expect("a status URL")
        .to_owned();
    let location = reply.headers["location"]
        .to_str()
        .expect("a location")
        .to_owned();
    (status, location)
}

#[test]
fn answer_urls_ignore_a_spoofed_host_unless_a_trusted_proxy_sends_it() {
    let spoofed = [("host", "evil.example")];
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Memory);
    let (status, location) = start_anonymously(&host, &spoofed);
    for url in [&status, &location] {
        assert!(
            url.starts_with(&format!("{}{W}/instances/", host.base)),
            "{url}"
        );
        assert!(
            !url.contains(SYSTEM_KEY),
            "no system key for an anonymous caller: {url}"
        );
    }
    let followed = host.request_without_key(Method::GET, &status, &[]);
    assert_eq!(followed.status / 100, 2, "the URL works as handed out");
    // The token does not open the rest of the hub.
    let token = code_of(&status);
    let listing =
        host.request_without_key(Method::GET, &format!("{W}/instances?code={token}"), &[]);
    assert_eq!(listing.status, 403);

    let dir = data_dir();
    let configured = Host::start_with(
        dir.path(),
        &[
            "--store",
            "memory:",
            "--public-url",
            "https://durable.example.com/",
        ],
    );
    let (status, location) = start_anonymously(&configured, &spoofed);
    for url in [&status, &location] {
        assert!(
            url.starts_with(&format!("https://durable.example.com{W}/instances/")),
            "{url}"
        );
    }

    let dir = data_dir();
    let proxied = Host::start_with(
        dir.path(),
        &["--store", "memory:", "--trusted-proxy", "127.0.0.1"],
    );
    let (status, _) = start_anonymously(
        &proxied,
        &[
            ("host", "10.1.1.1:7071"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-proto", "https"),
        ],
    );
    assert!(
        status.starts_with(&format!("https://api.example.com{W}/")),
        "{status}"
    );
    let (status, _) = start_anonymously(&proxied, &spoofed);
    assert!(
        status.starts_with(&format!("http://evil.example{W}/")),
        "a trusted proxy's Host is believed: {status}"
    );

    let dir = data_dir();
    let classic = Host::start_with(
        dir.path(),
        &["--store", "memory:", "--url-credential", "system-key"],
    );
    let (status, _) = start_anonymously(&classic, &spoofed);
    assert_eq!(
        code_of(&status),
        SYSTEM_KEY,
        "the Durable Functions behaviour, when asked"
    );
    assert!(status.starts_with(&classic.base), "{status}");
}

/// Reads the keys file's keys with the CLI.
fn keys(dir: &std::path::Path) -> (String, String) {
    let printed = cli(dir, &["keys", "--json"]);
    assert!(printed.status.success(), "{printed:?}");
    let keys: Value = serde_json::from_slice(&printed.stdout).expect("JSON keys");
    (
        keys["systemKey"].as_str().expect("system key").to_owned(),
        keys["functionKey"]
            .as_str()
            .expect("function key")
            .to_owned(),
    )
}

#[test]
fn rotated_keys_and_tokens_are_refused_at_once() {
    let dir = data_dir();
    let (system, function) = keys(dir.path());
    let host = Host::start_with_keys_file(dir.path(), &["--store", "memory:"], &system);
    let token = start(&host, "HelloCities", "before-rotation", None);
    let status = |credential: &str| {
        host.request_without_key(
            Method::GET,
            &format!("{W}/instances/before-rotation"),
            &[("x-functions-key", credential)],
        )
        .status
    };
    let whoami = |credential: &str| {
        host.request_without_key(
            Method::GET,
            "/api/whoami/function",
            &[("x-functions-key", credential)],
        )
        .status
    };
    assert_eq!(status(&token) / 100, 2);
    assert_eq!(status(&system) / 100, 2);
    assert_eq!(whoami(&function), 200);

    let rotated = cli(dir.path(), &["keys", "rotate", "--function"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let (same_system, new_function) = keys(dir.path());
    assert_eq!(same_system, system);
    assert_eq!(whoami(&function), 401, "the old function key, at once");
    assert_eq!(whoami(&new_function), 200);
    assert_eq!(
        status(&token) / 100,
        2,
        "tokens stay: the system key did not change"
    );

    let rotated = cli(dir.path(), &["keys", "rotate", "--system"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let (new_system, _) = keys(dir.path());
    assert_ne!(new_system, system);
    assert_eq!(status(&system), 401, "the old system key, at once");
    assert_eq!(status(&token), 403, "the old secret's token, at once");
    assert_eq!(status(&new_system) / 100, 2);
    let started = host.request_without_key(
        Method::POST,
        &format!("{W}/orchestrators/HelloCities/after-rotation"),
        &[("x-functions-key", new_system.as_str())],
    );
    let new_token = code_of(
        started.body["statusQueryGetUri"]
            .as_str()
            .expect("a status URL"),
    );
    let followed = host.request_without_key(
        Method::GET,
        &format!("{W}/instances/after-rotation"),
        &[("x-functions-key", new_token.as_str())],
    );
    assert_eq!(followed.status / 100, 2);
    // Keys and tokens stay out of the logs.
    let logs = host.stderr();
    for secret in [
        &system,
        &new_system,
        &function,
        &new_function,
        &token,
        &new_token,
    ] {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the logs:\n{logs}"
        );
    }
}

#[test]
fn a_grace_period_keeps_old_tokens_for_a_while() {
    let dir = data_dir();
    let (system, _) = keys(dir.path());
    let host = Host::start_with_keys_file(
        dir.path(),
        &["--store", "memory:", "--token-grace-seconds", "600"],
        &system,
    );
    let token = start(&host, "HelloCities", "graced", None);
    let rotated = cli(dir.path(), &["keys", "rotate"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let reply = host.request_without_key(
        Method::GET,
        &format!("{W}/instances/graced"),
        &[("x-functions-key", token.as_str())],
    );
    assert_eq!(
        reply.status / 100,
        2,
        "within the grace period: {}",
        reply.body
    );
    let reply = host.request_without_key(
        Method::GET,
        &format!("{W}/instances/graced"),
        &[("x-functions-key", system.as_str())],
    );
    assert_eq!(reply.status, 401, "keys have no grace period");
}

#[test]
fn a_key_from_the_environment_is_not_rotated_in_the_file() {
    let dir = data_dir();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_test-host"))
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["keys", "rotate", "--system"])
        .env("DURABLE_SYSTEM_KEY", "from-the-environment")
        .output()
        .expect("the CLI runs");
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("DURABLE_SYSTEM_KEY"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
}
