#![deny(missing_docs)]
//! The handle is the item users see: `missing_docs` applies to it, at the function.

use durable_runtime::prelude::*;

#[activity_trigger]
pub async fn undocumented(n: u8) -> u8 {
    n
}

/// Entry point.
fn main() {}
