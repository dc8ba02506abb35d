//! Creating instances: a new instance is Pending with its ExecutionStarted queued; a
//! running id is refused; a finished one is replaced.

use super::*;

pub(super) async fn create_makes_a_pending_instance_with_an_execution_started_message(
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
    assert_eq!(item.history, Some(Vec::new()));
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].execution_id.as_deref(), Some("exec-1"));
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
                parent_trace_context: None,
                version: None,
            }
        )
    );
}

pub(super) async fn create_refuses_an_instance_that_has_not_finished(
    store: &dyn Store,
    clock: &ManualClock,
) {
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

pub(super) async fn create_replaces_a_finished_instance_with_a_fresh_history(
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
        .commit_leased("worker-1", commit)
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
    assert_eq!(item.history, Some(Vec::new()));
    assert_eq!(item.messages.len(), 1, "only the new ExecutionStarted");
    assert_eq!(item.messages[0].execution_id.as_deref(), Some("exec-2"));
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
