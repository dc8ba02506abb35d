//! The store conformance suite: every promise of [`Store`], written once as an async test
//! over `&dyn Store` and run on each store (see `conformance!` at the end). One file per
//! promise: creating instances, leasing them, committing turns, activity calls, messages
//! between instances, the in-process fast path, management, versions.
//!
//! Time is a [`ManualClock`] the test moves, so lease expiry is exact and nothing sleeps.
//! Times are whole seconds: the SQLite store keeps milliseconds.

mod activities;
mod commits;
mod creating;
mod fast_path;
mod leasing;
mod management;
mod messages;
mod names;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::test_verbs::Verbs;
use super::{
    ActivityFetch, ActivityWorkItem, Backlog, EntityMessage, FetchOptions, InstancePage,
    InstanceQuery, InstanceRecord, MemoryStore, NewActivity, NewExecution, NewInstance, NewTimer,
    OrchestrationWorkItem, OutboundMessage, PageCursor, PostgresOptions, PostgresStore,
    PurgeFilter, QueuedMessage, QueuedWork, ReplacePolicy, SqliteOptions, SqliteStore, Store,
    StoreError, TurnCommit, execution_started,
};
use crate::clock::{Clock, ManualClock};
use crate::history::{EventKind, FailureDetails, HistoryEvent, ParentInstance};
use crate::status::RuntimeStatus;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A store under test, its clock, and the folder that holds its file.
struct Harness {
    store: Box<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: Option<TempDir>,
}

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time")
}

fn memory_store() -> Harness {
    let clock = Arc::new(ManualClock::new(start_time()));
    Harness {
        store: Box::new(MemoryStore::new(clock.clone())),
        clock,
        _dir: None,
    }
}

fn sqlite_store() -> Harness {
    let clock = Arc::new(ManualClock::new(start_time()));
    let dir = tempfile::tempdir().expect("a temp folder");
    let options = SqliteOptions {
        path: dir.path().join("hub.db"),
        exclusive: false,
        durability: Default::default(),
    };
    Harness {
        store: Box::new(SqliteStore::open(options, clock.clone()).expect("the store opens")),
        clock,
        _dir: Some(dir),
    }
}

/// A fresh hub (schema) in the database named by `DURABLE_TEST_POSTGRES_URL`, and what
/// drops it afterwards; `None` (the test is skipped with a note) when the variable is unset,
/// except under `CI=true`, where that fails the test.
async fn postgres_store(test: &str) -> Option<(Harness, PostgresHub)> {
    let url = super::postgres::testing::database_url(test)?;
    let hub = super::postgres::testing::unique_hub("conformance");
    let clock = Arc::new(ManualClock::new(start_time()));
    // The tests' manual clock, not the server's: they move time themselves.
    let options = PostgresOptions {
        clock: super::ClockSource::Given,
        ..PostgresOptions::new(&url, &hub)
    };
    let store = PostgresStore::open(options, clock.clone())
        .await
        .expect("the store opens");
    let harness = Harness {
        store: Box::new(store),
        clock,
        _dir: None,
    };
    Some((harness, PostgresHub { url, hub }))
}

/// A PostgreSQL test hub to drop once its test passed.
struct PostgresHub {
    url: String,
    hub: String,
}

impl PostgresHub {
    async fn drop_schema(self) {
        super::postgres::testing::drop_hub(&self.url, &self.hub).await;
    }
}

const LEASE: Duration = Duration::from_secs(30);

fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn new_instance(clock: &ManualClock, instance_id: &str, execution_id: &str) -> NewInstance {
    NewInstance {
        instance_id: instance_id.to_owned(),
        name: "HelloCities".to_owned(),
        execution_id: execution_id.to_owned(),
        input: json!(["Tokyo", "Seattle"]),
        created_at: clock.now(),
        parent: None,
        scheduled_start: None,
        replace: ReplacePolicy::NonRunning,
        trace_context: None,
        version: None,
    }
}

async fn create(store: &dyn Store, clock: &ManualClock, instance_id: &str) {
    store
        .create_instance(new_instance(clock, instance_id, "exec-1"))
        .await
        .expect("the instance is created");
}

/// Leases the next instance with messages, which must exist.
#[track_caller]
fn expect_item(
    fetched: Result<Option<OrchestrationWorkItem>, StoreError>,
) -> OrchestrationWorkItem {
    fetched
        .expect("fetch_orchestration works")
        .expect("an instance has work")
}

async fn fetch(store: &dyn Store, owner: &str) -> OrchestrationWorkItem {
    expect_item(store.fetch_one(owner, LEASE).await)
}

async fn fetch_none(store: &dyn Store, owner: &str) -> bool {
    store
        .fetch_one(owner, LEASE)
        .await
        .expect("fetch_orchestration works")
        .is_none()
}

async fn fetch_activity(
    store: &dyn Store,
    owner: &str,
    lease: Duration,
) -> Option<ActivityWorkItem> {
    store
        .fetch_activity(owner, lease)
        .await
        .expect("fetch_activity works")
}

