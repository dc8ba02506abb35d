//! Golden histories: the recorded history of every example orchestration
//! (`tests/golden/`, written by `scripts/export-golden-histories.sh`) replays on the current
//! code, as a whole (a host with no live copy: after a deploy, or with the cache off) and
//! turn by turn (a host with the cache on). A change that would break running instances
//! fails here, naming the call and its source line.

use std::path::Path;

use durable_examples as _;
use durable_runtime::engine::registry::{FunctionKind, Registry};
use durable_runtime::testing::{ReplayMode, ReplayOptions, replay_with};
use serde_json::Value;

/// Every fixture: its file name, the orchestrator it records, and its JSON.
fn fixtures() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut fixtures: Vec<(String, String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("a readable fixture");
            let status: Value = serde_json::from_str(&text).expect("a fixture is JSON");
            let name = status["name"]
                .as_str()
                .expect("a status names its orchestrator");
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
            (file.unwrap_or_default(), name.to_owned(), text)
        })
        .collect();
    fixtures.sort();
    fixtures
}

#[test]
fn every_golden_history_replays_on_the_current_code_with_the_cache_on_and_off() {
    let fixtures = fixtures();
    assert!(!fixtures.is_empty(), "no golden histories");
    let mut broken = Vec::new();
    for (file, orchestrator, history) in &fixtures {
        for mode in [ReplayMode::Whole, ReplayMode::TurnByTurn] {
            let options = ReplayOptions {
                mode,
                ..ReplayOptions::default()
            };
            if let Err(error) = replay_with(history, orchestrator, &options) {
                broken.push(format!("{file} ({mode:?}): {error}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "running instances would break:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_example_orchestration_has_a_golden_history() {
    let registry = Registry::discover().expect("the examples form a valid registry");
    let recorded: Vec<String> = fixtures().into_iter().map(|(_, name, _)| name).collect();
    let missing: Vec<&str> = registry
        .functions()
        .into_iter()
        .filter(|f| f.kind == FunctionKind::Orchestrator && !recorded.iter().any(|r| r == f.name))
        .map(|f| f.name)
        .collect();
    assert!(
        missing.is_empty(),
        "no golden history for {missing:?}: add a scenario to src/bin/golden_histories.rs and run scripts/export-golden-histories.sh"
    );
}
