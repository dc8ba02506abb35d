//! What the in-process integration tests share: a worker and a client on each store.

use std::sync::Arc;

use durable_runtime::ClientOptions;
use durable_runtime::DurableClient;
use durable_runtime::clock::{Clock, SystemClock};
use durable_runtime::engine::registry::Registry;
use durable_runtime::engine::store::{MemoryStore, SqliteOptions, SqliteStore, Store};
use durable_runtime::engine::worker::{Worker, WorkerOptions};

/// Runs `test` with a client whose worker serves this test binary's functions, once on
/// the memory store and once on a fresh SQLite file.
pub async fn with_each_store(test: impl AsyncFn(DurableClient)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sqlite = SqliteStore::open(
        SqliteOptions {
            path: dir.path().join("hub.db"),
            exclusive: true,
            durability: Default::default(),
        },
        clock.clone(),
    )
    .expect("sqlite opens");
    let stores: [Arc<dyn Store>; 2] = [Arc::new(MemoryStore::new(clock.clone())), Arc::new(sqlite)];
    let registry = Arc::new(Registry::discover().expect("valid registry"));
    for store in stores {
        let worker = Worker::start(
            store.clone(),
            registry.clone(),
            clock.clone(),
            WorkerOptions::default(),
            "test-worker".to_owned(),
        );
        let client = DurableClient::new(
            store,
            registry.clone(),
            clock.clone(),
            ClientOptions::default(),
        )
        .with_worker(&worker);
        test(client).await;
        worker.shutdown().await;
    }
}
