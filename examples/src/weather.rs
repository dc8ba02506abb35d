//! The docs' GetWeatherOrchestrator: an activity that takes a struct input.

use durable_runtime::prelude::*;
use serde::{Deserialize, Serialize};

/// A place to get the weather for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// The state, e.g. `WA`.
    pub state: String,
    /// The city, e.g. `Seattle`.
    pub city: String,
}

/// Reports the weather at a location.
#[activity_trigger(name = "GetWeather")]
pub async fn get_weather(location: Location) -> String {
    format!(
        "The weather in {}, {} is sunny with a high of 72°F.",
        location.city, location.state
    )
}

/// Gets the weather for Seattle, WA.
#[orchestration_trigger(name = "GetWeatherOrchestrator")]
pub async fn get_weather_orchestrator(ctx: OrchestrationContext) -> Result<String, DurableError> {
    let location = Location {
        state: "WA".to_owned(),
        city: "Seattle".to_owned(),
    };
    ctx.call_activity("GetWeather", location).await
}
