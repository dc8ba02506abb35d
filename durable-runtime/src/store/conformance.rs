//! The store conformance suite: every promise of [`Store`], written once as an async test
//! over `&dyn Store` and run on each store (see `conformance!` at the end).
//!
//! Time is a [`ManualClock`] the test moves, so lease expiry is exact and nothing sleeps.
//! Times are whole seconds: the SQLite store keeps milliseconds.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::{Value, json};
use tempfile::TempDir;

use super::{
    ActivityWorkItem, InstanceRecord, MemoryStore, NewActivity, NewExecution, NewInstance,
    NewTimer, OrchestrationWorkItem, OutboundMessage, PostgresOptions, PostgresStore,
    QueuedMessage, ReplacePolicy, SqliteOptions, SqliteStore, Store, StoreError, TurnCommit,
};
use crate::clock::Clock;
use crate::history::{EventKind, FailureDetails, HistoryEvent, ParentInstance};
use crate::status::RuntimeStatus;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A clock that moves only when told to.
#[derive(Debug)]
struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a short duration");
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

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
    let store = PostgresStore::open(PostgresOptions::new(&url, &hub), clock.clone())
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

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

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
    expect_item(store.fetch_orchestration(owner, LEASE).await)
}

async fn fetch_none(store: &dyn Store, owner: &str) -> bool {
    store
        .fetch_orchestration(owner, LEASE)
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
        .commit_turn("worker-1", commit)
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
        .complete_activity(owner, item, result)
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

// ---------------------------------------------------------------------------------------
// Creating instances
// ---------------------------------------------------------------------------------------

async fn create_makes_a_pending_instance_with_an_execution_started_message(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let record = instance(store, "i1").await;
    assert_eq!(record.instance_id, "i1");
    assert_eq!(record.name, "HelloCities");
    assert_eq!(record.execution_id, "exec-1");
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!(record.input, json!(["Tokyo", "Seattle"]));
    assert_eq!(record.output, Value::Null);
    assert_eq!(record.custom_status, Value::Null);
    assert_eq!(record.created_at, start_time());
    assert_eq!(record.updated_at, start_time());
    assert_eq!(record.history_length, 0);
    assert_eq!(record.parent, None);
    assert!(history(store, "i1").await.is_empty());

    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance, record);
    assert!(item.history.is_empty());
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].execution_id, "exec-1");
    assert_eq!(
        item.messages[0].event,
        HistoryEvent::new(
            start_time(),
            EventKind::ExecutionStarted {
                name: "HelloCities".to_owned(),
                input: json!(["Tokyo", "Seattle"]),
                execution_id: "exec-1".to_owned(),
                parent: None,
                scheduled_start: None,
            }
        )
    );
}

async fn create_refuses_an_instance_that_has_not_finished(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    // Pending.
    let again = store
        .create_instance(new_instance(clock, "i1", "exec-2"))
        .await;
    assert_eq!(again, Err(StoreError::InstanceExists("i1".to_owned())));
    // Running.
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let again = store
        .create_instance(new_instance(clock, "i1", "exec-2"))
        .await;
    assert_eq!(again, Err(StoreError::InstanceExists("i1".to_owned())));
    assert!(!StoreError::InstanceExists("i1".to_owned()).is_retryable());

    let record = instance(store, "i1").await;
    assert_eq!(record.execution_id, "exec-1");
    assert_eq!(record.status, RuntimeStatus::Running);
    assert_eq!(record.history_length, 4);
    assert!(
        fetch_none(store, "worker-2").await,
        "no second ExecutionStarted"
    );
}

async fn create_replaces_a_finished_instance_with_a_fresh_history(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    first_turn(
        store,
        clock,
        "i1",
        vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")],
    )
    .await;
    // Tokyo answers; the turn after it fails the instance while Seattle still runs.
    let tokyo = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Tokyo");
    complete(store, clock, "worker-1", &tokyo).await;
    let item = fetch(store, "worker-1").await;
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::Failed,
    );
    commit.output = json!({ "ErrorType": "Boom", "ErrorMessage": "failed" });
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");
    // Seattle answers late: its result waits for an instance that has finished.
    let seattle = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Seattle");
    complete(store, clock, "worker-1", &seattle).await;
    assert_eq!(instance(store, "i1").await.status, RuntimeStatus::Failed);

    clock.advance(seconds(5));
    store
        .create_instance(new_instance(clock, "i1", "exec-2"))
        .await
        .expect("a finished instance is replaced");
    let record = instance(store, "i1").await;
    assert_eq!(record.execution_id, "exec-2");
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!(record.output, Value::Null);
    assert_eq!(record.history_length, 0);
    assert_eq!(record.created_at, clock.now());
    assert!(history(store, "i1").await.is_empty());

    let item = fetch(store, "worker-2").await;
    assert!(item.history.is_empty());
    assert_eq!(item.messages.len(), 1, "only the new ExecutionStarted");
    assert_eq!(item.messages[0].execution_id, "exec-2");
    assert!(matches!(
        &item.messages[0].event.kind,
        EventKind::ExecutionStarted { execution_id, .. } if execution_id == "exec-2"
    ));
    assert_eq!(
        fetch_activity(store, "worker-2", LEASE).await,
        None,
        "old work is gone"
    );
}

// ---------------------------------------------------------------------------------------
// Leasing instances
// ---------------------------------------------------------------------------------------

async fn fetch_leases_an_instance_until_the_lease_expires(store: &dyn Store, clock: &ManualClock) {
    assert!(
        fetch_none(store, "worker-1").await,
        "an empty store has no work"
    );
    create(store, clock, "i1").await;
    let first = fetch(store, "worker-1").await;
    assert!(fetch_none(store, "worker-2").await, "leased to worker-1");
    assert!(
        fetch_none(store, "worker-1").await,
        "leased, even to its holder"
    );
    clock.advance(LEASE - seconds(1));
    assert!(
        fetch_none(store, "worker-2").await,
        "the lease has a second left"
    );
    clock.advance(seconds(1));
    let second = fetch(store, "worker-2").await;
    assert_eq!(second.instance.instance_id, "i1");
    assert_eq!(second.messages, first.messages, "the same messages again");
    assert_eq!(second.history, first.history);
}

async fn fetch_takes_instances_in_the_order_of_their_messages(
    store: &dyn Store,
    clock: &ManualClock,
) {
    for id in ["b", "a", "c"] {
        create(store, clock, id).await;
        clock.advance(seconds(1));
    }
    let mut order = Vec::new();
    while let Some(item) = store
        .fetch_orchestration("worker-1", LEASE)
        .await
        .expect("fetch_orchestration works")
    {
        order.push(item.instance.instance_id);
    }
    assert_eq!(order, ["b", "a", "c"]);
}

async fn abandon_orchestration_releases_the_lease(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    store
        .abandon_orchestration("worker-2", "i1")
        .await
        .expect("abandon by a non-owner is harmless");
    assert!(
        fetch_none(store, "worker-2").await,
        "still leased to worker-1"
    );
    store
        .abandon_orchestration("worker-1", "i1")
        .await
        .expect("abandon works");
    let again = fetch(store, "worker-2").await;
    assert_eq!(again.messages, item.messages);
    let lost = store
        .commit_turn("worker-1", turn(&item, Vec::new(), RuntimeStatus::Running))
        .await;
    assert_eq!(lost, Err(StoreError::LeaseLost("i1".to_owned())));
}

