//! The protocol's client calls, answered with this host's [`DurableClient`]: start, get,
//! wait, query, raise, terminate, suspend, resume, rewind, restart, purge, history and
//! the entity calls.

use std::time::Duration;

use durable_runtime::client::{
    PurgeOptions, RestartOptions, SignalEntityOptions, StartOptions, StatusOptions,
    TerminateOptions,
};
use durable_runtime::engine::store::{InstanceQuery, PurgeFilter, ReplacePolicy};
use durable_runtime::history::FailureDetails;
use durable_runtime::wire::OrchestrationStatus;
use durable_runtime::{DurableClient, DurableError, EntityId, EntityQuery, RuntimeStatus};
use tonic::Status;

use super::convert::{
    error_to_status, failure_to_wire, json_from_wire, json_to_wire, status_to_wire,
    statuses_from_wire, text_from_wire, time_from_wire, timestamp,
};
use super::history::history_to_wire;
use super::proto;

/// Longest a wait goes when the caller set no deadline.
const DEFAULT_WAIT: Duration = Duration::from_secs(60 * 60);

/// Most instances in one page of a query that does not say.
const DEFAULT_PAGE_SIZE: usize = 100;

/// Most instances in one page whatever the query asks (the SDKs ask for up to 2^31 - 1
/// and follow the continuation token).
const MAX_PAGE_SIZE: usize = 1000;

/// The protocol's state of an instance; inputs and outputs only when asked for.
fn state_to_wire(status: OrchestrationStatus, with_payloads: bool) -> proto::OrchestrationState {
    let failed = status.runtime_status == RuntimeStatus::Failed;
    // A failed instance's output is its failure details.
    let failure = failed
        .then(|| serde_json::from_value::<FailureDetails>(status.output.clone()).ok())
        .flatten();
    let finished = status.runtime_status.is_terminal();
    proto::OrchestrationState {
        instance_id: status.instance_id,
        name: status.name,
        version: status.version,
        orchestration_status: status_to_wire(status.runtime_status) as i32,
        created_timestamp: Some(timestamp(status.created_time)),
        last_updated_timestamp: Some(timestamp(status.last_updated_time)),
        completed_timestamp: finished.then(|| timestamp(status.last_updated_time)),
        input: with_payloads.then(|| json_to_wire(&status.input)).flatten(),
        output: (with_payloads && !failed)
            .then(|| json_to_wire(&status.output))
            .flatten(),
        custom_status: with_payloads
            .then(|| json_to_wire(&status.custom_status))
            .flatten(),
        failure_details: failure.as_ref().map(failure_to_wire),
        ..proto::OrchestrationState::default()
    }
}

fn instance_response(
    status: Option<OrchestrationStatus>,
    with_payloads: bool,
) -> proto::GetInstanceResponse {
    proto::GetInstanceResponse {
        exists: status.is_some(),
        orchestration_state: status.map(|status| state_to_wire(status, with_payloads)),
    }
}

fn status_options(with_payloads: bool) -> StatusOptions {
    StatusOptions {
        show_input: with_payloads,
        ..StatusOptions::default()
    }
}

fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, Status> {
    if value.is_empty() {
        Err(Status::invalid_argument(format!("{what} is required")))
    } else {
        Ok(value)
    }
}

/// `StartInstance`: a new instance, under the given id or a new one.
pub async fn start_instance(
    client: &DurableClient,
    request: proto::CreateInstanceRequest,
) -> Result<proto::CreateInstanceResponse, Status> {
    let name = required(&request.name, "the orchestrator name (name)")?;
    let input = json_from_wire(request.input.as_deref(), "the input")?;
    let instance_id = (!request.instance_id.is_empty()).then_some(request.instance_id);
    let replace = match &request.orchestration_id_reuse_policy {
        None => None,
        Some(policy) => Some(replace_policy(client, instance_id.as_deref(), policy).await?),
    };
    let options = StartOptions {
        instance_id,
        start_at: time_from_wire(
            request.scheduled_start_timestamp.as_ref(),
            "scheduledStartTimestamp",
        )?,
        replace,
        version: request.version,
    };
    let instance_id = client
        .start_new_with_options(name, options, input)
        .await
        .map_err(error_to_status)?;
    Ok(proto::CreateInstanceResponse { instance_id })
}

