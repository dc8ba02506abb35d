//! Leasing instances: one holder at a time until the lease expires, in the order of their
//! messages, in batches; hand-outs without a commit are counted.

use super::*;

pub(super) async fn fetch_leases_an_instance_until_the_lease_expires(
    store: &dyn Store,
    clock: &ManualClock,
) {
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

pub(super) async fn fetch_takes_instances_in_the_order_of_their_messages(
    store: &dyn Store,
    clock: &ManualClock,
) {
    for id in ["b", "a", "c"] {
        create(store, clock, id).await;
        clock.advance(seconds(1));
    }
    let mut order = Vec::new();
    while let Some(item) = store
        .fetch_one("worker-1", LEASE)
        .await
        .expect("fetch_orchestration works")
    {
        order.push(item.instance.instance_id);
    }
    assert_eq!(order, ["b", "a", "c"]);
}

pub(super) async fn abandon_orchestration_releases_the_lease(
    store: &dyn Store,
    clock: &ManualClock,
) {
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
        .commit_leased("worker-1", turn(&item, Vec::new(), RuntimeStatus::Running))
        .await;
    assert_eq!(lost, Err(StoreError::LeaseLost("i1".to_owned())));
}

/// Each hand-out of an instance without a commit counts (poison detection); a commit
/// starts the count again.
pub(super) async fn an_instance_counts_hand_outs_until_a_commit(
    store: &dyn Store,
    clock: &ManualClock,
) {
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
        .commit_leased("worker-3", turn(&third, Vec::new(), RuntimeStatus::Running))
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

pub(super) async fn a_lean_fetch_leases_like_a_fetch_and_may_leave_the_history_out(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (appended, work) = calling_tokyo(store, clock).await;
    complete(store, clock, "worker-1", &work).await;

    let item = expect_item(store.fetch_one_lean("worker-2", LEASE).await);
    assert_eq!(item.instance.instance_id, "i1");
    assert_eq!(item.instance.history_length, 4);
    assert!(
        item.history.is_none() || item.history.as_ref() == Some(&appended),
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
            .fetch_one_lean("worker-3", LEASE)
            .await
            .expect("fetch_orchestration_lean works")
            .is_none(),
        "the instance is leased"
    );
    store
        .commit_leased(
            "worker-2",
            turn(&item, events_of(&item.messages), RuntimeStatus::Running),
        )
        .await
        .expect("the lean item's turn commits");
    assert_eq!(instance(store, "i1").await.history_length, 5);
}

pub(super) async fn batched_fetches_lease_many_items_at_once(
    store: &dyn Store,
    clock: &ManualClock,
) {
    for id in ["i1", "i2", "i3"] {
        create(store, clock, id).await;
    }
    let first = store
        .fetch_orchestrations(
            "worker-1",
            FetchOptions {
                lease: LEASE,
                max: 2,
                with_history: false,
                versions: None,
                names: None,
                entity_names: None,
            },
        )
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
            .fetch_orchestrations(
                "worker-2",
                FetchOptions {
                    lease: LEASE,
                    max: 8,
                    with_history: false,
                    versions: None,
                    names: None,
                    entity_names: None,
                },
            )
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
        store.commit_leased(owner, commit).await.expect("commits");
    }
    let mut calls = Vec::new();
    loop {
        let batch = store
            .fetch_activities(
                "worker-1",
                ActivityFetch {
                    lease: LEASE,
                    max: 4,
                    names: None,
                },
            )
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
