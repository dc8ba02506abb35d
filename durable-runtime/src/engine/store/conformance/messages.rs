//! Messages between instances: timers, external events, entity operations, children and
//! continue-as-new, and the signals that wake dispatchers.

use super::*;

pub(super) async fn unknown_ids_have_no_instance_no_history_and_no_lease(
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
        store.commit_leased("worker-1", commit).await,
        Err(StoreError::LeaseLost("nobody".to_owned()))
    );
    create(store, clock, "i1").await;
    assert_eq!(
        store.get_instance("I1").await,
        Ok(None),
        "ids are case-sensitive"
    );
}

pub(super) async fn new_work_raises_the_signals(store: &dyn Store, clock: &ManualClock) {
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

pub(super) async fn a_timer_message_is_invisible_until_it_is_due(
    store: &dyn Store,
    clock: &ManualClock,
) {
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
        .commit_leased("worker-1", commit)
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
    assert_eq!(item.messages[0].execution_id.as_deref(), Some("exec-1"));
}

pub(super) async fn raise_event_queues_events_for_unfinished_instances_only(
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
        item.messages[1].execution_id, None,
        "for whichever execution is current"
    );
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
    assert_eq!(
        store.raise_event("i1", approval).await,
        Err(StoreError::Finished("i1".to_owned()))
    );
    assert!(fetch_none(store, "worker-1").await);
}

pub(super) async fn messages_to_missing_or_finished_instances_are_dropped(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "done").await;
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
        .commit_leased("worker-1", commit)
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
        .commit_leased(
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

pub(super) fn entity_signal(operation: &str, input: Value, at: DateTime<Utc>) -> HistoryEvent {
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

pub(super) async fn entity_operations_create_the_entity_and_queue_in_order(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let add = |n: i64| entity_signal("add", json!(n), clock.now());
    store
        .signal_entity(to_entity("@counter@a", "counter", add(1)))
        .await
        .expect("signals a missing entity");
    store
        .signal_entity(to_entity("@counter@a", "counter", add(2)))
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
        .commit_leased("worker-1", commit)
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
        .commit_leased("worker-1", commit)
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
        .commit_leased("worker-1", commit)
        .await
        .expect("commits the batch");
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "@counter@b");
    assert_eq!(events_of(&item.messages), [call]);

    // An entity left without state is removed, unless something is queued for it.
    store
        .commit_leased("worker-1", turn(&item, Vec::new(), RuntimeStatus::Pending))
        .await
        .expect("commits");
    assert_eq!(store.get_instance("@counter@b").await, Ok(None));
    store
        .signal_entity(to_entity("@counter@a", "counter", add(5)))
        .await
        .expect("signals");
    let item = fetch(store, "worker-1").await;
    store
        .signal_entity(to_entity("@counter@a", "counter", add(6)))
        .await
        .expect("signals while leased");
    store
        .commit_leased("worker-1", turn(&item, Vec::new(), RuntimeStatus::Pending))
        .await
        .expect("commits");
    let kept = instance(store, "@counter@a").await;
    assert_eq!(kept.status, RuntimeStatus::Pending);
    let item = fetch(store, "worker-1").await;
    assert_eq!(events_of(&item.messages), [add(6)]);
}

pub(super) async fn a_turn_creates_children_and_reports_a_taken_id_to_the_parent(
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
        trace_context: None,
        version: None,
    };
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::Running,
    );
    commit.children = vec![child("parent:0", 0), child("busy", 1)];
    store
        .commit_leased("worker-1", commit)
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
        .fetch_one("worker-2", LEASE)
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
    assert_eq!(parent_messages[0].execution_id.as_deref(), Some("exec-1"));
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

pub(super) async fn continue_as_new_starts_the_next_execution_with_a_fresh_history(
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
        trace_context: None,
    });
    store
        .commit_leased("worker-1", commit)
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
    assert_eq!(item.history, Some(Vec::new()));
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
                    parent_trace_context: None,
                    version: None,
                }
            ),
            carried
        ]
    );
    assert_eq!(item.messages[0].execution_id.as_deref(), Some("exec-2"));
    assert_eq!(item.messages[1].execution_id, None);
}

pub(super) async fn a_scheduled_signal_waits_until_its_time(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let later = entity_signal("add", json!(1), clock.now());
    let message = EntityMessage {
        deliver_at: Some(clock.now() + chrono::Duration::seconds(60)),
        ..to_entity("@counter@later", "counter", later.clone())
    };
    store.signal_entity(message).await.expect("signals");
    assert_eq!(
        instance(store, "@counter@later").await.status,
        RuntimeStatus::Pending
    );
    assert!(fetch_none(store, "worker-1").await, "not before its time");
    assert_eq!(
        store.next_due().await.expect("next due"),
        Some(clock.now() + chrono::Duration::seconds(60))
    );
    clock.advance(seconds(61));
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.instance_id, "@counter@later");
    assert_eq!(events_of(&item.messages), [later]);
}