/// The protocol's reuse policy lists the statuses an existing instance may be in to be
/// replaced. This host replaces either any instance or only finished ones; a policy
/// that lists some finished statuses but not others is checked against the instance
/// here, before the start.
async fn replace_policy(
    client: &DurableClient,
    instance_id: Option<&str>,
    policy: &proto::OrchestrationIdReusePolicy,
) -> Result<ReplacePolicy, Status> {
    let replaceable = statuses_from_wire(&policy.replaceable_status)?;
    if replaceable.iter().any(|status| !status.is_terminal()) {
        return Ok(ReplacePolicy::Any);
    }
    if let Some(id) = instance_id
        && let Some(existing) = client
            .get_status(id, status_options(false))
            .await
            .map_err(error_to_status)?
        && existing.runtime_status.is_terminal()
        && !replaceable.contains(&existing.runtime_status)
    {
        return Err(Status::already_exists(format!(
            "an instance with id `{id}` exists and is {}, which the reuse policy does not \
             replace",
            existing.runtime_status
        )));
    }
    Ok(ReplacePolicy::NonRunning)
}

/// `GetInstance`.
pub async fn get_instance(
    client: &DurableClient,
    request: proto::GetInstanceRequest,
) -> Result<proto::GetInstanceResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let with_payloads = request.get_inputs_and_outputs;
    let status = client
        .get_status(id, status_options(with_payloads))
        .await
        .map_err(error_to_status)?;
    Ok(instance_response(status, with_payloads))
}

/// `WaitForInstanceStart`: answers once the instance is no longer Pending (or does not
/// exist), or fails with DEADLINE_EXCEEDED after `deadline`.
pub async fn wait_for_start(
    client: &DurableClient,
    request: proto::GetInstanceRequest,
    deadline: Option<Duration>,
) -> Result<proto::GetInstanceResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let with_payloads = request.get_inputs_and_outputs;
    let until = tokio::time::Instant::now() + deadline.unwrap_or(DEFAULT_WAIT);
    let mut pause = Duration::from_millis(10);
    loop {
        let status = client
            .get_status(id, status_options(with_payloads))
            .await
            .map_err(error_to_status)?;
        if status
            .as_ref()
            .is_none_or(|s| s.runtime_status != RuntimeStatus::Pending)
        {
            return Ok(instance_response(status, with_payloads));
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return Err(Status::deadline_exceeded(format!(
                "instance `{id}` did not start in time"
            )));
        }
        tokio::time::sleep(pause.min(until - now)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// `WaitForInstanceCompletion`: answers once the instance is Completed, Failed or
/// Terminated (at once when it does not exist), or fails with DEADLINE_EXCEEDED after
/// `deadline`.
pub async fn wait_for_completion(
    client: &DurableClient,
    request: proto::GetInstanceRequest,
    deadline: Option<Duration>,
) -> Result<proto::GetInstanceResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let with_payloads = request.get_inputs_and_outputs;
    match client
        .wait_for_completion(id, deadline.unwrap_or(DEFAULT_WAIT))
        .await
    {
        Ok(_) => {}
        Err(DurableError::InstanceNotFound(_)) => return Ok(instance_response(None, false)),
        Err(error) => return Err(error_to_status(error)),
    }
    // Read again for what the caller asked to see (the wait's answer has no history).
    let status = client
        .get_status(id, status_options(with_payloads))
        .await
        .map_err(error_to_status)?;
    Ok(instance_response(status, with_payloads))
}

/// `RaiseEvent`.
pub async fn raise_event(
    client: &DurableClient,
    request: proto::RaiseEventRequest,
) -> Result<proto::RaiseEventResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let name = required(&request.name, "the event name (name)")?;
    let data = json_from_wire(request.input.as_deref(), "the event data")?;
    client
        .raise_event(id, name, data)
        .await
        .map_err(error_to_status)?;
    Ok(proto::RaiseEventResponse {})
}

