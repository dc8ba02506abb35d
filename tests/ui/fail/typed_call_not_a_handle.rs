use durable_runtime::prelude::*;

#[activity_trigger]
async fn opaque() -> impl serde::Serialize {
    1
}

#[orchestration_trigger]
async fn hello(ctx: OrchestrationContext) -> Result<(), DurableError> {
    ctx.call("SayHello", "Tokyo".to_owned()).await?;
    ctx.call(opaque, ()).await?;
    Ok(())
}

fn main() {}
