//! The built-in activity that makes one request of a durable HTTP call: what it is given,
//! how it runs (checked destinations, a token added at run time, redirects followed by
//! hand), and how its input is shown in history (secrets redacted).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::destination::Refusal;
use super::request::DurableHttpResponse;
use super::settings::HttpCallSettings;
use crate::history::FailureDetails;
use crate::registry::InvocationResult;

/// The reserved name the built-in activity is scheduled under (as in Durable Functions).
/// User functions cannot take it: names may not contain `:`.
pub const ACTIVITY_NAME: &str = "BuiltIn::HttpActivity";

/// What history shows in place of a secret header's value.
pub const REDACTED: &str = "[redacted]";

/// Headers that carry credentials: never sent to another origin, never shown in history.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// One request, as the orchestrator schedules it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HttpActivityInput {
    pub method: String,
    pub uri: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Lower-case names of headers whose values are secret.
    #[serde(
        rename = "secretHeaders",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secret_headers: Vec<String>,
    #[serde(
        rename = "tokenSource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub token_source: Option<String>,
    /// What is left of the call's timeout.
    #[serde(rename = "timeoutMs", default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl HttpActivityInput {
    /// Whether header `name` carries a credential or a secret.
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        CREDENTIAL_HEADERS.contains(&name.as_str()) || self.secret_headers.contains(&name)
    }
}

/// The input of a scheduled call as history records it: for the HTTP activity, secret
/// and credential header values are replaced by [`REDACTED`]; other calls unchanged.
pub(crate) fn input_for_history(name: &str, input: Value) -> Value {
    if name != ACTIVITY_NAME {
        return input;
    }
    let Ok(mut request) = serde_json::from_value::<HttpActivityInput>(input.clone()) else {
        return input;
    };
    let sensitive: Vec<String> = request
        .headers
        .keys()
        .filter(|name| request.is_sensitive(name))
        .cloned()
        .collect();
    for name in sensitive {
        request.headers.insert(name, REDACTED.to_owned());
    }
    serde_json::to_value(request).unwrap_or(input)
}

/// A failure of the HTTP activity.
fn failure(kind: &str, message: impl Into<String>) -> FailureDetails {
    FailureDetails::new(kind, message)
}

/// Runs one request of a durable HTTP call and answers with the response.
pub(crate) async fn run(settings: &HttpCallSettings, input: Value) -> InvocationResult {
    let request: HttpActivityInput = serde_json::from_value(input).map_err(|e| {
        failure(
            "InvalidHttpRequest",
            format!("the HTTP call's request is malformed: {e}"),
        )
    })?;
    let response = send(settings, &request).await?;
    serde_json::to_value(response).map_err(|e| failure("InvalidHttpResponse", e.to_string()))
}

/// Where a request goes next: its URL, method and body (a redirect may change them).
struct Hop {
    url: Url,
    method: reqwest::Method,
    content: Option<String>,
}

async fn send(
    settings: &HttpCallSettings,
    request: &HttpActivityInput,
) -> Result<DurableHttpResponse, FailureDetails> {
    let client = settings
        .client()
        .map_err(|message| failure("HttpClientUnavailable", message))?;
    let url = Url::parse(&request.uri).map_err(|e| {
        failure(
            "InvalidHttpRequest",
            format!("`{}` is not a URL: {e}", request.uri),
        )
    })?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        failure(
            "InvalidHttpRequest",
            format!("`{}` is not an HTTP method", request.method),
        )
    })?;
    // A call rebuilt from history (a rewind) has lost its secrets: refuse rather than
    // send the placeholder.
    if let Some(name) = request
        .headers
        .iter()
        .find(|(name, value)| value.as_str() == REDACTED && request.is_sensitive(name))
        .map(|(name, _)| name)
    {
        return Err(failure(
            "HttpSecretUnavailable",
            format!(
                "header `{name}` was redacted in history, so this call (rebuilt from history by a rewind) cannot send it; give credentials through a token source to make calls rewindable"
            ),
        ));
    }
    let mut headers = header_map(&request.headers)?;
    if let Some(name) = &request.token_source {
        let bearer = bearer_token(settings, name).await?;
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
    }
    let timeout = request.timeout_ms.map_or(settings.request_timeout, |ms| {
        Duration::from_millis(ms).min(settings.request_timeout)
    });
    let deadline = tokio::time::Instant::now() + timeout;
    let origin = url.origin();
    let mut hop = Hop {
        url,
        method,
        content: request.content.clone(),
    };
    let mut redirects = 0;
    loop {
        settings
            .destinations
            .check_url(&hop.url)
            .map_err(|refusal| failure("HttpDestinationRefused", refusal.0))?;
        if hop.url.origin() != origin {
            let sensitive: Vec<HeaderName> = headers
                .keys()
                .filter(|name| request.is_sensitive(name.as_str()))
                .cloned()
                .collect();
            for name in sensitive {
                headers.remove(name);
            }
        }
        let mut builder = client
            .request(hop.method.clone(), hop.url.clone())
            .headers(headers.clone())
            .timeout(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if let Some(content) = &hop.content {
            builder = builder.body(content.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| request_failure(&hop.url, &e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|location| hop.url.join(location).ok());
        match (status.is_redirection(), location) {
            (true, Some(next)) if status != reqwest::StatusCode::NOT_MODIFIED => {
                redirects += 1;
                if redirects > settings.max_redirects {
                    return Err(failure(
                        "HttpTooManyRedirects",
                        format!(
                            "`{}` redirected more than {} times",
                            request.uri, settings.max_redirects
                        ),
                    ));
                }
                hop = redirected(hop, status, next, &mut headers);
            }
            _ => return read_response(settings, &hop.url, response, deadline).await,
        }
    }
}

/// The hop a redirect leads to: 307 and 308 repeat the request; the others (and any
/// redirect of a `POST`) become a `GET` without a body, as browsers do.
fn redirected(hop: Hop, status: reqwest::StatusCode, next: Url, headers: &mut HeaderMap) -> Hop {
    use reqwest::StatusCode;
    let keeps_method = matches!(
        status,
        StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
    ) || hop.method == reqwest::Method::HEAD;
    if keeps_method {
        return Hop { url: next, ..hop };
    }
    headers.remove(reqwest::header::CONTENT_TYPE);
    headers.remove(reqwest::header::CONTENT_LENGTH);
    Hop {
        url: next,
        method: reqwest::Method::GET,
        content: None,
    }
}

/// The request's headers, each name and value checked (a bad value is not echoed: it
/// may be a secret).
fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, FailureDetails> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            failure(
                "InvalidHttpRequest",
                format!("`{name}` is not a valid header name"),
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            failure(
                "InvalidHttpRequest",
                format!("the value of header `{name}` is not a valid header value"),
            )
        })?;
        map.insert(header, value);
    }
    Ok(map)
}

