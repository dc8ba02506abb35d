//! What a store keeps and hands out: instance rows, queued messages, work items, and what
//! a turn writes.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::history::{HistoryEvent, ParentInstance};
use crate::status::RuntimeStatus;
use crate::version::KeyRange;

/// One instance's row.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    /// The instance id.
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The current execution's id.
    pub execution_id: String,
    /// Where the instance stands.
    pub status: RuntimeStatus,
    /// The input.
    pub input: Value,
    /// The output, or the failure details when it failed.
    pub output: Value,
    /// The custom status.
    pub custom_status: Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// How many events the current execution's history has.
    pub history_length: u64,
    /// The orchestration that started this one, for a sub-orchestration.
    pub parent: Option<ParentInstance>,
    /// The orchestration version the instance started with (see [`crate::version`]).
    pub version: Option<String>,
}

/// A request to create (or replace a finished) instance.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance id (already validated).
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The new execution's id.
    pub execution_id: String,
    /// The input.
    pub input: Value,
    /// The creation time.
    pub created_at: DateTime<Utc>,
    /// The orchestration that starts this one, for a sub-orchestration.
    pub parent: Option<ParentInstance>,
    /// When the instance begins; until then it is Pending. `None`: at once.
    pub scheduled_start: Option<DateTime<Utc>>,
    /// Which existing instance with the same id may be replaced.
    pub replace: ReplacePolicy,
    /// The trace the instance joins (from the request that started it, or its parent's).
    pub trace_context: Option<crate::trace_context::TraceContext>,
    /// The orchestration version (from the start request, the host's default version, or
    /// the parent's); never empty.
    pub version: Option<String>,
}

/// Which existing instance a new one with the same id may replace (Durable Functions'
/// `overridableExistingInstanceStates`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplacePolicy {
    /// Only Completed, Failed or Terminated instances (the default).
    #[default]
    NonRunning,
    /// Any instance, also one that is still running.
    Any,
}

/// A message waiting for an instance: an event to feed its next turn.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    /// The store's id of the message, to consume it at commit.
    pub id: i64,
    /// The execution the message answers (messages for an older execution are stale);
    /// `None` for messages to whichever execution is current (external events, requests).
    pub execution_id: Option<String>,
    /// The event to deliver.
    pub event: HistoryEvent,
}

impl QueuedMessage {
    /// Whether the message is for `execution_id`: it answers that execution, or whichever
    /// is current.
    pub fn is_for(&self, execution_id: &str) -> bool {
        self.execution_id
            .as_deref()
            .is_none_or(|answered| answered == execution_id)
    }
}

/// An instance leased to a worker with its waiting messages.
#[derive(Debug, Clone)]
pub struct OrchestrationWorkItem {
    /// The instance row.
    pub instance: InstanceRecord,
    /// The current execution's history, when the fetch asked for it.
    pub history: Option<Vec<HistoryEvent>>,
    /// The visible messages, oldest first.
    pub messages: Vec<QueuedMessage>,
    /// How many times the instance was handed out since its last commit, counting this one;
    /// more than one means earlier turns never committed (their worker died).
    pub dequeue_count: u32,
}

/// How a dispatcher leases instances with work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// How long the leases last.
    pub lease: Duration,
    /// Most instances to lease at once; fewer come back when no more are free.
    pub max: usize,
    /// Load each instance's history too (a worker that keeps live orchestrations reads it
    /// only when it has none for the instance).
    pub with_history: bool,
    /// Lease only orchestration instances whose version's sort key lies in this range
    /// (entities always); `None`: every instance.
    pub versions: Option<KeyRange>,
    /// Lease only orchestration instances of these orchestrators; `None`: every name.
    pub names: Option<NameSet>,
    /// Lease only entities of these names (lower case, as entity rows are named); `None`:
    /// every entity.
    pub entity_names: Option<NameSet>,
}

/// The function names a worker runs, for fetches that lease only work it can do: a host
/// whose remote workers (other languages' SDKs) come and go leaves their work to a host
/// that has them connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSet(Arc<[String]>);

impl NameSet {
    /// The set of `names` (case matters, as in the registry).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        NameSet(names.into())
    }

    /// Whether `name` is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.0
            .binary_search_by(|probe| probe.as_str().cmp(name))
            .is_ok()
    }

    /// The names, sorted.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The names as a JSON array, for SQL that reads it (`json_each`).
    pub fn to_json(&self) -> String {
        serde_json::Value::from(self.0.to_vec()).to_string()
    }
}

/// How an activity dispatcher leases calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFetch {
    /// How long the leases last.
    pub lease: Duration,
    /// Most calls to lease at once; fewer come back when no more are free.
    pub max: usize,
    /// Lease only calls of these activities; `None`: every name.
    pub names: Option<NameSet>,
}

/// Work a turn scheduled: one activity call.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    /// The sequence number of the call (`TaskScheduled`'s event id).
    pub task_id: i64,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// Hand-outs of the scheduling turn that ended without a commit (their worker died):
    /// each may have run this call ahead of the commit, so they count towards its poison
    /// limit like hand-outs of the call itself.
    pub earlier_hand_outs: u32,
}

