//! What only the PostgreSQL store promises: migrations, hubs side by side, several stores
//! (hosts) on one hub, notifications, and connection loss. The promises every store keeps
//! are in the conformance suite.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde_json::{Value, json};

use super::testing::{database_url, drop_hub, unique_hub};
use super::*;
use crate::clock::SystemClock;
use crate::status::RuntimeStatus;
use crate::store::test_verbs::Verbs;
use crate::store::{ReplacePolicy, TurnCommit};

/// A fresh hub in the test database, dropped at the end.
struct TestHub {
    url: String,
    hub: String,
}

impl TestHub {
    fn new(test: &str) -> Option<TestHub> {
        Some(TestHub {
            url: database_url(test)?,
            hub: unique_hub("pg"),
        })
    }

    async fn open(&self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(
            PostgresOptions::new(&self.url, &self.hub),
            Arc::new(SystemClock),
        )
        .await
    }

    async fn store(&self) -> PostgresStore {
        self.open().await.expect("the store opens")
    }

    /// A connection of the test's own.
    async fn admin(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("the test connects");
        tokio::spawn(connection);
        client
    }

    async fn drop(self) {
        drop_hub(&self.url, &self.hub).await;
    }
}

fn new_instance(instance_id: &str) -> NewInstance {
    NewInstance {
        instance_id: instance_id.to_owned(),
        name: "HelloCities".to_owned(),
        execution_id: "exec-1".to_owned(),
        input: json!(null),
        created_at: Utc::now(),
        parent: None,
        scheduled_start: None,
        replace: ReplacePolicy::NonRunning,
        trace_context: None,
        version: None,
    }
}

async fn wait_for(signal: &tokio::sync::Notify) -> bool {
    tokio::time::timeout(Duration::from_secs(10), signal.notified())
        .await
        .is_ok()
}

