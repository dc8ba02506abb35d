//! Orchestrations: the context user code talks to, and the replay engine that drives it.
//!
//! Nothing here reads a clock or sleeps (clippy's `disallowed_methods`, configured in
//! `clippy.toml`): time is the turn's, given by the worker, and waits are durable timers.

#![deny(clippy::disallowed_methods)]

mod combinators;
mod context;
pub(crate) mod critical_section;
mod future;
mod http_call;
pub(crate) mod lifecycle;
pub(crate) mod remote_turn;
pub(crate) mod replay;
mod retry;
mod state;

#[cfg(test)]
mod replay_tests;

pub use combinators::{when_all, when_any};
pub use context::OrchestrationContext;
pub use critical_section::EntityLock;
pub use future::DurableFuture;
pub use replay::is_replaying_on_this_thread;
pub use retry::RetryOptions;
pub use state::ActionLimits;
