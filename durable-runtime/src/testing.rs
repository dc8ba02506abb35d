//! Helpers for testing your own functions without a host.

pub use crate::clock::ManualClock;
pub use crate::typed_entity::run_operation;