/// Each hand-out of an instance without a commit counts (poison detection); a commit
/// starts the count again.
async fn an_instance_counts_hand_outs_until_a_commit(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    assert_eq!(fetch(store, "worker-1").await.dequeue_count, 1);
    clock.advance(seconds(60));
    assert_eq!(
        fetch(store, "worker-2").await.dequeue_count,
        2,
        "the lease expired"
    );
    store
        .abandon_orchestration("worker-2", "i1")
        .await
        .expect("abandon works");
    let third = fetch(store, "worker-3").await;
    assert_eq!(third.dequeue_count, 3);
    store
        .commit_turn("worker-3", turn(&third, Vec::new(), RuntimeStatus::Running))
        .await
        .expect("commit works");
    let event = HistoryEvent::new(
        clock.now(),
        crate::history::EventKind::EventRaised {
            name: "Go".to_owned(),
            input: Value::Null,
        },
    );
    store.raise_event("i1", event).await.expect("raised");
    assert_eq!(
        fetch(store, "worker-1").await.dequeue_count,
        1,
        "the commit reset it"
    );
}

// ---------------------------------------------------------------------------------------
// Committing turns
// ---------------------------------------------------------------------------------------

async fn commit_appends_history_consumes_messages_schedules_work_and_releases_the_lease(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    clock.advance(seconds(2));
    let calls = vec![say_hello(0, "Tokyo")];
    let appended = turn_events(&item, clock.now(), &calls);
    let mut commit = turn(&item, appended.clone(), RuntimeStatus::Running);
    commit.activities = calls;
    commit.custom_status = json!({ "step": 1 });
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");

    assert_eq!(history(store, "i1").await, appended);
    let record = instance(store, "i1").await;
    assert_eq!(record.status, RuntimeStatus::Running);
    assert_eq!(record.history_length, 4);
    assert_eq!(record.output, Value::Null);
    assert_eq!(record.custom_status, json!({ "step": 1 }));
    assert_eq!(record.created_at, start_time());
    assert_eq!(record.updated_at, clock.now());
    assert!(
        fetch_none(store, "worker-2").await,
        "the message was consumed"
    );

    let work = fetch_activity(store, "worker-2", LEASE)
        .await
        .expect("the scheduled call");
    assert_eq!(work.instance_id, "i1");
    assert_eq!(work.execution_id, "exec-1");
    assert_eq!(work.task_id, 0);
    assert_eq!(work.name, "SayHello");
    assert_eq!(work.input, json!("Tokyo"));
    assert_eq!(work.dequeue_count, 1);

    // The lease is free: the next message goes to whoever asks first.
    complete(store, clock, "worker-2", &work).await;
    let next = fetch(store, "worker-2").await;
    assert_eq!(next.history, appended);
    assert_eq!(next.instance.history_length, 4);
}

async fn turns_append_to_history_in_order(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    let mut expected = first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    for (task_id, city) in [(1, "Seattle"), (2, "London")] {
        let work = fetch_activity(store, "worker-1", LEASE)
            .await
            .expect("a call");
        clock.advance(seconds(1));
        complete(store, clock, "worker-1", &work).await;
        let item = fetch(store, "worker-1").await;
        assert_eq!(item.history, expected);
        let calls = vec![say_hello(task_id, city)];
        let appended = turn_events(&item, clock.now(), &calls);
        let mut commit = turn(&item, appended.clone(), RuntimeStatus::Running);
        commit.activities = calls;
        store
            .commit_turn("worker-1", commit)
            .await
            .expect("commits");
        expected.extend(appended);
    }
    let work = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("London");
    complete(store, clock, "worker-1", &work).await;
    let item = fetch(store, "worker-1").await;
    let mut appended = turn_events(&item, clock.now(), &[]);
    appended.insert(
        appended.len() - 1,
        HistoryEvent::new(
            clock.now(),
            EventKind::ExecutionCompleted {
                status: RuntimeStatus::Completed,
                result: json!(["done 0", "done 1", "done 2"]),
                failure: None,
            },
        ),
    );
    let mut commit = turn(&item, appended.clone(), RuntimeStatus::Completed);
    commit.output = json!(["done 0", "done 1", "done 2"]);
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");
    expected.extend(appended);

    assert_eq!(history(store, "i1").await, expected);
    let record = instance(store, "i1").await;
    assert_eq!(record.status, RuntimeStatus::Completed);
    assert_eq!(record.output, json!(["done 0", "done 1", "done 2"]));
    assert_eq!(record.history_length, expected.len() as u64);
}

/// Commits `commit`, which must be rejected with `LeaseLost`, and checks that the store is
/// as before: no history, Pending, no output, no work.
async fn assert_rejected_without_change(store: &dyn Store, owner: &str, commit: TurnCommit) {
    let rejected = store.commit_turn(owner, commit).await;
    assert_eq!(rejected, Err(StoreError::LeaseLost("i1".to_owned())));
    assert!(!StoreError::LeaseLost("i1".to_owned()).is_retryable());
    assert!(history(store, "i1").await.is_empty());
    let record = instance(store, "i1").await;
    assert_eq!(record.status, RuntimeStatus::Pending);
    assert_eq!(record.history_length, 0);
    assert_eq!(record.output, Value::Null);
    assert_eq!(fetch_activity(store, "worker-3", LEASE).await, None);
}

fn rejected_turn(item: &OrchestrationWorkItem, at: DateTime<Utc>) -> TurnCommit {
    let calls = vec![say_hello(0, "Tokyo")];
    let mut commit = turn(
        item,
        turn_events(item, at, &calls),
        RuntimeStatus::Completed,
    );
    commit.activities = calls;
    commit.output = json!("should not be stored");
    commit
}

