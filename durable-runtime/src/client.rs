//! `DurableClient`: starts and inspects orchestration instances.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::entity::EntityId;
use crate::error::DurableError;
use crate::history::{EventKind, HistoryEvent};
use crate::instance_id::validate_instance_id;
use crate::registry::Registry;
use crate::status::RuntimeStatus;
use crate::store::PageCursor;
use crate::store::{
    EntityMessage, InstanceQuery, InstanceRecord, NewInstance, PurgeFilter, ReplacePolicy, Store,
    StoreError,
};
use crate::wire::{
    CleanEntityStorageResult, EntityIdWire, EntityStatus, HttpManagementPayload,
    OrchestrationStatus, history_to_wire,
};
use crate::worker::Worker;
use crate::worker::eager_start::{self, EagerStart};

/// How to start an instance.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The instance id; a new random one when `None`.
    pub instance_id: Option<String>,
    /// Begin at this time instead of now; until then the instance is Pending.
    pub start_at: Option<DateTime<Utc>>,
    /// Which existing instance with the same id may be replaced; the client's default
    /// (only finished ones, unless configured) when `None`.
    pub replace: Option<ReplacePolicy>,
    /// The orchestration version the instance starts with (see [`crate::version`]); the
    /// client's default version when `None`. An empty version is no version.
    pub version: Option<String>,
}

/// What a status answer includes (Durable Functions' `showHistory`, `showHistoryOutput`,
/// `showInput`). By default: the input, no history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusOptions {
    /// Add the current execution's history (`historyEvents`).
    pub show_history: bool,
    /// Add inputs and results to the history's events.
    pub show_history_output: bool,
    /// Keep the instance's input (otherwise null).
    pub show_input: bool,
}

impl Default for StatusOptions {
    fn default() -> Self {
        StatusOptions {
            show_history: false,
            show_history_output: false,
            show_input: true,
        }
    }
}

impl StatusOptions {
    /// The status with the whole history, inputs and results included.
    pub fn with_history() -> Self {
        StatusOptions {
            show_history: true,
            show_history_output: true,
            show_input: true,
        }
    }
}

/// How to list instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Keep each instance's input (otherwise null).
    pub show_input: bool,
    /// Continue after the page that gave out this token.
    pub continuation_token: Option<String>,
}

/// How to terminate an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminateOptions {
    /// Why: the instance's output once Terminated.
    pub reason: String,
    /// Terminate its running sub-orchestrations too.
    pub recursive: bool,
}

impl TerminateOptions {
    /// Terminates for `reason`, sub-orchestrations left running.
    pub fn new(reason: impl Into<String>) -> Self {
        TerminateOptions {
            reason: reason.into(),
            recursive: false,
        }
    }

    /// Terminates the running sub-orchestrations too.
    pub fn recursive(mut self) -> Self {
        self.recursive = true;
        self
    }
}

/// How to signal an entity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalEntityOptions {
    /// Deliver the operation at this time (Durable Functions' `SignalTime`); at once when
    /// `None`.
    pub signal_time: Option<DateTime<Utc>>,
}

/// How to restart an instance (Durable Functions' `restartWithNewInstanceId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartOptions {
    /// Start under a new id (the default), or under the same id once it has finished.
    pub new_instance_id: bool,
}

impl Default for RestartOptions {
    fn default() -> Self {
        RestartOptions {
            new_instance_id: true,
        }
    }
}

/// One page of a listing of instances.
#[derive(Debug, Clone)]
pub struct StatusPage {
    /// The instances, oldest first.
    pub instances: Vec<OrchestrationStatus>,
    /// Pass this back to get the next page; `None` on the last page.
    pub continuation_token: Option<String>,
}

/// Which entities to list (Durable Functions' `EntityQuery`). By default: every entity
/// with state, with its state, 100 to a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityQuery {
    /// Only entities of this entity function (names ignore case).
    pub name: Option<String>,
    /// Only entities whose instance id (`@name@key`, the name in lower case) starts with
    /// this; it takes the place of `name` when both are given.
    pub instance_id_prefix: Option<String>,
    /// Only entities whose last operation was at or after this.
    pub last_operation_from: Option<DateTime<Utc>>,
    /// Only entities whose last operation was at or before this.
    pub last_operation_to: Option<DateTime<Utc>>,
    /// Include each entity's state.
    pub fetch_state: bool,
    /// Include entities without state (one that is only locked, say).
    pub include_stateless: bool,
    /// Most entities in one page.
    pub page_size: usize,
    /// Continue after the page that gave out this token.
    pub continuation_token: Option<String>,
}

