//! Where the URLs in answers point. A check-status answer hands out URLs that carry a
//! credential, so they must not follow a request's `Host` header to another host: they
//! start with the configured public URL; else, for a request from a trusted proxy, with
//! what the proxy forwards (`X-Forwarded-Proto`, `X-Forwarded-Host`, `Host`); else with the
//! host's own listening address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use durable_runtime::DurableClient;

/// How the base of answer URLs is chosen.
#[derive(Debug, Clone)]
pub struct PublicUrl {
    /// `--public-url`: used for every request when set.
    pub configured: Option<String>,
    /// `--trusted-proxy`: peers whose forwarded host and scheme are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The host's own address (`http://ADDR`), used otherwise.
    pub own: String,
}

impl PublicUrl {
    /// The base URL for a request from `peer` with `headers`.
    fn base_for(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        if let Some(configured) = &self.configured {
            return configured.clone();
        }
        if !peer.is_some_and(|peer| self.trusted_proxies.contains(&peer)) {
            return self.own.clone();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
        };
        let scheme = match header("x-forwarded-proto") {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        match header("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|host| plausible_host(host))
        {
            Some(host) => format!("{scheme}://{host}"),
            None => self.own.clone(),
        }
    }
}

/// True for a host (and port) that is safe to echo into URLs.
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Puts the client, its URLs based as [`PublicUrl`] says, into the request's extensions
/// for handlers and client functions.
pub async fn attach_client(
    State((client, urls)): State<(DurableClient, PublicUrl)>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let base = urls.base_for(peer, request.headers());
    request.extensions_mut().insert(client.with_base_url(&base));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(configured: Option<&str>) -> PublicUrl {
        PublicUrl {
            configured: configured.map(str::to_owned),
            trusted_proxies: vec!["10.0.0.1".parse().expect("an address")],
            own: "http://127.0.0.1:7071".to_owned(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("a header value"));
        }
        map
    }

    #[test]
    fn a_spoofed_host_is_ignored_unless_a_trusted_proxy_sends_it() {
        let spoofed = headers(&[("host", "evil.example")]);
        let stranger = Some("192.0.2.7".parse().expect("an address"));
        let proxy = Some("10.0.0.1".parse().expect("an address"));
        assert_eq!(
            urls(None).base_for(stranger, &spoofed),
            "http://127.0.0.1:7071"
        );
        assert_eq!(urls(None).base_for(proxy, &spoofed), "http://evil.example");
        assert_eq!(
            urls(Some("https://durable.example.com")).base_for(proxy, &spoofed),
            "https://durable.example.com"
        );
        let forwarded = headers(&[
            ("host", "10.0.0.2:7071"),
            ("x-forwarded-host", "api.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(
            urls(None).base_for(proxy, &forwarded),
            "https://api.example.com"
        );
        assert_eq!(
            urls(None).base_for(stranger, &forwarded),
            "http://127.0.0.1:7071"
        );
    }
}
