use durable_runtime::prelude::*;

#[activity_trigger(name = "SayHello")]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

#[orchestration_trigger]
async fn count(_ctx: OrchestrationContext, to: u32) -> Vec<u32> {
    (1..=to).collect()
}

#[orchestration_trigger]
async fn hello(ctx: OrchestrationContext) -> Result<String, DurableError> {
    let counted = ctx.call(count, "three").await?;
    let greeting = ctx.call(say_hello, "Tokyo").await?;
    Ok(format!("{greeting} {counted:?}"))
}

fn main() {}