/// A commit that changes nothing but the lease: the one place that lists every field.
fn empty_commit(instance_id: &str, execution_id: &str, expected_history_length: u64) -> TurnCommit {
    TurnCommit {
        instance_id: instance_id.to_owned(),
        execution_id: execution_id.to_owned(),
        expected_history_length,
        consumed: Vec::new(),
        appended: Vec::new(),
        status: RuntimeStatus::Running,
        output: Value::Null,
        custom_status: Value::Null,
        activities: Vec::new(),
        timers: Vec::new(),
        children: Vec::new(),
        messages: Vec::new(),
        continue_as_new: None,
        truncate_history_to: None,
    }
}

/// A turn over a leased item that consumes all its messages, appends `appended` and sets
/// `status`.
fn turn(
    item: &OrchestrationWorkItem,
    appended: Vec<HistoryEvent>,
    status: RuntimeStatus,
) -> TurnCommit {
    let mut commit = empty_commit(
        &item.instance.instance_id,
        &item.instance.execution_id,
        item.instance.history_length,
    );
    commit.consumed = item.messages.iter().map(|m| m.id).collect();
    commit.appended = appended;
    commit.status = status;
    commit
}

/// The events of a turn at `at`: its messages, then OrchestratorStarted, the calls,
/// OrchestratorCompleted.
fn turn_events(
    item: &OrchestrationWorkItem,
    at: DateTime<Utc>,
    calls: &[NewActivity],
) -> Vec<HistoryEvent> {
    let messages = item.messages.iter().map(|m| m.event.clone()).collect();
    orchestrator_run(messages, at, calls)
}

/// A turn's events at `at`: `messages`, then OrchestratorStarted, the calls,
/// OrchestratorCompleted.
fn orchestrator_run(
    mut events: Vec<HistoryEvent>,
    at: DateTime<Utc>,
    calls: &[NewActivity],
) -> Vec<HistoryEvent> {
    events.push(HistoryEvent::new(at, EventKind::OrchestratorStarted));
    events.extend(calls.iter().map(|call| HistoryEvent {
        event_id: call.task_id,
        timestamp: at,
        kind: EventKind::TaskScheduled {
            name: call.name.clone(),
            input: call.input.clone(),
        },
    }));
    events.push(HistoryEvent::new(at, EventKind::OrchestratorCompleted));
    events
}

fn say_hello(task_id: i64, city: &str) -> NewActivity {
    NewActivity {
        task_id,
        name: "SayHello".to_owned(),
        input: json!(city),
        earlier_hand_outs: 0,
    }
}

/// Runs the first turn of `instance_id`: leases it, schedules the given calls and commits.
async fn first_turn(
    store: &dyn Store,
    clock: &ManualClock,
    instance_id: &str,
    calls: Vec<NewActivity>,
) -> Vec<HistoryEvent> {
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, instance_id);
    let appended = turn_events(&item, clock.now(), &calls);
    let mut commit = turn(&item, appended.clone(), RuntimeStatus::Running);
    commit.activities = calls;
    store
        .commit_leased("worker-1", commit)
        .await
        .expect("the first turn commits");
    appended
}

/// Creates `i1`, runs its first turn (one call: `SayHello("Tokyo")`, task 0) and leases
/// that call to `worker-1`; returns the history so far and the leased call.
async fn calling_tokyo(
    store: &dyn Store,
    clock: &ManualClock,
) -> (Vec<HistoryEvent>, ActivityWorkItem) {
    create(store, clock, "i1").await;
    let appended = first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let work = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("the call");
    (appended, work)
}

fn task_completed(task_id: i64, result: Value, at: DateTime<Utc>) -> HistoryEvent {
    HistoryEvent::new(
        at,
        EventKind::TaskCompleted {
            task_scheduled_id: task_id,
            result,
        },
    )
}

/// Runs the leased activity `item` to completion as `owner`.
async fn complete(store: &dyn Store, clock: &ManualClock, owner: &str, item: &ActivityWorkItem) {
    let result = task_completed(
        item.task_id,
        json!(format!("done {}", item.task_id)),
        clock.now(),
    );
    store
        .complete(owner, item, result)
        .await
        .expect("complete_activity works");
}

/// The events of the messages of a work item.
fn events_of(messages: &[QueuedMessage]) -> Vec<HistoryEvent> {
    messages.iter().map(|m| m.event.clone()).collect()
}

async fn instance(store: &dyn Store, instance_id: &str) -> InstanceRecord {
    store
        .get_instance(instance_id)
        .await
        .expect("get_instance works")
        .expect("the instance exists")
}

async fn history(store: &dyn Store, instance_id: &str) -> Vec<HistoryEvent> {
    store
        .get_history(instance_id)
        .await
        .expect("get_history works")
}

fn event_raised(name: &str, input: Value, at: DateTime<Utc>) -> HistoryEvent {
    HistoryEvent::new(
        at,
        EventKind::EventRaised {
            name: name.to_owned(),
            input,
        },
    )
}

