//! Orchestrations: the context user code talks to, and the replay engine that drives it.

mod context;
mod future;
pub(crate) mod replay;
mod state;

pub use context::OrchestrationContext;
pub use future::DurableFuture;
