//! What a host runs functions with: the registry of linked functions, the stores that keep
//! instances and their work, and the worker that runs turns and activities. A function
//! author never names these; `durable-host` (and a host of your own) does.
//!
//! ```no_run
//! # async fn host() -> Result<(), durable_runtime::engine::store::StoreError> {
//! use std::sync::Arc;
//! use durable_runtime::clock::SystemClock;
//! use durable_runtime::engine::registry::Registry;
//! use durable_runtime::engine::store::{MemoryStore, Store};
//! use durable_runtime::engine::worker::{Worker, WorkerOptions};
//!
//! let clock = Arc::new(SystemClock);
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
//! let registry = Arc::new(Registry::discover().expect("unique function names"));
//! let worker = Worker::start(store, registry, clock, WorkerOptions::default(), "host-1".into());
//! worker.shutdown().await;
//! # Ok(()) }
//! ```

pub mod check;
pub mod failpoints;
pub mod metrics;
pub mod registry;
pub mod remote;
pub mod store;
pub mod worker;
