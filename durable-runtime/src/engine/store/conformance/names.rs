//! Name filters: a worker that runs only some functions (a host whose remote workers
//! serve other names) leases only instances of its orchestrators and entities, only calls
//! of its activities, and a finished call leases it only an instance it can run.

use super::messages::entity_signal;
use super::*;
use crate::store::{ActivityCompletion, NameSet};

fn named(clock: &ManualClock, instance_id: &str, name: &str) -> NewInstance {
    NewInstance {
        name: name.to_owned(),
        ..new_instance(clock, instance_id, "exec-1")
    }
}

fn only(names: &[&str]) -> Option<NameSet> {
    Some(NameSet::new(names.iter().map(|n| (*n).to_owned())))
}

/// Every instance a worker running orchestrators `names` and entities `entity_names`
/// leases now, by id, sorted.
async fn leased_ids(
    store: &dyn Store,
    owner: &str,
    names: Option<NameSet>,
    entity_names: Option<NameSet>,
) -> Vec<String> {
    let options = FetchOptions {
        lease: LEASE,
        max: 16,
        with_history: false,
        versions: None,
        names,
        entity_names,
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

pub(super) async fn a_fetch_leases_only_the_orchestrators_and_entities_its_worker_runs(
    store: &dyn Store,
    clock: &ManualClock,
) {
    for (id, name) in [("rust", "HelloCities"), ("python", "hello_cities")] {
        store
            .create_instance(named(clock, id, name))
            .await
            .expect("creates");
    }
    for (id, name) in [("@counter@a", "counter"), ("@tally@a", "tally")] {
        store
            .signal_entity(to_entity(
                id,
                name,
                entity_signal("add", json!(1), clock.now()),
            ))
            .await
            .expect("signals");
    }

    assert_eq!(
        leased_ids(store, "nobody", only(&[]), only(&[])).await,
        Vec::<String>::new(),
        "nothing it runs"
    );
    assert_eq!(
        leased_ids(store, "counters", only(&[]), only(&["counter"])).await,
        ["@counter@a"],
        "no orchestrators, one entity"
    );
    assert_eq!(
        leased_ids(store, "rust", only(&["HelloCities", "Other"]), only(&[])).await,
        ["rust"],
        "names match exactly, case and all"
    );
    assert_eq!(
        leased_ids(store, "python", only(&["hello_cities"]), None).await,
        ["@tally@a", "python"],
        "any entity"
    );
}

pub(super) async fn an_activity_fetch_leases_only_the_activities_its_worker_runs(
    store: &dyn Store,
    clock: &ManualClock,
) {
    create(store, clock, "i1").await;
    let shout = NewActivity {
        name: "shout".to_owned(),
        ..say_hello(1, "Seattle")
    };
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo"), shout]).await;
    let fetch = |names| ActivityFetch {
        lease: LEASE,
        max: 8,
        names,
    };
    let none = store
        .fetch_activities("nobody", fetch(only(&["sayhello"])))
        .await
        .expect("fetches");
    assert!(none.is_empty(), "SayHello is not sayhello: {none:?}");
    let python = store
        .fetch_activities("python", fetch(only(&["shout"])))
        .await
        .expect("fetches");
    assert_eq!(
        python.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["shout"]
    );
    let rest = store
        .fetch_activities("any", fetch(None))
        .await
        .expect("fetches");
    assert_eq!(
        rest.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["SayHello"],
        "the shout call stays leased to its worker"
    );
}

pub(super) async fn a_completion_leases_its_instance_only_to_a_worker_that_runs_it(
    store: &dyn Store,
    clock: &ManualClock,
) {
    store
        .create_instance(named(clock, "i1", "hello_cities"))
        .await
        .expect("creates");
    first_turn(store, clock, "i1", vec![say_hello(0, "Tokyo")]).await;
    let work = fetch_activity(store, "rust", LEASE)
        .await
        .expect("the call");
    let completion = ActivityCompletion {
        item: work,
        result: task_completed(0, json!("done"), clock.now()),
        lease_instance: Some(LEASE),
        versions: None,
        names: only(&["HelloCities"]),
    };
    let taken = store
        .complete_activity("rust", completion)
        .await
        .expect("completes");
    assert!(
        taken.is_none(),
        "a worker without hello_cities does not take its instance"
    );
    assert_eq!(
        leased_ids(store, "python", only(&["hello_cities"]), None).await,
        ["i1"],
        "the result waits for a worker that runs it"
    );
}
