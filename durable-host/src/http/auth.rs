//! Key checks: the `code` query parameter or the `x-functions-key` header must carry the
//! right key. A wrong or missing key gets 401 and nothing else.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use durable_runtime::engine::registry::AuthLevel;

use crate::keys::{HostKeys, key_matches};

use super::ApiError;

/// The keys requests are checked against.
#[derive(Clone)]
pub struct KeyCheck {
    keys: Arc<HostKeys>,
}

impl KeyCheck {
    /// Checks against these keys.
    pub fn new(keys: HostKeys) -> Self {
        KeyCheck {
            keys: Arc::new(keys),
        }
    }
}

/// The key a request presents, if any.
fn presented_key(request: &Request) -> Option<String> {
    if let Some(key) = request
        .headers()
        .get("x-functions-key")
        .and_then(|v| v.to_str().ok())
    {
        return Some(key.to_owned());
    }
    request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "code").then(|| value.to_owned())
        })
    })
}

/// Lets a request through only with the system key.
pub async fn require_system_key(
    State(check): State<KeyCheck>,
    request: Request,
    next: Next,
) -> Response {
    match presented_key(&request) {
        Some(key) if key_matches(&key, &check.keys.system_key) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Lets a request to a client function through with a key its level accepts: the
/// function key or the system key for `function`, the system key for `admin`.
pub async fn require_level(
    State((check, level)): State<(KeyCheck, AuthLevel)>,
    request: Request,
    next: Next,
) -> Response {
    let accepted = presented_key(&request).is_some_and(|key| match level {
        AuthLevel::Anonymous => true,
        AuthLevel::Function => {
            key_matches(&key, &check.keys.function_key) | key_matches(&key, &check.keys.system_key)
        }
        AuthLevel::Admin => key_matches(&key, &check.keys.system_key),
    });
    if accepted || level == AuthLevel::Anonymous {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}