/// `TerminateInstance`: the output becomes the reason (the instance's output).
pub async fn terminate(
    client: &DurableClient,
    request: proto::TerminateRequest,
) -> Result<proto::TerminateResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let options = TerminateOptions {
        reason: text_from_wire(request.output.as_deref()),
        recursive: request.recursive,
    };
    client
        .terminate(id, options)
        .await
        .map_err(error_to_status)?;
    Ok(proto::TerminateResponse {})
}

/// `SuspendInstance`.
pub async fn suspend(
    client: &DurableClient,
    request: proto::SuspendRequest,
) -> Result<proto::SuspendResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let reason = request.reason.unwrap_or_default();
    client.suspend(id, &reason).await.map_err(error_to_status)?;
    Ok(proto::SuspendResponse {})
}

/// `ResumeInstance`.
pub async fn resume(
    client: &DurableClient,
    request: proto::ResumeRequest,
) -> Result<proto::ResumeResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let reason = request.reason.unwrap_or_default();
    client.resume(id, &reason).await.map_err(error_to_status)?;
    Ok(proto::ResumeResponse {})
}

/// `RewindInstance`: a Failed instance retries from its point of failure.
pub async fn rewind(
    client: &DurableClient,
    request: proto::RewindInstanceRequest,
) -> Result<proto::RewindInstanceResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let reason = request.reason.unwrap_or_default();
    client.rewind(id, &reason).await.map_err(error_to_status)?;
    Ok(proto::RewindInstanceResponse {})
}

/// `RestartInstance`: the orchestrator again with its original input.
pub async fn restart(
    client: &DurableClient,
    request: proto::RestartInstanceRequest,
) -> Result<proto::RestartInstanceResponse, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let options = RestartOptions {
        new_instance_id: request.restart_with_new_instance_id,
    };
    let instance_id = client.restart(id, options).await.map_err(error_to_status)?;
    Ok(proto::RestartInstanceResponse { instance_id })
}

/// `QueryInstances`: one page of instances, oldest first.
pub async fn query_instances(
    client: &DurableClient,
    request: proto::QueryInstancesRequest,
) -> Result<proto::QueryInstancesResponse, Status> {
    let query = request.query.unwrap_or_default();
    let with_payloads = query.fetch_inputs_and_outputs;
    let listing = InstanceQuery {
        instance_id_prefix: query.instance_id_prefix.filter(|p| !p.is_empty()),
        created_from: time_from_wire(query.created_time_from.as_ref(), "createdTimeFrom")?,
        created_to: time_from_wire(query.created_time_to.as_ref(), "createdTimeTo")?,
        statuses: statuses_from_wire(&query.runtime_status)?,
        page_size: page_size(query.max_instance_count),
        ..InstanceQuery::default()
    };
    let options = durable_runtime::client::ListOptions {
        show_input: with_payloads,
        continuation_token: query.continuation_token.filter(|t| !t.is_empty()),
    };
    let page = client
        .list_instances(&listing, options)
        .await
        .map_err(error_to_status)?;
    Ok(proto::QueryInstancesResponse {
        orchestration_state: page
            .instances
            .into_iter()
            .map(|status| state_to_wire(status, with_payloads))
            .collect(),
        continuation_token: page.continuation_token,
    })
}

fn page_size(asked: i32) -> usize {
    usize::try_from(asked)
        .ok()
        .filter(|&n| n > 0)
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))
}