/// Runs the instance's waiting turn and ends it with `status`.
async fn finish(store: &dyn Store, clock: &ManualClock, instance_id: &str, status: RuntimeStatus) {
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, instance_id);
    let mut appended = turn_events(&item, clock.now(), &[]);
    appended.insert(
        appended.len() - 1,
        HistoryEvent::new(
            clock.now(),
            EventKind::ExecutionCompleted {
                status,
                result: json!("done"),
                failure: None,
            },
        ),
    );
    store
        .commit_leased("worker-1", turn(&item, appended, status))
        .await
        .expect("the last turn commits");
}

/// An entity message delivered at once.
fn to_entity(instance_id: &str, name: &str, event: HistoryEvent) -> EntityMessage {
    EntityMessage {
        instance_id: instance_id.to_owned(),
        name: name.to_owned(),
        event,
        deliver_at: None,
    }
}

// ---------------------------------------------------------------------------------------
// Running the suite on every store
// ---------------------------------------------------------------------------------------

/// Instantiates every test once per store: `memory::<test>`, `sqlite::<test>` and
/// `postgres::<test>` (each on a fresh hub; skipped with a note when
/// `DURABLE_TEST_POSTGRES_URL` is unset, failed when CI=true as well).
macro_rules! conformance {
    ($($promise:ident :: $test:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    let harness = super::memory_store();
                    super::$promise::$test(&*harness.store, &harness.clock).await;
                }
            )+
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let harness = super::sqlite_store();
                    super::$promise::$test(&*harness.store, &harness.clock).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some((harness, hub)) = super::postgres_store(stringify!($test)).await
                    else {
                        return;
                    };
                    super::$promise::$test(&*harness.store, &harness.clock).await;
                    drop(harness);
                    hub.drop_schema().await;
                }
            )+
        }
    };
}

conformance!(
    creating::create_makes_a_pending_instance_with_an_execution_started_message,
    creating::create_refuses_an_instance_that_has_not_finished,
    creating::create_replaces_a_finished_instance_with_a_fresh_history,
    leasing::fetch_leases_an_instance_until_the_lease_expires,
    leasing::fetch_takes_instances_in_the_order_of_their_messages,
    leasing::abandon_orchestration_releases_the_lease,
    leasing::an_instance_counts_hand_outs_until_a_commit,
    leasing::a_lean_fetch_leases_like_a_fetch_and_may_leave_the_history_out,
    leasing::batched_fetches_lease_many_items_at_once,
    commits::commit_appends_history_consumes_messages_schedules_work_and_releases_the_lease,
    commits::turns_append_to_history_in_order,
    commits::a_commit_by_another_owner_is_rejected_and_changes_nothing,
    commits::a_commit_with_a_stale_history_length_is_rejected_and_changes_nothing,
    commits::a_commit_after_the_lease_expired_is_rejected,
    commits::messages_that_arrive_during_a_turn_stay_queued,
    commits::replacing_an_instance_rejects_a_commit_for_its_old_execution,
    commits::of_two_concurrent_commits_on_one_instance_one_fails,
    activities::an_activity_lease_is_renewed_and_expires,
    activities::a_completion_queues_its_result_for_the_next_turn,
    activities::a_completion_by_a_worker_that_lost_the_lease_is_dropped,
    activities::abandon_activity_hands_the_call_out_again,
    activities::a_completion_may_lease_its_free_instance_to_the_worker,
    activities::a_completion_leaves_an_instance_someone_holds_to_them,
    activities::a_completion_after_the_lease_was_lost_queues_and_leases_nothing,
    messages::unknown_ids_have_no_instance_no_history_and_no_lease,
    messages::new_work_raises_the_signals,
    messages::a_timer_message_is_invisible_until_it_is_due,
    messages::raise_event_queues_events_for_unfinished_instances_only,
    messages::messages_to_missing_or_finished_instances_are_dropped,
    messages::entity_operations_create_the_entity_and_queue_in_order,
    messages::a_scheduled_signal_waits_until_its_time,
    messages::a_turn_creates_children_and_reports_a_taken_id_to_the_parent,
    messages::continue_as_new_starts_the_next_execution_with_a_fresh_history,
    fast_path::a_turn_may_lease_the_work_it_schedules_to_its_worker,
    fast_path::a_start_may_commit_its_first_turn_with_the_instance,
    fast_path::a_start_with_its_first_turn_changes_nothing_when_the_id_is_taken,
    fast_path::a_result_and_the_next_turn_commit_together_or_not_at_all,
    management::listing_filters_and_pages_in_creation_order,
    management::pages_neither_repeat_nor_skip_instances_made_within_a_millisecond,
    management::purge_removes_finished_instances_and_refuses_running_ones,
    management::backlog_counts_instances_by_status_and_the_ready_work,
    versions::an_instance_keeps_its_version_in_its_row_and_execution_started,
    versions::a_fetch_leases_only_the_versions_its_worker_takes,
    versions::a_completion_leases_its_instance_only_to_a_worker_that_takes_its_version,
    versions::listings_filter_on_the_version,
    names::a_fetch_leases_only_the_orchestrators_and_entities_its_worker_runs,
    names::an_activity_fetch_leases_only_the_activities_its_worker_runs,
    names::a_completion_leases_its_instance_only_to_a_worker_that_runs_it,
    management::queued_work_lists_every_message_and_activity_call,
);