async fn a_commit_by_another_owner_is_rejected_and_changes_nothing(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    assert_rejected_without_change(store, "worker-2", rejected_turn(&item, clock.now())).await;
    // worker-1 still holds the lease; once it lets go, the message is there as before.
    assert!(fetch_none(store, "worker-2").await);
    store
        .abandon_orchestration("worker-1", "i1")
        .await
        .expect("abandons");
    let again = fetch(store, "worker-2").await;
    assert_eq!(again.messages, item.messages);
    store
        .commit_turn(
            "worker-2",
            turn(
                &again,
                turn_events(&again, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("the owner commits");
}

async fn a_commit_with_a_stale_history_length_is_rejected_and_changes_nothing(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    let mut stale = rejected_turn(&item, clock.now());
    stale.expected_history_length = 3;
    assert_rejected_without_change(store, "worker-1", stale).await;
    let mut other_execution = rejected_turn(&item, clock.now());
    other_execution.execution_id = "exec-0".to_owned();
    assert_rejected_without_change(store, "worker-1", other_execution).await;
    // The rejection kept the lease and the message.
    assert!(fetch_none(store, "worker-2").await);
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("the right commit still works");
    assert!(
        fetch_none(store, "worker-2").await,
        "the message was consumed"
    );
}

async fn a_commit_after_the_lease_expired_is_rejected(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    clock.advance(LEASE);
    // Expired, though nobody took it over yet.
    assert_rejected_without_change(store, "worker-1", rejected_turn(&item, clock.now())).await;
    let taken = fetch(store, "worker-2").await;
    assert_rejected_without_change(store, "worker-1", rejected_turn(&item, clock.now())).await;
    store
        .commit_turn(
            "worker-2",
            turn(
                &taken,
                turn_events(&taken, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("the new owner commits");
    assert_eq!(instance(store, "i1").await.history_length, 3);
}

async fn messages_that_arrive_during_a_turn_stay_queued(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    first_turn(
        store,
        clock,
        "i1",
        vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")],
    )
    .await;
    let tokyo = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Tokyo");
    let seattle = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Seattle");
    assert_eq!((tokyo.task_id, seattle.task_id), (0, 1));
    complete(store, clock, "worker-1", &tokyo).await;
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.messages.len(), 1);
    // Seattle answers while the turn runs.
    complete(store, clock, "worker-1", &seattle).await;
    assert!(
        fetch_none(store, "worker-2").await,
        "the instance is leased"
    );
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("commits");
    let next = fetch(store, "worker-2").await;
    assert_eq!(
        events_of(&next.messages),
        [task_completed(1, json!("done 1"), clock.now())]
    );
    assert_eq!(next.messages[0].execution_id, "exec-1");
}

async fn replacing_an_instance_rejects_a_commit_for_its_old_execution(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    first_turn(
        store,
        clock,
        "i1",
        vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")],
    )
    .await;
    let tokyo = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Tokyo");
    let seattle = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Seattle");
    complete(store, clock, "worker-1", &tokyo).await;
    let item = fetch(store, "worker-1").await;
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Completed,
            ),
        )
        .await
        .expect("commits");
    // A late result makes a worker lease the finished instance...
    complete(store, clock, "worker-1", &seattle).await;
    let late = fetch(store, "worker-1").await;
    assert_eq!(late.instance.status, RuntimeStatus::Completed);
    // ...while a client starts it again.
    store
        .create_instance(new_instance(clock, "i1", "exec-2"))
        .await
        .expect("a finished instance is replaced");
    let stale = store
        .commit_turn(
            "worker-1",
            turn(&late, Vec::new(), RuntimeStatus::Completed),
        )
        .await;
    assert_eq!(stale, Err(StoreError::LeaseLost("i1".to_owned())));
    let record = instance(store, "i1").await;
    assert_eq!(record.execution_id, "exec-2");
    assert_eq!(record.status, RuntimeStatus::Pending);
    let item = fetch(store, "worker-2").await;
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].execution_id, "exec-2");
}

// ---------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------

async fn an_activity_lease_is_renewed_and_expires(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let lease = seconds(10);
    let work = fetch_activity(store, "worker-1", lease)
        .await
        .expect("the call");
    assert_eq!(work.dequeue_count, 1);
    assert_eq!(fetch_activity(store, "worker-2", lease).await, None);

    clock.advance(seconds(8));
    store
        .renew_activity("worker-1", work.id, lease)
        .await
        .expect("the owner renews");
    assert_eq!(
        store.renew_activity("worker-2", work.id, lease).await,
        Err(StoreError::LeaseLost(format!(
            "activity work item {}",
            work.id
        ))),
        "a non-owner cannot renew"
    );
    clock.advance(seconds(8));
    assert_eq!(
        fetch_activity(store, "worker-2", lease).await,
        None,
        "renewed 8 seconds ago for 10"
    );
    clock.advance(seconds(2));
    let taken = fetch_activity(store, "worker-2", lease)
        .await
        .expect("the expired call is handed out again");
    assert_eq!(taken.id, work.id);
    assert_eq!(taken.dequeue_count, 2);
    assert_eq!(
        store.renew_activity("worker-1", work.id, lease).await,
        Err(StoreError::LeaseLost(format!(
            "activity work item {}",
            work.id
        ))),
        "the old owner lost it"
    );
}

async fn a_completion_queues_its_result_for_the_next_turn(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    let appended = first_turn(
        store,
        clock,
        "i1",
        vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")],
    )
    .await;
    let tokyo = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Tokyo");
    let seattle = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("Seattle");
    clock.advance(seconds(1));
    let failure = FailureDetails {
        error_type: "Timeout".to_owned(),
        error_message: "took too long".to_owned(),
        stack_trace: Some("at SayHello".to_owned()),
    };
    let failed = HistoryEvent::new(
        clock.now(),
        EventKind::TaskFailed {
            task_scheduled_id: 1,
            failure,
        },
    );
    store
        .complete_activity("worker-1", &seattle, failed.clone())
        .await
        .expect("completes");
    complete(store, clock, "worker-1", &tokyo).await;
    assert_eq!(
        fetch_activity(store, "worker-1", LEASE).await,
        None,
        "both are done"
    );

    let item = fetch(store, "worker-2").await;
    assert_eq!(item.history, appended);
    assert_eq!(
        events_of(&item.messages),
        [failed, task_completed(0, json!("done 0"), clock.now())],
        "in the order they arrived"
    );
    assert!(item.messages.iter().all(|m| m.execution_id == "exec-1"));
}

async fn a_completion_by_a_worker_that_lost_the_lease_is_dropped(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let first = fetch_activity(store, "worker-1", seconds(10))
        .await
        .expect("the call");
    clock.advance(seconds(10));
    // Expired but not taken: the result is still dropped.
    complete(store, clock, "worker-1", &first).await;
    assert!(fetch_none(store, "worker-3").await, "no result queued");
    let second = fetch_activity(store, "worker-2", seconds(10))
        .await
        .expect("the call again");
    assert_eq!(second.dequeue_count, 2);
    complete(store, clock, "worker-1", &first).await;
    assert!(fetch_none(store, "worker-3").await, "no result queued");
    assert_eq!(
        fetch_activity(store, "worker-3", seconds(10)).await,
        None,
        "still leased to worker-2"
    );
    complete(store, clock, "worker-2", &second).await;
    let item = fetch(store, "worker-3").await;
    assert_eq!(
        events_of(&item.messages),
        [task_completed(0, json!("done 0"), clock.now())]
    );
}

async fn abandon_activity_hands_the_call_out_again(store: &dyn Store, clock: &ManualClock) {
    let (_, work) = calling_tokyo(store, clock).await;
    store
        .abandon_activity("worker-2", work.id)
        .await
        .expect("abandon by a non-owner is harmless");
    assert_eq!(fetch_activity(store, "worker-2", LEASE).await, None);
    store
        .abandon_activity("worker-1", work.id)
        .await
        .expect("abandon works");
    let again = fetch_activity(store, "worker-2", LEASE)
        .await
        .expect("handed out again at once");
    assert_eq!(again.id, work.id);
    assert_eq!(again.dequeue_count, 2);
    complete(store, clock, "worker-1", &work).await;
    assert!(
        fetch_none(store, "worker-3").await,
        "the old owner's result is dropped"
    );
}

async fn release_all_leases_frees_instances_and_activities(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    create(store, clock, "i2").await;
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let work = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("the call");
    let leased = fetch(store, "worker-1").await;
    assert_eq!(leased.instance.instance_id, "i2");
    assert!(fetch_none(store, "worker-2").await);
    assert_eq!(fetch_activity(store, "worker-2", LEASE).await, None);

    store.release_all_leases().await.expect("releases");
    assert_eq!(fetch(store, "worker-2").await.instance.instance_id, "i2");
    let again = fetch_activity(store, "worker-2", LEASE)
        .await
        .expect("the call is free");
    assert_eq!(again.id, work.id);
    let lost = store
        .commit_turn(
            "worker-1",
            turn(&leased, Vec::new(), RuntimeStatus::Running),
        )
        .await;
    assert_eq!(lost, Err(StoreError::LeaseLost("i2".to_owned())));
}

// ---------------------------------------------------------------------------------------
// Unknown ids and signals
// ---------------------------------------------------------------------------------------

async fn unknown_ids_have_no_instance_no_history_and_no_lease(
    store: &dyn Store,
    clock: &ManualClock,
) {
    assert_eq!(store.get_instance("nobody").await, Ok(None));
    assert_eq!(store.get_history("nobody").await, Ok(Vec::new()));
    assert_eq!(fetch_activity(store, "worker-1", LEASE).await, None);
    assert_eq!(
        store.renew_activity("worker-1", 42, LEASE).await,
        Err(StoreError::LeaseLost("activity work item 42".to_owned()))
    );
    store
        .abandon_activity("worker-1", 42)
        .await
        .expect("abandoning nothing is harmless");
    store
        .abandon_orchestration("worker-1", "nobody")
        .await
        .expect("abandoning nothing is harmless");
    let commit = empty_commit("nobody", "exec-1", 0);
    assert_eq!(
        store.commit_turn("worker-1", commit).await,
        Err(StoreError::LeaseLost("nobody".to_owned()))
    );
    create(store, clock, "i1").await;
    assert_eq!(
        store.get_instance("I1").await,
        Ok(None),
        "ids are case-sensitive"
    );
}

async fn new_work_raises_the_signals(store: &dyn Store, clock: &ManualClock) {
    let signals = store.signals();
    let raised = |notify: &tokio::sync::Notify| notify.notified().now_or_never().is_some();
    assert!(!raised(&signals.orchestrations));
    create(store, clock, "i1").await;
    assert!(raised(&signals.orchestrations), "after create_instance");
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    assert!(
        raised(&signals.activities),
        "after a turn that scheduled work"
    );
    let _ = raised(&signals.orchestrations);
    let work = fetch_activity(store, "worker-1", LEASE)
        .await
        .expect("the call");
    assert!(!raised(&signals.orchestrations));
    complete(store, clock, "worker-1", &work).await;
    assert!(raised(&signals.orchestrations), "after complete_activity");
}

// ---------------------------------------------------------------------------------------
// Timers, events, children, continue-as-new
// ---------------------------------------------------------------------------------------

async fn a_timer_message_is_invisible_until_it_is_due(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    assert_eq!(store.next_due().await, Ok(None));
    let item = fetch(store, "worker-1").await;
    let fire_at = clock.now() + chrono::Duration::seconds(60);
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::Running,
    );
    commit.timers = vec![NewTimer {
        timer_id: 0,
        fire_at,
    }];
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");
    assert!(fetch_none(store, "worker-1").await, "not due yet");
    assert_eq!(store.next_due().await, Ok(Some(fire_at)));
    // A turn for another message neither sees nor consumes the timer.
    let ping = event_raised("Ping", json!(1), clock.now());
    store.raise_event("i1", ping.clone()).await.expect("raises");
    let item = fetch(store, "worker-1").await;
    assert_eq!(events_of(&item.messages), [ping]);
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("commits");
    assert!(fetch_none(store, "worker-1").await, "still not due");
    assert_eq!(store.next_due().await, Ok(Some(fire_at)));
    clock.advance(seconds(59));
    assert!(fetch_none(store, "worker-1").await, "due in a second");
    clock.advance(seconds(1));
    assert_eq!(
        store.next_due().await,
        Ok(None),
        "nothing is waiting any more"
    );
    let item = fetch(store, "worker-1").await;
    assert_eq!(
        events_of(&item.messages),
        [HistoryEvent::new(
            fire_at,
            EventKind::TimerFired {
                timer_id: 0,
                fire_at
            }
        )]
    );
    assert_eq!(item.messages[0].execution_id, "exec-1");
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

async fn raise_event_queues_events_for_unfinished_instances_only(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let approval = event_raised("Approval", json!(true), clock.now());
    assert_eq!(
        store.raise_event("nobody", approval.clone()).await,
        Err(StoreError::NotFound("nobody".to_owned()))
    );
    create(store, clock, "i1").await;
    store
        .raise_event("i1", approval.clone())
        .await
        .expect("a pending instance takes events");
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.messages.len(), 2);
    assert_eq!(item.messages[1].event, approval);
    assert_eq!(
        item.messages[1].execution_id, "",
        "for whichever execution is current"
    );
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Completed,
            ),
        )
        .await
        .expect("commits");
    assert_eq!(
        store.raise_event("i1", approval).await,
        Err(StoreError::Finished("i1".to_owned()))
    );
    assert!(fetch_none(store, "worker-1").await);
}

