//! Where a server-side client may connect: the outbound-request policy of the workspace.
//!
//! A workspace fetches URLs on its users' behalf (their API server, and the content URLs that
//! server hands out), so without a policy any user could make it reach services only it can see:
//! loopback, the private network, cloud metadata. An [`EgressPolicy`] refuses every address of
//! those kinds unless the operator put that server on the allow-list. It is enforced where
//! connections are made, not by looking at strings:
//!
//! - host names are checked after resolution, in the HTTP client's resolver ([`GuardedResolver`]),
//!   so a name that resolves (or rebinds) to a private address is refused at connect time;
//! - addresses written in the URL (`http://127.0.0.1/`, `http://0x7f000001/`, `[::1]`), which
//!   never reach a resolver, are checked on the URL as the HTTP client parses it, before the
//!   request and at every redirect hop;
//! - proxies from the environment are not used: a proxy would hide the address being reached.
//!
//! `bs` runs with no policy: it acts for the person running it, on their own machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// A server that may be reached even on a loopback or private address: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedServer {
    scheme: String,
    host: Host<String>,
    port: u16,
}

impl AllowedServer {
    fn of(url: &Url) -> Option<AllowedServer> {
        Some(AllowedServer {
            scheme: url.scheme().to_string(),
            host: url.host()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }
}

/// Which servers outbound requests may reach (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Arc<Vec<AllowedServer>>,
}

/// An outbound request was refused by the [`EgressPolicy`].
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{host} is a loopback, private, link-local or otherwise internal address, which this server does not connect to; \
     an administrator can allow that server (ferry workspace --allow-api-server URL)"
)]
pub struct EgressRefused {
    /// The host as the URL named it.
    pub host: String,
}

impl EgressPolicy {
    /// A policy that allows internal addresses only for the servers in `allowed` (each URL's
    /// scheme, host and port; paths are ignored).
    pub fn allowing(allowed: &[Url]) -> EgressPolicy {
        EgressPolicy {
            allowed: Arc::new(allowed.iter().filter_map(AllowedServer::of).collect()),
        }
    }

    /// Whether `url`'s server is on the allow-list.
    pub fn is_allowed_server(&self, url: &Url) -> bool {
        AllowedServer::of(url).is_some_and(|server| self.allowed.contains(&server))
    }

    fn allows_host_name(&self, name: &str) -> bool {
        self.allowed
            .iter()
            .any(|server| matches!(&server.host, Host::Domain(domain) if domain.eq_ignore_ascii_case(name)))
    }

    /// Checks a URL before a request (or a redirect) goes to it: an allow-listed server passes;
    /// an address written in the URL must be public; a host name that is on the allow-list with
    /// another port or scheme is refused; other host names are left to [`GuardedResolver`].
    pub fn check_url(&self, url: &Url) -> Result<(), EgressRefused> {
        let refused = || EgressRefused {
            host: url.host_str().unwrap_or_default().to_string(),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused());
        }
        if self.is_allowed_server(url) {
            return Ok(());
        }
        match url.host() {
            Some(Host::Ipv4(address)) if is_internal(IpAddr::V4(address)) => Err(refused()),
            Some(Host::Ipv6(address)) if is_internal(IpAddr::V6(address)) => Err(refused()),
            Some(Host::Domain(name)) if self.allows_host_name(name) => Err(refused()),
            Some(_) => Ok(()),
            None => Err(refused()),
        }
    }

    /// The resolver to install in an HTTP client built under this policy.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver { policy: self.clone() }
    }

    /// A redirect policy that follows at most `limit` hops, each checked with [`Self::check_url`].
    pub fn redirects(&self, limit: usize) -> reqwest::redirect::Policy {
        let policy = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= limit {
                return attempt.error(format!("more than {limit} redirects"));
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        })
    }
}

/// Resolves host names and drops internal addresses unless the name is on the allow-list; a name
/// with nothing left is refused with [`EgressRefused`].
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: EgressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_host_name(&host) {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() && !found.is_empty() {
                return Err(Box::new(EgressRefused { host }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Whether `error` (or anything in its chain of causes) is an [`EgressRefused`].
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<EgressRefused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<EgressRefused>() {
            return Some(refused.clone());
        }
        cause = current.source();
    }
    None
}

/// Whether an address is one a server must not reach on a user's behalf: loopback, private,
/// shared (carrier-grade NAT), link-local (cloud metadata at 169.254.169.254), unique-local,
/// multicast, unspecified, broadcast, reserved, and IPv6 forms that embed such an IPv4 address.
pub fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_multicast()
        || address.is_broadcast()
        || address.is_unspecified()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let segments = address.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from(((u32::from(high)) << 16) | u32::from(low));
    address.is_loopback()
        || address.is_unspecified()
        || address.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link local, fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site local (deprecated), fec0::/10
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms reach the IPv4 address.
        || (segments[..6] == [0, 0, 0, 0, 0, 0] && is_internal_v4(embedded_v4(segments[6], segments[7])))
        || (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_internal_v4(embedded_v4(segments[6], segments[7])))
        // 6to4 (2002:AABB:CCDD::) routes to the IPv4 address in its second and third segments.
        || (segments[0] == 0x2002 && is_internal_v4(embedded_v4(segments[1], segments[2])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn internal_addresses_are_recognised_in_every_spelling() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            assert!(is_internal(text.parse().unwrap()), "{text} is internal");
        }
        for text in ["8.8.8.8", "52.5.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_internal(text.parse().unwrap()), "{text} is public");
        }
    }

    #[test]
    fn urls_naming_internal_addresses_are_refused_unless_allowed() {
        let policy = EgressPolicy::allowing(&[url("http://127.0.0.1:8041/"), url("http://hub.lab:9000")]);
        for refused in [
            "http://127.0.0.1:22/",
            "http://0x7f000001:22/x", // the URL parser reads this as 127.0.0.1 …
            "http://2130706433:80/",  // … and this
            "http://[::1]:8041/",
            "http://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1:8041/", // allowed only over http
            "http://hub.lab:22/",      // an allowed name on another port
            "file:///etc/passwd",
        ] {
            assert!(policy.check_url(&url(refused)).is_err(), "{refused} is refused");
        }
        for allowed in [
            "http://127.0.0.1:8041/v2/users/current",
            "http://0x7f000001:8041/v2/users/current",
            "http://hub.lab:9000/",
            "https://api.basespace.illumina.com/v2/users/current",
            "https://52.5.1.1/",
        ] {
            assert!(policy.check_url(&url(allowed)).is_ok(), "{allowed} is allowed");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_internal_addresses_are_refused_at_resolution() {
        let resolver = EgressPolicy::default().resolver();
        let error = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(addresses) => panic!("localhost resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert!(refusal_in(error.as_ref()).is_some(), "{error}");
        let allowed = EgressPolicy::allowing(&[url("http://localhost:8041")]).resolver();
        assert!(allowed.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
