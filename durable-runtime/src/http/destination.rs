//! Where durable HTTP calls may go: the scheme check, the host's allow-list, and the
//! refusal of link-local and cloud-metadata addresses, applied to every address a name
//! resolves to (so a name cannot be pointed at a refused address between check and use).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

/// One entry of the destination allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host (but refused addresses stay refused).
    Any,
    /// `*.example.com`: any name under the domain.
    Subdomains(String),
    /// `example.com` or an address: that host only; it may be a refused address.
    Exact(String),
}

impl HostPattern {
    fn parse(entry: &str) -> Result<HostPattern, String> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(domain) = entry.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(format!("`{entry}` is not a host pattern"));
            }
            return Ok(HostPattern::Subdomains(domain.to_owned()));
        }
        let host = entry.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['*', '/', ' ']) {
            return Err(format!(
                "`{entry}` is not a host pattern (a host name, an address, *.domain or *)"
            ));
        }
        Ok(HostPattern::Exact(host.to_owned()))
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.ends_with('.')),
            HostPattern::Exact(exact) => exact == host,
        }
    }
}

/// The rules every request of a durable HTTP call (first request, redirect, poll) obeys.
#[derive(Debug, Clone, Default)]
pub(crate) struct DestinationPolicy {
    /// Empty: any host.
    allow: Vec<HostPattern>,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Refusal(pub String);

impl DestinationPolicy {
    /// A policy allowing only hosts matching `entries` (none: any host).
    pub(crate) fn new(entries: &[String]) -> Result<DestinationPolicy, String> {
        let allow = entries
            .iter()
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| HostPattern::parse(entry))
            .collect::<Result<_, _>>()?;
        Ok(DestinationPolicy { allow })
    }

    /// Checks a URL before it is requested: its scheme, its host against the allow-list,
    /// and an address written in it.
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal(format!(
                "only http and https URLs may be called, not `{}:`",
                url.scheme()
            )));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(address)) => {
                return self.check_address(&address.to_string(), IpAddr::V4(address));
            }
            Some(url::Host::Ipv6(address)) => {
                return self.check_address(&address.to_string(), IpAddr::V6(address));
            }
            None => return Err(Refusal(format!("`{url}` has no host"))),
        };
        self.check_host(&host)
    }

    /// Checks a host name against the allow-list.
    fn check_host(&self, host: &str) -> Result<(), Refusal> {
        if self.allow.is_empty() || self.allow.iter().any(|p| p.matches(host)) {
            Ok(())
        } else {
            Err(Refusal(format!(
                "host `{host}` is not on this host's HTTP allow-list (--http-allow)"
            )))
        }
    }

    /// Checks an address `host` names (or is).
    fn check_address(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        self.check_host(host)?;
        let explicitly_allowed = self
            .allow
            .iter()
            .any(|p| matches!(p, HostPattern::Exact(exact) if exact == host));
        match refused_kind(address) {
            Some(kind) if !explicitly_allowed => Err(Refusal(format!(
                "`{host}` is {kind} ({address}), which durable HTTP calls may not reach unless the host is allow-listed by name (--http-allow {host})"
            ))),
            _ => Ok(()),
        }
    }

    /// The resolved addresses of `host` that may be connected to; refused when none may.
    pub(crate) fn filter_resolved(
        &self,
        host: &str,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refusal> {
        let host = host.to_ascii_lowercase();
        let mut allowed = Vec::new();
        let mut first_refusal = None;
        for address in addresses {
            match self.check_address(&host, address.ip()) {
                Ok(()) => allowed.push(address),
                Err(refusal) => {
                    first_refusal.get_or_insert(refusal);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (true, Some(refusal)) => Err(refusal),
            (true, None) => Err(Refusal(format!("`{host}` resolves to no address"))),
            (false, _) => Ok(allowed),
        }
    }
}

/// What kind of refused address `address` is, if it is one.
fn refused_kind(address: IpAddr) -> Option<&'static str> {
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
    match address {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) if v6 == AWS_METADATA_V6 => Some("a cloud metadata address"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local address"),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().and_then(refused_v4),
    }
}

fn refused_v4(address: Ipv4Addr) -> Option<&'static str> {
    address
        .is_link_local()
        .then_some("a link-local or cloud metadata address")
}

/// A DNS resolver that only hands out addresses the policy allows.
pub(crate) struct GuardedResolver(pub Arc<DestinationPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = policy.filter_resolved(&host, resolved)?;
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a URL")
    }

    fn socket(text: &str) -> SocketAddr {
        SocketAddr::new(text.parse().expect("an address"), 80)
    }

    #[test]
    fn only_http_and_https_are_called() {
        let policy = DestinationPolicy::default();
        assert!(policy.check_url(&url("https://example.com/x")).is_ok());
        assert!(policy.check_url(&url("http://127.0.0.1:8080/")).is_ok());
        let refusal = policy
            .check_url(&url("file:///etc/passwd"))
            .expect_err("file is refused");
        assert!(refusal.0.contains("only http and https"), "{refusal}");
        assert!(policy.check_url(&url("ftp://example.com/")).is_err());
    }

    #[test]
    fn link_local_and_metadata_addresses_are_refused() {
        let policy = DestinationPolicy::default();
        for refused in [
            "http://169.254.169.254/latest/meta-data",
            "http://169.254.0.1/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
        ] {
            let refusal = policy.check_url(&url(refused)).expect_err(refused);
            assert!(refusal.0.contains("may not reach"), "{refusal}");
        }
        assert!(policy.check_url(&url("http://10.0.0.1/")).is_ok());
        assert!(policy.check_url(&url("http://[::1]/")).is_ok());
    }

    #[test]
    fn names_resolving_to_refused_addresses_are_refused() {
        let policy = DestinationPolicy::default();
        let refusal = policy
            .filter_resolved("metadata.internal", [socket("169.254.169.254")])
            .expect_err("only a refused address");
        assert!(refusal.0.contains("metadata.internal"), "{refusal}");
        assert_eq!(
            policy.filter_resolved("mixed", [socket("169.254.1.1"), socket("192.0.2.1")]),
            Ok(vec![socket("192.0.2.1")])
        );
    }

    #[test]
    fn the_allow_list_restricts_hosts_and_lets_named_refused_addresses_through() {
        let policy = DestinationPolicy::new(&[
            "api.example.com".into(),
            "*.internal.example".into(),
            "169.254.169.254".into(),
        ])
        .expect("valid entries");
        assert!(policy.check_url(&url("https://api.example.com/")).is_ok());
        assert!(
            policy
                .check_url(&url("https://a.internal.example/"))
                .is_ok()
        );
        assert!(policy.check_url(&url("https://internal.example/")).is_err());
        assert!(
            policy
                .check_url(&url("https://evilinternal.example/"))
                .is_err()
        );
        let refusal = policy
            .check_url(&url("https://other.example.com/"))
            .expect_err("not listed");
        assert!(refusal.0.contains("allow-list"), "{refusal}");
        assert!(
            policy
                .check_url(&url("http://169.254.169.254/latest"))
                .is_ok()
        );
        assert!(policy.check_url(&url("http://169.254.1.1/")).is_err());

        let any = DestinationPolicy::new(&["*".into()]).expect("valid");
        assert!(any.check_url(&url("https://anything.example/")).is_ok());
        assert!(any.check_url(&url("http://169.254.169.254/")).is_err());
        assert!(DestinationPolicy::new(&["a/b".into()]).is_err());
        assert!(DestinationPolicy::new(&["*.".into()]).is_err());
    }
}
