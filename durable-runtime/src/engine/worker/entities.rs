//! Entity turns: a leased entity runs its queued operations one at a time, in queue order,
//! and commits its new state with the consumed operations, the responses to callers and the
//! signals it sent, in one commit. Entities keep no history.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};

use futures::FutureExt;
use serde_json::Value;

use super::Shared;
use super::entity_locks::EntityLocks;
use crate::engine::remote::{
    RemoteEntityBatch, RemoteEntityResult, RemoteOperation, RemoteUnavailable, RemoteWorkers,
};
use crate::entity::{EntityId, EntityOperation, OperationEffects};
use crate::history::{EventKind, FailureDetails, HistoryEvent, ParentInstance};
use crate::orchestration::replay::panic_failure;
use crate::registry::EntityDescriptor;
use crate::status::RuntimeStatus;
use crate::store::{
    NewInstance, OrchestrationWorkItem, OutboundMessage, ReplacePolicy, TurnClaim, TurnCommit,
    TurnWrite,
};

/// Runs the queued operations of a leased entity and commits the batch.
pub(crate) async fn run_turn(shared: &Arc<Shared>, item: OrchestrationWorkItem) {
    let instance = item.instance;
    let consumed: Vec<i64> = item.messages.iter().map(|m| m.id).collect();
    let Some(id) = EntityId::from_instance_id(&instance.instance_id) else {
        tracing::warn!(instance_id = %instance.instance_id, "not an entity id; its messages are dropped");
        let batch = Batch {
            state: None,
            locks: Value::Null,
            messages: Vec::new(),
            children: Vec::new(),
        };
        commit(shared, &instance, consumed, batch).await;
        return;
    };
    let mut locks = EntityLocks::load(&instance.custom_status).unwrap_or_else(|error| {
        tracing::error!(entity = %id, %error, "unreadable lock state; the entity starts unlocked");
        EntityLocks::default()
    });
    let now = shared.clock.now();
    let scheduled = locks.schedule(item.messages.into_iter().map(|m| m.event), now);
    let descriptor = shared.registry.entity(&id.name);
    let mut state = (instance.status == RuntimeStatus::Running).then(|| instance.output.clone());
    let mut messages = scheduled.messages;
    if descriptor.is_none()
        && let Some(remote) = shared.remote_entity(&id.name)
    {
        if let Some(metrics) = &shared.options.metrics {
            let operations = scheduled.operations.len() as u64;
            metrics.entity_operations(crate::engine::metrics::UNREGISTERED, operations);
        }
        match run_remote(shared, remote, &id, state, scheduled.operations).await {
            Ok(ran) => {
                messages.extend(ran.messages);
                let batch = Batch {
                    state: ran.state,
                    locks: locks.to_value(),
                    messages,
                    children: ran.children,
                };
                commit(shared, &instance, consumed, batch).await;
            }
            Err(unavailable) => {
                tracing::info!(entity = %id, %unavailable, "the operations go back to the store for a remote worker");
                let _ = shared
                    .store
                    .abandon_orchestration(&shared.owner, &instance.instance_id)
                    .await;
            }
        }
        return;
    }
    let mut children = Vec::new();
    let operations = scheduled.operations.len() as u64;
    for event in scheduled.operations {
        let (operation, input, caller) = match event.kind {
            EventKind::EntityOperationSignaled {
                operation, input, ..
            } => (operation, input, None),
            EventKind::EntityOperationCalled {
                operation,
                input,
                caller,
                ..
            } => (operation, input, caller),
            _ => continue,
        };
        let outcome = match descriptor {
            Some(descriptor) => {
                run_operation(descriptor, &id, operation, input, state.clone()).await
            }
            None => Err(FailureDetails::new(
                "EntityNotFound",
                format!("no entity named `{}` is registered in this host", id.name),
            )),
        };
        // A state (or result) over the payload limit fails the operation; the state is
        // left as it was.
        let limit = shared.options.action_limits.max_payload_bytes;
        let outcome = outcome.and_then(|effects| {
            let state_size = effects
                .state
                .as_ref()
                .and_then(|state| crate::payload_limit::over_limit(state, limit));
            match (
                state_size,
                crate::payload_limit::over_limit(&effects.result, limit),
            ) {
                (Some(size), _) => Err(crate::payload_limit::failure(
                    &format!("the state of entity `{id}`"),
                    size,
                    limit,
                )),
                (None, Some(size)) => Err(crate::payload_limit::failure(
                    &format!("the result of an operation of entity `{id}`"),
                    size,
                    limit,
                )),
                (None, None) => Ok(effects),
            }
        });
        let now = shared.clock.now();
        let response = match outcome {
            Ok(effects) => {
                state = effects.state;
                messages.extend(effects.signals.into_iter().map(|signal| {
                    signal_message(
                        signal.target.instance_id(),
                        signal.operation,
                        signal.input,
                        now,
                    )
                }));
                children.extend(effects.orchestrations.into_iter().map(|start| {
                    new_orchestration(shared, start.instance_id, start.name, start.input, now)
                }));
                Ok(effects.result)
            }
            Err(failure) => {
                tracing::debug!(entity = %id, %failure, "entity operation failed; its state change is rolled back");
                Err(failure)
            }
        };
        if let Some(caller) = caller {
            messages.push(respond(caller, response, now));
        }
    }
    if let Some(metrics) = &shared.options.metrics {
        let entity = descriptor.map_or(crate::engine::metrics::UNREGISTERED, |d| d.name);
        metrics.entity_operations(entity, operations);
    }
    let batch = Batch {
        state,
        locks: locks.to_value(),
        messages,
        children,
    };
    commit(shared, &instance, consumed, batch).await;
}