async fn messages_to_missing_or_finished_instances_are_dropped(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "done").await;
    let item = fetch(store, "worker-1").await;
    store
        .commit_turn(
            "worker-1",
            turn(
                &item,
                turn_events(&item, clock.now(), &[]),
                RuntimeStatus::Completed,
            ),
        )
        .await
        .expect("commits");
    create(store, clock, "live").await;
    create(store, clock, "sender").await;
    let live = fetch(store, "worker-1").await;
    assert_eq!(live.instance.instance_id, "live");
    let sender = fetch(store, "worker-1").await;
    assert_eq!(sender.instance.instance_id, "sender");
    let ping = event_raised("Ping", json!(1), clock.now());
    let mut commit = turn(
        &sender,
        turn_events(&sender, clock.now(), &[]),
        RuntimeStatus::Running,
    );
    commit.messages = ["nobody", "done", "live"]
        .into_iter()
        .map(|to| OutboundMessage {
            instance_id: to.to_owned(),
            execution_id: None,
            event: ping.clone(),
        })
        .collect();
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");
    assert_eq!(
        store.get_instance("nobody").await,
        Ok(None),
        "not created by a message"
    );
    assert!(
        fetch_none(store, "worker-2").await,
        "live is leased; done takes nothing"
    );
    store
        .commit_turn(
            "worker-1",
            turn(
                &live,
                turn_events(&live, clock.now(), &[]),
                RuntimeStatus::Running,
            ),
        )
        .await
        .expect("commits");
    let item = fetch(store, "worker-2").await;
    assert_eq!(item.instance.instance_id, "live");
    assert_eq!(events_of(&item.messages), [ping]);
    assert!(fetch_none(store, "worker-2").await);
}

fn entity_signal(operation: &str, input: Value, at: DateTime<Utc>) -> HistoryEvent {
    HistoryEvent::new(
        at,
        EventKind::EntityOperationSignaled {
            request_id: format!("request-{operation}-{input}"),
            target_instance_id: "@counter@a".to_owned(),
            operation: operation.to_owned(),
            input,
            critical_section_id: None,
        },
    )
}

async fn entity_operations_create_the_entity_and_queue_in_order(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let add = |n: i64| entity_signal("add", json!(n), clock.now());
    store
        .signal_entity("@counter@a", "counter", add(1))
        .await
        .expect("signals a missing entity");
    store
        .signal_entity("@counter@a", "counter", add(2))
        .await
        .expect("signals an existing entity");
    let entity = instance(store, "@counter@a").await;
    assert_eq!(entity.name, "counter");
    assert_eq!(entity.status, RuntimeStatus::Pending);
    assert_eq!(entity.history_length, 0);

    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "@counter@a");
    assert_eq!(events_of(&item.messages), [add(1), add(2)]);
    let mut commit = turn(&item, Vec::new(), RuntimeStatus::Running);
    commit.output = json!(3);
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits the batch");
    let entity = instance(store, "@counter@a").await;
    assert_eq!(
        (entity.status, entity.output),
        (RuntimeStatus::Running, json!(3))
    );

    // Operations sent in a turn reach existing entities and create missing ones.
    create(store, clock, "sender").await;
    let sender = fetch(store, "worker-1").await;
    let call = HistoryEvent {
        event_id: 0,
        timestamp: clock.now(),
        kind: EventKind::EntityOperationCalled {
            request_id: "sender:0".to_owned(),
            target_instance_id: "@counter@b".to_owned(),
            operation: "get".to_owned(),
            input: Value::Null,
            critical_section_id: None,
            caller: Some(ParentInstance {
                instance_id: "sender".to_owned(),
                execution_id: sender.instance.execution_id.clone(),
                task_scheduled_id: 0,
            }),
        },
    };
    let mut commit = turn(
        &sender,
        turn_events(&sender, clock.now(), &[]),
        RuntimeStatus::Running,
    );
    commit.messages = vec![
        OutboundMessage {
            instance_id: "@counter@a".to_owned(),
            execution_id: None,
            event: add(4),
        },
        OutboundMessage {
            instance_id: "@counter@b".to_owned(),
            execution_id: None,
            event: call.clone(),
        },
    ];
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");
    let created = instance(store, "@counter@b").await;
    assert_eq!(
        (created.name.as_str(), created.status),
        ("counter", RuntimeStatus::Pending)
    );
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "@counter@a");
    assert_eq!(item.instance.output, json!(3));
    assert_eq!(events_of(&item.messages), [add(4)]);
    let mut commit = turn(&item, Vec::new(), RuntimeStatus::Running);
    commit.output = json!(7);
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits the batch");
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "@counter@b");
    assert_eq!(events_of(&item.messages), [call]);

    // An entity left without state is removed, unless something is queued for it.
    store
        .commit_turn("worker-1", turn(&item, Vec::new(), RuntimeStatus::Pending))
        .await
        .expect("commits");
    assert_eq!(store.get_instance("@counter@b").await, Ok(None));
    store
        .signal_entity("@counter@a", "counter", add(5))
        .await
        .expect("signals");
    let item = fetch(store, "worker-1").await;
    store
        .signal_entity("@counter@a", "counter", add(6))
        .await
        .expect("signals while leased");
    store
        .commit_turn("worker-1", turn(&item, Vec::new(), RuntimeStatus::Pending))
        .await
        .expect("commits");
    let kept = instance(store, "@counter@a").await;
    assert_eq!(kept.status, RuntimeStatus::Pending);
    let item = fetch(store, "worker-1").await;
    assert_eq!(events_of(&item.messages), [add(6)]);
}

