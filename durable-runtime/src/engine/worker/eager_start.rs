//! Eager start: when a client shares its process with a worker, a new instance's first
//! turn runs here, before the instance exists in the store, and the store creates the
//! instance together with that turn in one commit. The worker then needs no fetch to begin
//! it, and with running ahead a chain of quick local activities is finished in that one
//! durable write.
//!
//! Nothing is acknowledged before the commit: the start returns once the instance and its
//! first turns are durable. What it gives up is the record of a start whose code takes the
//! host down before that commit: such a start is simply not answered and leaves nothing
//! behind. So a start runs eagerly only for an orchestrator with an instance completed in
//! this process; any other start is written first, answered, and then run, so a host
//! killed by it finds the instance again and counts the crash towards its poison limit.
//! Starts that cannot go eagerly (a scheduled start, a version this worker does not take,
//! no free turn permit, running ahead off, a stopping worker) are handed back and created
//! as usual.

use std::sync::Arc;

use tracing::Instrument;

use serde_json::Value;

use super::turn::{self, Turn};
use super::{Shared, flow};
use crate::orchestration::replay::{Execution, Invoker};
use crate::status::RuntimeStatus;
use crate::store::{
    InstanceRecord, NewInstance, ReplacePolicy, StoreError, TurnClaim, execution_started,
};

/// Whether a start goes eagerly.
pub(crate) enum EagerStart {
    /// Under way on a task of its own, so that many starts awaited together by one caller
    /// still run their first turns side by side.
    Starting(tokio::task::JoinHandle<Result<(), StoreError>>),
    /// Not here: create the instance the usual way.
    Declined(Box<NewInstance>),
}

/// Starts `new` eagerly when it may (see the module docs), or hands it back. `fresh_id`
/// says the id was just made up, so no instance can hold it; otherwise the store is asked
/// first, so that a start refused for a running instance has not run any activity ahead.
pub(crate) fn try_start(shared: &Arc<Shared>, new: NewInstance, fresh_id: bool) -> EagerStart {
    let Some(descriptor) = shared.registry.orchestrator(&new.name) else {
        return EagerStart::Declined(Box::new(new));
    };
    if new.scheduled_start.is_some()
        || !shared.options.versioning.accepts(new.version.as_deref())
        || shared.options.run_ahead.is_zero()
        || shared.is_stopping()
        || !shared.has_completed_here(&new.name)
    {
        return EagerStart::Declined(Box::new(new));
    }
    let Ok(permit) = shared.orchestration_permits.clone().try_acquire_owned() else {
        return EagerStart::Declined(Box::new(new));
    };
    let shared = shared.clone();
    EagerStart::Starting(tokio::spawn(async move {
        // A turn permit, held until the instance and its first turns are written.
        let _permit = permit;
        start(&shared, new, fresh_id, descriptor.invoke).await
    }))
}

/// Runs the first turns of `new` and creates it with them.
async fn start(
    shared: &Arc<Shared>,
    new: NewInstance,
    fresh_id: bool,
    invoke: Invoker,
) -> Result<(), StoreError> {
    if !fresh_id
        && new.replace == ReplacePolicy::NonRunning
        && let Some(existing) = shared.store.get_instance(&new.instance_id).await?
        && !existing.status.is_terminal()
    {
        return Err(StoreError::InstanceExists(new.instance_id));
    }
    let began = std::time::Instant::now();
    let now = shared.clock.now();
    let instance = InstanceRecord {
        instance_id: new.instance_id.clone(),
        name: new.name.clone(),
        execution_id: new.execution_id.clone(),
        status: RuntimeStatus::Pending,
        input: new.input.clone(),
        output: Value::Null,
        custom_status: Value::Null,
        created_at: new.created_at,
        updated_at: new.created_at,
        history_length: 0,
        parent: new.parent.clone(),
        version: new.version.clone(),
    };
    let mut execution =
        Execution::new(&instance.instance_id, invoke).with_limits(shared.options.action_limits);
    let trace = new.trace_context.clone();
    let span = turn::span(&instance, trace.as_ref());
    let output = span.in_scope(|| execution.run_turn(now, vec![execution_started(&new)]));
    let turn = Turn {
        instance,
        output,
        execution: Some(execution),
        consumed: Vec::new(),
        earlier_hand_outs: 0,
        now,
        began,
        trace,
    };
    // On an error the calls still running ahead are dropped (stopped): nothing was
    // created, so their results have nowhere to go.
    let leased = turn::commit(shared, turn, TurnClaim::Creates(new))
        .instrument(span)
        .await?;
    flow::run_leased(shared, leased);
    Ok(())
}