/// What a remote entity's batch leaves: its state, and the messages (responses to callers,
/// signals) and orchestrations its operations made.
struct RemoteRan {
    state: Option<Value>,
    messages: Vec<OutboundMessage>,
    children: Vec<NewInstance>,
}

/// Runs `operations` (signals and calls, in order) on a remote worker that runs the
/// entity. The lease on the entity must outlast the wait, so the wait is shorter.
async fn run_remote(
    shared: &Arc<Shared>,
    remote: &Arc<dyn RemoteWorkers>,
    id: &EntityId,
    state: Option<Value>,
    operations: Vec<HistoryEvent>,
) -> Result<RemoteRan, RemoteUnavailable> {
    let mut callers = Vec::with_capacity(operations.len());
    let mut requests = Vec::with_capacity(operations.len());
    for event in operations {
        let (operation, input, request_id, caller) = match event.kind {
            EventKind::EntityOperationSignaled {
                operation,
                input,
                request_id,
                ..
            } => (operation, input, request_id, None),
            EventKind::EntityOperationCalled {
                operation,
                input,
                request_id,
                caller,
                ..
            } => (operation, input, request_id, caller),
            _ => continue,
        };
        callers.push(caller);
        requests.push(RemoteOperation {
            operation,
            request_id,
            input,
        });
    }
    let batch = RemoteEntityBatch {
        instance_id: id.instance_id(),
        state: state.clone(),
        operations: requests,
    };
    let result = shared.within_lease(remote.run_entity_batch(batch)).await?;
    let result = bounded(
        result,
        id,
        state,
        shared.options.action_limits.max_payload_bytes,
    );
    let now = shared.clock.now();
    let mut results = result.results.into_iter();
    let mut messages = Vec::new();
    for caller in callers {
        let response = results.next().unwrap_or_else(|| {
            Err(FailureDetails::new(
                "EntityResultMissing",
                format!(
                    "the remote worker running entity `{id}` answered no result for the operation"
                ),
            ))
        });
        if let Some(caller) = caller {
            messages.push(respond(caller, response, now));
        }
    }
    messages.extend(result.signals.into_iter().map(|signal| {
        // A signal for later is delivered at once: an entity turn's messages have no
        // delivery time.
        signal_message(signal.instance_id, signal.operation, signal.input, now)
    }));
    let children = result
        .orchestrations
        .into_iter()
        .map(|start| {
            let mut child =
                new_orchestration(shared, start.instance_id, start.name, start.input, now);
            child.scheduled_start = start.scheduled_start;
            child
        })
        .collect();
    Ok(RemoteRan {
        state: result.state,
        messages,
        children,
    })
}

