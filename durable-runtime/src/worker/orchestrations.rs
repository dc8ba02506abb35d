//! The orchestration dispatcher: leases instances with new messages and runs their turns.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{STORE_RETRY_DELAY, Shared, drain, idle, permits};
use crate::history::FailureDetails;
use crate::orchestration::replay::{Execution, TurnOutput, failed_turn};
use crate::store::{NewActivity, OrchestrationWorkItem, StoreError, TurnCommit};

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let permits = permits(shared.options.max_concurrent_orchestrations);
    let mut tasks = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        while let Some(done) = tasks.try_join_next_with_id() {
            if let Ok((id, ())) = done {
                running.remove(&id);
            }
        }
        if *stopped.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            _ = stopped.changed() => break,
        };
        let Ok(permit) = permit else { break };
        match shared
            .store
            .fetch_orchestration(&shared.owner, shared.options.lease)
            .await
        {
            Ok(Some(item)) => {
                let instance_id = item.instance.instance_id.clone();
                let task_shared = shared.clone();
                let handle = tasks.spawn(async move {
                    run_turn(&task_shared, item).await;
                    drop(permit);
                });
                running.insert(handle.id(), instance_id);
            }
            Ok(None) => {
                drop(permit);
                idle(
                    &shared.store.signals().orchestrations,
                    shared.options.poll_interval,
                    &mut stopped,
                )
                .await;
            }
            Err(error) => {
                drop(permit);
                tracing::warn!(%error, "fetching orchestration work failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(STORE_RETRY_DELAY) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }
    for result in drain(&mut tasks, shared.options.drain_timeout).await {
        if let Err(error) = result
            && let Some(instance_id) = running.get(&error.id())
        {
            let _ = shared
                .store
                .abandon_orchestration(&shared.owner, instance_id)
                .await;
        }
    }
}

/// Runs one turn of a leased instance and commits it.
async fn run_turn(shared: &Shared, item: OrchestrationWorkItem) {
    let instance = item.instance;
    let now = shared.clock.now();
    let consumed: Vec<i64> = item.messages.iter().map(|m| m.id).collect();
    // Messages for an earlier execution (a replaced instance) are consumed unread.
    let messages = item
        .messages
        .into_iter()
        .filter(|m| m.execution_id == instance.execution_id)
        .map(|m| m.event)
        .collect();
    let turn = if instance.status.is_terminal() {
        // A finished instance takes no more events; late results are dropped.
        TurnOutput {
            appended: Vec::new(),
            activities: Vec::new(),
            status: instance.status,
            output: instance.output.clone(),
        }
    } else {
        match shared.registry.orchestrator(&instance.name) {
            None => failed_turn(
                now,
                &FailureDetails::new(
                    "OrchestratorNotFound",
                    format!(
                        "no orchestrator named `{}` is registered in this host",
                        instance.name
                    ),
                ),
            ),
            Some(descriptor) => {
                let mut execution = Execution::new(&instance.instance_id, descriptor.invoke);
                match execution.replay(&item.history) {
                    Ok(()) => execution.run_turn(now, messages),
                    Err(failure) => {
                        tracing::error!(instance_id = %instance.instance_id, %failure, "orchestration failed on replay");
                        failed_turn(now, &failure)
                    }
                }
            }
        }
    };
    let commit = TurnCommit {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        expected_history_length: instance.history_length,
        consumed,
        appended: turn.appended,
        status: turn.status,
        output: turn.output,
        activities: turn
            .activities
            .into_iter()
            .map(|a| NewActivity {
                task_id: a.task_id,
                name: a.name,
                input: a.input,
            })
            .collect(),
    };
    match shared.store.commit_turn(&shared.owner, commit).await {
        Ok(()) => {}
        Err(StoreError::LeaseLost(_)) => {
            tracing::warn!(instance_id = %instance.instance_id, "lease lost; another worker redoes this turn");
        }
        Err(error) => {
            tracing::warn!(instance_id = %instance.instance_id, %error, "commit failed; the turn will run again");
            let _ = shared
                .store
                .abandon_orchestration(&shared.owner, &instance.instance_id)
                .await;
        }
    }
}
