//! `OrchestrationContext`: the orchestrator's only door to the outside world.

use std::borrow::Borrow;
use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::critical_section::{self, EntityLock};
use super::future::DurableFuture;
use super::retry::{Reissue, RetryOptions};
use super::state::{
    Action, ActionKind, ActionLimitExceeded, ContinueAsNew, LockRequest, OpenTask, SharedState,
    TaskKey, TaskOutcome, lock,
};
use crate::entity::EntityId;
use crate::error::DurableError;
use crate::history::FailureDetails;
use crate::instance_id::validate_instance_id;

/// Namespace of the name-based ids [`OrchestrationContext::new_guid`] makes.
const GUID_NAMESPACE: Uuid = Uuid::from_u128(0x9e95_2958_5e33_4daf_827f_2fa1_2937_b875);

/// The context an orchestrator function receives.
///
/// Every method is deterministic: on replay it gives the same answers as in the original
/// run, because answers come from the recorded history, never from the clock or the network.
/// Cloning is cheap; all clones share one orchestration.
#[derive(Clone)]
pub struct OrchestrationContext {
    state: SharedState,
}

fn serialize_input(what: &str, input: impl Serialize) -> Result<Value, DurableError> {
    serde_json::to_value(input).map_err(|e| {
        DurableError::Serialization(format!("the input of {what} cannot be serialized: {e}"))
    })
}

impl OrchestrationContext {
    pub(crate) fn new(state: SharedState) -> Self {
        OrchestrationContext { state }
    }

    /// The id of this orchestration instance.
    pub fn instance_id(&self) -> String {
        lock(&self.state).instance_id.clone()
    }

    /// The orchestration that started this one as a sub-orchestration: its instance and
    /// execution ids and the call's sequence number there (Durable Functions'
    /// `ParentInstanceId`); `None` for an instance started by a client.
    pub fn parent_instance(&self) -> Option<crate::history::ParentInstance> {
        lock(&self.state).parent.clone()
    }

    /// The orchestration version this instance started with (Durable Functions'
    /// `context.Version`): the start request's, the host's `defaultVersion` when the
    /// request named none, or the parent's for a sub-orchestration; `None` when there was
    /// none. It stays the same through replays and continue-as-new, so code can branch on
    /// it to keep running old instances the old way.
    ///
    /// Compare versions with [`version_at_least`](Self::version_at_least) or
    /// [`crate::version::compare`], which order `1.10` after `1.9`.
    pub fn version(&self) -> Option<String> {
        lock(&self.state).version.clone()
    }

    /// Whether this instance's version is `version` or newer, as versions compare (see
    /// [`crate::version`]): `if ctx.version_at_least("2.0") { /* the new steps */ }`.
    pub fn version_at_least(&self, version: &str) -> bool {
        let own = lock(&self.state).version.clone();
        crate::version::compare(own.as_deref(), Some(version)).is_ge()
    }

