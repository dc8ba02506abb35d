//! Durable Functions for Rust: orchestrator, activity and client functions with an
//! event-sourced history and deterministic replay.
//!
//! A function author writes plain async functions with the attribute macros and imports
//! the prelude; the `durable-host` crate runs them.
//!
//! ```no_run
//! use durable_runtime::prelude::*;
//!
//! #[activity_trigger(name = "SayHello")]
//! async fn say_hello(city: String) -> String {
//!     format!("Hello {city}!")
//! }
//!
//! #[orchestration_trigger(name = "HelloCities")]
//! async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, DurableError> {
//!     let mut out = Vec::new();
//!     for city in ["Tokyo", "Seattle", "London"] {
//!         out.push(ctx.call_activity::<String>("SayHello", city).await?);
//!     }
//!     Ok(out)
//! }
//! ```

pub mod activity;
pub mod client;
pub mod clock;
pub mod engine;
pub mod entity;
pub mod error;
pub mod history;
pub mod http;
pub mod instance_id;
mod json;
pub mod orchestration;
mod payload;
pub mod payload_limit;
pub mod schedule;
mod status;
pub mod testing;
pub mod trace_context;
mod typed;
mod typed_entity;
pub mod version;
pub mod wire;

// Engine modules by their short paths inside the crate.
pub(crate) use engine::{registry, store, worker};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use activity::ActivityContext;
pub use client::{
    ClientOptions, DurableClient, EntityPage, EntityQuery, ListOptions, PurgeOptions,
    RestartOptions, SignalEntityOptions, StartOptions, StatusOptions, StatusPage, TerminateOptions,
    UrlCredential,
};
pub use durable_macros::{activity_trigger, client, entity_trigger, orchestration_trigger};
pub use entity::{EntityContext, EntityId};
pub use error::DurableError;
pub use history::FailureDetails;
pub use json::Json;
pub use orchestration::{
    DurableFuture, EntityLock, OrchestrationContext, RetryOptions, when_all, when_any,
};
pub use schedule::TimerInfo;
pub use status::RuntimeStatus;
pub use typed::{ActivityHandle, FunctionHandle, OrchestratorHandle};
pub use typed_entity::{EntityProxy, EntitySignals, TypedEntity};
pub use wire::{
    CleanEntityStorageResult, EntityStatus, HistoryEventWire, HttpManagementPayload,
    OrchestrationStatus,
};

/// Everything a function author needs: `use durable_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::TypedEntity;
    pub use crate::{
        ActivityContext, ActivityHandle, DurableClient, DurableError, EntityContext, EntityId,
        EntityLock, Json, OrchestrationContext, OrchestratorHandle, RetryOptions, RuntimeStatus,
        TimerInfo, activity_trigger, client, entity_trigger, orchestration_trigger, when_all,
        when_any,
    };
    pub use axum::extract::{Path, Query};
    pub use axum::http::StatusCode;
    pub use axum::response::IntoResponse;
    pub use serde_json::Value;
}
