//! Committing turns: all or nothing, in order, and only by the worker that holds the
//! lease on the execution and history length the turn started from.

use super::*;

pub(super) async fn commit_appends_history_consumes_messages_schedules_work_and_releases_the_lease(
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
        .commit_leased("worker-1", commit)
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
    assert_eq!(next.history.as_ref(), Some(&appended));
    assert_eq!(next.instance.history_length, 4);
}

pub(super) async fn turns_append_to_history_in_order(store: &dyn Store, clock: &ManualClock) {
    create(store, clock, "i1").await;
    let mut expected = first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    for (task_id, city) in [(1, "Seattle"), (2, "London")] {
        let work = fetch_activity(store, "worker-1", LEASE)
            .await
            .expect("a call");
        clock.advance(seconds(1));
        complete(store, clock, "worker-1", &work).await;
        let item = fetch(store, "worker-1").await;
        assert_eq!(item.history.as_ref(), Some(&expected));
        let calls = vec![say_hello(task_id, city)];
        let appended = turn_events(&item, clock.now(), &calls);
        let mut commit = turn(&item, appended.clone(), RuntimeStatus::Running);
        commit.activities = calls;
        store
            .commit_leased("worker-1", commit)
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
        .commit_leased("worker-1", commit)
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
    let rejected = store.commit_leased(owner, commit).await;
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

pub(super) async fn a_commit_by_another_owner_is_rejected_and_changes_nothing(
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
        .commit_leased(
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

pub(super) async fn a_commit_with_a_stale_history_length_is_rejected_and_changes_nothing(
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
        .commit_leased(
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

pub(super) async fn a_commit_after_the_lease_expired_is_rejected(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let item = fetch(store, "worker-1").await;
    clock.advance(LEASE);
    // Expired, though nobody took it over yet.
    assert_rejected_without_change(store, "worker-1", rejected_turn(&item, clock.now())).await;
    let taken = fetch(store, "worker-2").await;
    assert_rejected_without_change(store, "worker-1", rejected_turn(&item, clock.now())).await;
    store
        .commit_leased(
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

pub(super) async fn messages_that_arrive_during_a_turn_stay_queued(
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
        .commit_leased(
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
    assert_eq!(next.messages[0].execution_id.as_deref(), Some("exec-1"));
}

pub(super) async fn replacing_an_instance_rejects_a_commit_for_its_old_execution(
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
        .commit_leased(
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
        .commit_leased(
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
    assert_eq!(item.messages[0].execution_id.as_deref(), Some("exec-2"));
}

pub(super) async fn of_two_concurrent_commits_on_one_instance_one_fails(
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
        store.commit_leased("worker-1", first.clone()),
        store.commit_leased("worker-1", second.clone())
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one commits: {a:?} {b:?}");
    let winner = if a.is_ok() { first } else { second };
    assert_eq!(
        store.get_history("i1").await.expect("history"),
        winner.appended,
        "the loser left no trace"
    );
}