async fn a_turn_creates_children_and_reports_a_taken_id_to_the_parent(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "busy").await;
    create(store, clock, "parent").await;
    assert_eq!(fetch(store, "worker-1").await.instance.instance_id, "busy");
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "parent");
    let child = |instance_id: &str, task_scheduled_id: i64| NewInstance {
        instance_id: instance_id.to_owned(),
        name: "Child".to_owned(),
        execution_id: format!("exec-{instance_id}"),
        input: json!(task_scheduled_id),
        created_at: clock.now(),
        parent: Some(ParentInstance {
            instance_id: "parent".to_owned(),
            execution_id: "exec-1".to_owned(),
            task_scheduled_id,
        }),
        scheduled_start: None,
        replace: ReplacePolicy::NonRunning,
    };
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::Running,
    );
    commit.children = vec![child("parent:0", 0), child("busy", 1)];
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");

    let created = instance(store, "parent:0").await;
    assert_eq!(created.status, RuntimeStatus::Pending);
    assert_eq!(created.name, "Child");
    assert_eq!(created.parent, child("parent:0", 0).parent);
    let taken = instance(store, "busy").await;
    assert_eq!(
        taken.execution_id, "exec-1",
        "a running instance is not replaced"
    );
    assert_eq!(taken.name, "HelloCities");

    let mut seen = Vec::new();
    while let Some(item) = store
        .fetch_orchestration("worker-2", LEASE)
        .await
        .expect("fetch works")
    {
        seen.push((item.instance.instance_id.clone(), item.messages));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (_, child_messages) = seen
        .iter()
        .find(|(id, _)| id == "parent:0")
        .expect("the child has work");
    assert!(matches!(
        &child_messages[0].event.kind,
        EventKind::ExecutionStarted { parent: Some(p), .. } if p.task_scheduled_id == 0
    ));
    let (_, parent_messages) = seen
        .iter()
        .find(|(id, _)| id == "parent")
        .expect("the parent hears of the conflict");
    assert_eq!(parent_messages.len(), 1);
    assert_eq!(parent_messages[0].execution_id, "exec-1");
    assert!(
        matches!(
            &parent_messages[0].event.kind,
            EventKind::SubOrchestrationInstanceFailed { task_scheduled_id: 1, failure }
                if failure.error_type == "InstanceAlreadyRunning"
        ),
        "{:?}",
        parent_messages[0].event
    );
}

async fn continue_as_new_starts_the_next_execution_with_a_fresh_history(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (_, work) = calling_tokyo(store, clock).await;
    complete(store, clock, "worker-1", &work).await;
    clock.advance(seconds(3));
    let item = fetch(store, "worker-1").await;
    let carried = event_raised("Extra", json!("kept"), clock.now());
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::ContinuedAsNew,
    );
    commit.continue_as_new = Some(NewExecution {
        execution_id: "exec-2".to_owned(),
        input: json!(["Paris"]),
        carried_events: vec![carried.clone()],
    });
    store
        .commit_turn("worker-1", commit)
        .await
        .expect("commits");

    let record = instance(store, "i1").await;
    assert_eq!(record.status, RuntimeStatus::ContinuedAsNew);
    assert_eq!(record.execution_id, "exec-2");
    assert_eq!(record.input, json!(["Paris"]));
    assert_eq!(record.output, Value::Null);
    assert_eq!(record.history_length, 0);
    assert!(history(store, "i1").await.is_empty());

    let item = fetch(store, "worker-2").await;
    assert!(item.history.is_empty());
    assert_eq!(
        events_of(&item.messages),
        [
            HistoryEvent::new(
                clock.now(),
                EventKind::ExecutionStarted {
                    name: "HelloCities".to_owned(),
                    input: json!(["Paris"]),
                    execution_id: "exec-2".to_owned(),
                    parent: None,
                    scheduled_start: None,
                }
            ),
            carried
        ]
    );
    assert_eq!(item.messages[0].execution_id, "exec-2");
    assert_eq!(item.messages[1].execution_id, "");
}

// ---------------------------------------------------------------------------------------
// The in-process fast path (a store may take it or fall back to the plain calls)
// ---------------------------------------------------------------------------------------

/// Takes every activity work item `owner` can lease now.
async fn fetch_all_activities(store: &dyn Store, owner: &str) -> Vec<ActivityWorkItem> {
    let mut all = Vec::new();
    while let Some(item) = fetch_activity(store, owner, LEASE).await {
        all.push(item);
    }
    all
}

async fn a_lean_fetch_leases_like_a_fetch_and_may_leave_the_history_out(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (appended, work) = calling_tokyo(store, clock).await;
    complete(store, clock, "worker-1", &work).await;

    let item = expect_item(store.fetch_orchestration_lean("worker-2", LEASE).await);
    assert_eq!(item.instance.instance_id, "i1");
    assert_eq!(item.instance.history_length, 4);
    assert!(
        item.history.is_empty() || item.history == appended,
        "the whole history or none: {:?}",
        item.history
    );
    assert_eq!(
        events_of(&item.messages),
        [task_completed(0, json!("done 0"), clock.now())]
    );
    assert_eq!(item.dequeue_count, 1);
    assert!(
        store
            .fetch_orchestration_lean("worker-3", LEASE)
            .await
            .expect("fetch_orchestration_lean works")
            .is_none(),
        "the instance is leased"
    );
    store
        .commit_turn(
            "worker-2",
            turn(&item, events_of(&item.messages), RuntimeStatus::Running),
        )
        .await
        .expect("the lean item's turn commits");
    assert_eq!(instance(store, "i1").await.history_length, 5);
}

async fn a_turn_may_lease_the_work_it_schedules_to_its_worker(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    let calls = vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")];
    let appended = turn_events(&item, clock.now(), &calls);
    let mut commit = turn(&item, appended.clone(), RuntimeStatus::Running);
    commit.activities = calls.clone();
    let leased = store
        .commit_turn_leasing("worker-1", commit, seconds(10))
        .await
        .expect("the turn commits");

    // The turn committed like any other and released the instance.
    assert_eq!(history(store, "i1").await, appended);
    assert_eq!(instance(store, "i1").await.history_length, 5);
    assert!(
        fetch_none(store, "worker-2").await,
        "the message was consumed"
    );
    for (work, call) in leased.iter().zip(&calls) {
        assert_eq!(work.instance_id, "i1");
        assert_eq!(work.execution_id, "exec-1");
        assert_eq!(
            (work.task_id, &work.name, &work.input),
            (call.task_id, &call.name, &call.input)
        );
        assert_eq!(work.dequeue_count, 1);
    }
    // What the worker got is leased to it; the rest is there for anyone.
    let others = fetch_all_activities(store, "worker-2").await;
    let mut task_ids: Vec<i64> = leased.iter().chain(&others).map(|w| w.task_id).collect();
    task_ids.sort_unstable();
    assert_eq!(task_ids, [0, 1], "each call once: {leased:?} {others:?}");
    for work in &leased {
        store
            .renew_activity("worker-1", work.id, seconds(10))
            .await
            .expect("the worker holds the lease");
    }
    // A worker that dies with the work leased: it is handed out again once the lease ends.
    clock.advance(seconds(10));
    let again = fetch_all_activities(store, "worker-3").await;
    assert_eq!(again.len(), leased.len());
    for (work, retried) in leased.iter().zip(&again) {
        assert_eq!((retried.id, retried.dequeue_count), (work.id, 2));
    }
}

