use durable_runtime::prelude::*;

#[activity_trigger(name = "SayHello")]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

#[orchestration_trigger]
async fn hello(ctx: OrchestrationContext) -> Result<usize, DurableError> {
    let length: usize = ctx.call(say_hello, "Tokyo".to_owned()).await?;
    Ok(length)
}

fn main() {}