impl Default for EntityQuery {
    fn default() -> Self {
        EntityQuery {
            name: None,
            instance_id_prefix: None,
            last_operation_from: None,
            last_operation_to: None,
            fetch_state: true,
            include_stateless: false,
            page_size: 100,
            continuation_token: None,
        }
    }
}

/// What [`DurableClient::purge_instance_with_options`] removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeOptions {
    /// Also the instance's sub-orchestrations, and theirs.
    pub recursive: bool,
}

/// One page of a listing of entities.
#[derive(Debug, Clone)]
pub struct EntityPage {
    /// The entities with state, oldest first.
    pub entities: Vec<EntityStatus>,
    /// Pass this back to get the next page; `None` on the last page.
    pub continuation_token: Option<String>,
}

/// An entity's row as a listing shows it: `None` when the row is not an entity's.
fn entity_status(record: InstanceRecord, fetch_state: bool) -> Option<EntityStatus> {
    let id = EntityId::from_instance_id(&record.instance_id)?;
    let locked_by = crate::worker::EntityLocks::load(&record.custom_status)
        .ok()
        .and_then(|locks| locks.holder().map(|h| h.instance_id.clone()));
    let has_state = record.status == RuntimeStatus::Running;
    Some(EntityStatus {
        entity_id: EntityIdWire {
            name: id.name,
            key: id.key,
        },
        last_operation_time: record.updated_at,
        state: (fetch_state && has_state).then_some(record.output),
        locked_by,
    })
}

/// What a store error means to a caller of the client.
fn client_error(error: StoreError) -> DurableError {
    match error {
        StoreError::NotFound(id) => DurableError::InstanceNotFound(id),
        StoreError::Finished(id) => DurableError::InstanceFinished(id),
        StoreError::InstanceExists(id) => DurableError::InstanceAlreadyRunning(id),
        StoreError::WrongStatus {
            instance_id,
            status,
        } => DurableError::InvalidStatus(format!("instance `{instance_id}` is {status}")),
        other => DurableError::Store(other),
    }
}

/// Longest a wait for an instance goes without reading the store again.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// Reads a continuation token this host gave out.
fn read_continuation_token(token: &str) -> Result<PageCursor, DurableError> {
    PageCursor::from_token(token).ok_or_else(|| {
        DurableError::InvalidInput(format!(
            "the continuation token `{token}` is not one this host gave out"
        ))
    })
}

fn to_status(record: InstanceRecord, show_input: bool) -> OrchestrationStatus {
    OrchestrationStatus {
        name: record.name,
        instance_id: record.instance_id,
        runtime_status: record.status,
        input: if show_input {
            record.input
        } else {
            serde_json::Value::Null
        },
        custom_status: record.custom_status,
        output: record.output,
        created_time: record.created_at,
        last_updated_time: record.updated_at,
        version: record.version,
        history_events: None,
    }
}

/// What the management URLs of an instance carry as their `code` query parameter: the
/// host's credential for that instance (an instance token, or the system key). The host
/// supplies it; a client without one builds URLs with no `code`.
pub trait UrlCredential: Send + Sync + 'static {
    /// The `code` for the URLs of `instance_id`.
    fn code_for(&self, instance_id: &str) -> String;
}

