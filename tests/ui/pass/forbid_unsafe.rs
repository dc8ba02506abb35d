// The expansion compiles in crates that forbid `unsafe` code and deny warnings, as the
// workspace's crates do.
#![forbid(unsafe_code)]
#![deny(warnings, missing_docs)]
//! A documented crate.

use durable_runtime::prelude::*;

#[activity_trigger]
async fn documented(n: u8) -> u8 {
    n
}

/// Entry point.
fn main() {
    let _ = documented(1);
}