/// `Bearer <token>` from the token source named `name`.
async fn bearer_token(
    settings: &HttpCallSettings,
    name: &str,
) -> Result<HeaderValue, FailureDetails> {
    let Some(source) = settings.token_sources.get(name) else {
        let known: Vec<&str> = settings.token_source_names().collect();
        return Err(failure(
            "TokenSourceNotFound",
            format!(
                "no token source named `{name}` is configured in this host (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    let token = source.token().await.map_err(|reason| {
        failure(
            "TokenSourceFailed",
            format!("token source `{name}` gave no token: {reason}"),
        )
    })?;
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        failure(
            "TokenSourceFailed",
            format!("token source `{name}` gave a token that is not a valid header value"),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A request that got no answer, with the whole chain of causes (a refused address
/// found by the resolver is one of them).
fn request_failure(url: &Url, error: &reqwest::Error) -> FailureDetails {
    let mut message = format!("the request to `{}` got no answer", without_query(url));
    let mut refused = false;
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        refused |= cause.downcast_ref::<Refusal>().is_some();
        source = cause.source();
    }
    let kind = if refused {
        "HttpDestinationRefused"
    } else if error.is_timeout() {
        "HttpTimeout"
    } else {
        "HttpRequestFailed"
    };
    failure(kind, message)
}

/// A URL without its query, which may hold a credential (an instance token, a key).
fn without_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// Reads the answer, its body up to the size limit.
async fn read_response(
    settings: &HttpCallSettings,
    url: &Url,
    mut response: reqwest::Response,
    deadline: tokio::time::Instant,
) -> Result<DurableHttpResponse, FailureDetails> {
    let status_code = response.status().as_u16();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let mut body = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .map_err(|_| {
                failure(
                    "HttpTimeout",
                    format!(
                        "the answer of `{}` did not arrive in time",
                        without_query(url)
                    ),
                )
            })?
            .map_err(|e| request_failure(url, &e))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > settings.max_response_bytes {
            return Err(failure(
                "HttpResponseTooLarge",
                format!(
                    "the answer of `{}` is larger than {} bytes",
                    without_query(url),
                    settings.max_response_bytes
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(DurableHttpResponse {
        status_code,
        headers,
        content: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_shows_secret_and_credential_headers_redacted() {
        let input = HttpActivityInput {
            method: "GET".into(),
            uri: "https://example.com/".into(),
            headers: BTreeMap::from([
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("X-Api-Key".to_owned(), "k-123".to_owned()),
                ("Accept".to_owned(), "application/json".to_owned()),
            ]),
            content: None,
            secret_headers: vec!["x-api-key".into()],
            token_source: Some("api".into()),
            timeout_ms: None,
        };
        let shown = input_for_history(
            ACTIVITY_NAME,
            serde_json::to_value(&input).expect("serializes"),
        );
        let text = shown.to_string();
        assert!(!text.contains("abc") && !text.contains("k-123"), "{text}");
        assert_eq!(shown["headers"]["X-Api-Key"], REDACTED);
        assert_eq!(shown["headers"]["Authorization"], REDACTED);
        assert_eq!(shown["headers"]["Accept"], "application/json");
        assert_eq!(shown["tokenSource"], "api");

        let other = serde_json::json!({"headers": {"Authorization": "kept"}});
        assert_eq!(input_for_history("SayHello", other.clone()), other);
    }

    #[tokio::test]
    async fn a_call_rebuilt_from_redacted_history_is_refused_not_sent() {
        let input = serde_json::json!({
            "method": "GET",
            "uri": "http://127.0.0.1:9/never",
            "headers": {"X-Api-Key": REDACTED},
            "secretHeaders": ["x-api-key"],
        });
        let failure = run(&HttpCallSettings::default(), input)
            .await
            .expect_err("refused");
        assert_eq!(failure.error_type, "HttpSecretUnavailable");
        assert!(failure.error_message.contains("X-Api-Key"), "{failure}");
    }
}