/// Where the client's management URLs point and which task hub they name.
#[derive(Clone)]
pub struct ClientOptions {
    /// The task hub's name.
    pub hub: String,
    /// Scheme, host and port the management URLs start with (`http://127.0.0.1:7071`).
    pub base_url: String,
    /// Path of the management API, `/runtime/webhooks/durabletask` by default.
    pub webhook_path: String,
    /// The credential management URLs carry, when keys are enforced.
    pub url_credential: Option<Arc<dyn UrlCredential>>,
    /// Which existing instance a start with the same id may replace, unless the start
    /// says otherwise.
    pub replace: ReplacePolicy,
    /// The version instances start with unless the start names one (the host's
    /// `defaultVersion`).
    pub default_version: Option<String>,
    /// Largest start input, event data or entity operation input, in bytes of JSON
    /// (see [`crate::payload_limit`]).
    pub max_payload_bytes: usize,
    /// Start instances of orchestrators and signal entities no Rust function here has,
    /// for remote workers (other languages' Durable Task SDKs) to run; such work waits
    /// until a worker that runs it connects. Otherwise such a start is refused with
    /// [`DurableError::UnknownOrchestrator`] and such a signal with
    /// [`DurableError::UnknownEntity`].
    pub remote_functions: bool,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("hub", &self.hub)
            .field("base_url", &self.base_url)
            .field("webhook_path", &self.webhook_path)
            .field(
                "url_credential",
                &self.url_credential.as_ref().map(|_| "dyn UrlCredential"),
            )
            .field("replace", &self.replace)
            .field("default_version", &self.default_version)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("remote_functions", &self.remote_functions)
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            hub: "DurableFunctionsHub".to_owned(),
            base_url: "http://127.0.0.1:7071".to_owned(),
            webhook_path: "/runtime/webhooks/durabletask".to_owned(),
            url_credential: None,
            replace: ReplacePolicy::NonRunning,
            default_version: None,
            max_payload_bytes: crate::payload_limit::DEFAULT_MAX_PAYLOAD_BYTES,
            remote_functions: false,
        }
    }
}

#[derive(Clone)]
struct ClientInner {
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    options: ClientOptions,
    /// The worker in this process that runs new instances' first turns (eager starts).
    local_worker: Option<Arc<crate::worker::Shared>>,
}

/// Starts, queries and waits for orchestration instances of one task hub.
///
/// In a client function it is an extractor: take `client: DurableClient` as a parameter.
/// Its management URLs start with the host's public URL (or its own address).
#[derive(Clone)]
pub struct DurableClient {
    inner: Arc<ClientInner>,
    base_url: Arc<str>,
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters.
pub(crate) fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl DurableClient {
    /// A client over a store, for the functions in `registry`.
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        options: ClientOptions,
    ) -> DurableClient {
        let base_url = Arc::from(options.base_url.trim_end_matches('/'));
        DurableClient {
            inner: Arc::new(ClientInner {
                store,
                registry,
                clock,
                options,
                local_worker: None,
            }),
            base_url,
        }
    }

    /// The same client, starting new instances on `worker`, which serves the same store in
    /// this process: a new instance's first turn runs at once and is committed together
    /// with the instance, one durable write where a start and the worker's fetch would be
    /// two; with running ahead, a chain of quick activities completes in that write.
    ///
    /// Only orchestrators with an instance completed in this process start this way: a
    /// start whose code kills the host must be on record first, to count towards its poison
    /// limit. Starts at a scheduled time, or while the worker is busy, stopping or not
    /// running ahead, go the usual way too.
    ///
    /// A worker over another store is not attached (the client is returned as it is).
    pub fn with_worker(&self, worker: &Worker) -> DurableClient {
        let shared = worker.shared();
        let same_store =
            std::ptr::addr_eq(Arc::as_ptr(&shared.store), Arc::as_ptr(&self.inner.store));
        if !same_store {
            tracing::warn!("the worker serves another store; starts go through the store");
            return self.clone();
        }
        DurableClient {
            inner: Arc::new(ClientInner {
                local_worker: Some(shared.clone()),
                ..(*self.inner).clone()
            }),
            base_url: self.base_url.clone(),
        }
    }

    /// The same client, building its URLs on another base (`http://host:port`).
    pub fn with_base_url(&self, base_url: &str) -> DurableClient {
        DurableClient {
            inner: self.inner.clone(),
            base_url: Arc::from(base_url.trim_end_matches('/')),
        }
    }

    /// The store behind this client.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The functions this client can start.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Starts a new instance of the orchestrator `name` and returns its id. Without an id,
    /// a new random one is made. An id whose instance has finished is reused (the old
    /// instance is replaced); one that is still running is refused.
    pub async fn start_new(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: impl Serialize,
    ) -> Result<String, DurableError> {
        let options = StartOptions {
            instance_id: instance_id.map(str::to_owned),
            ..StartOptions::default()
        };
        self.start_new_with_options(name, options, input).await
    }

