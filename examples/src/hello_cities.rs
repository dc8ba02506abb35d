//! Function chaining: the docs' HelloCities calls SayHello once per city, in order.

use durable_runtime::prelude::*;

/// Greets a city.
#[activity_trigger(name = "SayHello")]
pub async fn say_hello(city: String) -> String {
    format!("Hello {city}!")
}

/// Greets Tokyo, Seattle and London one after another and returns the greetings.
#[orchestration_trigger(name = "HelloCities")]
pub async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
    let mut outputs = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        outputs.push(ctx.call_activity::<String>("SayHello", city).await?);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn say_hello_is_callable_as_written() {
        assert_eq!(say_hello("Cairo".to_owned()).await, "Hello Cairo!");
    }
}
