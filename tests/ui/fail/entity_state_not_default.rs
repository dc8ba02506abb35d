use durable_runtime::prelude::*;

#[derive(serde::Serialize, serde::Deserialize)]
struct Balance(u64);

#[entity_trigger]
async fn account(_ctx: EntityContext<Balance>) {}

fn main() {}