/// `ListInstanceIds`: ids of finished instances (those the statuses name, when given),
/// by when they finished.
pub async fn list_instance_ids(
    client: &DurableClient,
    request: proto::ListInstanceIdsRequest,
) -> Result<proto::ListInstanceIdsResponse, Status> {
    let mut statuses = statuses_from_wire(&request.runtime_status)?;
    if statuses.is_empty() {
        statuses = RuntimeStatus::ALL
            .into_iter()
            .filter(|status| status.is_terminal())
            .collect();
    }
    // A finished instance last changed when it finished.
    let listing = InstanceQuery {
        updated_from: time_from_wire(request.completed_time_from.as_ref(), "completedTimeFrom")?,
        updated_to: time_from_wire(request.completed_time_to.as_ref(), "completedTimeTo")?,
        statuses,
        page_size: page_size(request.page_size),
        ..InstanceQuery::default()
    };
    let options = durable_runtime::client::ListOptions {
        show_input: false,
        continuation_token: request.last_instance_key.filter(|t| !t.is_empty()),
    };
    let page = client
        .list_instances(&listing, options)
        .await
        .map_err(error_to_status)?;
    Ok(proto::ListInstanceIdsResponse {
        instance_ids: page.instances.into_iter().map(|s| s.instance_id).collect(),
        last_instance_key: page.continuation_token,
    })
}

/// `PurgeInstances`: one instance (with its sub-orchestrations when recursive), a batch
/// of ids, or every finished instance a filter matches.
pub async fn purge_instances(
    client: &DurableClient,
    request: proto::PurgeInstancesRequest,
) -> Result<proto::PurgeInstancesResponse, Status> {
    use proto::purge_instances_request::Request;
    let options = PurgeOptions {
        recursive: request.recursive,
    };
    let deleted = match request.request {
        Some(Request::InstanceId(id)) => {
            let id = required(&id, "the instance id (instanceId)")?;
            client
                .purge_instance_with_options(id, options)
                .await
                .map_err(error_to_status)?
        }
        Some(Request::InstanceBatch(batch)) => {
            let mut deleted = 0;
            for id in &batch.instance_ids {
                deleted += client
                    .purge_instance_with_options(id, options)
                    .await
                    .map_err(error_to_status)?;
            }
            deleted
        }
        Some(Request::PurgeInstanceFilter(filter)) => {
            let created_from =
                time_from_wire(filter.created_time_from.as_ref(), "createdTimeFrom")?;
            let filter = PurgeFilter {
                created_from: created_from.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
                created_to: time_from_wire(filter.created_time_to.as_ref(), "createdTimeTo")?,
                statuses: statuses_from_wire(&filter.runtime_status)?,
            };
            client
                .purge_instances(&filter)
                .await
                .map_err(error_to_status)?
        }
        None => {
            return Err(Status::invalid_argument(
                "a purge needs an instanceId, an instanceBatch or a purgeInstanceFilter",
            ));
        }
    };
    Ok(proto::PurgeInstancesResponse {
        deleted_instance_count: i32::try_from(deleted).unwrap_or(i32::MAX),
        is_complete: Some(true),
    })
}

/// `StreamInstanceHistory`: the current execution's history, in one chunk.
pub async fn instance_history(
    client: &DurableClient,
    request: proto::StreamInstanceHistoryRequest,
) -> Result<proto::HistoryChunk, Status> {
    let id = required(&request.instance_id, "the instance id (instanceId)")?;
    let history = client
        .store()
        .get_history(id)
        .await
        .map_err(|e| error_to_status(DurableError::Store(e)))?;
    if history.is_empty()
        && client
            .get_status(id, status_options(false))
            .await
            .map_err(error_to_status)?
            .is_none()
    {
        return Err(Status::not_found(format!(
            "no instance with id `{id}` exists"
        )));
    }
    Ok(proto::HistoryChunk {
        events: history_to_wire(id, &history),
    })
}

fn entity_id(instance_id: &str) -> Result<EntityId, Status> {
    EntityId::from_instance_id(instance_id).ok_or_else(|| {
        Status::invalid_argument(format!(
            "`{instance_id}` is not an entity id; entity ids look like @name@key"
        ))
    })
}

/// `SignalEntity`: a one-way operation, at once or at its scheduled time.
pub async fn signal_entity(
    client: &DurableClient,
    request: proto::SignalEntityRequest,
) -> Result<proto::SignalEntityResponse, Status> {
    let id = entity_id(&request.instance_id)?;
    let operation = required(&request.name, "the operation name (name)")?;
    let input = json_from_wire(request.input.as_deref(), "the operation input")?;
    let options = SignalEntityOptions {
        signal_time: time_from_wire(request.scheduled_time.as_ref(), "scheduledTime")?,
    };
    client
        .signal_entity_with_options(&id, operation, input, options)
        .await
        .map_err(error_to_status)?;
    Ok(proto::SignalEntityResponse {})
}