/// The first turn of `new`, run ahead of its creation: it calls `SayHello` for Tokyo and
/// Seattle.
fn first_turn_ahead(new: &NewInstance, at: DateTime<Utc>) -> TurnCommit {
    let calls = vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")];
    let mut commit = empty_commit(&new.instance_id, &new.execution_id, 0);
    commit.appended = orchestrator_run(vec![super::execution_started(new)], at, &calls);
    commit.activities = calls;
    commit
}

async fn a_start_may_commit_its_first_turn_with_the_instance(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let new = new_instance(clock, "i1", "exec-1");
    let commit = first_turn_ahead(&new, clock.now());
    let appended = commit.appended.clone();
    let leased = store
        .create_instance_with_turn("worker-1", new, commit, seconds(10))
        .await
        .expect("the instance and its first turn commit");

    let record = instance(store, "i1").await;
    assert_eq!(record.execution_id, "exec-1");
    assert_eq!(record.status, RuntimeStatus::Running);
    assert_eq!(record.input, json!(["Tokyo", "Seattle"]));
    assert_eq!(record.created_at, start_time());
    assert_eq!(record.history_length, 5);
    assert_eq!(history(store, "i1").await, appended);
    assert!(
        fetch_none(store, "worker-2").await,
        "no ExecutionStarted is queued and the instance is free"
    );
    let mut task_ids: Vec<(i64, u32)> = leased
        .iter()
        .map(|work| (work.task_id, work.dequeue_count))
        .collect();
    task_ids.sort_unstable();
    assert_eq!(task_ids, [(0, 1), (1, 1)]);
    assert!(
        fetch_all_activities(store, "worker-2").await.is_empty(),
        "the calls are leased to the starting worker"
    );
    // The instance takes events and turns like any other.
    store
        .raise_event("i1", event_raised("Approval", json!(true), clock.now()))
        .await
        .expect("the event is queued");
    let item = fetch(store, "worker-2").await;
    assert_eq!(item.instance.history_length, 5);
    assert_eq!(item.messages.len(), 1);
}

async fn a_start_with_its_first_turn_changes_nothing_when_the_id_is_taken(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let new = new_instance(clock, "i1", "exec-2");
    let commit = first_turn_ahead(&new, clock.now());
    let taken = store
        .create_instance_with_turn("worker-1", new, commit, seconds(10))
        .await;
    assert_eq!(taken, Err(StoreError::InstanceExists("i1".to_owned())));
    let record = instance(store, "i1").await;
    assert_eq!(
        (record.execution_id.as_str(), record.status),
        ("exec-1", RuntimeStatus::Pending)
    );
    assert!(history(store, "i1").await.is_empty());
    assert!(fetch_all_activities(store, "worker-2").await.is_empty());

    // Once the instance finished, the same start replaces it.
    finish(store, clock, "i1", RuntimeStatus::Completed).await;
    clock.advance(seconds(5));
    let new = new_instance(clock, "i1", "exec-2");
    let commit = first_turn_ahead(&new, clock.now());
    let appended = commit.appended.clone();
    let leased = store
        .create_instance_with_turn("worker-1", new, commit, seconds(10))
        .await
        .expect("a finished instance is replaced");
    assert_eq!(leased.len(), 2);
    let record = instance(store, "i1").await;
    assert_eq!(
        (record.execution_id.as_str(), record.status),
        ("exec-2", RuntimeStatus::Running)
    );
    assert_eq!(record.output, Value::Null);
    assert_eq!(history(store, "i1").await, appended, "a fresh history");
}

async fn a_completion_may_lease_its_free_instance_to_the_worker(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (appended, work) = calling_tokyo(store, clock).await;
    clock.advance(seconds(1));
    let result = task_completed(0, json!("done 0"), clock.now());
    let signals = store.signals();
    let _ = signals.orchestrations.notified().now_or_never();
    let taken = store
        .complete_activity_leasing("worker-1", &work, result.clone(), seconds(10))
        .await
        .expect("complete_activity_leasing works");
    assert_eq!(
        fetch_activity(store, "worker-2", LEASE).await,
        None,
        "the call is done"
    );
    let Some(item) = taken else {
        // Not taken: the result waits for whoever fetches, and they are woken.
        assert!(signals.orchestrations.notified().now_or_never().is_some());
        let item = fetch(store, "worker-2").await;
        assert_eq!(events_of(&item.messages), [result]);
        return;
    };
    assert_eq!(item.instance.instance_id, "i1");
    assert_eq!(item.instance.history_length, 4);
    assert!(
        item.history.is_empty() || item.history == appended,
        "the whole history or none: {:?}",
        item.history
    );
    assert_eq!(events_of(&item.messages), [result]);
    assert_eq!(item.dequeue_count, 1, "a hand-out like a fetch");
    assert!(fetch_none(store, "worker-2").await, "leased to worker-1");

    // A worker that dies with the instance: it is handed out again, and counted.
    clock.advance(seconds(10));
    let again = fetch(store, "worker-2").await;
    assert_eq!(again.messages, item.messages);
    assert_eq!(again.dequeue_count, 2);
    assert_eq!(
        store
            .commit_turn("worker-1", turn(&item, Vec::new(), RuntimeStatus::Running))
            .await,
        Err(StoreError::LeaseLost("i1".to_owned())),
        "the lease expired and was taken"
    );
    store
        .commit_turn(
            "worker-2",
            turn(&again, events_of(&again.messages), RuntimeStatus::Running),
        )
        .await
        .expect("the new holder commits");
    assert_eq!(history(store, "i1").await.len(), 5);
}

async fn a_completion_leaves_an_instance_someone_holds_to_them(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    first_turn(
        store,
        clock,
        "i1",
        vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")],
    )
    .await;
    let tokyo = fetch_activity(store, "worker-1", seconds(300))
        .await
        .expect("Tokyo");
    let seattle = fetch_activity(store, "worker-1", seconds(300))
        .await
        .expect("Seattle");
    complete(store, clock, "worker-1", &tokyo).await;
    let held = expect_item(store.fetch_orchestration("worker-2", seconds(10)).await);
    let seattle_done = task_completed(1, json!("done 1"), clock.now());
    let taken = store
        .complete_activity_leasing("worker-1", &seattle, seattle_done.clone(), LEASE)
        .await
        .expect("complete_activity_leasing works");
    assert!(taken.is_none(), "worker-2 holds the instance: {taken:?}");
    store
        .commit_turn(
            "worker-2",
            turn(&held, events_of(&held.messages), RuntimeStatus::Running),
        )
        .await
        .expect("the holder still commits");
    let next = fetch(store, "worker-3").await;
    assert_eq!(events_of(&next.messages), [seattle_done]);
    let london = NewActivity {
        task_id: 2,
        name: "SayHello".to_owned(),
        input: json!("London"),
        earlier_hand_outs: 0,
    };
    let mut commit = turn(
        &next,
        turn_events(&next, clock.now(), std::slice::from_ref(&london)),
        RuntimeStatus::Running,
    );
    commit.activities = vec![london];
    store
        .commit_turn("worker-3", commit)
        .await
        .expect("commits");

    // A holder whose lease ran out holds nothing: the completion may take the instance.
    let london = fetch_activity(store, "worker-1", seconds(300))
        .await
        .expect("London");
    store
        .raise_event("i1", event_raised("Go", Value::Null, clock.now()))
        .await
        .expect("raised");
    let stale = expect_item(store.fetch_orchestration("worker-2", seconds(10)).await);
    clock.advance(seconds(10));
    let london_done = task_completed(2, json!("done 2"), clock.now());
    let taken = store
        .complete_activity_leasing("worker-1", &london, london_done.clone(), LEASE)
        .await
        .expect("complete_activity_leasing works");
    let item = match taken {
        Some(item) => item,
        None => fetch(store, "worker-1").await,
    };
    assert_eq!(
        events_of(&item.messages),
        [events_of(&stale.messages), vec![london_done]].concat()
    );
    assert_eq!(item.dequeue_count, 2, "the expired hand-out counts");
    assert_eq!(
        store
            .commit_turn("worker-2", turn(&stale, Vec::new(), RuntimeStatus::Running))
            .await,
        Err(StoreError::LeaseLost("i1".to_owned()))
    );
}

