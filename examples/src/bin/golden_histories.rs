//! Exports the golden histories: runs every example orchestration to its end on the test
//! host (memory store, manual clock, test doubles for the calls that leave the process)
//! and writes each instance's status with its whole history to `DIR/<instance id>.json`.
//! The `golden` test replays them against the current code, so a change that would break
//! running instances fails CI.
//!
//! `scripts/export-golden-histories.sh` runs it; commit what changed only when the change
//! to the histories is meant (a new example, or a change old instances may not see).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use durable_examples as _;
use durable_runtime::testing::TestHost;
use durable_runtime::{EntityId, StatusOptions};
use serde_json::{Value, json};

/// What a scenario does after the start, in order.
enum Step {
    /// Moves the clock (timers fire).
    Advance(Duration),
    /// Raises an event on an instance.
    Raise(&'static str, &'static str, Value),
    /// Signals an entity operation (before the start's instance needs it).
    Signal(&'static str, &'static str, &'static str, Value),
}

/// One instance to run and export.
struct Scenario {
    /// Its instance id, and the fixture's file name.
    id: &'static str,
    orchestrator: &'static str,
    input: Value,
    /// Done before the start.
    before: Vec<Step>,
    /// Done after the start.
    after: Vec<Step>,
    /// Further instances it creates to export too (sub-orchestrations).
    also: Vec<&'static str>,
}

impl Scenario {
    fn new(id: &'static str, orchestrator: &'static str, input: Value) -> Scenario {
        Scenario {
            id,
            orchestrator,
            input,
            before: Vec::new(),
            after: Vec::new(),
            also: Vec::new(),
        }
    }

    fn before(mut self, step: Step) -> Scenario {
        self.before.push(step);
        self
    }

    fn then(mut self, step: Step) -> Scenario {
        self.after.push(step);
        self
    }

