use durable_runtime::prelude::*;

#[orchestration_trigger]
async fn reads_clocks(ctx: OrchestrationContext) -> Result<u64, DurableError> {
    let started = std::time::SystemTime::now();
    let timer = std::time::Instant::now();
    let today = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(1));
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    let _ = (started, timer, today, ctx.instance_id());
    Ok(1)
}

fn main() {}