async fn a_completion_after_the_lease_was_lost_queues_and_leases_nothing(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let first = fetch_activity(store, "worker-1", seconds(10))
        .await
        .expect("the call");
    clock.advance(seconds(10));
    let result = task_completed(0, json!("late"), clock.now());
    let taken = store
        .complete_activity_leasing("worker-1", &first, result.clone(), LEASE)
        .await
        .expect("a lost lease drops the result");
    assert!(taken.is_none(), "{taken:?}");
    assert!(fetch_none(store, "worker-3").await, "no result queued");
    let second = fetch_activity(store, "worker-2", seconds(10))
        .await
        .expect("the call again");
    assert_eq!(second.dequeue_count, 2);
    let taken = store
        .complete_activity_leasing("worker-1", &first, result, LEASE)
        .await
        .expect("a lost lease drops the result");
    assert!(taken.is_none(), "{taken:?}");
    assert!(fetch_none(store, "worker-3").await, "no result queued");
    assert_eq!(
        fetch_activity(store, "worker-3", seconds(10)).await,
        None,
        "still leased to worker-2"
    );
}

// ---------------------------------------------------------------------------------------
// Running the suite on every store
// ---------------------------------------------------------------------------------------

/// Instantiates every test once per store: `memory::<test>`, `sqlite::<test>` and
/// `postgres::<test>` (each on a fresh hub; skipped with a note when
/// `DURABLE_TEST_POSTGRES_URL` is unset, failed when CI=true as well).
/// The next turn computed ahead from a finished call's result: the result, then a turn
/// that schedules `calls`.
fn turn_after_result(
    instance_id: &str,
    history_length: u64,
    result: &HistoryEvent,
    at: DateTime<Utc>,
    calls: Vec<NewActivity>,
) -> TurnCommit {
    let mut commit = empty_commit(instance_id, "exec-1", history_length);
    commit.appended = vec![
        result.clone(),
        HistoryEvent::new(at, EventKind::OrchestratorStarted),
    ];
    commit
        .appended
        .extend(calls.iter().map(|call| HistoryEvent {
            event_id: call.task_id,
            timestamp: at,
            kind: EventKind::TaskScheduled {
                name: call.name.clone(),
                input: call.input.clone(),
            },
        }));
    commit
        .appended
        .push(HistoryEvent::new(at, EventKind::OrchestratorCompleted));
    commit.status = RuntimeStatus::Running;
    commit.activities = calls;
    commit
}

async fn a_result_and_the_next_turn_commit_together_or_not_at_all(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (appended, work) = calling_tokyo(store, clock).await;
    clock.advance(seconds(1));
    let result = task_completed(0, json!("Hello Tokyo!"), clock.now());
    let next = turn_after_result("i1", 4, &result, clock.now(), vec![say_hello(1, "Seattle")]);
    let merged = store
        .complete_activity_with_turn("worker-1", &work, next.clone(), seconds(10))
        .await
        .expect("complete_activity_with_turn works");
    let Some(leased) = merged else {
        // A store that does not merge changes nothing: the call is still leased.
        assert_eq!(fetch_activity(store, "worker-2", LEASE).await, None);
        assert_eq!(store.get_history("i1").await.expect("history"), appended);
        return;
    };
    let mut history = appended.clone();
    history.extend(next.appended.clone());
    assert_eq!(store.get_history("i1").await.expect("history"), history);
    let instance = store
        .get_instance("i1")
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(instance.history_length, 8);
    assert!(fetch_none(store, "worker-2").await, "no message was queued");
    // The new call: leased to the worker, or there for anyone.
    let calls = match leased.as_slice() {
        [] => fetch_all_activities(store, "worker-2").await,
        leased => leased.to_vec(),
    };
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].task_id, 1);

    // A stale turn (the history moved on) changes nothing.
    let second = calls[0].clone();
    let stale = turn_after_result("i1", 4, &result, clock.now(), Vec::new());
    let declined = store
        .complete_activity_with_turn("worker-1", &second, stale, seconds(10))
        .await
        .expect("works");
    assert_eq!(declined, None);
    assert_eq!(store.get_history("i1").await.expect("history"), history);

    // An instance someone holds is left to them, and the call stays leased.
    store
        .raise_event(
            "i1",
            HistoryEvent::new(
                clock.now(),
                EventKind::EventRaised {
                    name: "poke".to_owned(),
                    input: Value::Null,
                },
            ),
        )
        .await
        .expect("raised");
    let held = fetch(store, "worker-3").await;
    let blocked = turn_after_result("i1", 8, &result, clock.now(), Vec::new());
    let declined = store
        .complete_activity_with_turn(&leased_owner(&leased), &second, blocked, seconds(10))
        .await
        .expect("works");
    assert_eq!(declined, None);
    assert_eq!(store.get_history("i1").await.expect("history"), history);
    store
        .abandon_orchestration("worker-3", &held.instance.instance_id)
        .await
        .expect("abandons");
}

/// Who holds the calls a merged commit leased: the committing worker when it leased any.
fn leased_owner(leased: &[ActivityWorkItem]) -> String {
    if leased.is_empty() {
        "worker-2".to_owned()
    } else {
        "worker-1".to_owned()
    }
}

async fn batched_fetches_lease_many_items_at_once(store: &dyn Store, clock: &ManualClock) {
    for id in ["i1", "i2", "i3"] {
        create(store, clock, id).await;
    }
    let first = store
        .fetch_orchestrations("worker-1", LEASE, 2)
        .await
        .expect("fetches");
    assert!(
        !first.is_empty() && first.len() <= 2,
        "one to two instances: {}",
        first.len()
    );
    let mut fetched = first.clone();
    loop {
        let more = store
            .fetch_orchestrations("worker-2", LEASE, 8)
            .await
            .expect("fetches");
        if more.is_empty() {
            break;
        }
        fetched.extend(more);
    }
    let mut ids: Vec<&str> = fetched
        .iter()
        .map(|i| i.instance.instance_id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["i1", "i2", "i3"], "each instance once");
    for item in &fetched {
        let owner = if first
            .iter()
            .any(|f| f.instance.instance_id == item.instance.instance_id)
        {
            "worker-1"
        } else {
            "worker-2"
        };
        let mut commit = turn(
            item,
            turn_events(item, clock.now(), &[]),
            RuntimeStatus::Running,
        );
        commit.activities = vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")];
        store.commit_turn(owner, commit).await.expect("commits");
    }
    let mut calls = Vec::new();
    loop {
        let batch = store
            .fetch_activities("worker-1", LEASE, 4)
            .await
            .expect("fetches");
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 4);
        assert!(batch.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        calls.extend(batch);
    }
    let mut keys: Vec<(String, i64)> = calls
        .iter()
        .map(|c| (c.instance_id.clone(), c.task_id))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        (keys.len(), calls.len()),
        (6, 6),
        "each call once: {calls:?}"
    );
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
        .commit_turn("worker-1", turn(&item, appended, status))
        .await
        .expect("the last turn commits");
}