    /// The orchestration's input, decoded into `T` (`serde_json::Value` takes anything).
    pub fn get_input<T: DeserializeOwned>(&self) -> Result<T, DurableError> {
        let input = lock(&self.state).input.clone();
        crate::payload::decode(input).map_err(|e| {
            DurableError::Serialization(format!(
                "the orchestration input does not match `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// True while the orchestrator is re-running already recorded steps. Use it to keep
    /// logs and other side effects from repeating on replay.
    pub fn is_replaying(&self) -> bool {
        lock(&self.state).is_replaying
    }

    /// The current time of the orchestration: the start of the current turn, as recorded in
    /// history. Use it instead of the system clock.
    pub fn current_utc_datetime(&self) -> DateTime<Utc> {
        lock(&self.state).current_time
    }

    /// A new id that is the same on every replay: derived from the instance id, the current
    /// orchestration time and a counter.
    pub fn new_guid(&self) -> Uuid {
        let mut state = lock(&self.state);
        let name = format!(
            "{}_{}_{}",
            state.instance_id,
            state
                .current_time
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            state.guid_counter
        );
        state.guid_counter += 1;
        Uuid::new_v5(&GUID_NAMESPACE, name.as_bytes())
    }

    /// A random number that replays the same: drawn from the instance id, the turn's time
    /// and a counter (like [`new_guid`](Self::new_guid), which it shares), so an
    /// orchestration may branch on it. Not for secrets: anyone who knows those can compute it.
    pub fn random_u64(&self) -> u64 {
        let guid = self.new_guid();
        let (high, _) = guid.as_u64_pair();
        high
    }

    /// A random number in `range` (`low..high`, `high` excluded) that replays the same; see
    /// [`random_u64`](Self::random_u64). An empty range gives its start.
    pub fn random_range(&self, range: std::ops::Range<u64>) -> u64 {
        let span = range.end.saturating_sub(range.start);
        if span == 0 {
            return range.start;
        }
        range.start + self.random_u64() % span
    }

    /// Sets the custom status that the status API shows while the instance runs.
    pub fn set_custom_status(&self, status: impl Serialize) {
        let value = serde_json::to_value(status)
            .unwrap_or_else(|e| Value::String(format!("custom status cannot be serialized: {e}")));
        let mut state = lock(&self.state);
        let limit = state.limits.max_payload_bytes;
        match crate::payload_limit::over_limit(&value, limit) {
            // Never stored: the turn fails the instance instead, on replay too.
            Some(size) => {
                state.custom_status = Value::Null;
                state.oversized_custom_status = Some(crate::payload_limit::failure(
                    "the custom status",
                    size,
                    limit,
                ));
            }
            None => state.custom_status = value,
        }
    }

    /// Calls the activity registered as `name` with `input` and returns its result as `R`.
    ///
    /// The call is scheduled when this method runs, not when the future is first polled,
    /// so several calls made before awaiting run in parallel.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let greeting: String = ctx.call_activity("SayHello", "Tokyo").await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_activity<R: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        self.call_activity_at(
            name,
            serialize_input(&format!("activity `{name}`"), input),
            Location::caller(),
        )
    }

    pub(super) fn call_activity_at<R>(
        &self,
        name: &str,
        input: Result<Value, DurableError>,
        location: &'static Location<'static>,
    ) -> DurableFuture<R> {
        match input {
            Ok(input) => self
                .schedule(
                    ActionKind::CallActivity {
                        name: name.to_owned(),
                        input: input.clone(),
                    },
                    name,
                    location,
                )
                .reissued_by(Reissue::Activity {
                    name: name.to_owned(),
                    input,
                    location,
                }),
            Err(error) => DurableFuture::failed(error),
        }
    }

    /// Calls an activity, retrying failures as `retry` says (the same as
    /// `call_activity(name, input).with_retry(retry)`, see [`DurableFuture::with_retry`]).
    /// Each wait between attempts is a durable timer.
    #[track_caller]
    pub fn call_activity_with_retry<R: DeserializeOwned>(
        &self,
        name: &str,
        retry: &RetryOptions,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let input = serialize_input(&format!("activity `{name}`"), input);
        self.call_activity_at(name, input, Location::caller())
            .with_retry(retry.clone())
    }

    /// Starts the orchestrator `name` as a child of this one and returns its output. The
    /// child's id is derived from this instance's id and the call's position, so it is the
    /// same on replay.
    #[track_caller]
    pub fn call_sub_orchestrator<R: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let input = serialize_input(&format!("sub-orchestration `{name}`"), input);
        self.call_sub_orchestrator_at(name, None, input, Location::caller())
    }

    /// Starts the orchestrator `name` as a child with the given instance id.
    #[track_caller]
    pub fn call_sub_orchestrator_with_instance_id<R: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let input = serialize_input(&format!("sub-orchestration `{name}`"), input);
        self.call_sub_orchestrator_at(name, Some(instance_id), input, Location::caller())
    }

    /// Starts a child orchestration, retrying failures as `retry` says (see
    /// [`DurableFuture::with_retry`]). Without an instance id each attempt is a new child;
    /// with one, each attempt reuses it.
    #[track_caller]
    pub fn call_sub_orchestrator_with_retry<R: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        retry: &RetryOptions,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let input = serialize_input(&format!("sub-orchestration `{name}`"), input);
        self.call_sub_orchestrator_at(name, instance_id, input, Location::caller())
            .with_retry(retry.clone())
    }