/// Everything one turn changes, committed atomically. For an entity (`@name@key`) the
/// turn is a batch of operations: no history, the state as `output`, status Running while
/// it has state; an entity left Pending (no state) with nothing queued is removed.
#[derive(Debug, Clone)]
pub struct TurnCommit {
    /// The instance.
    pub instance_id: String,
    /// The execution the turn ran.
    pub execution_id: String,
    /// History length the turn started from; a different stored length means another
    /// worker committed in between, and the commit is rejected.
    pub expected_history_length: u64,
    /// Ids of the messages the turn consumed.
    pub consumed: Vec<i64>,
    /// Events to append to the history.
    pub appended: Vec<HistoryEvent>,
    /// The status after the turn.
    pub status: RuntimeStatus,
    /// The output (or failure details) when finished.
    pub output: Value,
    /// The custom status the orchestrator set.
    pub custom_status: Value,
    /// Activities to run.
    pub activities: Vec<NewActivity>,
    /// Durable timers: `TimerFired` events delivered to this instance at their `fire_at`.
    pub timers: Vec<NewTimer>,
    /// Sub-orchestrations to create. One whose id is taken by a running instance is not
    /// created; the caller gets `SubOrchestrationInstanceFailed` instead.
    pub children: Vec<NewInstance>,
    /// Messages to other instances (events, results to a parent). Messages to instances
    /// that do not exist or have finished are dropped.
    pub messages: Vec<OutboundMessage>,
    /// Set when the orchestration continues as new: its history is reset and this
    /// execution starts.
    pub continue_as_new: Option<NewExecution>,
    /// Set when the turn rewinds a failed instance: the history is cut to this many
    /// events before `appended` is added.
    pub truncate_history_to: Option<u64>,
}

/// A turn to write, with how the writing worker holds its instance.
#[derive(Debug, Clone)]
pub struct TurnWrite {
    /// What the turn changes.
    pub turn: TurnCommit,
    /// Why the worker may write it.
    pub claim: TurnClaim,
    /// Lease the activities the turn schedules to the writing worker for this long and
    /// return them, so it runs them at once (the in-process fast path); `None`: they wait
    /// for an activity dispatcher's fetch.
    pub lease_activities: Option<Duration>,
}

/// Why a worker may write a turn. Whatever the claim, a turn that cannot be written
/// changes nothing.
#[derive(Debug, Clone)]
pub enum TurnClaim {
    /// The instance is leased to the worker (it fetched it): the lease must be unexpired
    /// and the instance still at the execution and history length the turn started from;
    /// otherwise [`StoreError::LeaseLost`](super::StoreError::LeaseLost).
    Leased,
    /// The turn creates the instance: the worker ran its first turn ahead of the creation
    /// (an eager start). The instance's `ExecutionStarted` is not queued; it is the turn's
    /// first appended event. Refused with
    /// [`StoreError::InstanceExists`](super::StoreError::InstanceExists) when a running
    /// instance holds the id and the policy keeps it.
    Creates(NewInstance),
    /// The turn follows this finished activity call, which is still leased to the worker:
    /// it was computed ahead from the live orchestration with the call's result as its only
    /// new message (`turn.appended` starts with it). The call's work item goes with the
    /// write. The instance must be free (no live lease, not suspended) and where the turn
    /// started; otherwise [`StoreError::LeaseLost`](super::StoreError::LeaseLost), and the
    /// worker reports the result on its own.
    CompletesActivity(ActivityWorkItem),
}

/// A durable timer a turn created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    /// The `TimerCreated` event id.
    pub timer_id: i64,
    /// When it fires.
    pub fire_at: DateTime<Utc>,
}

/// A message from one instance to another.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    /// The receiving instance.
    pub instance_id: String,
    /// The receiving execution, when the message is an answer to one (a child's result).
    pub execution_id: Option<String>,
    /// The event to deliver.
    pub event: HistoryEvent,
}

/// The next execution of an instance that continues as new.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    /// Its id.
    pub execution_id: String,
    /// Its input.
    pub input: Value,
    /// External events the last execution received but did not consume, carried over.
    pub carried_events: Vec<HistoryEvent>,
    /// The trace the execution stays in.
    pub trace_context: Option<crate::trace_context::TraceContext>,
}

/// An activity call leased to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityWorkItem {
    /// The store's id of the work item.
    pub id: i64,
    /// The calling instance.
    pub instance_id: String,
    /// The calling execution.
    pub execution_id: String,
    /// The call's sequence number in the caller's history.
    pub task_id: i64,
    /// The activity's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// How many times it has been leased, counting this one.
    pub dequeue_count: u32,
}

/// A finished activity call to report.
#[derive(Debug, Clone)]
pub struct ActivityCompletion {
    /// The call, leased to the reporting worker.
    pub item: ActivityWorkItem,
    /// Its result: `TaskCompleted` or `TaskFailed`.
    pub result: HistoryEvent,
    /// When the caller's instance is free, lease it to the reporting worker for this long
    /// in the same write and return its work item (history left out), so its next turn
    /// runs without a fetch; `None`: leave it to the orchestration dispatchers.
    pub lease_instance: Option<Duration>,
    /// The versions the reporting worker takes: the caller's instance is leased to it only
    /// when its version's sort key lies in this range (`None`: any version).
    pub versions: Option<KeyRange>,
    /// The orchestrators the reporting worker runs: the caller's instance is leased to it
    /// only when it is one of them (`None`: any).
    pub names: Option<NameSet>,
}

/// An operation (or lock message) for an entity from outside an orchestration turn.
#[derive(Debug, Clone)]
pub struct EntityMessage {
    /// The entity's instance id, `@name@key`.
    pub instance_id: String,
    /// The entity function's name, lower case (the row of a new entity is named so).
    pub name: String,
    /// `EntityOperationSignaled`, `EntityOperationCalled` or an unlock.
    pub event: HistoryEvent,
    /// Deliver it at this time (Durable Functions' `SignalTime`); `None`: at once.
    pub deliver_at: Option<DateTime<Utc>>,
}
