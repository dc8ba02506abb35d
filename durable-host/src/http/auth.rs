//! Credential checks. A request presents a credential as the `code` query parameter or the
//! `x-functions-key` header. On the management API the system key opens every route, and
//! an instance token opens the routes of its own instance (status, raise event, terminate,
//! suspend, resume, rewind, restart, purge); any other credential is refused with 403,
//! none or a wrong one with 401. Client functions take the key their level asks for.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use durable_runtime::engine::registry::AuthLevel;

use super::ApiError;
use crate::keys::{HostKeys, KeyStore, key_matches, looks_like_token};

/// The keys requests are checked against.
#[derive(Clone)]
pub struct KeyCheck {
    keys: Arc<KeyStore>,
    token_grace: Duration,
}

impl KeyCheck {
    /// Checks against `keys`; tokens of the secret before the last rotation are accepted
    /// for `token_grace` after it.
    pub fn new(keys: Arc<KeyStore>, token_grace: Duration) -> Self {
        KeyCheck { keys, token_grace }
    }

    /// Whether `presented` is the current system key.
    pub fn is_system_key(&self, presented: &str) -> bool {
        key_matches(presented, &self.keys.current().system_key)
    }
}

/// The system key a dashboard request carries in its cookie, if any.
fn dashboard_cookie(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == crate::dashboard::COOKIE).then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
}

/// Lets a dashboard request through with the system key, from the sign-in cookie or as on
/// the management API; a page asked for without it goes to the sign-in form, anything else
/// is refused with 401.
pub async fn require_dashboard_key(
    State(check): State<KeyCheck>,
    request: Request,
    next: Next,
) -> Response {
    let presented = dashboard_cookie(&request).or_else(|| presented_credential(&request));
    if presented.is_some_and(|key| check.is_system_key(&key)) {
        return next.run(request).await;
    }
    if request.method() == axum::http::Method::GET {
        axum::response::Redirect::to("/dashboard/login").into_response()
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// The credential a request presents, if any.
fn presented_credential(request: &Request) -> Option<String> {
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
            (name == "code").then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    })
}

/// The instance a management path is about, when it is one of the instance's own routes:
/// `/instances/{id}` and `/instances/{id}/{raiseEvent/NAME|terminate|suspend|resume|rewind|restart}`
/// (the path as seen under the management API's prefix).
fn instance_of_route(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/instances/")?;
    let (id, operation) = rest.split_once('/').unwrap_or((rest, ""));
    let own_route = match operation.trim_end_matches('/') {
        "" | "terminate" | "suspend" | "resume" | "rewind" | "restart" => true,
        other => other
            .strip_prefix("raiseEvent/")
            .is_some_and(|event| !event.is_empty() && !event.contains('/')),
    };
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?;
    (own_route && !id.is_empty()).then(|| id.into_owned())
}

/// What a credential may do on a management route about `instance` (or about the hub).
fn judge(
    keys: &HostKeys,
    token_grace: Duration,
    presented: Option<&str>,
    instance: Option<&str>,
) -> Result<(), ApiError> {
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized());
    };
    if key_matches(presented, &keys.system_key) {
        return Ok(());
    }
    if looks_like_token(presented) {
        return match instance {
            Some(id) if keys.accepts_token(presented, id, token_grace) => Ok(()),
            Some(_) => Err(ApiError::forbidden(
                "this instance token does not belong to this instance; it opens only the routes of its own instance",
            )),
            None => Err(ApiError::forbidden(
                "an instance token opens only the routes of its own instance (status, raise event, \
                 terminate, suspend, resume, rewind, restart, purge); this route needs the system key",
            )),
        };
    }
    if key_matches(presented, &keys.function_key) {
        return Err(ApiError::forbidden(
            "the function key does not open the management API; it needs the system key",
        ));
    }
    Err(ApiError::unauthorized())
}

/// Lets a management request through with the system key, or with the instance token of
/// the instance its route is about.
pub async fn require_management_access(
    State(check): State<KeyCheck>,
    request: Request,
    next: Next,
) -> Response {
    let instance = instance_of_route(request.uri().path());
    let keys = check.keys.current();
    match judge(
        &keys,
        check.token_grace,
        presented_credential(&request).as_deref(),
        instance.as_deref(),
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Lets a request through only with the system key (the host's own admin routes).
pub async fn require_system_key(
    State(check): State<KeyCheck>,
    request: Request,
    next: Next,
) -> Response {
    let keys = check.keys.current();
    match judge(
        &keys,
        check.token_grace,
        presented_credential(&request).as_deref(),
        None,
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Lets a request to a client function through with a key its level accepts: the
/// function key or the system key for `function`, the system key for `admin`.
pub async fn require_level(
    State((check, level)): State<(KeyCheck, AuthLevel)>,
    request: Request,
    next: Next,
) -> Response {
    let keys = check.keys.current();
    let accepted = presented_credential(&request).is_some_and(|key| match level {
        AuthLevel::Anonymous => true,
        AuthLevel::Function => {
            key_matches(&key, &keys.function_key) | key_matches(&key, &keys.system_key)
        }
        AuthLevel::Admin => key_matches(&key, &keys.system_key),
    });
    if accepted || level == AuthLevel::Anonymous {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_route_names_its_instance() {
        assert_eq!(instance_of_route("/instances/abc").as_deref(), Some("abc"));
        assert_eq!(
            instance_of_route("/instances/order%2042%20%E2%9C%93/terminate").as_deref(),
            Some("order 42 ✓")
        );
        assert_eq!(
            instance_of_route("/instances/a/raiseEvent/Approval").as_deref(),
            Some("a")
        );
        assert_eq!(
            instance_of_route("/instances/a/restart/").as_deref(),
            Some("a")
        );
        assert_eq!(instance_of_route("/instances"), None);
        assert_eq!(instance_of_route("/instances/"), None);
        assert_eq!(instance_of_route("/instances/a/raiseEvent/"), None);
        assert_eq!(instance_of_route("/instances/a/other"), None);
        assert_eq!(instance_of_route("/entities/counter/a"), None);
        assert_eq!(instance_of_route("/orchestrators/HelloCities"), None);
    }
}