    fn call_sub_orchestrator_at<R>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: Result<Value, DurableError>,
        location: &'static Location<'static>,
    ) -> DurableFuture<R> {
        let input = match input {
            Ok(input) => input,
            Err(error) => return DurableFuture::failed(error),
        };
        let reissue = Reissue::SubOrchestrator {
            name: name.to_owned(),
            instance_id: instance_id.map(str::to_owned),
            input: input.clone(),
            location,
        };
        let instance_id = match instance_id {
            Some(id) => {
                if let Err(error) = validate_instance_id(id) {
                    return DurableFuture::failed(error.into());
                }
                id.to_owned()
            }
            None => {
                let state = lock(&self.state);
                format!("{}:{}", state.instance_id, state.next_sequence)
            }
        };
        self.schedule(
            ActionKind::CallSubOrchestrator {
                name: name.to_owned(),
                instance_id,
                input,
            },
            name,
            location,
        )
        .reissued_by(reissue)
    }

    /// A durable timer: resolves at `fire_at` (orchestration time). Nothing is held while
    /// it waits; it survives restarts.
    #[track_caller]
    pub fn create_timer(&self, fire_at: DateTime<Utc>) -> DurableFuture<()> {
        self.timer_at(fire_at, Location::caller())
    }

    /// A durable timer made by the code at `location`.
    pub(super) fn timer_at(
        &self,
        fire_at: DateTime<Utc>,
        location: &'static Location<'static>,
    ) -> DurableFuture<()> {
        self.schedule(ActionKind::CreateTimer { fire_at }, "timer", location)
    }

    /// Makes a retried call again.
    pub(super) fn reissue(&self, call: &Reissue) -> DurableFuture<Value> {
        match call {
            Reissue::Activity {
                name,
                input,
                location,
            } => self.call_activity_at(name, Ok(input.clone()), location),
            Reissue::SubOrchestrator {
                name,
                instance_id,
                input,
                location,
            } => self.call_sub_orchestrator_at(
                name,
                instance_id.as_deref(),
                Ok(input.clone()),
                location,
            ),
        }
    }

    /// Another handle on the orchestration behind `state`.
    pub(super) fn sharing(state: SharedState) -> Self {
        OrchestrationContext { state }
    }

    /// A durable timer that fires `duration` after the current orchestration time.
    #[track_caller]
    pub fn sleep(&self, duration: Duration) -> DurableFuture<()> {
        let fire_at = self.current_utc_datetime()
            + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        self.schedule(
            ActionKind::CreateTimer { fire_at },
            "timer",
            Location::caller(),
        )
    }

    /// Waits for the next external event named `name` (names ignore case) and decodes its
    /// data as `T`. Events that arrived before the wait are buffered and delivered in
    /// arrival order; two waits on one name get successive events.
    pub fn wait_for_external_event<T: DeserializeOwned>(&self, name: &str) -> DurableFuture<T> {
        let folded = name.to_lowercase();
        let mut state = lock(&self.state);
        let waiter = state.next_waiter;
        state.next_waiter += 1;
        let key = TaskKey::Event(waiter);
        let buffered = state
            .event_buffer
            .iter()
            .position(|event| event.folded == folded);
        let mut task = OpenTask::default();
        match buffered.and_then(|index| state.event_buffer.remove(index)) {
            Some(event) => {
                task.outcome = Some(TaskOutcome::Completed(event.input));
                task.delivered = event.delivered;
            }
            None => state
                .event_waiters
                .entry(folded)
                .or_default()
                .push_back(waiter),
        }
        state.open_tasks.insert(key, task);
        drop(state);
        DurableFuture::open(self.state.clone(), key, format!("event `{name}`"))
    }

    /// Waits for an external event, but no longer than `timeout` (a durable timer); fails
    /// with [`DurableError::EventTimeout`] when the timer wins.
    #[track_caller]
    pub fn wait_for_external_event_with_timeout<T: DeserializeOwned + 'static>(
        &self,
        name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, DurableError>> + Send + 'static {
        let timer = self.sleep(timeout);
        let event = self.wait_for_external_event::<T>(name);
        let name = name.to_owned();
        async move {
            match futures::future::select(event, timer).await {
                futures::future::Either::Left((result, _timer)) => result,
                futures::future::Either::Right((fired, _event)) => {
                    fired?;
                    Err(DurableError::EventTimeout { name, timeout })
                }
            }
        }
    }

    /// Sends an event to another orchestration instance (one-way). Events to instances that
    /// do not exist or have finished are dropped.
    #[track_caller]
    pub fn raise_event(&self, instance_id: &str, name: &str, data: impl Serialize) {
        let Ok(input) = serialize_input(&format!("event `{name}`"), data) else {
            tracing::warn!(
                event = name,
                "event data cannot be serialized; event not sent"
            );
            return;
        };
        let action = ActionKind::SendEvent {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
            input,
        };
        self.push_action(action, Location::caller());
    }

    /// Signals an operation on an entity (one-way): the operation is queued for the entity,
    /// which is created when it does not exist. Signals from one orchestration reach the
    /// entity in the order they were sent.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// ctx.signal_entity(&EntityId::new("Counter", "votes"), "add", 1);
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn signal_entity(&self, id: &EntityId, operation: &str, input: impl Serialize) {
        let Ok(input) = serialize_input(&format!("entity operation `{operation}`"), input) else {
            tracing::warn!(
                operation,
                "operation input cannot be serialized; signal not sent"
            );
            return;
        };
        let instance_id = id.instance_id();
        let action = ActionKind::SignalEntity {
            request_id: self.next_request_id(),
            critical_section_id: self.section_holding(&instance_id),
            instance_id,
            operation: operation.to_owned(),
            input,
        };
        self.push_action(action, Location::caller());
    }

    /// Calls an operation on an entity (two-way) and resolves to its return value, decoded
    /// as `R`; fails with [`DurableError::TaskFailed`] when the operation fails.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let votes: i64 = ctx.call_entity(&EntityId::new("Counter", "votes"), "get", ()).await?;
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_entity<R: DeserializeOwned>(
        &self,
        id: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> DurableFuture<R> {
        let input = match serialize_input(&format!("entity operation `{operation}`"), input) {
            Ok(input) => input,
            Err(error) => return DurableFuture::failed(error),
        };
        let instance_id = id.instance_id();
        let critical_section_id = self.section_holding(&instance_id);
        if critical_section_id.is_none() && lock(&self.state).critical_section.is_some() {
            return DurableFuture::failed(DurableError::LockingRulesViolation(format!(
                "cannot call entity `{id}` from a critical section that does not lock it; \
                 lock it too, or call it after the section"
            )));
        }
        self.schedule(
            ActionKind::CallEntity {
                request_id: self.next_request_id(),
                instance_id,
                operation: operation.to_owned(),
                input,
                critical_section_id,
            },
            &format!("entity `{id}` operation `{operation}`"),
            Location::caller(),
        )
    }

    /// Locks `entities` for a critical section and resolves when all are held.
    ///
    /// The locks are taken in one global order (the entities' instance ids, sorted), so two
    /// orchestrations locking overlapping sets in different orders cannot deadlock. While
    /// the returned [`EntityLock`] is alive, operations others send to these entities wait,
    /// and this orchestration may call only these entities (signals to others are fine);
    /// dropping it releases them, and so does the orchestration's end. Locking again
    /// inside a section fails with [`DurableError::LockingRulesViolation`].
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let counter = EntityId::new("Counter", "votes");
    /// let _guard = ctx.lock([&counter]).await?;
    /// let votes: i64 = ctx.call_entity(&counter, "get", ()).await?;
    /// if votes < 10 {
    ///     ctx.call_entity::<()>(&counter, "add", 1).await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn lock<E: Borrow<EntityId>>(
        &self,
        entities: impl IntoIterator<Item = E>,
    ) -> impl Future<Output = Result<EntityLock, DurableError>> + Send + 'static {
        let location = Location::caller();
        let lock_set = critical_section::lock_set(entities);
        let refusal = if lock(&self.state).critical_section.is_some() {
            Some("cannot lock entities inside a critical section; release its locks first")
        } else if lock_set.is_empty() {
            Some("a critical section needs at least one entity to lock")
        } else {
            None
        };
        let state = self.state.clone();
        let request = match refusal {
            Some(reason) => Err(DurableError::LockingRulesViolation(reason.to_owned())),
            None => {
                let section = LockRequest {
                    critical_section_id: self.next_request_id(),
                    lock_set,
                };
                let granted: DurableFuture<Value> = self.schedule(
                    ActionKind::LockEntities {
                        critical_section_id: section.critical_section_id.clone(),
                        lock_set: section.lock_set.clone(),
                    },
                    &format!("lock {:?}", section.lock_set),
                    location,
                );
                Ok((section, granted))
            }
        };
        async move {
            let (section, granted) = request?;
            granted.await?;
            lock(&state).critical_section = Some(section.clone());
            Ok(EntityLock::new(state, section))
        }
    }

    /// The entities this orchestration holds locked, in locking order, while it is inside
    /// a critical section; empty outside one (Durable Functions' `IsLocked`).
    pub fn locked_entities(&self) -> Vec<EntityId> {
        lock(&self.state)
            .critical_section
            .as_ref()
            .map(|section| {
                section
                    .lock_set
                    .iter()
                    .filter_map(|id| EntityId::from_instance_id(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The critical section that holds `entity`'s lock, if the orchestration is in one.
    fn section_holding(&self, entity: &str) -> Option<String> {
        lock(&self.state)
            .critical_section
            .as_ref()
            .filter(|section| section.lock_set.iter().any(|e| e == entity))
            .map(|section| section.critical_section_id.clone())
    }

    /// The id of the next entity request: the instance id and the call's sequence number,
    /// so it is the same on replay.
    fn next_request_id(&self) -> String {
        let state = lock(&self.state);
        format!("{}:{}", state.instance_id, state.next_sequence)
    }

    /// Ends this execution and starts the next one of the same instance with `input`, with
    /// a fresh history (eternal orchestrations). Return from the orchestrator right after;
    /// its return value is not used. Events that arrived but were not consumed are dropped.
    #[track_caller]
    pub fn continue_as_new(&self, input: impl Serialize) {
        self.request_continue_as_new(input, false);
    }

    /// Like [`continue_as_new`](Self::continue_as_new), but external events that arrived
    /// and were not consumed are carried over to the next execution.
    #[track_caller]
    pub fn continue_as_new_preserving_events(&self, input: impl Serialize) {
        self.request_continue_as_new(input, true);
    }

    #[track_caller]
    fn request_continue_as_new(&self, input: impl Serialize, preserve_unprocessed_events: bool) {
        let input = serde_json::to_value(input).unwrap_or(Value::Null);
        let mut state = lock(&self.state);
        let limit = state.limits.max_payload_bytes;
        if let Some(size) = crate::payload_limit::over_limit(&input, limit) {
            let what = format!("the input of continue_as_new at {}", Location::caller());
            state.pending.clear();
            state.over_limit = Some(crate::payload_limit::failure(&what, size, limit));
            drop(state);
            std::panic::panic_any(ActionLimitExceeded);
        }
        state.continue_as_new = Some(ContinueAsNew {
            input,
            preserve_unprocessed_events,
        });
    }

    /// Records a call and returns its sequence number.
    fn push_action(&self, kind: ActionKind, location: &'static Location<'static>) -> i64 {
        let mut state = lock(&self.state);
        let limits = state.limits;
        let too_many =
            |message: String| FailureDetails::new("MaxOrchestrationActionsExceeded", message);
        let over = if state.pending.len() >= limits.per_turn {
            Some(too_many(format!(
                "the orchestration scheduled more than {} actions in one turn (the host's \
                 maxOrchestrationActions limit); the instance fails instead",
                limits.per_turn
            )))
        } else if u64::try_from(state.next_sequence).unwrap_or(u64::MAX) >= limits.per_execution {
            Some(too_many(format!(
                "the orchestration scheduled more than {} actions in its history (the host's \
                 maxOrchestrationActions limit); the instance fails instead (continue as new \
                 to start a fresh history)",
                limits.per_execution
            )))
        } else {
            oversized_payload(&kind, limits.max_payload_bytes, location)
        };
        if let Some(failure) = over {
            state.pending.clear();
            state.over_limit = Some(failure);
            drop(state);
            std::panic::panic_any(ActionLimitExceeded);
        }
        let sequence = state.next_sequence;
        state.next_sequence += 1;
        if let ActionKind::LockEntities {
            critical_section_id,
            lock_set,
        } = &kind
        {
            state.lock_requests.push(LockRequest {
                critical_section_id: critical_section_id.clone(),
                lock_set: lock_set.clone(),
            });
        }
        state.pending.push(Action {
            sequence,
            kind,
            location,
        });
        sequence
    }

    /// Records a call that has a result and returns the future of that result.
    fn schedule<R>(
        &self,
        kind: ActionKind,
        name: &str,
        location: &'static Location<'static>,
    ) -> DurableFuture<R> {
        let key = TaskKey::Call(self.push_action(kind, location));
        lock(&self.state)
            .open_tasks
            .insert(key, OpenTask::default());
        DurableFuture::open(self.state.clone(), key, name.to_owned())
    }
}

/// The failure for an action whose payload (a call's input, an event's data) is over the
/// payload limit, naming the call and where the code makes it.
fn oversized_payload(
    kind: &ActionKind,
    limit: usize,
    location: &'static Location<'static>,
) -> Option<FailureDetails> {
    let input = match kind {
        ActionKind::CallActivity { input, .. }
        | ActionKind::CallSubOrchestrator { input, .. }
        | ActionKind::SendEvent { input, .. }
        | ActionKind::SignalEntity { input, .. }
        | ActionKind::CallEntity { input, .. } => input,
        ActionKind::CreateTimer { .. }
        | ActionKind::LockEntities { .. }
        | ActionKind::UnlockEntity { .. } => return None,
    };
    let size = crate::payload_limit::over_limit(input, limit)?;
    let what = format!("the input of {} at {location}", kind.describe());
    Some(crate::payload_limit::failure(&what, size, limit))
}
