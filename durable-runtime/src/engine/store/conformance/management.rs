//! Management: listing with filters and pages, purging finished instances.

use super::*;

fn ids(page: &InstancePage) -> Vec<&str> {
    page.instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect()
}

pub(super) async fn listing_filters_and_pages_in_creation_order(
    store: &dyn Store,
    clock: &ManualClock,
) {
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
        .signal_entity(to_entity("@counter@a", "counter", signal))
        .await
        .expect("signals");
    let query = |f: &dyn Fn(&mut InstanceQuery)| {
        let mut query = InstanceQuery {
            page_size: 100,
            ..InstanceQuery::default()
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
    let by_name = |name: &str| {
        let name = name.to_owned();
        query(&|q| q.name = Some(name.clone()))
    };
    let named = store
        .list_instances(&by_name("HelloCities"))
        .await
        .expect("lists");
    assert_eq!(ids(&named), ["order-1", "order-2", "order-3", "refund-1"]);
    let other = store
        .list_instances(&by_name("Other"))
        .await
        .expect("lists");
    assert_eq!(ids(&other), Vec::<&str>::new());
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

pub(super) async fn purge_removes_finished_instances_and_refuses_running_ones(
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
    let filter = PurgeFilter {
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

/// Creation times finer than a millisecond (a real clock's) page without repeats or gaps:
/// the continuation token keeps milliseconds.
pub(super) async fn pages_neither_repeat_nor_skip_instances_made_within_a_millisecond(
    store: &dyn Store,
    clock: &ManualClock,
) {
    let ids: Vec<String> = (0..7).map(|i| format!("fine-{i}")).collect();
    for id in &ids {
        create(store, clock, id).await;
        clock.advance(Duration::from_micros(300));
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let query = InstanceQuery {
            page_size: 2,
            after: after.take(),
            ..InstanceQuery::default()
        };
        let page = store.list_instances(&query).await.expect("lists");
        seen.extend(page.instances.iter().map(|i| i.instance_id.clone()));
        match page.next {
            // Through the token, as a client passes it back.
            Some(next) => after = PageCursor::from_token(&next.to_token()),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "each once: {seen:?}");
}

pub(super) async fn backlog_counts_instances_by_status_and_the_ready_work(
    store: &dyn Store,
    clock: &ManualClock,
) {
    assert_eq!(store.backlog().await.expect("counts"), Backlog::default());
    for id in ["a", "b", "c"] {
        create(store, clock, id).await;
        clock.advance(seconds(10));
    }
    finish(store, clock, "a", RuntimeStatus::Completed).await;
    first_turn(store, clock, "b", vec![say_hello(0, "Tokyo")]).await;
    let signal = HistoryEvent::new(
        clock.now(),
        EventKind::EntityOperationSignaled {
            request_id: "r1".to_owned(),
            target_instance_id: "@counter@x".to_owned(),
            operation: "add".to_owned(),
            input: json!(1),
            critical_section_id: None,
        },
    );
    store
        .signal_entity(to_entity("@counter@x", "counter", signal))
        .await
        .expect("signals");
    assert_eq!(store.queued_messages("@counter@x").await, Ok(1));
    assert_eq!(
        store.queued_messages("a").await,
        Ok(0),
        "a's start was consumed"
    );
    assert_eq!(store.queued_messages("nobody").await, Ok(0));
    let mut backlog = store.backlog().await.expect("counts");
    backlog.instances.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(
        backlog,
        Backlog {
            instances: vec![
                (RuntimeStatus::Completed, 1),
                (RuntimeStatus::Pending, 1),
                (RuntimeStatus::Running, 1),
            ],
            entities: 1,
            // c's start and the entity's signal; a's and b's starts were consumed.
            ready_messages: 2,
            oldest_ready_message: Some(start_time() + chrono::Duration::seconds(20)),
            ready_activities: 1,
        }
    );
    let lease = seconds(10);
    fetch_activity(store, "worker-1", lease)
        .await
        .expect("the call");
    assert_eq!(store.backlog().await.expect("counts").ready_activities, 0);
    clock.advance(lease);
    assert_eq!(
        store.backlog().await.expect("counts").ready_activities,
        1,
        "a call whose lease expired waits again"
    );
}

pub(super) async fn queued_work_lists_every_message_and_activity_call(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let work = store.queued_work().await.expect("lists");
    assert_eq!(
        work,
        [QueuedWork {
            instance_id: "i1".to_owned(),
            visible_at: Some(clock.now()),
        }],
        "the start message"
    );
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let work = store.queued_work().await.expect("lists");
    assert_eq!(
        work,
        [QueuedWork {
            instance_id: "i1".to_owned(),
            visible_at: None,
        }],
        "the start consumed, the call queued"
    );
}
