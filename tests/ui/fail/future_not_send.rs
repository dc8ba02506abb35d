use std::rc::Rc;

use durable_runtime::prelude::*;

async fn yield_now() {}

#[activity_trigger]
async fn count(text: String) -> usize {
    let shared = Rc::new(text);
    yield_now().await;
    shared.len()
}

fn main() {}