#[test]
fn hub_names_map_to_schemas_and_passwords_stay_out_of_logs() {
    assert_eq!(
        hub_schema("DurableFunctionsHub").ok().as_deref(),
        Some("durable_durablefunctionshub")
    );
    assert!(hub_schema("bad-name").is_err());
    assert!(hub_schema("x; DROP TABLE y").is_err());
    assert!(hub_schema("").is_err());
    assert_eq!(
        redact_url("postgres://me:secret@db:5432/hub?sslmode=disable"),
        "postgres://me:***@db:5432/hub?sslmode=disable"
    );
    assert_eq!(redact_url("postgres://me@db/hub"), "postgres://me@db/hub");
    let options = PostgresOptions::new("postgres://me:secret@db/hub", "h");
    assert!(!format!("{options:?}").contains("secret"));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let error = PostgresStore::open(
        PostgresOptions::new("postgres://nobody@127.0.0.1:1/none", "Hub"),
        Arc::new(SystemClock),
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

#[tokio::test]
async fn migrations_apply_once_even_when_hosts_start_at_once() {
    let Some(hub) = TestHub::new("migrations_apply_once_even_when_hosts_start_at_once") else {
        return;
    };
    let (a, b, c, d) = tokio::join!(hub.open(), hub.open(), hub.open(), hub.open());
    for store in [a, b, c, d] {
        store.expect("every host opens the hub");
    }
    let again = hub.store().await;
    let admin = hub.admin().await;
    let count: i64 = admin
        .query_one(
            &format!("SELECT COUNT(*) FROM {}.schema_migrations", again.schema()),
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, super::migrate::MIGRATIONS.len() as i64);
    drop(again);
    hub.drop().await;
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let Some(hub) = TestHub::new("an_edited_migration_is_refused") else {
        return;
    };
    let store = hub.store().await;
    let admin = hub.admin().await;
    admin
        .execute(
            &format!(
                "UPDATE {}.schema_migrations SET checksum = 'x' WHERE version = 1",
                store.schema()
            ),
            &[],
        )
        .await
        .expect("tamper");
    let error = hub.open().await.err().expect("an edited migration");
    assert!(error.to_string().contains("differs"), "{error}");
    assert!(!error.is_retryable());
    drop(store);
    hub.drop().await;
}

#[tokio::test]
async fn hubs_in_one_database_are_separate() {
    let (Some(first), Some(second)) = (
        TestHub::new("hubs_in_one_database_are_separate"),
        TestHub::new("hubs_in_one_database_are_separate"),
    ) else {
        return;
    };
    let one = first.store().await;
    let two = second.store().await;
    assert_ne!(one.schema(), two.schema());
    one.create_instance(new_instance("same-id"))
        .await
        .expect("creates");
    assert_eq!(two.get_instance("same-id").await, Ok(None));
    two.create_instance(new_instance("same-id"))
        .await
        .expect("the other hub has its own ids");
    let leased = one
        .fetch_one("w", Duration::from_secs(30))
        .await
        .expect("fetches")
        .expect("work");
    assert_eq!(leased.instance.instance_id, "same-id");
    assert!(
        two.fetch_one("w", Duration::from_secs(30))
            .await
            .expect("fetches")
            .is_some(),
        "a lease in one hub is nothing to the other"
    );
    drop((one, two));
    first.drop().await;
    second.drop().await;
}

#[tokio::test]
async fn another_host_is_woken_by_a_notification() {
    let Some(hub) = TestHub::new("another_host_is_woken_by_a_notification") else {
        return;
    };
    let writer = hub.store().await;
    let idle = hub.store().await;
    writer
        .create_instance(new_instance("i1"))
        .await
        .expect("creates");
    assert!(
        wait_for(&idle.signals().orchestrations).await,
        "create_instance wakes other hosts"
    );
    let item = idle
        .fetch_one("idle", Duration::from_secs(30))
        .await
        .expect("fetches")
        .expect("the new instance");
    let mut commit = TurnCommit {
        instance_id: "i1".to_owned(),
        execution_id: "exec-1".to_owned(),
        expected_history_length: 0,
        consumed: item.messages.iter().map(|m| m.id).collect(),
        appended: item.messages.iter().map(|m| m.event.clone()).collect(),
        status: RuntimeStatus::Running,
        output: Value::Null,
        custom_status: Value::Null,
        activities: Vec::new(),
        timers: Vec::new(),
        children: Vec::new(),
        messages: Vec::new(),
        continue_as_new: None,
        truncate_history_to: None,
    };
    commit.activities = vec![super::super::NewActivity {
        task_id: 0,
        name: "SayHello".to_owned(),
        input: json!("Tokyo"),
        earlier_hand_outs: 0,
    }];
    idle.commit_leased("idle", commit).await.expect("commits");
    assert!(
        wait_for(&writer.signals().activities).await,
        "a turn that scheduled work wakes other hosts' activity dispatchers"
    );
    drop((writer, idle));
    hub.drop().await;
}

#[tokio::test]
async fn hosts_polling_at_once_lease_each_instance_once() {
    let Some(hub) = TestHub::new("hosts_polling_at_once_lease_each_instance_once") else {
        return;
    };
    let stores = [hub.store().await, hub.store().await, hub.store().await];
    for n in 0..30 {
        stores[0]
            .create_instance(new_instance(&format!("i{n}")))
            .await
            .expect("creates");
    }
    async fn take(store: &PostgresStore, owner: &str) -> Vec<String> {
        let mut taken = Vec::new();
        while let Some(item) = store
            .fetch_one(owner, Duration::from_secs(30))
            .await
            .expect("fetches")
        {
            taken.push(item.instance.instance_id);
        }
        taken
    }
    let (a, b, c) = tokio::join!(
        take(&stores[0], "a"),
        take(&stores[1], "b"),
        take(&stores[2], "c")
    );
    let all: Vec<String> = a.into_iter().chain(b).chain(c).collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 30, "{all:?}");
    assert_eq!(unique.len(), 30, "an instance was leased twice: {all:?}");
    drop(stores);
    hub.drop().await;
}

/// Ends the hub's connections whose application name starts with `prefix`.
async fn kill_connections(admin: &tokio_postgres::Client, name: &str) -> u64 {
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .expect("terminates")
}

#[tokio::test]
async fn a_lost_connection_is_retryable_and_the_store_recovers() {
    let Some(hub) = TestHub::new("a_lost_connection_is_retryable_and_the_store_recovers") else {
        return;
    };
    let store = hub.store().await;
    store
        .create_instance(new_instance("before"))
        .await
        .expect("creates");
    let admin = hub.admin().await;
    let name = format!("durable-rs {}", store.schema());
    assert!(kill_connections(&admin, &name).await > 0);
    // The pooled connection is dead: the first call may fail, and then says to retry.
    let mut failures = 0;
    let record = loop {
        match store.get_instance("before").await {
            Ok(record) => break record,
            Err(error) => {
                assert!(error.is_retryable(), "{error}");
                failures += 1;
                assert!(failures < 5, "the store did not recover: {error}");
            }
        }
    };
    assert!(record.is_some(), "nothing acknowledged was lost");
    store
        .create_instance(new_instance("after"))
        .await
        .expect("works again");
    drop(store);
    hub.drop().await;
}

#[tokio::test]
async fn the_listener_reconnects_and_wakes_the_dispatchers() {
    let Some(hub) = TestHub::new("the_listener_reconnects_and_wakes_the_dispatchers") else {
        return;
    };
    let listener = hub.store().await;
    let writer = hub.store().await;
    let admin = hub.admin().await;
    let name = format!("durable-rs listen {}", listener.schema());
    // Both stores listen under this name; both reconnect.
    assert_eq!(kill_connections(&admin, &name).await, 2);
    assert!(
        wait_for(&listener.signals().orchestrations).await,
        "a reconnection wakes the dispatchers (notifications may have been missed)"
    );
    assert!(wait_for(&listener.signals().activities).await);
    // Listening again: a later notification arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    loop {
        writer
            .create_instance(new_instance(&format!("i{n}")))
            .await
            .expect("creates");
        n += 1;
        if tokio::time::timeout(
            Duration::from_millis(300),
            listener.signals().orchestrations.notified(),
        )
        .await
        .is_ok()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no notification after reconnecting"
        );
    }
    drop((listener, writer));
    hub.drop().await;
}