    fn also(mut self, id: &'static str) -> Scenario {
        self.also.push(id);
        self
    }
}

fn scenarios() -> Vec<Scenario> {
    use Step::{Advance, Raise, Signal};
    let minute = Duration::from_secs(60);
    let remote =
        json!({"remoteBaseUrl": "http://b.example", "work": {"name": "report", "seconds": 5}});
    vec![
        Scenario::new("golden-HelloCities", "HelloCities", Value::Null),
        Scenario::new("golden-HelloTyped", "HelloTyped", Value::Null),
        Scenario::new("golden-FanOutFanIn", "FanOutFanIn", json!(5)),
        Scenario::new(
            "golden-GetWeatherOrchestrator",
            "GetWeatherOrchestrator",
            Value::Null,
        ),
        Scenario::new(
            "golden-GetCourseRecommendations",
            "GetCourseRecommendations",
            json!(2),
        ),
        Scenario::new(
            "golden-ApprovalWorkflow-approved",
            "ApprovalWorkflow",
            json!({"timeoutSeconds": 3600}),
        )
        .then(Raise(
            "golden-ApprovalWorkflow-approved",
            "Approval",
            json!(true),
        )),
        Scenario::new(
            "golden-ApprovalWorkflow-timed-out",
            "ApprovalWorkflow",
            json!({"timeoutSeconds": 3600}),
        )
        .then(Advance(Duration::from_secs(3601))),
        Scenario::new(
            "golden-Monitor",
            "Monitor",
            json!({"checks": 3, "intervalSeconds": 60}),
        )
        .then(Advance(minute))
        .then(Advance(minute)),
        Scenario::new(
            "golden-ProvisionNewDevices",
            "ProvisionNewDevices",
            json!(["d1", "d2"]),
        )
        .then(Raise(
            "golden-ProvisionNewDevices-d1",
            "DownloadCompletedAck",
            json!("ok"),
        ))
        .then(Raise(
            "golden-ProvisionNewDevices-d2",
            "DownloadCompletedAck",
            json!("ok"),
        ))
        .also("golden-ProvisionNewDevices-d1"),
        Scenario::new(
            "golden-OrderSaga",
            "OrderSaga",
            json!({"failAt": "CreateShipment"}),
        ),
        Scenario::new(
            "golden-AddToCounter",
            "AddToCounter",
            json!({"key": "golden", "amount": 2}),
        ),
        Scenario::new(
            "golden-CallCounter",
            "CallCounter",
            json!({"key": "golden", "amount": 3}),
        ),
        Scenario::new("golden-Synchronize", "Synchronize", json!("golden")),
        Scenario::new(
            "golden-Transfer",
            "Transfer",
            json!({"from": "alice", "to": "bob", "amount": 30}),
        )
        .before(Signal("Account", "alice", "deposit", json!(100))),
        Scenario::new(
            "golden-CheckSiteAvailable",
            "CheckSiteAvailable",
            json!("https://site.example/health"),
        ),
        Scenario::new(
            "golden-OrchestratorB",
            "OrchestratorB",
            json!({"name": "report", "seconds": 5}),
        )
        .then(Advance(Duration::from_secs(5))),
        Scenario::new("golden-OrchestratorA", "OrchestratorA", remote.clone())
            .then(Advance(Duration::from_secs(1)))
            .then(Advance(Duration::from_secs(1))),
        Scenario::new("golden-OrchestratorAHttp", "OrchestratorAHttp", remote),
    ]
}

/// The test host, with doubles for the calls that would leave the process: B's host of
/// the cross-app pair (done on its third status check) and the checked site.
fn host() -> TestHost {
    let checks = std::sync::atomic::AtomicU32::new(0);
    let b_finished =
        json!({"runtimeStatus": "Completed", "output": "OrchestratorB finished report"});
    let b_status = b_finished.clone();
    TestHost::builder()
        .replace_activity("StartRemoteOrchestration", |_: Value| async {
            Ok::<_, String>("http://b.example/runtime/webhooks/durabletask/instances/b-1")
        })
        .replace_activity("CheckIsComplete", move |_: String| {
            let check = checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = b_status.clone();
            async move {
                Ok::<_, String>(json!({"complete": check >= 2, "status": (check >= 2).then_some(status)}))
            }
        })
        .replace_activity("BuiltIn::HttpActivity", move |request: Value| {
            let content = match request["uri"].as_str() {
                Some(uri) if uri.starts_with("http://b.example") => b_finished.to_string(),
                _ => "ok".to_owned(),
            };
            async move {
                Ok::<_, String>(json!({"statusCode": 200, "headers": {}, "content": content}))
            }
        })
        .start()
}

async fn run(host: &TestHost, step: &Step) -> Result<(), String> {
    let client = host.client();
    match step {
        Step::Advance(by) => host.advance(*by).await,
        Step::Raise(id, event, data) => {
            host.idle().await;
            client
                .raise_event(id, event, data)
                .await
                .map_err(|e| format!("raise {event} to {id}: {e}"))?;
        }
        Step::Signal(entity, key, operation, input) => client
            .signal_entity(&EntityId::new(*entity, *key), operation, input)
            .await
            .map_err(|e| format!("signal {entity}@{key}: {e}"))?,
    }
    Ok(())
}

/// Runs every scenario and writes the fixtures; the error names what went wrong.
async fn export(dir: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let host = host();
    let mut written = 0;
    for scenario in scenarios() {
        for step in &scenario.before {
            run(&host, step).await?;
        }
        host.idle().await;
        host.client()
            .start_new(scenario.orchestrator, Some(scenario.id), &scenario.input)
            .await
            .map_err(|e| format!("start {}: {e}", scenario.id))?;
        for step in &scenario.after {
            run(&host, step).await?;
        }
        for id in std::iter::once(scenario.id).chain(scenario.also.iter().copied()) {
            let done = host
                .wait_for_completion(id)
                .await
                .map_err(|e| format!("{id} did not finish: {e}"))?;
            if done.runtime_status != durable_runtime::RuntimeStatus::Completed {
                return Err(format!(
                    "{id} ended {}: {}",
                    done.runtime_status, done.output
                ));
            }
            let status = host
                .client()
                .get_status(id, StatusOptions::with_history())
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{id} is gone"))?;
            let text = serde_json::to_string_pretty(&status).map_err(|e| e.to_string())?;
            let path = dir.join(format!("{id}.json"));
            std::fs::write(&path, text + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written += 1;
        }
    }
    host.shutdown().await;
    Ok(written)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: golden-histories DIR");
        return ExitCode::from(2);
    };
    match export(&PathBuf::from(dir)).await {
        Ok(count) => {
            println!("wrote {count} histories");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("golden-histories: {message}");
            ExitCode::FAILURE
        }
    }
}
