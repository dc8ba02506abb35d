//! What an orchestrator asks for with `call_http`, and what it gets back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::orchestration::RetryOptions;

/// The default wait between polls of a `202 Accepted` answer that gives no `Retry-After`
/// (Durable Functions' 30 seconds).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// The most polls of one call that has no timeout.
pub const DEFAULT_MAX_POLLS: u32 = 1_000;

/// An HTTP request an orchestrator makes durably (`CallHttpAsync`'s `DurableHttpRequest`).
///
/// ```
/// use std::time::Duration;
/// use durable_runtime::http::DurableHttpRequest;
///
/// let request = DurableHttpRequest::post("https://example.com/orders")
///     .header("Content-Type", "application/json")
///     .secret_header("X-Api-Key", "k-123")
///     .body(r#"{"item":"book"}"#)
///     .timeout(Duration::from_secs(120));
/// assert_eq!(request.method(), "POST");
/// ```
#[derive(Debug, Clone)]
pub struct DurableHttpRequest {
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) secret_headers: Vec<String>,
    pub(crate) content: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) asynchronous_pattern: bool,
    pub(crate) poll_interval: Duration,
    pub(crate) max_polls: u32,
    pub(crate) token_source: Option<String>,
    pub(crate) retry: Option<HttpRetryOptions>,
}

impl DurableHttpRequest {
    /// A request with `method` (any case; sent upper-case) to `uri`.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> Self {
        DurableHttpRequest {
            method: method.into().to_ascii_uppercase(),
            uri: uri.into(),
            headers: BTreeMap::new(),
            secret_headers: Vec::new(),
            content: None,
            timeout: None,
            asynchronous_pattern: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_polls: DEFAULT_MAX_POLLS,
            token_source: None,
            retry: None,
        }
    }

    /// A `GET` request.
    pub fn get(uri: impl Into<String>) -> Self {
        DurableHttpRequest::new("GET", uri)
    }

    /// A `POST` request.
    pub fn post(uri: impl Into<String>) -> Self {
        DurableHttpRequest::new("POST", uri)
    }

    /// Adds a header (a second one of the same name replaces the first).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a header whose value is a secret: sent, but shown as `[redacted]` in the
    /// history and the management API, and never sent to another origin when polling.
    pub fn secret_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.secret_headers.push(name.to_ascii_lowercase());
        self.headers.insert(name, value.into());
        self
    }

    /// The request body.
    pub fn body(mut self, content: impl Into<String>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, value: &impl Serialize) -> Result<Self, crate::DurableError> {
        let content = serde_json::to_string(value)
            .map_err(|e| crate::DurableError::Serialization(e.to_string()))?;
        Ok(self
            .header("Content-Type", "application/json")
            .body(content))
    }

    /// The total time the call may take, polls and retries included; each request is
    /// also cut off at what is left of it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether a `202 Accepted` with a `Location` is polled until it is done (on by
    /// default, as in Durable Functions).
    pub fn asynchronous_pattern(mut self, enabled: bool) -> Self {
        self.asynchronous_pattern = enabled;
        self
    }

    /// The wait between polls when the answer gives no `Retry-After` [default: 30s].
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The most polls the call makes [default: 1000]; the timeout bounds them too.
    pub fn max_polls(mut self, polls: u32) -> Self {
        self.max_polls = polls;
        self
    }

    /// Adds `Authorization: Bearer <token>` from the token source registered in the host
    /// under `name` when the request runs; the token is never written to history.
    pub fn token_source(mut self, name: impl Into<String>) -> Self {
        self.token_source = Some(name.into());
        self
    }

    /// Retries failed requests, and answers with one of the listed status codes, as
    /// `retry` says; each wait is a durable timer.
    pub fn retry(mut self, retry: HttpRetryOptions) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The method, upper-case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

/// When to retry a durable HTTP call (Durable Functions' `HttpRetryOptions`): a request
/// that fails to get an answer, or an answer with one of the listed status codes.
#[derive(Debug, Clone)]
pub struct HttpRetryOptions {
    pub(crate) options: RetryOptions,
    pub(crate) status_codes: Vec<u16>,
}

impl HttpRetryOptions {
    /// Retries as `options` say (attempts, intervals, backoff, timeout) on failed requests.
    pub fn new(options: RetryOptions) -> Self {
        HttpRetryOptions {
            options,
            status_codes: Vec::new(),
        }
    }

    /// Also retries answers with these status codes; when attempts run out, the last
    /// answer is returned.
    pub fn status_codes_to_retry(mut self, codes: impl IntoIterator<Item = u16>) -> Self {
        self.status_codes = codes.into_iter().collect();
        self
    }
}

/// The answer to a durable HTTP call (`DurableHttpResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurableHttpResponse {
    /// The HTTP status code.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// The headers, by lower-case name; repeated headers are joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as text (bytes that are not UTF-8 are replaced).
    pub content: String,
}

impl DurableHttpResponse {
    /// The header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Decodes the body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::DurableError> {
        serde_json::from_str(&self.content)
            .map_err(|e| crate::DurableError::Serialization(e.to_string()))
    }
}
