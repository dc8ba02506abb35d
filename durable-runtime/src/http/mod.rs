//! Durable HTTP calls: [`OrchestrationContext::call_http`](crate::OrchestrationContext::call_http)
//! (Durable Functions' `CallHttpAsync`).
//!
//! Each request of a call runs as the built-in activity [`ACTIVITY_NAME`], so it is in
//! history like any activity call: a crash re-runs at most the request in flight, and
//! replay never repeats one. The orchestrator side (polling a `202 Accepted`, retries)
//! waits on durable timers between requests.
//!
//! Every request is checked before it is sent: only `http` and `https`, the host's
//! allow-list when it has one, and never a link-local or cloud-metadata address unless
//! that host is allow-listed by name. Credentials (`Authorization`, cookies, headers
//! marked secret, the token source's token) are sent only to the origin of the first
//! request, and history shows secret values as [`REDACTED`].

mod activity;
mod destination;
mod request;
mod settings;
mod token;

pub use activity::{ACTIVITY_NAME, REDACTED};
pub use async_trait::async_trait;
pub use request::{
    DEFAULT_MAX_POLLS, DEFAULT_POLL_INTERVAL, DurableHttpRequest, DurableHttpResponse,
    HttpRetryOptions,
};
pub use settings::HttpCallSettings;
pub use token::{BearerTokenSource, TOKEN_SOURCES, TokenSource, TokenSourceRegistration};

pub(crate) use activity::{HttpActivityInput, input_for_history, run};
