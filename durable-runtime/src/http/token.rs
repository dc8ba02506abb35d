//! Token sources: where a durable HTTP call's bearer token comes from when it runs.

use std::path::PathBuf;
use std::sync::Arc;

use linkme::distributed_slice;

/// Gives the bearer token a durable HTTP call sends (`Authorization: Bearer <token>`).
///
/// Named in a request with [`DurableHttpRequest::token_source`](super::DurableHttpRequest::token_source)
/// and asked for a token each time the request runs, so tokens can expire and rotate. The
/// token is never written to history or logs.
///
/// Register an implementation with [`register_token_source!`](crate::register_token_source),
/// or configure the built-in [`BearerTokenSource`] on the host (`--http-token`).
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// The current token; the error says why there is none (never the token itself).
    async fn token(&self) -> Result<String, String>;
}

/// A token source linked into the binary with [`register_token_source!`](crate::register_token_source).
pub struct TokenSourceRegistration {
    /// The name requests use.
    pub name: &'static str,
    /// Makes the source when a host starts.
    pub make: fn() -> Arc<dyn TokenSource>,
}

/// Every [`register_token_source!`](crate::register_token_source) linked into the binary.
#[distributed_slice]
pub static TOKEN_SOURCES: [TokenSourceRegistration];

/// Registers a [`TokenSource`] under a name, at link time like the functions.
///
/// ```
/// use std::sync::Arc;
/// use durable_runtime::http::{TokenSource, async_trait};
///
/// struct Vault;
///
/// #[async_trait]
/// impl TokenSource for Vault {
///     async fn token(&self) -> Result<String, String> {
///         std::env::var("VAULT_TOKEN").map_err(|_| "VAULT_TOKEN is not set".to_owned())
///     }
/// }
///
/// fn vault() -> Arc<dyn TokenSource> {
///     Arc::new(Vault)
/// }
///
/// durable_runtime::register_token_source!("vault", vault);
/// ```
#[macro_export]
macro_rules! register_token_source {
    ($name:literal, $make:path) => {
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::http::TOKEN_SOURCES)]
            #[linkme(crate = $crate::__private::linkme)]
            static REGISTRATION: $crate::http::TokenSourceRegistration =
                $crate::http::TokenSourceRegistration {
                    name: $name,
                    make: $make,
                };
        };
    };
}

/// The built-in token source: a bearer token read from an environment variable or a file
/// each time a request runs (a file can be rewritten to rotate the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerTokenSource {
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file, surrounding whitespace trimmed.
    File(PathBuf),
}

impl BearerTokenSource {
    /// Parses `NAME=env:VARIABLE` or `NAME=file:PATH` (the host's `--http-token`) into the
    /// source's name and the source.
    pub fn parse_setting(setting: &str) -> Result<(String, BearerTokenSource), String> {
        let (name, origin) = setting
            .split_once('=')
            .ok_or_else(|| format!("`{setting}` is not NAME=env:VARIABLE or NAME=file:PATH"))?;
        if name.is_empty() {
            return Err(format!("`{setting}` has no token source name before `=`"));
        }
        let source = if let Some(variable) = origin.strip_prefix("env:") {
            BearerTokenSource::Env(variable.to_owned())
        } else if let Some(path) = origin.strip_prefix("file:") {
            BearerTokenSource::File(PathBuf::from(path))
        } else {
            return Err(format!(
                "token source `{name}` must be read from env:VARIABLE or file:PATH, not `{origin}`"
            ));
        };
        Ok((name.to_owned(), source))
    }
}

#[async_trait::async_trait]
impl TokenSource for BearerTokenSource {
    async fn token(&self) -> Result<String, String> {
        let token = match self {
            BearerTokenSource::Env(variable) => std::env::var(variable)
                .map_err(|_| format!("environment variable {variable} is not set"))?,
            BearerTokenSource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        };
        let token = token.trim();
        if token.is_empty() {
            return Err("the token is empty".to_owned());
        }
        Ok(token.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_an_environment_variable_or_a_file() {
        assert_eq!(
            BearerTokenSource::parse_setting("api=env:API_TOKEN"),
            Ok(("api".to_owned(), BearerTokenSource::Env("API_TOKEN".into())))
        );
        assert_eq!(
            BearerTokenSource::parse_setting("api=file:/run/token"),
            Ok((
                "api".to_owned(),
                BearerTokenSource::File("/run/token".into())
            ))
        );
        assert!(BearerTokenSource::parse_setting("api").is_err());
        assert!(BearerTokenSource::parse_setting("=env:X").is_err());
        assert!(BearerTokenSource::parse_setting("api=secret").is_err());
    }

    #[tokio::test]
    async fn a_file_token_is_read_each_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").expect("write");
        let source = BearerTokenSource::File(path.clone());
        assert_eq!(source.token().await.as_deref(), Ok("first"));
        std::fs::write(&path, "second").expect("write");
        assert_eq!(source.token().await.as_deref(), Ok("second"));
        std::fs::write(&path, "  ").expect("write");
        assert!(source.token().await.is_err());
    }
}