fn entity_to_wire(
    entity: durable_runtime::wire::EntityStatus,
    include_state: bool,
) -> proto::EntityMetadata {
    let id = EntityId::new(entity.entity_id.name, entity.entity_id.key);
    proto::EntityMetadata {
        instance_id: id.to_string(),
        last_modified_time: Some(timestamp(entity.last_operation_time)),
        backlog_queue_size: 0,
        locked_by: entity.locked_by,
        serialized_state: include_state
            .then(|| entity.state.as_ref().and_then(json_to_wire))
            .flatten(),
    }
}

/// `GetEntity`: an entity exists while it has state.
pub async fn get_entity(
    client: &DurableClient,
    request: proto::GetEntityRequest,
) -> Result<proto::GetEntityResponse, Status> {
    let id = entity_id(&request.instance_id)?;
    let entity = client
        .get_entity(&id)
        .await
        .map_err(error_to_status)?
        .filter(|entity| entity.state.is_some());
    Ok(proto::GetEntityResponse {
        exists: entity.is_some(),
        entity: entity.map(|entity| entity_to_wire(entity, request.include_state)),
    })
}

/// `QueryEntities`: one page of entities.
pub async fn query_entities(
    client: &DurableClient,
    request: proto::QueryEntitiesRequest,
) -> Result<proto::QueryEntitiesResponse, Status> {
    let query = request.query.unwrap_or_default();
    let include_state = query.include_state;
    let listing = EntityQuery {
        instance_id_prefix: query
            .instance_id_starts_with
            .filter(|p| !p.is_empty())
            .map(|prefix| entity_prefix(&prefix)),
        last_operation_from: time_from_wire(query.last_modified_from.as_ref(), "lastModifiedFrom")?,
        last_operation_to: time_from_wire(query.last_modified_to.as_ref(), "lastModifiedTo")?,
        fetch_state: include_state,
        include_stateless: query.include_transient,
        page_size: page_size(query.page_size.unwrap_or(0)),
        continuation_token: query.continuation_token.filter(|t| !t.is_empty()),
        ..EntityQuery::default()
    };
    let page = client
        .list_entities(&listing)
        .await
        .map_err(error_to_status)?;
    Ok(proto::QueryEntitiesResponse {
        entities: page
            .entities
            .into_iter()
            .map(|entity| entity_to_wire(entity, include_state))
            .collect(),
        continuation_token: page.continuation_token,
    })
}

/// An entity id prefix as this host stores ids: starting with `@`, the entity name in
/// lower case.
fn entity_prefix(prefix: &str) -> String {
    let rest = prefix.strip_prefix('@').unwrap_or(prefix);
    match rest.split_once('@') {
        Some((name, key)) => format!("@{}@{key}", name.to_lowercase()),
        None => format!("@{}", rest.to_lowercase()),
    }
}

/// `CleanEntityStorage`: releases orphaned locks. Entities without state leave by
/// themselves in this host, so none are removed here.
pub async fn clean_entity_storage(
    client: &DurableClient,
    _request: proto::CleanEntityStorageRequest,
) -> Result<proto::CleanEntityStorageResponse, Status> {
    let result = client
        .clean_entity_storage()
        .await
        .map_err(error_to_status)?;
    Ok(proto::CleanEntityStorageResponse {
        continuation_token: None,
        empty_entities_removed: 0,
        orphaned_locks_released: i32::try_from(result.orphaned_locks_released).unwrap_or(i32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_prefixes_are_stored_as_ids_are() {
        assert_eq!(entity_prefix("@Counter@k"), "@counter@k");
        assert_eq!(entity_prefix("Counter@K"), "@counter@K");
        assert_eq!(entity_prefix("@Coun"), "@coun");
    }

    #[test]
    fn a_page_size_of_zero_or_less_is_the_default() {
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(-3), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(i32::MAX), MAX_PAGE_SIZE);
    }
}
