//! How a host runs durable HTTP calls: destinations, token sources, limits, and the one
//! HTTP client they share.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::destination::{DestinationPolicy, GuardedResolver};
use super::token::{TOKEN_SOURCES, TokenSource};

/// The host's settings for durable HTTP calls (`WorkerOptions::http`).
pub struct HttpCallSettings {
    pub(crate) destinations: Arc<DestinationPolicy>,
    pub(crate) token_sources: BTreeMap<String, Arc<dyn TokenSource>>,
    /// The largest response body read, in bytes; a larger one fails the call.
    pub max_response_bytes: usize,
    /// The longest one request may take (the call's own timeout may cut it shorter).
    pub request_timeout: Duration,
    /// How many redirects one request follows.
    pub max_redirects: u32,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Default for HttpCallSettings {
    /// Any destination but refused addresses, the token sources linked into the binary,
    /// 16 MiB bodies, 100 s requests (as .NET's `HttpClient`), 5 redirects.
    fn default() -> Self {
        HttpCallSettings {
            destinations: Arc::new(DestinationPolicy::default()),
            token_sources: TOKEN_SOURCES
                .iter()
                .map(|registration| (registration.name.to_owned(), (registration.make)()))
                .collect(),
            max_response_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(100),
            max_redirects: 5,
            client: OnceLock::new(),
        }
    }
}

impl fmt::Debug for HttpCallSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCallSettings")
            .field("destinations", &self.destinations)
            .field("token_sources", &self.token_sources.keys())
            .field("max_response_bytes", &self.max_response_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("max_redirects", &self.max_redirects)
            .finish()
    }
}

impl HttpCallSettings {
    /// Restricts calls to hosts matching `entries`: a host name or address (which may
    /// then be a link-local or metadata address), `*.domain`, or `*` for any host.
    pub fn with_allowed_hosts(mut self, entries: &[String]) -> Result<Self, String> {
        self.destinations = Arc::new(DestinationPolicy::new(entries)?);
        Ok(self)
    }

    /// Adds (or replaces) the token source requests name `name`.
    pub fn with_token_source(
        mut self,
        name: impl Into<String>,
        source: Arc<dyn TokenSource>,
    ) -> Self {
        self.token_sources.insert(name.into(), source);
        self
    }

    /// The names of the token sources requests may use.
    pub fn token_source_names(&self) -> impl Iterator<Item = &str> {
        self.token_sources.keys().map(String::as_str)
    }

    /// The client every call of this host shares (its connections are reused): no
    /// proxy, no automatic redirects (each is checked), and a resolver that refuses
    /// addresses the destination policy refuses.
    pub(crate) fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .dns_resolver(Arc::new(GuardedResolver(self.destinations.clone())))
                    .connect_timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| format!("the HTTP client cannot be built: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Sources linked in with `register_token_source!` are tested from a user crate (the
    // end-to-end tests' host): the macro's static is refused inside this crate, which
    // forbids unsafe code.
    #[tokio::test]
    async fn sources_added_by_the_host_are_known_by_name() {
        let settings = HttpCallSettings::default().with_token_source(
            "configured",
            Arc::new(super::super::BearerTokenSource::Env(
                "NO_SUCH_VARIABLE_HERE".into(),
            )),
        );
        let names: Vec<&str> = settings.token_source_names().collect();
        assert_eq!(names, ["configured"]);
        let configured = &settings.token_sources["configured"];
        let error = configured
            .token()
            .await
            .expect_err("the variable is not set");
        assert!(error.contains("NO_SUCH_VARIABLE_HERE"), "{error}");
    }
}