/// `result` within the payload limit: an operation's result over it becomes that
/// operation's `PayloadTooLarge` failure; a state over it fails the whole batch (the
/// worker's state is one for all its operations) and keeps the state as it was, `before`.
fn bounded(
    mut result: RemoteEntityResult,
    id: &EntityId,
    before: Option<Value>,
    limit: usize,
) -> RemoteEntityResult {
    use crate::payload_limit::{failure, over_limit};
    if let Some(size) = result.state.as_ref().and_then(|s| over_limit(s, limit)) {
        let failure = failure(&format!("the state of entity `{id}`"), size, limit);
        return RemoteEntityResult {
            results: vec![Err(failure); result.results.len()],
            state: before,
            ..RemoteEntityResult::default()
        };
    }
    for outcome in &mut result.results {
        if let Ok(value) = outcome
            && let Some(size) = over_limit(value, limit)
        {
            let what = format!("the result of an operation of entity `{id}`");
            *outcome = Err(failure(&what, size, limit));
        }
    }
    result
}

/// A signal an operation sends to entity `target`.
fn signal_message(
    target: String,
    operation: String,
    input: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> OutboundMessage {
    OutboundMessage {
        instance_id: target.clone(),
        execution_id: None,
        event: HistoryEvent::new(
            now,
            EventKind::EntityOperationSignaled {
                request_id: uuid::Uuid::new_v4().simple().to_string(),
                target_instance_id: target,
                operation,
                input,
                critical_section_id: None,
            },
        ),
    }
}

/// An orchestration an operation starts (at this host's default version).
fn new_orchestration(
    shared: &Shared,
    instance_id: String,
    name: String,
    input: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> NewInstance {
    NewInstance {
        instance_id,
        name,
        execution_id: uuid::Uuid::new_v4().simple().to_string(),
        input,
        created_at: now,
        parent: None,
        scheduled_start: None,
        replace: ReplacePolicy::NonRunning,
        trace_context: None,
        version: shared.options.versioning.default_version.clone(),
    }
}

/// What an entity's turn leaves: its state, its lock bookkeeping, messages to others and
/// the orchestrations its operations started.
struct Batch {
    state: Option<Value>,
    locks: Value,
    messages: Vec<OutboundMessage>,
    children: Vec<NewInstance>,
}

/// Runs one operation; `Err` when it failed, returned `Err` or panicked (its effects are
/// then dropped).
async fn run_operation(
    descriptor: &EntityDescriptor,
    id: &EntityId,
    operation: String,
    input: Value,
    state: Option<Value>,
) -> Result<OperationEffects, FailureDetails> {
    let (request, effects) = EntityOperation::new(id.clone(), operation, input, state);
    let invoked = std::panic::catch_unwind(AssertUnwindSafe(|| (descriptor.invoke)(request)));
    let returned = match invoked {
        Ok(future) => AssertUnwindSafe(future)
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(panic_failure(panic))),
        Err(panic) => Err(panic_failure(panic)),
    };
    returned?;
    let effects = effects
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    match effects.failure {
        Some(failure) => Err(failure),
        None => Ok(effects),
    }
}

/// The response to a caller of an operation.
fn respond(
    caller: ParentInstance,
    response: Result<Value, FailureDetails>,
    now: chrono::DateTime<chrono::Utc>,
) -> OutboundMessage {
    let task_scheduled_id = caller.task_scheduled_id;
    let kind = match response {
        Ok(result) => EventKind::EntityOperationCompleted {
            task_scheduled_id,
            result,
        },
        Err(failure) => EventKind::EntityOperationFailed {
            task_scheduled_id,
            failure,
        },
    };
    OutboundMessage {
        instance_id: caller.instance_id,
        execution_id: Some(caller.execution_id),
        event: HistoryEvent::new(now, kind),
    }
}

/// Commits the batch: the new state (Running while there is state, Pending without), the
/// lock bookkeeping, the consumed messages and the messages to others.
async fn commit(
    shared: &Arc<Shared>,
    instance: &crate::store::InstanceRecord,
    consumed: Vec<i64>,
    batch: Batch,
) {
    let (status, output) = match batch.state {
        Some(state) => (RuntimeStatus::Running, state),
        None => (RuntimeStatus::Pending, Value::Null),
    };
    let commit = TurnCommit {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        expected_history_length: instance.history_length,
        consumed,
        appended: Vec::new(),
        status,
        output,
        custom_status: batch.locks,
        activities: Vec::new(),
        timers: Vec::new(),
        children: batch.children,
        messages: batch.messages,
        continue_as_new: None,
        truncate_history_to: None,
    };
    let write = TurnWrite {
        turn: commit,
        claim: TurnClaim::Leased,
        lease_activities: None,
    };
    if let Err(error) = shared.store.commit(&shared.owner, write).await {
        super::turn::give_back(shared, &instance.instance_id, error).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::entity::EntityContext;
    use crate::registry::{BoxFuture, InvocationResult, SourceLocation};

    /// Adds its input to the state; fails after the change on "fail", panics on "panic",
    /// and signals another counter on "forward".
    fn counter(operation: EntityOperation) -> BoxFuture<InvocationResult> {
        Box::pin(async move {
            let mut ctx = EntityContext::<i64>::from_operation(operation)?;
            *ctx.state_mut() += ctx.get_input::<i64>().unwrap_or(1);
            match ctx.operation_name() {
                "fail" => Err(FailureDetails::new("Custom", "refused")),
                "panic" => panic!("the counter broke"),
                "forward" => {
                    ctx.signal_entity(&EntityId::new("Counter", "other"), "add", 5);
                    ctx.return_value("forwarded");
                    Ok(Value::Null)
                }
                _ => Ok(Value::Null),
            }
        })
    }

    const COUNTER: EntityDescriptor = EntityDescriptor {
        name: "Counter",
        location: SourceLocation {
            file: "src/functions.rs",
            line: 1,
        },
        invoke: counter,
    };

    async fn run(
        operation: &str,
        state: Option<Value>,
    ) -> Result<OperationEffects, FailureDetails> {
        let id = EntityId::new("Counter", "a");
        run_operation(&COUNTER, &id, operation.to_owned(), json!(2), state).await
    }

    #[tokio::test]
    async fn a_successful_operation_leaves_its_state_result_and_signals() {
        let effects = run("forward", Some(json!(40))).await.expect("succeeds");
        assert_eq!(effects.state, Some(json!(42)));
        assert_eq!(effects.result, json!("forwarded"));
        assert_eq!(effects.signals.len(), 1);
        assert_eq!(effects.signals[0].target.instance_id(), "@counter@other");
        let effects = run("add", None).await.expect("succeeds");
        assert_eq!(
            effects.state,
            Some(json!(2)),
            "a missing state starts at default"
        );
    }

    #[tokio::test]
    async fn errors_and_panics_are_failures() {
        let failure = run("fail", Some(json!(40))).await.err();
        assert_eq!(failure.map(|f| f.error_message), Some("refused".to_owned()));
        let failure = run("panic", Some(json!(40))).await.err();
        assert_eq!(
            failure.map(|f| (f.error_type, f.error_message)),
            Some(("panic".to_owned(), "the counter broke".to_owned()))
        );
        let failure = run("add", Some(json!("not a number"))).await.err();
        assert_eq!(
            failure.map(|f| f.error_type),
            Some("StateDeserializationError".to_owned())
        );
    }
}
