//! What only the PostgreSQL store promises: migrations, hubs side by side, several stores
//! (hosts) on one hub, notifications, and connection loss. The promises every store keeps
//! are in the conformance suite.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::testing::{database_url, drop_hub, unique_hub};
use super::*;
use crate::clock::SystemClock;

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
        .fetch_orchestration("w", Duration::from_secs(30))
        .await
        .expect("fetches")
        .expect("work");
    assert_eq!(leased.instance.instance_id, "same-id");
    assert!(
        two.fetch_orchestration("w", Duration::from_secs(30))
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
        .fetch_orchestration("idle", Duration::from_secs(30))
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
    }];
    idle.commit_turn("idle", commit).await.expect("commits");
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
            .fetch_orchestration(owner, Duration::from_secs(30))
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
