//! The dashboard in a real browser: headless Chromium signs in with the system key, reads
//! the instance list with its filters and counts, the timelines of a finished HelloCities
//! and of a saga whose step failed, the entities and the functions, and terminates a
//! waiting instance with its button, confirming the question it asks.
//!
//! Needs Chromium (`chromium` from Debian; `.ci/run` installs it, `DURABLE_TEST_CHROMIUM`
//! names another binary). Without it the test is skipped with a note, or fails with CI=true.
//! With `DURABLE_DASHBOARD_SCREENSHOT=PATH` it also saves the HelloCities timeline as a PNG
//! (`scripts/dashboard-screenshot.sh` makes the README's image that way).

use std::path::PathBuf;
use std::time::Duration;

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::json;

use crate::support::{Host, SYSTEM_KEY, Store, data_dir};

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DURABLE_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| paths.iter().map(move |dir| dir.join(name)))
        .find(|path| path.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "Chromium is not installed (.ci/run installs it from Debian's packages)"
        );
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
    }
    found
}

fn text(tab: &Tab, selector: &str) -> String {
    tab.wait_for_element(selector)
        .and_then(|element| element.get_inner_text())
        .unwrap_or_else(|error| panic!("{selector}: {error}"))
}

fn click(tab: &Tab, selector: &str) {
    let element = tab
        .wait_for_element(selector)
        .unwrap_or_else(|error| panic!("{selector}: {error}"));
    element
        .click()
        .unwrap_or_else(|error| panic!("clicking {selector}: {error}"));
}

fn type_into(tab: &Tab, selector: &str, text: &str) {
    let element = tab
        .wait_for_element(selector)
        .unwrap_or_else(|error| panic!("{selector}: {error}"));
    element
        .type_into(text)
        .unwrap_or_else(|error| panic!("typing into {selector}: {error}"));
}

fn count(tab: &Tab, selector: &str) -> usize {
    tab.find_elements(selector)
        .map(|found| found.len())
        .unwrap_or(0)
}

fn open(tab: &Tab, url: &str) {
    tab.navigate_to(url)
        .and_then(|tab| tab.wait_until_navigated())
        .unwrap_or_else(|error| panic!("{url}: {error}"));
}