    /// Starts a new instance with options: its id, a scheduled start time, which existing
    /// instance it may replace, and its version.
    pub async fn start_new_with_options(
        &self,
        name: &str,
        options: StartOptions,
        input: impl Serialize,
    ) -> Result<String, DurableError> {
        if self.inner.registry.orchestrator(name).is_none() && !self.inner.options.remote_functions
        {
            return Err(DurableError::UnknownOrchestrator(name.to_owned()));
        }
        if name.is_empty() {
            return Err(DurableError::UnknownOrchestrator(name.to_owned()));
        }
        let fresh_id = options.instance_id.is_none();
        let instance_id = match options.instance_id {
            Some(id) => {
                validate_instance_id(&id)?;
                id
            }
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        let input = serde_json::to_value(input)?;
        crate::payload_limit::check("the input", &input, self.inner.options.max_payload_bytes)?;
        let created = NewInstance {
            instance_id: instance_id.clone(),
            name: name.to_owned(),
            execution_id: uuid::Uuid::new_v4().simple().to_string(),
            input,
            created_at: self.inner.clock.now(),
            parent: None,
            scheduled_start: options.start_at,
            replace: options.replace.unwrap_or(self.inner.options.replace),
            trace_context: crate::trace_context::for_new_instance(),
            version: crate::version::normalized(options.version)
                .or_else(|| self.inner.options.default_version.clone()),
        };
        let created = match &self.inner.local_worker {
            Some(worker) => match eager_start::try_start(worker, created, fresh_id) {
                EagerStart::Starting(starting) => {
                    starting
                        .await
                        .map_err(|e| StoreError::Internal(format!("a start failed: {e}")))
                        .and_then(|started| started)
                        .map_err(client_error)?;
                    return Ok(instance_id);
                }
                EagerStart::Declined(created) => *created,
            },
            None => created,
        };
        self.inner
            .store
            .create_instance(created)
            .await
            .map_err(client_error)?;
        Ok(instance_id)
    }

    /// One page of instances that match `query`, oldest first. Pass the page's
    /// continuation token back in [`ListOptions::continuation_token`] for the next page; a
    /// token this host did not give out is [`DurableError::InvalidInput`].
    pub async fn list_instances(
        &self,
        query: &InstanceQuery,
        options: ListOptions,
    ) -> Result<StatusPage, DurableError> {
        let query = match options.continuation_token.as_deref() {
            Some(token) => InstanceQuery {
                after: Some(read_continuation_token(token)?),
                ..query.clone()
            },
            None => query.clone(),
        };
        let page = self.inner.store.list_instances(&query).await?;
        Ok(StatusPage {
            instances: page
                .instances
                .into_iter()
                .map(|record| to_status(record, options.show_input))
                .collect(),
            continuation_token: page.next.map(|cursor| cursor.to_token()),
        })
    }

    async fn control(&self, instance_id: &str, kind: EventKind) -> Result<(), DurableError> {
        let event = HistoryEvent::new(self.inner.clock.now(), kind);
        self.inner
            .store
            .send_control(instance_id, event)
            .await
            .map_err(client_error)
    }

    /// Stops a running, pending or suspended instance; it ends as Terminated with the
    /// options' reason as its output, and with [`TerminateOptions::recursive`] its running
    /// sub-orchestrations are terminated too.
    pub async fn terminate(
        &self,
        instance_id: &str,
        options: TerminateOptions,
    ) -> Result<(), DurableError> {
        let kind = EventKind::ExecutionTerminated {
            reason: options.reason,
            recursive: options.recursive,
        };
        self.control(instance_id, kind).await
    }

    /// Pauses an instance: events and results that arrive are kept, not applied.
    pub async fn suspend(&self, instance_id: &str, reason: &str) -> Result<(), DurableError> {
        let kind = EventKind::ExecutionSuspended {
            reason: reason.to_owned(),
        };
        self.control(instance_id, kind).await
    }

    /// Resumes a suspended instance; what arrived meanwhile is applied in order.
    pub async fn resume(&self, instance_id: &str, reason: &str) -> Result<(), DurableError> {
        let kind = EventKind::ExecutionResumed {
            reason: reason.to_owned(),
        };
        self.control(instance_id, kind).await
    }

    /// Retries a Failed instance from its point of failure: failed activities run again,
    /// failed sub-orchestrations are rewound, the rest of its history stays.
    pub async fn rewind(&self, instance_id: &str, reason: &str) -> Result<(), DurableError> {
        let kind = EventKind::ExecutionRewound {
            reason: reason.to_owned(),
        };
        self.control(instance_id, kind)
            .await
            .map_err(|error| match error {
                DurableError::InvalidStatus(message) => DurableError::InvalidStatus(format!(
                    "{message}; only Failed instances can be rewound"
                )),
                other => other,
            })
    }

    /// Starts the instance's orchestrator again with its original input, under a new id
    /// or (with [`RestartOptions::new_instance_id`] false) the same id once it has
    /// finished. Returns the id.
    pub async fn restart(
        &self,
        instance_id: &str,
        options: RestartOptions,
    ) -> Result<String, DurableError> {
        let record = self
            .inner
            .store
            .get_instance(instance_id)
            .await?
            .ok_or_else(|| DurableError::InstanceNotFound(instance_id.to_owned()))?;
        let options = StartOptions {
            instance_id: (!options.new_instance_id).then(|| instance_id.to_owned()),
            ..StartOptions::default()
        };
        self.start_new_with_options(&record.name, options, record.input)
            .await
    }

    /// Removes a finished instance's history, messages and work; returns how many
    /// instances were removed (0 when there is no such instance). A running instance is
    /// refused with [`DurableError::InvalidStatus`].
    pub async fn purge_instance(&self, instance_id: &str) -> Result<u64, DurableError> {
        self.inner
            .store
            .purge_instance(instance_id)
            .await
            .map_err(client_error)
    }

    /// Removes a finished instance like [`DurableClient::purge_instance`]; with
    /// [`PurgeOptions::recursive`] its sub-orchestrations too (those its history started),
    /// children first. A running one among them is refused with
    /// [`DurableError::InvalidStatus`] before anything is removed. Returns how many
    /// instances were removed.
    pub async fn purge_instance_with_options(
        &self,
        instance_id: &str,
        options: PurgeOptions,
    ) -> Result<u64, DurableError> {
        if !options.recursive {
            return self.purge_instance(instance_id).await;
        }
        // The whole tree, parents before children, each checked finished first.
        let mut tree = vec![instance_id.to_owned()];
        let mut next = 0;
        while let Some(id) = tree.get(next).cloned() {
            next += 1;
            let Some(record) = self.inner.store.get_instance(&id).await? else {
                continue;
            };
            if !record.status.is_terminal() {
                return Err(DurableError::InvalidStatus(format!(
                    "instance `{id}` is {}; a recursive purge removes only finished instances",
                    record.status
                )));
            }
            for event in self.inner.store.get_history(&id).await? {
                if let EventKind::SubOrchestrationInstanceCreated { instance_id, .. } = event.kind
                    && !tree.contains(&instance_id)
                {
                    tree.push(instance_id);
                }
            }
        }
        let mut removed = 0;
        for id in tree.iter().rev() {
            removed += self.purge_instance(id).await?;
        }
        Ok(removed)
    }

    /// Removes every finished instance that matches `filter`; returns how many.
    pub async fn purge_instances(&self, filter: &PurgeFilter) -> Result<u64, DurableError> {
        Ok(self.inner.store.purge_instances(filter).await?)
    }

    /// Sends an external event to an instance: it is delivered to the orchestrator's next
    /// (or current) `wait_for_external_event` with that name. Refused for unknown instances
    /// ([`DurableError::InstanceNotFound`]) and finished ones
    /// ([`DurableError::InstanceFinished`]).
    pub async fn raise_event(
        &self,
        instance_id: &str,
        event_name: &str,
        data: impl Serialize,
    ) -> Result<(), DurableError> {
        let input = serde_json::to_value(data)?;
        let limit = self.inner.options.max_payload_bytes;
        crate::payload_limit::check(&format!("the data of event `{event_name}`"), &input, limit)?;
        let event = crate::history::HistoryEvent::new(
            self.inner.clock.now(),
            crate::history::EventKind::EventRaised {
                name: event_name.to_owned(),
                input,
            },
        );
        self.inner
            .store
            .raise_event(instance_id, event)
            .await
            .map_err(client_error)
    }

    /// Signals an operation on an entity (one-way): it is queued for the entity, which is
    /// created when it does not exist, and runs after the operations queued before it.
    /// Refused with [`DurableError::UnknownEntity`] when no entity function of that name is
    /// registered in this host (unless [`ClientOptions::remote_functions`]).
    pub async fn signal_entity(
        &self,
        id: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Result<(), DurableError> {
        self.signal_entity_with_options(id, operation, input, SignalEntityOptions::default())
            .await
    }

    /// Signals an operation on an entity with options: with
    /// [`SignalEntityOptions::signal_time`] the operation is delivered at that time (Durable
    /// Functions' scheduled signals).
    pub async fn signal_entity_with_options(
        &self,
        id: &EntityId,
        operation: &str,
        input: impl Serialize,
        options: SignalEntityOptions,
    ) -> Result<(), DurableError> {
        let registered = self.inner.registry.entity(&id.name);
        if id.name.is_empty() || (registered.is_none() && !self.inner.options.remote_functions) {
            return Err(DurableError::UnknownEntity(id.name.clone()));
        }
        let input = serde_json::to_value(input)?;
        let what = format!("the input of operation `{operation}`");
        crate::payload_limit::check(&what, &input, self.inner.options.max_payload_bytes)?;
        let instance_id = id.instance_id();
        let event = HistoryEvent::new(
            self.inner.clock.now(),
            EventKind::EntityOperationSignaled {
                request_id: uuid::Uuid::new_v4().simple().to_string(),
                target_instance_id: instance_id.clone(),
                operation: operation.to_owned(),
                input,
                critical_section_id: None,
            },
        );
        let message = EntityMessage {
            instance_id,
            name: registered
                .map_or(id.name.as_str(), |d| d.name)
                .to_lowercase(),
            event,
            deliver_at: options.signal_time,
        };
        self.inner.store.signal_entity(message).await?;
        Ok(())
    }

    /// One page of the entities that match `query`, oldest first (Durable Functions'
    /// `ListEntitiesAsync`). Pass the returned continuation token back in
    /// [`EntityQuery::continuation_token`] for the next page.
    pub async fn list_entities(&self, query: &EntityQuery) -> Result<EntityPage, DurableError> {
        let after = query
            .continuation_token
            .as_deref()
            .map(read_continuation_token)
            .transpose()?;
        let statuses = if query.include_stateless {
            Vec::new()
        } else {
            vec![RuntimeStatus::Running]
        };
        let listing = InstanceQuery {
            instance_id_prefix: Some(match &query.instance_id_prefix {
                Some(prefix) => prefix.clone(),
                None => crate::instance_id::entity_id_prefix(query.name.as_deref()),
            }),
            updated_from: query.last_operation_from,
            updated_to: query.last_operation_to,
            statuses,
            page_size: query.page_size,
            after,
            entities: true,
            ..InstanceQuery::default()
        };
        let page = self.inner.store.list_instances(&listing).await?;
        Ok(EntityPage {
            entities: page
                .instances
                .into_iter()
                .filter_map(|record| entity_status(record, query.fetch_state))
                .collect(),
            continuation_token: page.next.map(|cursor| cursor.to_token()),
        })
    }

    /// One entity as a listing shows it (with its state), or `None` when it has no row.
    pub async fn get_entity(&self, id: &EntityId) -> Result<Option<EntityStatus>, DurableError> {
        let record = self.inner.store.get_instance(&id.instance_id()).await?;
        Ok(record.and_then(|record| entity_status(record, true)))
    }

    /// Releases orphaned entity locks: locks held by a critical section whose orchestration
    /// has ended or no longer exists (purged, replaced). An orchestration releases its locks
    /// itself when it ends, so this is for instances removed behind its back.
    ///
    /// Entities without state need no cleaning here: they disappear by themselves once
    /// nothing is queued for them and they hold no lock.
    pub async fn clean_entity_storage(&self) -> Result<CleanEntityStorageResult, DurableError> {
        let mut result = CleanEntityStorageResult::default();
        let mut after = None;
        loop {
            let query = InstanceQuery {
                instance_id_prefix: Some(crate::instance_id::entity_id_prefix(None)),
                page_size: 500,
                after,
                entities: true,
                ..InstanceQuery::default()
            };
            let page = self.inner.store.list_instances(&query).await?;
            for entity in &page.instances {
                if self.release_if_orphaned(entity).await? {
                    result.orphaned_locks_released += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(result),
            }
        }
    }

    /// Sends an entity the unlock its lock holder can no longer send; true when it did.
    async fn release_if_orphaned(&self, entity: &InstanceRecord) -> Result<bool, DurableError> {
        let Ok(locks) = crate::worker::EntityLocks::load(&entity.custom_status) else {
            return Ok(false);
        };
        let Some(holder) = locks.holder() else {
            return Ok(false);
        };
        let holder_alive = self
            .inner
            .store
            .get_instance(&holder.instance_id)
            .await?
            .is_some_and(|record| {
                record.execution_id == holder.execution_id && !record.status.is_terminal()
            });
        if holder_alive {
            return Ok(false);
        }
        let Some(name) = EntityId::from_instance_id(&entity.instance_id).map(|id| id.name) else {
            return Ok(false);
        };
        let unlock = HistoryEvent::new(
            self.inner.clock.now(),
            EventKind::EntityUnlockSent {
                critical_section_id: holder.critical_section_id.clone(),
                target_instance_id: entity.instance_id.clone(),
            },
        );
        let message = EntityMessage {
            instance_id: entity.instance_id.clone(),
            name,
            event: unlock,
            deliver_at: None,
        };
        self.inner.store.signal_entity(message).await?;
        Ok(true)
    }

    /// Whether the store answers a small read and takes a small durable write, each within
    /// `timeout`: what a host reports as its health. While the store is unreachable (a lost
    /// database connection) or refuses writes (a full disk, a read-only file) this is a
    /// [`DurableError::Store`] error saying which, and work waits; nothing acknowledged is
    /// lost.
    pub async fn check_store(&self, timeout: Duration) -> Result<(), DurableError> {
        let late = |what: &str| {
            DurableError::Store(StoreError::Unavailable(format!(
                "the store did not answer a {what} within {timeout:?}"
            )))
        };
        match tokio::time::timeout(timeout, self.inner.store.next_due()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(DurableError::Store(error)),
            Err(_) => return Err(late("read")),
        }
        match tokio::time::timeout(timeout, self.inner.store.probe_write()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(StoreError::Unavailable(reason) | StoreError::Internal(reason))) => {
                Err(DurableError::Store(StoreError::Unavailable(format!(
                    "it refuses writes: {reason}"
                ))))
            }
            Ok(Err(error)) => Err(DurableError::Store(error)),
            Err(_) => Err(late("write")),
        }
    }

    /// The state of an entity, decoded as `S`; `None` when the entity does not exist or has
    /// no state.
    pub async fn read_entity_state<S: serde::de::DeserializeOwned>(
        &self,
        id: &EntityId,
    ) -> Result<Option<S>, DurableError> {
        let Some(record) = self.inner.store.get_instance(&id.instance_id()).await? else {
            return Ok(None);
        };
        if record.status != RuntimeStatus::Running {
            return Ok(None);
        }
        serde_json::from_value(record.output)
            .map(Some)
            .map_err(|e| {
                DurableError::Serialization(format!(
                    "the state of entity `{id}` does not match `{}`: {e}",
                    std::any::type_name::<S>()
                ))
            })
    }

    /// The status of an instance, or `None` when there is no such instance; `options` say
    /// whether it includes the input and the history.
    pub async fn get_status(
        &self,
        instance_id: &str,
        options: StatusOptions,
    ) -> Result<Option<OrchestrationStatus>, DurableError> {
        let Some(record) = self.inner.store.get_instance(instance_id).await? else {
            return Ok(None);
        };
        let history_events = if options.show_history {
            let history = self.inner.store.get_history(instance_id).await?;
            Some(history_to_wire(&history, options.show_history_output))
        } else {
            None
        };
        Ok(Some(OrchestrationStatus {
            history_events,
            ..to_status(record, options.show_input)
        }))
    }

    /// Waits until the instance is Completed, Failed or Terminated and returns its status;
    /// fails with [`DurableError::Timeout`] after `timeout`. The commit that finishes the
    /// instance wakes the wait at once (on PostgreSQL also when another host finished it);
    /// the store is read again at least every second as a fallback.
    pub async fn wait_for_completion(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<OrchestrationStatus, DurableError> {
        self.wait_until_finished(instance_id, timeout, FALLBACK_POLL)
            .await?
            .ok_or_else(|| DurableError::Timeout(instance_id.to_owned()))
    }

    /// Waits up to `timeout` for the instance to finish: the answer Durable Functions gives
    /// an HTTP caller that may wait. When it finishes in time, 200 with its output (for
    /// Completed, Failed and Terminated alike); otherwise the 202 check-status answer of
    /// [`DurableClient::create_check_status_response`]. `retry_interval` bounds how long the
    /// wait goes without reading the store again (the fallback when no commit in this
    /// process, nor a notification, says the instance finished).
    pub async fn wait_for_completion_or_create_check_status_response(
        &self,
        instance_id: &str,
        timeout: Duration,
        retry_interval: Duration,
    ) -> Result<Response, DurableError> {
        let poll = retry_interval.max(Duration::from_millis(10));
        match self.wait_until_finished(instance_id, timeout, poll).await? {
            Some(status) => Ok((StatusCode::OK, axum::Json(status.output)).into_response()),
            None => Ok(self.create_check_status_response(instance_id)),
        }
    }

    /// The instance's status once it has finished, or `None` after `timeout`.
    async fn wait_until_finished(
        &self,
        instance_id: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<Option<OrchestrationStatus>, DurableError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let finished = self.inner.store.signals().finished.watch(instance_id);
        loop {
            // Listen before reading, so a finish in between still wakes us.
            let notified = finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let status = self
                .get_status(instance_id, StatusOptions::default())
                .await?
                .ok_or_else(|| DurableError::InstanceNotFound(instance_id.to_owned()))?;
            if status.runtime_status.is_terminal() {
                return Ok(Some(status));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(poll.min(deadline - now)) => {}
            }
        }
    }

    /// The management URLs of an instance.
    pub fn create_http_management_payload(&self, instance_id: &str) -> HttpManagementPayload {
        let options = &self.inner.options;
        let instance = format!(
            "{}{}/instances/{}",
            self.base_url,
            options.webhook_path,
            encode_path_segment(instance_id)
        );
        let mut query = format!(
            "taskHub={}&connection=Storage",
            encode_path_segment(&options.hub)
        );
        if let Some(credential) = &options.url_credential {
            query.push_str("&code=");
            query.push_str(&encode_path_segment(&credential.code_for(instance_id)));
        }
        HttpManagementPayload {
            id: instance_id.to_owned(),
            status_query_get_uri: format!("{instance}?{query}"),
            send_event_post_uri: format!("{instance}/raiseEvent/{{eventName}}?{query}"),
            terminate_post_uri: format!("{instance}/terminate?reason={{text}}&{query}"),
            rewind_post_uri: format!("{instance}/rewind?reason={{text}}&{query}"),
            purge_history_delete_uri: format!("{instance}?{query}"),
            restart_post_uri: format!("{instance}/restart?{query}"),
            suspend_post_uri: format!("{instance}/suspend?reason={{text}}&{query}"),
            resume_post_uri: format!("{instance}/resume?reason={{text}}&{query}"),
        }
    }

    /// The 202 response Durable Functions gives when an instance starts: the management
    /// payload as JSON, with `Location` pointing at the status URL and `Retry-After`.
    pub fn create_check_status_response(&self, instance_id: &str) -> Response {
        let payload = self.create_http_management_payload(instance_id);
        let location = HeaderValue::from_str(&payload.status_query_get_uri).ok();
        let mut response = (StatusCode::ACCEPTED, axum::Json(payload)).into_response();
        if let Some(location) = location {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DurableClient {
    type Rejection = Response;

    /// The client the host put in the request's extensions, its URLs already based where
    /// the host says (its public URL, or its own address); the request's `Host` header is
    /// never trusted here.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<DurableClient>()
            .cloned()
            .ok_or_else(|| {
                DurableError::custom(
                    "no DurableClient is configured for this router; serve it through durable_host",
                )
                .into_response()
            })
    }
}

impl IntoResponse for DurableError {
    fn into_response(self) -> Response {
        let status = match &self {
            DurableError::UnknownOrchestrator(_)
            | DurableError::UnknownEntity(_)
            | DurableError::InvalidInstanceId(_)
            | DurableError::InvalidInput(_)
            | DurableError::Serialization(_) => StatusCode::BAD_REQUEST,
            DurableError::InstanceNotFound(_) => StatusCode::NOT_FOUND,
            DurableError::InstanceAlreadyRunning(_) => StatusCode::CONFLICT,
            DurableError::InstanceFinished(_) => StatusCode::GONE,
            DurableError::InvalidStatus(_) => StatusCode::CONFLICT,
            DurableError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            DurableError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            DurableError::Store(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            axum::Json(crate::wire::ErrorBody::new(self.to_string())),
        )
            .into_response()
    }
}

impl RuntimeStatus {
    /// The HTTP status a status query answers with: 202 while the instance may still
    /// change, 200 once it finished.
    pub fn http_status(self) -> StatusCode {
        if self.is_terminal() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        }
    }
}
