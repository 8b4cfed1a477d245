//! Who the client is behind a reverse proxy: `--trusted-proxies`.
//!
//! A request's peer is the proxy's address when Porthole runs behind one,
//! so every user would share one address (one rate limit, one log line).
//! `X-Forwarded-For` names the client, but anyone can send that header: it
//! is believed only from a peer in the trusted list, and then only up to the
//! first hop that is not itself trusted (read right to left, as nginx's
//! `real_ip_recursive on` does).

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// Networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// Parses a `--trusted-proxies` entry: a CIDR (`10.0.0.0/8`, `::1/128`) or a
/// single address (`127.0.0.1`).
pub fn parse_net(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?}: not an address or CIDR (like 10.0.0.0/8 or 127.0.0.1)"))
}

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer`, or, when `peer` is a trusted proxy, the
    /// right-most `X-Forwarded-For` entry that is not a trusted proxy (the
    /// left-most entry when all are). Unparsable entries end the walk there.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // Some proxies add the port: `1.2.3.4:5678`, `[::1]:80`.
            let parsed = hop.parse::<IpAddr>().or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()));
            let Ok(ip) = parsed.map(|ip| ip.to_canonical()) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for value in xff {
            h.append("x-forwarded-for", value.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted = TrustedProxies(vec![parse_net("127.0.0.1").unwrap(), parse_net("10.0.0.0/8").unwrap()]);
        let xff = headers(&["203.0.113.9, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &xff), ip("198.51.100.7"), "right-most untrusted hop");
        assert_eq!(trusted.client_ip(ip("192.0.2.1"), &xff), ip("192.0.2.1"), "an untrusted peer's header is ignored");
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &headers(&[])), ip("127.0.0.1"));
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &headers(&["10.0.0.5, 10.0.0.6"])), ip("10.0.0.5"));
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &headers(&["garbage, 10.0.0.6"])), ip("10.0.0.6"));
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &headers(&["203.0.113.9:5678"])), ip("203.0.113.9"), "a port");
        assert_eq!(trusted.client_ip(ip("127.0.0.1"), &headers(&["[2001:db8::1]:80"])), ip("2001:db8::1"));
        assert_eq!(TrustedProxies::default().client_ip(ip("127.0.0.1"), &xff), ip("127.0.0.1"));
        // An IPv4 peer seen through an IPv6 socket.
        assert_eq!(trusted.client_ip(ip("::ffff:127.0.0.1"), &xff), ip("198.51.100.7"));
    }

    #[test]
    fn entries_are_cidrs_or_addresses() {
        assert_eq!(parse_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_net(" ::1 ").unwrap().to_string(), "::1/128");
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.example").unwrap_err().contains("not an address"));
    }
}
