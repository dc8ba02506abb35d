//! Items the attribute macros expand to. Not a public API: names and signatures change
//! without notice. Reached through `durable_runtime::__private`.

use std::fmt::Display;

pub use axum::Router;
pub use linkme;
pub use serde_json::Value;

pub use crate::DurableClient;
pub use crate::activity::ActivityContext;
pub use crate::entity::{EntityContext, EntityOperation};
pub use crate::history::FailureDetails;
pub use crate::orchestration::OrchestrationContext;
pub use crate::registry::{
    ACTIVITIES, ActivityDescriptor, AuthLevel, BoxFuture, CLIENTS, ClientDescriptor, ClientTrigger,
    ENTITIES, EntityDescriptor, InvocationResult, ORCHESTRATORS, OrchestratorDescriptor,
    SourceLocation,
};
pub use crate::schedule::TimerInfo;
pub use crate::typed_entity::{
    EntityTarget, assert_entity_state, decode_operation_input, delete_operation,
    encode_operation_output, encode_operation_result, unknown_operation,
};

use crate::error::DurableError;

/// Decodes an activity's JSON input into the parameter type.
pub fn decode_activity_input<T: serde::de::DeserializeOwned>(
    input: Value,
) -> Result<T, FailureDetails> {
    crate::payload::decode(input).map_err(|e| FailureDetails {
        error_type: "InputDeserializationError".to_owned(),
        error_message: format!(
            "activity input does not match `{}`: {e}",
            std::any::type_name::<T>()
        ),
        stack_trace: None,
    })
}

/// Decodes an orchestrator's input (from the context) into the parameter type.
pub fn decode_orchestration_input<T: serde::de::DeserializeOwned>(
    ctx: &OrchestrationContext,
) -> Result<T, FailureDetails> {
    ctx.get_input::<T>()
        .map_err(|e| FailureDetails::from_error(&e))
}

/// Encodes a plain (infallible) return value.
pub fn encode_output<T: serde::Serialize>(output: T) -> InvocationResult {
    serde_json::to_value(output).map_err(|e| FailureDetails {
        error_type: "OutputSerializationError".to_owned(),
        error_message: format!(
            "output of type `{}` cannot be serialized: {e}",
            std::any::type_name::<T>()
        ),
        stack_trace: None,
    })
}

/// Encodes an activity's `Result`: `Err` becomes the failure, typed by the error's type name.
pub fn encode_activity_result<T: serde::Serialize, E: Display>(
    result: Result<T, E>,
) -> InvocationResult {
    match result {
        Ok(value) => encode_output(value),
        Err(error) => Err(FailureDetails {
            error_type: short_type_name::<E>(),
            error_message: error.to_string(),
            stack_trace: None,
        }),
    }
}

/// Encodes an orchestrator's `Result`: `Err` becomes the instance's failure.
pub fn encode_orchestration_result<T: serde::Serialize, E: Into<DurableError>>(
    result: Result<T, E>,
) -> InvocationResult {
    match result {
        Ok(value) => encode_output(value),
        Err(error) => Err(FailureDetails::from_error(&error.into())),
    }
}

/// A timer-triggered client's `Result`: `Err` is logged by the host.
pub fn timer_result<E: Display>(result: Result<(), E>) -> Result<(), String> {
    result.map_err(|e| e.to_string())
}

/// Adds a client function's HTTP route to the router, for the given methods.
pub fn mount_http<H, T>(
    router: Router,
    route: &'static str,
    methods: &'static [&'static str],
    handler: H,
) -> Router
where
    H: axum::handler::Handler<T, ()>,
    T: 'static,
{
    let mut filter: Option<axum::routing::MethodFilter> = None;
    for method in methods {
        let one = match *method {
            "GET" => axum::routing::MethodFilter::GET,
            "POST" => axum::routing::MethodFilter::POST,
            "PUT" => axum::routing::MethodFilter::PUT,
            "DELETE" => axum::routing::MethodFilter::DELETE,
            "PATCH" => axum::routing::MethodFilter::PATCH,
            "HEAD" => axum::routing::MethodFilter::HEAD,
            "OPTIONS" => axum::routing::MethodFilter::OPTIONS,
            // The macro only accepts the methods above.
            _ => continue,
        };
        filter = Some(match filter {
            Some(f) => f.or(one),
            None => one,
        });
    }
    let filter =
        filter.unwrap_or(axum::routing::MethodFilter::GET.or(axum::routing::MethodFilter::POST));
    let path = format!("/{}", route.trim_start_matches('/'));
    router.route(&path, axum::routing::on(filter, handler))
}

/// The last path segment of a type's name: `std::io::Error` -> `Error`, `MyError` -> `MyError`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// Compile-time check that an orchestrator's first parameter is the context.
#[diagnostic::on_unimplemented(
    message = "the first parameter of an `#[orchestration_trigger]` function must be `OrchestrationContext`, found `{Self}`",
    label = "expected `OrchestrationContext`"
)]
pub trait IsOrchestrationContext {}
impl IsOrchestrationContext for OrchestrationContext {}

/// Compile-time check that an activity's first of two parameters is the context.
#[diagnostic::on_unimplemented(
    message = "the first of two parameters of an `#[activity_trigger]` function must be `ActivityContext`, found `{Self}`",
    label = "expected `ActivityContext`"
)]
pub trait IsActivityContext {}
impl IsActivityContext for ActivityContext {}

/// Compile-time check that an input parameter can be decoded from JSON.
#[diagnostic::on_unimplemented(
    message = "the input type `{Self}` cannot be deserialized from JSON",
    label = "input types must implement `serde::de::DeserializeOwned`",
    note = "derive `serde::Deserialize` for it, or take `serde_json::Value`"
)]
pub trait IsInput {}
impl<T: serde::de::DeserializeOwned> IsInput for T {}

/// Compile-time check that an output can be encoded as JSON.
#[diagnostic::on_unimplemented(
    message = "the output type `{Self}` cannot be serialized to JSON",
    label = "outputs must implement `serde::Serialize`",
    note = "derive `serde::Serialize` for it"
)]
pub trait IsOutput {}
impl<T: serde::Serialize> IsOutput for T {}

/// Used by the generated assertions: mentions `T` so the bound is checked at the user's type.
pub fn assert_orchestration_context<T: IsOrchestrationContext>() {}
/// See [`assert_orchestration_context`].
pub fn assert_activity_context<T: IsActivityContext>() {}
/// See [`assert_orchestration_context`].
pub fn assert_input<T: IsInput>() {}
/// See [`assert_orchestration_context`].
pub fn assert_output<T: IsOutput>() {}
