// Typed handles: `ctx.call` takes an activity or an orchestrator by its function's name, and
// the handle still runs the function when called directly.
use durable_runtime::FunctionHandle;
use durable_runtime::prelude::*;

#[activity_trigger(name = "SayHello")]
async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

#[activity_trigger]
async fn seven() -> u8 {
    7
}

#[activity_trigger]
async fn attempt(ctx: ActivityContext, offset: u32) -> Result<u32, String> {
    Ok(ctx.attempt() + offset)
}

#[orchestration_trigger(name = "HelloCities")]
async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let mut out = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        out.push(ctx.call(say_hello, city.to_owned()).await?);
    }
    Ok(out)
}

#[orchestration_trigger]
async fn greet(ctx: OrchestrationContext, city: String) -> String {
    ctx.call(say_hello, city)
        .await
        .unwrap_or_else(|e| e.to_string())
}

#[orchestration_trigger]
async fn everything(
    ctx: OrchestrationContext,
) -> Result<(Vec<String>, String, u8, u32), DurableError> {
    let cities: Vec<String> = ctx.call(hello_cities, ()).await?;
    let greeting: String = ctx.call(greet, "Cairo".to_owned()).await?;
    // Scheduled together, awaited one after the other. (A local variable cannot be named
    // like a function: the name is the handle's, a constant.)
    let (number, attempts) = (ctx.call(seven, ()), ctx.call(attempt, 1));
    Ok((cities, greeting, number.await?, attempts.await?))
}

/// A typed call retries with an option of the call, and the retrying call still races.
#[orchestration_trigger]
async fn greet_with_retry(ctx: OrchestrationContext) -> Result<String, DurableError> {
    let retry = RetryOptions::new(std::time::Duration::from_secs(1), 3);
    let (_, greeting) = when_any([
        ctx.call(say_hello, "Tokyo".to_owned()).with_retry(retry.clone()),
        ctx.call(say_hello, "Seattle".to_owned()),
    ])
    .await;
    greeting
}

mod nested {
    use durable_runtime::prelude::*;

    /// A handle can be used from other modules, like the function it replaces.
    #[activity_trigger(name = "Shout")]
    pub(crate) async fn shout(text: String) -> String {
        text.to_uppercase()
    }
}

#[orchestration_trigger]
async fn shout_hello(ctx: OrchestrationContext) -> Result<String, DurableError> {
    ctx.call(nested::shout, "hello".to_owned()).await
}

// `#[cfg]` removes the handle with the function.
#[activity_trigger]
#[cfg(any())]
async fn compiled_out(n: u8) -> u8 {
    n
}

#[allow(dead_code)]
const fn compiled_out() {}

/// Handles are values: they can be passed around and their types named.
fn name_of<H: FunctionHandle<Input = String, Output = String>>(handle: H) -> &'static str {
    handle.name()
}

fn main() {
    // Calling the handle runs the function directly.
    let greeting = futures::executor::block_on(say_hello("Cairo".to_owned()));
    assert_eq!(greeting, "Hello Cairo!");
    assert_eq!(futures::executor::block_on(seven()), 7);
    assert_eq!(
        futures::executor::block_on(nested::shout("hi".to_owned())),
        "HI"
    );

    let copy = say_hello;
    assert_eq!(name_of(copy), "SayHello");
    assert_eq!(name_of(nested::shout), "Shout");
    assert_eq!(hello_cities.name(), "HelloCities");
    assert_eq!(greet.name(), "greet");
    assert_eq!(everything.name(), "everything");
    assert_eq!(shout_hello.name(), "shout_hello");
    assert_eq!(attempt.name(), "attempt");
}