fn id_path(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[test]
fn the_dashboard_shows_instances_timelines_and_actions_in_a_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = data_dir();
    let host = Host::start(dir.path(), Store::Sqlite);
    let hello = "hello wörld ✓ 'quoted'";
    host.start_orchestration("HelloCities", Some(hello), None);
    host.start_orchestration(
        "OrderSaga",
        Some("saga-1"),
        Some(&json!({"failAt": "CreateShipment"})),
    );
    host.start_orchestration("EventsInOrder", Some("wait for me"), None);
    let signal = host.post(
        "/runtime/webhooks/durabletask/entities/Counter/c1?op=add",
        Some(&json!(5)),
    );
    assert_eq!(signal.status, 202, "{}", signal.body);
    for id in [hello, "saga-1"] {
        let done = host.wait_for_instance(id, Duration::from_secs(30));
        assert_eq!(done["runtimeStatus"], "Completed", "{done}");
    }

    // Without the key: pages send the browser to the sign-in form, actions are refused.
    let anonymous = host.request_without_key(reqwest::Method::GET, "/dashboard", &[]);
    assert_eq!(anonymous.status, 200);
    let refused = host.request_without_key(
        reqwest::Method::POST,
        "/dashboard/instances/wait%20for%20me/terminate",
        &[("content-type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body["message"].is_string(), "{}", refused.body);

    let browser = Browser::new(LaunchOptions {
        path: Some(chromium),
        headless: true,
        sandbox: false,
        window_size: Some((1280, 900)),
        idle_browser_timeout: Duration::from_secs(120),
        ..LaunchOptions::default()
    })
    .expect("Chromium starts");
    let tab = browser.new_tab().expect("a tab");
    tab.set_default_timeout(Duration::from_secs(20));

    open(&tab, &format!("{}/dashboard", host.base));
    assert!(
        tab.get_url().ends_with("/dashboard/login"),
        "{}",
        tab.get_url()
    );
    type_into(&tab, "#key", "not the key");
    click(&tab, "#sign-in");
    assert!(
        text(&tab, "#login-error").contains("not this host's system key"),
        "a wrong key is refused"
    );
    type_into(&tab, "#key", SYSTEM_KEY);
    click(&tab, "#sign-in");
    let list = text(&tab, "#instances");
    for expected in [
        hello,
        "saga-1",
        "wait for me",
        "HelloCities",
        "OrderSaga",
        "Completed",
        "Running",
    ] {
        assert!(list.contains(expected), "{expected} in the list:\n{list}");
    }
    assert_eq!(text(&tab, "#count-Completed b"), "2");
    assert_eq!(text(&tab, "#count-Running b"), "1");
    assert_eq!(text(&tab, "#count-Failed b"), "0");

    open(&tab, &format!("{}/dashboard?status=Running", host.base));
    let running = text(&tab, "#instances");
    assert!(
        running.contains("wait for me") && !running.contains("saga-1"),
        "{running}"
    );
    open(&tab, &format!("{}/dashboard?name=OrderSaga", host.base));
    let sagas = text(&tab, "#instances");
    assert!(
        sagas.contains("saga-1") && !sagas.contains("wait for me"),
        "{sagas}"
    );

    // HelloCities: three greetings, each a completed activity bar.
    open(
        &tab,
        &format!("{}/dashboard/instances/{}", host.base, id_path(hello)),
    );
    assert_eq!(text(&tab, "#status"), "Completed");
    assert!(text(&tab, "h1").contains(hello), "the id shows as it is");
    let timeline = text(&tab, "#timeline");
    assert_eq!(timeline.matches("SayHello").count(), 3, "{timeline}");
    assert_eq!(
        count(&tab, "#timeline .bar.activity.completed"),
        3,
        "{timeline}"
    );
    assert!(text(&tab, "#output").contains("Hello Tokyo!"));
    if let Some(path) = std::env::var_os("DURABLE_DASHBOARD_SCREENSHOT") {
        let png = tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .expect("a screenshot");
        std::fs::write(&path, png).expect("the screenshot is written");
    }

    // The saga: the failed step is a red bar, its compensations follow.
    open(&tab, &format!("{}/dashboard/instances/saga-1", host.base));
    let timeline = text(&tab, "#timeline");
    assert!(
        timeline.contains("CreateShipment") && timeline.contains("CreateShipment failed"),
        "{timeline}"
    );
    assert_eq!(
        count(&tab, "#timeline .bar.activity.failed"),
        1,
        "{timeline}"
    );

    // Terminate asks first, then shows the API's answer.
    open(
        &tab,
        &format!("{}/dashboard/instances/wait%20for%20me", host.base),
    );
    tab.evaluate(
        "window.confirm = (question) => { sessionStorage.setItem('asked', question); return true; }",
        false,
    )
    .expect("confirm is answered");
    click(&tab, "#terminate");
    assert_eq!(text(&tab, "#answer-status"), "202 Accepted");
    let asked = tab
        .evaluate("sessionStorage.getItem('asked')", false)
        .expect("reads")
        .value;
    assert_eq!(asked, Some(json!("Terminate wait for me?")));
    let terminated = host.wait_for_instance("wait for me", Duration::from_secs(30));
    assert_eq!(terminated["runtimeStatus"], "Terminated", "{terminated}");
    // Terminating again: the API's refusal is shown as it is.
    open(
        &tab,
        &format!("{}/dashboard/instances/wait%20for%20me", host.base),
    );
    tab.evaluate("window.confirm = () => true", false)
        .expect("confirm");
    click(&tab, "#terminate");
    assert!(
        text(&tab, "#answer-status").starts_with("410"),
        "finished instances take no terminate"
    );

    open(&tab, &format!("{}/dashboard/entities", host.base));
    let entities = text(&tab, "#entities");
    assert!(
        entities.contains("counter") && entities.contains("c1") && entities.contains('5'),
        "{entities}"
    );
    open(
        &tab,
        &format!("{}/dashboard/entities/Counter/c1", host.base),
    );
    assert_eq!(text(&tab, "#state"), "5");
    assert_eq!(text(&tab, "#queued"), "0");

    open(&tab, &format!("{}/dashboard/functions", host.base));
    let functions = text(&tab, "#functions");
    assert!(
        functions.contains("HelloCities") && functions.contains("hello_cities.rs"),
        "{functions}"
    );
}
