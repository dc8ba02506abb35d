//! The docs' cross-app orchestration: `OrchestratorA` on one host starts `OrchestratorB`
//! on another host through B's HTTP trigger, then waits until B's status URL answers 200.
//!
//! Two forms: `OrchestratorA` as in the docs (an activity starts B, another checks its
//! status, a durable timer between checks), and `OrchestratorAHttp`, one durable HTTP call
//! that follows the 202 answers of B's start and status URLs.

use std::time::Duration;

use durable_runtime::http::DurableHttpRequest;
use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// Input of `OrchestratorA` and `OrchestratorAHttp`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCall {
    /// Where the other host serves, e.g. `http://127.0.0.1:7072`.
    pub remote_base_url: String,
    /// The input for `OrchestratorB`.
    #[serde(default)]
    pub work: RemoteWork,
    /// Seconds between checks of B's status [default: 1].
    #[serde(default = "one_second")]
    pub check_interval_seconds: u64,
}

fn one_second() -> u64 {
    1
}

/// Input of `OrchestratorB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteWork {
    /// What to call the work.
    pub name: String,
    /// How long the work takes, in seconds (a durable timer).
    pub seconds: u64,
}

impl Default for RemoteWork {
    fn default() -> Self {
        RemoteWork {
            name: "remote work".to_owned(),
            seconds: 2,
        }
    }
}

/// Input of `StartRemoteOrchestration`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteStart {
    /// Where the other host serves.
    pub remote_base_url: String,
    /// The orchestrator to start there.
    pub orchestrator: String,
    /// Its input.
    pub input: serde_json::Value,
}

/// What `CheckIsComplete` saw at a status URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteProgress {
    /// Whether the status URL answered 200 (done) rather than 202 (running).
    pub complete: bool,
    /// The instance's status, when complete.
    pub status: Option<serde_json::Value>,
}

/// The remote work: waits, then says it is done.
#[orchestration_trigger(name = "OrchestratorB")]
pub async fn orchestrator_b(
    ctx: OrchestrationContext,
    work: RemoteWork,
) -> Result<String, DurableError> {
    ctx.sleep(Duration::from_secs(work.seconds)).await?;
    Ok(format!("OrchestratorB finished {}", work.name))
}

/// Starts an orchestrator on another host through its `HttpStart` trigger; returns the
/// status URL from the answer.
#[activity_trigger(name = "StartRemoteOrchestration")]
pub async fn start_remote_orchestration(start: RemoteStart) -> Result<String, String> {
    let url = format!(
        "{}/api/orchestrators/{}",
        start.remote_base_url.trim_end_matches('/'),
        start.orchestrator
    );
    let response = reqwest::Client::new()
        .post(&url)
        .json(&start.input)
        .send()
        .await
        .map_err(|e| format!("POST {url} failed: {e}"))?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        return Err(format!("POST {url} answered {}", response.status()));
    }
    let payload: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("POST {url} answered with no check-status payload: {e}"))?;
    payload["statusQueryGetUri"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("POST {url} answered without statusQueryGetUri"))
}

/// Reads a status URL: 200 means complete, 202 still running.
#[activity_trigger(name = "CheckIsComplete")]
pub async fn check_is_complete(status_url: String) -> Result<RemoteProgress, String> {
    let response = reqwest::get(&status_url)
        .await
        .map_err(|e| format!("the status URL got no answer: {e}"))?;
    match response.status() {
        reqwest::StatusCode::OK => Ok(RemoteProgress {
            complete: true,
            status: Some(
                response
                    .json()
                    .await
                    .map_err(|e| format!("the status is not JSON: {e}"))?,
            ),
        }),
        reqwest::StatusCode::ACCEPTED => Ok(RemoteProgress {
            complete: false,
            status: None,
        }),
        other => Err(format!("the status URL answered {other}")),
    }
}

/// The docs' form: start B with an activity, then check on a durable timer until it is
/// complete; completes with B's output.
#[orchestration_trigger(name = "OrchestratorA")]
pub async fn orchestrator_a(
    ctx: OrchestrationContext,
    call: RemoteCall,
) -> Result<serde_json::Value, DurableError> {
    let start = RemoteStart {
        remote_base_url: call.remote_base_url.clone(),
        orchestrator: "OrchestratorB".to_owned(),
        input: serde_json::to_value(&call.work)
            .map_err(|e| DurableError::Serialization(e.to_string()))?,
    };
    let status_url: String = ctx.call_activity("StartRemoteOrchestration", start).await?;
    loop {
        let progress: RemoteProgress = ctx.call_activity("CheckIsComplete", &status_url).await?;
        if let Some(status) = progress.status.filter(|_| progress.complete) {
            return remote_output(status);
        }
        ctx.sleep(Duration::from_secs(call.check_interval_seconds))
            .await?;
    }
}

/// The same with one durable HTTP call: B's start answers 202 with its status URL as
/// `Location`, which answers 202 until B is done.
#[orchestration_trigger(name = "OrchestratorAHttp")]
pub async fn orchestrator_a_http(
    ctx: OrchestrationContext,
    call: RemoteCall,
) -> Result<serde_json::Value, DurableError> {
    let url = format!(
        "{}/api/orchestrators/OrchestratorB",
        call.remote_base_url.trim_end_matches('/')
    );
    let request = DurableHttpRequest::post(url)
        .json(&call.work)?
        .poll_interval(Duration::from_secs(call.check_interval_seconds));
    let response = ctx.call_http(request).await?;
    if response.status_code != 200 {
        return Err(DurableError::custom(format!(
            "OrchestratorB's host answered {}: {}",
            response.status_code, response.content
        )));
    }
    remote_output(response.json()?)
}

/// B's output from its status, or an error saying how B ended.
fn remote_output(status: serde_json::Value) -> Result<serde_json::Value, DurableError> {
    match status["runtimeStatus"].as_str() {
        Some("Completed") => Ok(status["output"].clone()),
        other => Err(DurableError::custom(format!(
            "OrchestratorB ended {}: {}",
            other.unwrap_or("without a status"),
            status["output"]
        ))),
    }
}
