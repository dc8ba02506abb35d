//! Activity calls: leases renewed and expired, results queued for the caller once, by the
//! holder only; a free caller may be leased with the result.

use super::*;

pub(super) async fn an_activity_lease_is_renewed_and_expires(
    store: &dyn Store,
    clock: &ManualClock,
) {
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

pub(super) async fn a_completion_queues_its_result_for_the_next_turn(
    store: &dyn Store,
    clock: &ManualClock,
) {
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
        .complete("worker-1", &seattle, failed.clone())
        .await
        .expect("completes");
    complete(store, clock, "worker-1", &tokyo).await;
    assert_eq!(
        fetch_activity(store, "worker-1", LEASE).await,
        None,
        "both are done"
    );

    let item = fetch(store, "worker-2").await;
    assert_eq!(item.history.as_ref(), Some(&appended));
    assert_eq!(
        events_of(&item.messages),
        [failed, task_completed(0, json!("done 0"), clock.now())],
        "in the order they arrived"
    );
    assert!(
        item.messages
            .iter()
            .all(|m| m.execution_id.as_deref() == Some("exec-1"))
    );
}

pub(super) async fn a_completion_by_a_worker_that_lost_the_lease_is_dropped(
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

pub(super) async fn abandon_activity_hands_the_call_out_again(
    store: &dyn Store,
    clock: &ManualClock,
) {
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

pub(super) async fn a_completion_may_lease_its_free_instance_to_the_worker(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let (appended, work) = calling_tokyo(store, clock).await;
    clock.advance(seconds(1));
    let result = task_completed(0, json!("done 0"), clock.now());
    let signals = store.signals();
    let _ = signals.orchestrations.notified().now_or_never();
    let taken = store
        .complete_leasing("worker-1", &work, result.clone(), seconds(10))
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
        item.history.is_none() || item.history.as_ref() == Some(&appended),
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
            .commit_leased("worker-1", turn(&item, Vec::new(), RuntimeStatus::Running))
            .await,
        Err(StoreError::LeaseLost("i1".to_owned())),
        "the lease expired and was taken"
    );
    store
        .commit_leased(
            "worker-2",
            turn(&again, events_of(&again.messages), RuntimeStatus::Running),
        )
        .await
        .expect("the new holder commits");
    assert_eq!(history(store, "i1").await.len(), 5);
}

pub(super) async fn a_completion_leaves_an_instance_someone_holds_to_them(
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
    let held = expect_item(store.fetch_one("worker-2", seconds(10)).await);
    let seattle_done = task_completed(1, json!("done 1"), clock.now());
    let taken = store
        .complete_leasing("worker-1", &seattle, seattle_done.clone(), LEASE)
        .await
        .expect("complete_activity_leasing works");
    assert!(taken.is_none(), "worker-2 holds the instance: {taken:?}");
    store
        .commit_leased(
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
        .commit_leased("worker-3", commit)
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
    let stale = expect_item(store.fetch_one("worker-2", seconds(10)).await);
    clock.advance(seconds(10));
    let london_done = task_completed(2, json!("done 2"), clock.now());
    let taken = store
        .complete_leasing("worker-1", &london, london_done.clone(), LEASE)
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
            .commit_leased("worker-2", turn(&stale, Vec::new(), RuntimeStatus::Running))
            .await,
        Err(StoreError::LeaseLost("i1".to_owned()))
    );
}

pub(super) async fn a_completion_after_the_lease_was_lost_queues_and_leases_nothing(
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
        .complete_leasing("worker-1", &first, result.clone(), LEASE)
        .await
        .expect("a lost lease drops the result");
    assert!(taken.is_none(), "{taken:?}");
    assert!(fetch_none(store, "worker-3").await, "no result queued");
    let second = fetch_activity(store, "worker-2", seconds(10))
        .await
        .expect("the call again");
    assert_eq!(second.dequeue_count, 2);
    let taken = store
        .complete_leasing("worker-1", &first, result, LEASE)
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
