use durable_runtime::prelude::*;
use durable_runtime::engine::registry::{CLIENTS, ClientTrigger};

/// Runs every five minutes with the tick's details.
#[client(timer(schedule = "0 */5 * * * *"))]
async fn every_five_minutes(client: DurableClient, info: TimerInfo) -> Result<(), DurableError> {
    let _ = (client, info.is_past_due);
    Ok(())
}

/// Runs hourly and needs nothing but the client.
#[client(name = "Hourly", timer(schedule = "0 * * * *"))]
async fn hourly(_client: DurableClient) {}

fn main() {
    let schedules: Vec<(&str, &str)> = CLIENTS
        .iter()
        .filter_map(|c| match &c.trigger {
            ClientTrigger::Timer { schedule, .. } => Some((c.name, *schedule)),
            ClientTrigger::Http { .. } => None,
        })
        .collect();
    assert!(schedules.contains(&("every_five_minutes", "0 */5 * * * *")));
    assert!(schedules.contains(&("Hourly", "0 * * * *")));
}
