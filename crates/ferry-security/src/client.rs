//! Who is asking: the client's IP address, for throttling and logs.
//!
//! The peer of the TCP connection is the client, unless that peer is a proxy the operator named
//! (`--trusted-proxy CIDR`): only then is `X-Forwarded-For` read, from the right, and the first
//! address that is not itself a trusted proxy is the client. Anyone can send the header, so it is
//! never believed from an untrusted peer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed. Empty by default: the header is ignored.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    /// Parses `--trusted-proxy` values: CIDR blocks (`10.0.0.0/8`) or single addresses.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for value in values {
            let text = value.as_ref().trim();
            if text.is_empty() {
                continue;
            }
            let network = text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "--trusted-proxy {text:?} is not an address or CIDR block; give the reverse proxy's address, \
                         for example 10.0.0.5 or 10.0.0.0/24"
                    )
                })?;
            networks.push(network);
        }
        Ok(TrustedProxies(Arc::new(networks)))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind a connection from `peer` carrying `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = parse_hop(hop) else {
                // A hop we cannot read: the last address we could is as far as trust goes.
                return client;
            };
            client = address;
            if !self.trusts(address) {
                return address;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as dual-stack sockets report them) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(canonical)
}

/// The client's address (extractor). Reads the connection's peer (`ConnectInfo`) and, when the
/// router carries an `Extension(TrustedProxies)`, `X-Forwarded-For` from those proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client of a request's parts.
    pub fn of(parts: &Parts) -> ClientAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let client = match parts.extensions.get::<TrustedProxies>() {
            Some(trusted) => trusted.client_of(peer, &parts.headers),
            None => canonical(peer),
        };
        ClientAddr(client)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts))
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let none = TrustedProxies::default();
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client_of(ip("10.0.0.5"), &headers), ip("10.0.0.5"));

        let proxies = TrustedProxies::parse(&["10.0.0.0/24", "192.0.2.1"]).unwrap();
        assert_eq!(proxies.client_of(ip("10.0.0.5"), &headers), ip("198.51.100.7"));
        assert_eq!(
            proxies.client_of(ip("203.0.113.1"), &headers),
            ip("203.0.113.1"),
            "a peer that is not a trusted proxy is the client, whatever it sends"
        );
        // A client cannot hide behind addresses it writes itself: the rightmost untrusted wins.
        let spoofed = forwarded(&["1.2.3.4, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(proxies.client_of(ip("10.0.0.5"), &spoofed), ip("198.51.100.7"));
        assert_eq!(proxies.client_of(ip("::ffff:10.0.0.5"), &headers), ip("198.51.100.7"));
        assert_eq!(proxies.client_of(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        assert_eq!(
            proxies.client_of(ip("10.0.0.5"), &forwarded(&["garbage"])),
            ip("10.0.0.5")
        );
        assert_eq!(
            proxies.client_of(ip("10.0.0.5"), &forwarded(&["198.51.100.8:4711"])),
            ip("198.51.100.8")
        );
        assert!(TrustedProxies::parse(&["not-an-address"]).is_err());
    }
}