#[tokio::test]
async fn a_timer_tick_is_claimed_by_one_host_only() {
    let Some(hub) = TestHub::new("a_timer_tick_is_claimed_by_one_host_only") else {
        return;
    };
    let stores = [hub.store().await, hub.store().await, hub.store().await];
    assert_eq!(stores[0].last_timer_tick("Cleanup").await, Ok(None));
    let tick = DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time");
    for round in 0..3 {
        let tick = tick + chrono::Duration::minutes(round);
        let (a, b, c) = tokio::join!(
            stores[0].claim_timer_tick("Cleanup", tick),
            stores[1].claim_timer_tick("Cleanup", tick),
            stores[2].claim_timer_tick("Cleanup", tick)
        );
        let claims = [a, b, c].map(|claimed| claimed.expect("claims"));
        assert_eq!(
            claims.iter().filter(|c| **c).count(),
            1,
            "round {round}: {claims:?}"
        );
        assert_eq!(stores[1].last_timer_tick("Cleanup").await, Ok(Some(tick)));
    }
    assert_eq!(
        stores[2].claim_timer_tick("Cleanup", tick).await,
        Ok(false),
        "the last tick only moves forward"
    );
    drop(stores);
    hub.drop().await;
}

/// A turn with nothing in it but the consumed messages, as the worker commits one.
fn plain_turn(item: &OrchestrationWorkItem) -> TurnCommit {
    TurnCommit {
        instance_id: item.instance.instance_id.clone(),
        execution_id: item.instance.execution_id.clone(),
        expected_history_length: item.instance.history_length,
        consumed: item.messages.iter().map(|m| m.id).collect(),
        appended: item.messages.iter().map(|m| m.event.clone()).collect(),
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

fn completed(task_id: i64) -> HistoryEvent {
    HistoryEvent::new(
        Utc::now(),
        crate::history::EventKind::TaskCompleted {
            task_scheduled_id: task_id,
            result: json!(task_id),
        },
    )
}

/// The conformance suite lets a store skip the fast path; this one takes it, across hosts.
#[tokio::test]
async fn the_fast_path_keeps_work_on_the_committing_host_and_wakes_others_for_the_rest() {
    let Some(hub) = TestHub::new("the_fast_path_keeps_work_on_the_committing_host") else {
        return;
    };
    let (near, far) = (hub.store().await, hub.store().await);
    let lease = Duration::from_secs(30);
    near.create_instance(new_instance("i1"))
        .await
        .expect("creates");
    let item = near
        .fetch_one_lean("near", lease)
        .await
        .expect("fetches")
        .expect("the new instance");
    assert!(
        item.history.is_none(),
        "the lean fetch leaves the history out"
    );
    let mut commit = plain_turn(&item);
    commit.activities = ["Tokyo", "Seattle"]
        .iter()
        .enumerate()
        .map(|(n, city)| super::super::NewActivity {
            task_id: n as i64,
            name: "SayHello".to_owned(),
            input: json!(city),
            earlier_hand_outs: 0,
        })
        .collect();
    // Notifications already on their way (the create, the fetch) are not what is tested.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = far.signals().activities.notified().now_or_never();
    let leased = near
        .commit_leasing("near", commit, lease)
        .await
        .expect("commits");
    assert_eq!(
        leased
            .iter()
            .map(|w| (w.task_id, w.input.clone(), w.dequeue_count))
            .collect::<Vec<_>>(),
        [(0, json!("Tokyo"), 1), (1, json!("Seattle"), 1)]
    );
    assert!(leased[0].id < leased[1].id);
    assert_eq!(far.fetch_activity("far", lease).await, Ok(None));
    assert!(
        tokio::time::timeout(
            Duration::from_millis(300),
            far.signals().activities.notified()
        )
        .await
        .is_err(),
        "work leased to its host wakes nobody"
    );

    let work = near
        .complete_leasing("near", &leased[0], completed(0), lease)
        .await
        .expect("completes")
        .expect("the free instance is leased to the completing host");
    assert!(work.history.is_none());
    assert_eq!(work.instance.history_length, 1);
    assert_eq!(work.dequeue_count, 1);
    assert_eq!(work.messages.len(), 1, "the result");
    assert_eq!(work.messages[0].event.kind, completed(0).kind);
    assert!(
        far.fetch_one("far", lease)
            .await
            .expect("fetches")
            .is_none(),
        "leased to the near host"
    );

    // The instance is held (by this host, mid-turn): the result waits and others hear.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = far.signals().orchestrations.notified().now_or_never();
    let left = near
        .complete_leasing("near", &leased[1], completed(1), lease)
        .await
        .expect("completes");
    assert!(left.is_none(), "{left:?}");
    assert!(
        wait_for(&far.signals().orchestrations).await,
        "a result left for others wakes them"
    );
    assert!(
        near.commit_leasing("near", plain_turn(&work), lease)
            .await
            .expect("commits")
            .is_empty()
    );
    let next = far
        .fetch_one("far", lease)
        .await
        .expect("fetches")
        .expect("the second result");
    assert_eq!(next.history.map(|h| h.len()), Some(2), "the full history");
    assert_eq!(next.messages.len(), 1);
    assert_eq!(next.messages[0].event.kind, completed(1).kind);
    drop((near, far));
    hub.drop().await;
}

fn say_hello(task_id: i64, city: &str) -> super::super::NewActivity {
    super::super::NewActivity {
        task_id,
        name: "SayHello".to_owned(),
        input: json!(city),
        earlier_hand_outs: 0,
    }
}

/// The turn a live orchestration computes from a call's result alone: the result, then a
/// turn that schedules `calls`.
fn turn_after(
    instance: &InstanceRecord,
    result: HistoryEvent,
    calls: Vec<super::super::NewActivity>,
) -> TurnCommit {
    let at = Utc::now();
    let mut appended = vec![
        result,
        HistoryEvent::new(at, crate::history::EventKind::OrchestratorStarted),
    ];
    appended.extend(calls.iter().map(|call| HistoryEvent {
        event_id: call.task_id,
        timestamp: at,
        kind: crate::history::EventKind::TaskScheduled {
            name: call.name.clone(),
            input: call.input.clone(),
        },
    }));
    appended.push(HistoryEvent::new(
        at,
        crate::history::EventKind::OrchestratorCompleted,
    ));
    TurnCommit {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        expected_history_length: instance.history_length,
        consumed: Vec::new(),
        appended,
        status: RuntimeStatus::Running,
        output: Value::Null,
        custom_status: Value::Null,
        activities: calls,
        timers: Vec::new(),
        children: Vec::new(),
        messages: Vec::new(),
        continue_as_new: None,
        truncate_history_to: None,
    }
}

/// A count the test reads with its own connection.
async fn count(admin: &tokio_postgres::Client, sql: &str) -> i64 {
    admin
        .query_one(sql, &[])
        .await
        .expect("counts")
        .try_get(0)
        .expect("a count")
}

/// The conformance suite lets a store decline; this one merges: the result and the next
/// turn commit together, the call's row goes, and no message is queued.
#[tokio::test]
async fn a_result_and_the_next_turn_commit_in_one_transaction() {
    let Some(hub) = TestHub::new("a_result_and_the_next_turn_commit_in_one_transaction") else {
        return;
    };
    let (near, far) = (hub.store().await, hub.store().await);
    let admin = hub.admin().await;
    let schema = near.schema().to_owned();
    let lease = Duration::from_secs(30);
    near.create_instance(new_instance("i1"))
        .await
        .expect("creates");
    let item = near
        .fetch_one_lean("near", lease)
        .await
        .expect("fetches")
        .expect("the new instance");
    let mut first = plain_turn(&item);
    first.activities = vec![say_hello(0, "Tokyo")];
    let tokyo = near
        .commit_leasing("near", first, lease)
        .await
        .expect("commits")
        .pop()
        .expect("the call, leased to its worker");
    let before = near.get_history("i1").await.expect("reads");
    let instance = near
        .get_instance("i1")
        .await
        .expect("reads")
        .expect("exists");

    // The instance row is locked by another transaction (a host fetching or committing):
    // the merge declines at once instead of waiting, and changes nothing.
    let mut locker = hub.admin().await;
    let locking = locker.transaction().await.expect("begins");
    locking
        .execute(
            &format!("SELECT 1 FROM {schema}.instances WHERE instance_id = 'i1' FOR UPDATE"),
            &[],
        )
        .await
        .expect("locks");
    let declined = tokio::time::timeout(
        Duration::from_secs(5),
        near.commit_completing(
            "near",
            &tokyo,
            turn_after(&instance, completed(0), vec![say_hello(1, "Seattle")]),
            lease,
        ),
    )
    .await
    .expect("a locked instance does not make the merge wait")
    .expect("works");
    assert_eq!(declined, None);
    locking.rollback().await.expect("rolls back");
    assert_eq!(near.get_history("i1").await.expect("reads"), before);
    let activities = format!(
        "SELECT COUNT(*) FROM {schema}.activities WHERE id = {}",
        tokyo.id
    );
    assert_eq!(
        count(&admin, &activities).await,
        1,
        "the call is still there"
    );

    let turn = turn_after(&instance, completed(0), vec![say_hello(1, "Seattle")]);
    let leased = near
        .commit_completing("near", &tokyo, turn.clone(), lease)
        .await
        .expect("works")
        .expect("PostgreSQL merges the result and the turn");
    assert_eq!(
        leased
            .iter()
            .map(|w| (w.task_id, w.input.clone(), w.dequeue_count))
            .collect::<Vec<_>>(),
        [(1, json!("Seattle"), 1)]
    );
    let mut expected = before.clone();
    expected.extend(turn.appended.clone());
    assert_eq!(near.get_history("i1").await.expect("reads"), expected);
    let stored = near
        .get_instance("i1")
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(stored.history_length, expected.len() as u64);
    assert_eq!(
        count(&admin, &activities).await,
        0,
        "the call's row is gone"
    );
    let messages = format!("SELECT COUNT(*) FROM {schema}.messages");
    assert_eq!(count(&admin, &messages).await, 0, "no result was queued");
    let held = format!("SELECT COUNT(*) FROM {schema}.instances WHERE lock_owner IS NOT NULL");
    assert_eq!(count(&admin, &held).await, 0, "the instance is free again");
    assert_eq!(
        far.fetch_activity("far", lease).await,
        Ok(None),
        "the new call is leased to the merging worker"
    );

    // The same turn again is stale (the history moved on): nothing changes.
    let again = near
        .commit_completing("near", &leased[0], turn, lease)
        .await
        .expect("works");
    assert_eq!(again, None);
    assert_eq!(near.get_history("i1").await.expect("reads"), expected);
    drop((near, far));
    hub.drop().await;
}

/// The conformance suite lets a store lease one item per fetch; this one leases a batch in
/// one statement, each instance once however many messages it has, oldest work first.
#[tokio::test]
async fn batched_fetches_lease_several_items_in_one_call() {
    let Some(hub) = TestHub::new("batched_fetches_lease_several_items_in_one_call") else {
        return;
    };
    let (near, far) = (hub.store().await, hub.store().await);
    let lease = Duration::from_secs(30);
    for n in 0..7 {
        near.create_instance(new_instance(&format!("i{n}")))
            .await
            .expect("creates");
    }
    for name in ["one", "two"] {
        near.raise_event(
            "i0",
            HistoryEvent::new(
                Utc::now(),
                crate::history::EventKind::EventRaised {
                    name: name.to_owned(),
                    input: Value::Null,
                },
            ),
        )
        .await
        .expect("raised");
    }
    let batch = near
        .fetch_orchestrations(
            "near",
            FetchOptions {
                lease,
                max: 5,
                with_history: false,
                versions: None,
                names: None,
                entity_names: None,
            },
        )
        .await
        .expect("fetches");
    assert_eq!(
        batch
            .iter()
            .map(|item| (item.instance.instance_id.as_str(), item.messages.len()))
            .collect::<Vec<_>>(),
        [("i0", 3), ("i1", 1), ("i2", 1), ("i3", 1), ("i4", 1)],
        "five instances, oldest work first, each with all its messages"
    );
    for item in &batch {
        assert!(item.history.is_none(), "the batch leaves the history out");
        assert_eq!(item.dequeue_count, 1);
    }
    let rest = far
        .fetch_orchestrations(
            "far",
            FetchOptions {
                lease,
                max: 5,
                with_history: false,
                versions: None,
                names: None,
                entity_names: None,
            },
        )
        .await
        .expect("fetches");
    assert_eq!(
        rest.iter()
            .map(|item| item.instance.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["i5", "i6"],
        "the leased ones are skipped"
    );

    for item in &batch[..3] {
        let mut commit = plain_turn(item);
        commit.activities = vec![say_hello(0, "Tokyo"), say_hello(1, "Seattle")];
        near.commit_leased("near", commit).await.expect("commits");
    }
    let calls = near
        .fetch_activities(
            "near",
            ActivityFetch {
                lease,
                max: 5,
                names: None,
            },
        )
        .await
        .expect("fetches");
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert!(calls.iter().all(|c| c.dequeue_count == 1));
    let last = far
        .fetch_activities(
            "far",
            ActivityFetch {
                lease,
                max: 5,
                names: None,
            },
        )
        .await
        .expect("fetches");
    assert_eq!(last.len(), 1, "the sixth call: {last:?}");
    assert!(last[0].id > calls[4].id);
    assert_eq!(
        far.fetch_activities(
            "far",
            ActivityFetch {
                lease,
                max: 5,
                names: None
            }
        )
        .await,
        Ok(Vec::new())
    );
    drop((near, far));
    hub.drop().await;
}

#[tokio::test]
async fn a_host_clock_five_minutes_ahead_is_corrected_to_the_database_s() {
    let Some(hub) = TestHub::new("clock skew") else {
        return;
    };
    let skewed = |clock| PostgresOptions {
        clock,
        ..PostgresOptions::new(&hub.url, &hub.hub)
    };
    // A host clock five minutes ahead of the real one.
    let ahead = || {
        Arc::new(crate::clock::SkewedClock {
            skew: chrono::Duration::minutes(5),
        })
    };
    let store = PostgresStore::open(skewed(ClockSource::Database), ahead())
        .await
        .expect("opens");
    let off = (store.clock().now() - chrono::Utc::now())
        .num_milliseconds()
        .abs();
    assert!(
        off < 1_000,
        "the store follows the database's clock: {off} ms off"
    );
    let given = PostgresStore::open(skewed(ClockSource::Given), ahead())
        .await
        .expect("opens");
    let ahead = (given.clock().now() - chrono::Utc::now()).num_seconds();
    assert!(
        (299..=301).contains(&ahead),
        "the given clock as it is: {ahead} s ahead"
    );
    drop((store, given));
    hub.drop().await;
}
