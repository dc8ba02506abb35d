//! Orchestration versions: kept with the instance and its `ExecutionStarted`, through
//! continue-as-new; fetches and the fast path lease only the versions a worker takes;
//! listings filter on them.

use super::messages::entity_signal;
use super::*;
use crate::version::{VersionFailure, VersionMatch, Versioning};

fn versioned(clock: &ManualClock, instance_id: &str, version: Option<&str>) -> NewInstance {
    NewInstance {
        version: version.map(str::to_owned),
        ..new_instance(clock, instance_id, "exec-1")
    }
}

fn host(version: &str, match_strategy: VersionMatch) -> Versioning {
    Versioning {
        default_version: Some(version.to_owned()),
        match_strategy,
        failure_strategy: VersionFailure::Reject,
    }
}

/// Every instance a worker taking `versioning` leases now, by id, sorted.
async fn leased_ids(store: &dyn Store, owner: &str, versioning: &Versioning) -> Vec<String> {
    let options = FetchOptions {
        lease: LEASE,
        max: 16,
        with_history: false,
        versions: versioning.fetch_filter(),
        names: None,
        entity_names: None,
    };
    let mut ids: Vec<String> = store
        .fetch_orchestrations(owner, options)
        .await
        .expect("fetches")
        .into_iter()
        .map(|item| item.instance.instance_id)
        .collect();
    ids.sort();
    ids
}

pub(super) async fn an_instance_keeps_its_version_in_its_row_and_execution_started(
    store: &dyn Store,
    clock: &ManualClock,
) {
    store
        .create_instance(versioned(clock, "i1", Some("1.2")))
        .await
        .expect("creates");
    assert_eq!(instance(store, "i1").await.version.as_deref(), Some("1.2"));
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.version.as_deref(), Some("1.2"));
    let EventKind::ExecutionStarted { version, .. } = &item.messages[0].event.kind else {
        panic!(
            "the first message starts the execution: {:?}",
            item.messages
        );
    };
    assert_eq!(version.as_deref(), Some("1.2"));

    // Continue-as-new: the next execution runs the same version.
    let mut commit = turn(
        &item,
        turn_events(&item, clock.now(), &[]),
        RuntimeStatus::ContinuedAsNew,
    );
    commit.continue_as_new = Some(NewExecution {
        execution_id: "exec-2".to_owned(),
        input: json!(null),
        carried_events: Vec::new(),
        trace_context: None,
    });
    store
        .commit_leased("worker-1", commit)
        .await
        .expect("commits");
    let item = fetch(store, "worker-1").await;
    assert_eq!(item.instance.version.as_deref(), Some("1.2"));
    let EventKind::ExecutionStarted { version, .. } = &item.messages[0].event.kind else {
        panic!("the next execution starts: {:?}", item.messages);
    };
    assert_eq!(version.as_deref(), Some("1.2"));
}

pub(super) async fn a_fetch_leases_only_the_versions_its_worker_takes(
    store: &dyn Store,
    clock: &ManualClock,
) {
    for (id, version) in [
        ("none", None),
        ("v1", Some("1.0")),
        ("v1-again", Some("01.0")),
        ("v2", Some("2.0")),
        ("v10", Some("10.0")),
    ] {
        store
            .create_instance(versioned(clock, id, version))
            .await
            .expect("creates");
    }
    store
        .signal_entity(to_entity(
            "@counter@a",
            "counter",
            entity_signal("add", json!(1), clock.now()),
        ))
        .await
        .expect("signals");

    let strict_v2 = host("2.0", VersionMatch::Strict);
    assert_eq!(
        leased_ids(store, "v2-strict", &strict_v2).await,
        ["@counter@a", "v2"],
        "exactly 2.0, and entities for anyone"
    );
    let v1 = host("1.0", VersionMatch::CurrentOrOlder);
    assert_eq!(
        leased_ids(store, "v1", &v1).await,
        ["none", "v1", "v1-again"],
        "1.0 and older: no version is the oldest, 01.0 is 1.0"
    );
    assert_eq!(
        leased_ids(store, "v1", &v1).await,
        Vec::<String>::new(),
        "10.0 is newer than 1.0 (numbers, not text)"
    );
    let anything = Versioning {
        match_strategy: VersionMatch::None,
        ..v1
    };
    assert_eq!(leased_ids(store, "any", &anything).await, ["v10"]);
}

pub(super) async fn a_completion_leases_its_instance_only_to_a_worker_that_takes_its_version(
    store: &dyn Store,
    clock: &ManualClock,
) {
    store
        .create_instance(versioned(clock, "i1", Some("2")))
        .await
        .expect("creates");
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let work = fetch_activity(store, "v1", LEASE).await.expect("the call");
    let completion = super::super::ActivityCompletion {
        item: work,
        result: task_completed(0, json!("done"), clock.now()),
        lease_instance: Some(LEASE),
        versions: host("1", VersionMatch::CurrentOrOlder).fetch_filter(),
        names: None,
    };
    let taken = store
        .complete_activity("v1", completion)
        .await
        .expect("completes");
    assert!(taken.is_none(), "a v1 worker does not take a v2 instance");
    let v2 = host("2", VersionMatch::CurrentOrOlder);
    assert_eq!(
        leased_ids(store, "v2", &v2).await,
        ["i1"],
        "the result waits for v2"
    );
}

pub(super) async fn listings_filter_on_the_version(store: &dyn Store, clock: &ManualClock) {
    for (id, version) in [
        ("a", Some("1.0")),
        ("b", Some("1.00")),
        ("c", Some("2.0")),
        ("d", None),
    ] {
        store
            .create_instance(versioned(clock, id, version))
            .await
            .expect("creates");
    }
    let query = InstanceQuery {
        version: Some("1.0".to_owned()),
        page_size: 10,
        ..InstanceQuery::default()
    };
    let page = store.list_instances(&query).await.expect("lists");
    let ids: Vec<&str> = page
        .instances
        .iter()
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b"], "1.00 is 1.0");
    assert!(
        page.instances.iter().all(|i| query.matches(i)),
        "the store and the filter agree"
    );
}