fn ids(page: &super::InstancePage) -> Vec<&str> {
    page.instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect()
}

async fn listing_filters_and_pages_in_creation_order(store: &dyn Store, clock: &ManualClock) {
    for id in ["order-1", "order-2", "order-3", "refund-1"] {
        create(store, clock, id).await;
        clock.advance(seconds(10));
    }
    finish(store, clock, "order-1", RuntimeStatus::Completed).await;
    let signal = HistoryEvent::new(
        clock.now(),
        EventKind::EntityOperationSignaled {
            request_id: "r1".to_owned(),
            target_instance_id: "@counter@a".to_owned(),
            operation: "add".to_owned(),
            input: json!(1),
            critical_section_id: None,
        },
    );
    store
        .signal_entity("@counter@a", "counter", signal)
        .await
        .expect("signals");
    let query = |f: &dyn Fn(&mut super::InstanceQuery)| {
        let mut query = super::InstanceQuery {
            page_size: 100,
            ..super::InstanceQuery::default()
        };
        f(&mut query);
        query
    };
    let all = store.list_instances(&query(&|_| {})).await.expect("lists");
    assert_eq!(ids(&all), ["order-1", "order-2", "order-3", "refund-1"]);
    assert_eq!(all.next, None);
    let orders = store
        .list_instances(&query(&|q| q.instance_id_prefix = Some("order-".into())))
        .await
        .expect("lists");
    assert_eq!(ids(&orders), ["order-1", "order-2", "order-3"]);
    let completed = store
        .list_instances(&query(&|q| q.statuses = vec![RuntimeStatus::Completed]))
        .await
        .expect("lists");
    assert_eq!(ids(&completed), ["order-1"]);
    let start = start_time();
    let window = store
        .list_instances(&query(&|q| {
            q.created_from = Some(start + chrono::Duration::seconds(10));
            q.created_to = Some(start + chrono::Duration::seconds(20));
        }))
        .await
        .expect("lists");
    assert_eq!(ids(&window), ["order-2", "order-3"]);
    let entities = store
        .list_instances(&query(&|q| q.entities = true))
        .await
        .expect("lists");
    assert_eq!(ids(&entities), ["@counter@a"]);
    // Pages of two, each continuing where the last stopped.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_instances(&query(&|q| {
                q.page_size = 2;
                q.after = after.clone();
            }))
            .await
            .expect("lists");
        assert!(page.instances.len() <= 2);
        paged.extend(ids(&page).into_iter().map(str::to_owned));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, ["order-1", "order-2", "order-3", "refund-1"]);
}

async fn purge_removes_finished_instances_and_refuses_running_ones(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "done").await;
    finish(store, clock, "done", RuntimeStatus::Completed).await;
    create(store, clock, "failed").await;
    finish(store, clock, "failed", RuntimeStatus::Failed).await;
    create(store, clock, "running").await;
    assert_eq!(store.purge_instance("done").await, Ok(1));
    assert_eq!(store.get_instance("done").await.expect("reads"), None);
    assert_eq!(store.get_history("done").await.expect("reads"), Vec::new());
    assert_eq!(store.purge_instance("done").await, Ok(0), "already gone");
    assert!(
        matches!(
            store.purge_instance("running").await,
            Err(StoreError::WrongStatus { .. })
        ),
        "a running instance is not purged"
    );
    let filter = super::PurgeFilter {
        created_from: start_time(),
        created_to: None,
        statuses: Vec::new(),
    };
    assert_eq!(
        store.purge_instances(&filter).await,
        Ok(1),
        "only `failed` is finished"
    );
    assert_eq!(store.get_instance("failed").await.expect("reads"), None);
    assert!(
        store
            .get_instance("running")
            .await
            .expect("reads")
            .is_some()
    );
}

async fn of_two_concurrent_commits_on_one_instance_one_fails(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    let first = turn(
        &item,
        turn_events(&item, clock.now(), &[say_hello(0, "Tokyo")]),
        RuntimeStatus::Running,
    );
    let second = turn(
        &item,
        turn_events(&item, clock.now(), &[say_hello(0, "Paris")]),
        RuntimeStatus::Running,
    );
    let (a, b) = futures::join!(
        store.commit_turn("worker-1", first.clone()),
        store.commit_turn("worker-1", second.clone())
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one commits: {a:?} {b:?}");
    let winner = if a.is_ok() { first } else { second };
    assert_eq!(
        store.get_history("i1").await.expect("history"),
        winner.appended,
        "the loser left no trace"
    );
}

macro_rules! conformance {
    ($($test:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    let harness = super::memory_store();
                    super::$test(&*harness.store, &harness.clock).await;
                }
            )+
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let harness = super::sqlite_store();
                    super::$test(&*harness.store, &harness.clock).await;
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
                    super::$test(&*harness.store, &harness.clock).await;
                    drop(harness);
                    hub.drop_schema().await;
                }
            )+
        }
    };
}

conformance!(
    create_makes_a_pending_instance_with_an_execution_started_message,
    create_refuses_an_instance_that_has_not_finished,
    create_replaces_a_finished_instance_with_a_fresh_history,
    fetch_leases_an_instance_until_the_lease_expires,
    fetch_takes_instances_in_the_order_of_their_messages,
    abandon_orchestration_releases_the_lease,
    an_instance_counts_hand_outs_until_a_commit,
    commit_appends_history_consumes_messages_schedules_work_and_releases_the_lease,
    turns_append_to_history_in_order,
    a_commit_by_another_owner_is_rejected_and_changes_nothing,
    a_commit_with_a_stale_history_length_is_rejected_and_changes_nothing,
    a_commit_after_the_lease_expired_is_rejected,
    messages_that_arrive_during_a_turn_stay_queued,
    replacing_an_instance_rejects_a_commit_for_its_old_execution,
    an_activity_lease_is_renewed_and_expires,
    a_completion_queues_its_result_for_the_next_turn,
    a_completion_by_a_worker_that_lost_the_lease_is_dropped,
    abandon_activity_hands_the_call_out_again,
    release_all_leases_frees_instances_and_activities,
    unknown_ids_have_no_instance_no_history_and_no_lease,
    new_work_raises_the_signals,
    a_timer_message_is_invisible_until_it_is_due,
    raise_event_queues_events_for_unfinished_instances_only,
    messages_to_missing_or_finished_instances_are_dropped,
    a_turn_creates_children_and_reports_a_taken_id_to_the_parent,
    continue_as_new_starts_the_next_execution_with_a_fresh_history,
    entity_operations_create_the_entity_and_queue_in_order,
    a_lean_fetch_leases_like_a_fetch_and_may_leave_the_history_out,
    a_turn_may_lease_the_work_it_schedules_to_its_worker,
    a_start_may_commit_its_first_turn_with_the_instance,
    a_start_with_its_first_turn_changes_nothing_when_the_id_is_taken,
    a_completion_may_lease_its_free_instance_to_the_worker,
    a_completion_leaves_an_instance_someone_holds_to_them,
    a_completion_after_the_lease_was_lost_queues_and_leases_nothing,
    a_result_and_the_next_turn_commit_together_or_not_at_all,
    batched_fetches_lease_many_items_at_once,
    listing_filters_and_pages_in_creation_order,
    purge_removes_finished_instances_and_refuses_running_ones,
    of_two_concurrent_commits_on_one_instance_one_fails,
);
