//! Testing your own functions without a host process: a [`TestHost`] that runs them on a
//! real worker over the memory store with a manual clock, test doubles for activities, and
//! [`replay`], which runs the current code against a recorded history and names the first
//! call that no longer matches.

mod host;
mod replay;

pub use crate::clock::ManualClock;
pub use crate::typed_entity::run_operation;
pub use host::{TestHost, TestHostBuilder};
pub use replay::{ReplayError, ReplayMode, ReplayOptions, replay, replay_with};
