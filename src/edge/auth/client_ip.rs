//! The client address: the connection's peer, unless that peer is a trusted proxy, in which
//! case `X-Forwarded-For` is read from the right: each hop a trusted proxy appended is
//! believed, and the first address that is not a trusted proxy is the client. Entries left
//! of it were written by the client itself and are ignored, so a partner cannot choose its
//! own address by sending the header.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// Most `X-Forwarded-For` hops walked: real chains have a handful; a hostile header with
/// thousands costs no more than this.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// A set of networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList(Vec<IpNet>);

impl IpList {
    /// Parses CIDRs or single addresses, naming the first bad one.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        items
            .iter()
            .map(|s| {
                let s = s.as_ref().trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(IpList)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The client address of a request that came from `peer`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &IpList) -> IpAddr {
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    // Hops in order of appearance over all header lines, then walked from the right.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
        // A hop a trusted proxy wrote that is no address ends the walk at that proxy.
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !trusted.contains(ip) {
            return ip;
        }
    }
    client
}

/// The `X-Forwarded-For` hops believed for a request from `peer`, left to right: none
/// unless `peer` is a trusted proxy; otherwise the hops the trusted proxies appended, from
/// the client's (as [`client_addr`] finds it) rightwards. What the client wrote itself is
/// dropped, so the chain a service receives starts with the real client.
pub fn believed_hops<'h>(peer: IpAddr, headers: &'h HeaderMap, trusted: &IpList) -> Vec<&'h str> {
    let peer = peer.to_canonical();
    if trusted.is_empty() || !trusted.contains(peer) {
        return Vec::new();
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut out = Vec::new();
    for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
        let Some(ip) = parse_hop(hop) else { break };
        out.push(*hop);
        if !trusted.contains(ip) {
            break;
        }
    }
    out.reverse();
    out
}

/// An address as proxies write it: bare, `ip:port`, or `[v6]:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let h = headers(&["198.51.100.7"]);
        assert_eq!(
            client_addr(ip("10.0.0.5"), &h, &IpList::default()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_forward() {
        let trusted = IpList::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&["198.51.100.7"]);
        assert_eq!(
            client_addr(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn walks_right_to_left_to_the_first_untrusted_hop() {
        let trusted = IpList::parse(&["10.0.0.0/8", "192.0.2.1"]).unwrap();
        // The client sent a forged first entry; two trusted proxies appended after it.
        let h = headers(&["1.1.1.1, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(
            client_addr(ip("10.1.2.3"), &h, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn all_hops_trusted_gives_the_leftmost() {
        let trusted = IpList::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&["10.9.9.9, 10.8.8.8"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("10.9.9.9"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let trusted = IpList::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&["[2001:db8::1]:443, 198.51.100.7:5000"]);
        assert_eq!(
            client_addr(ip("::ffff:10.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
        let h = headers(&["2001:db8::1, 10.2.2.2:80"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn garbage_stops_at_the_last_trusted_hop() {
        let trusted = IpList::parse(&["10.0.0.0/8"]).unwrap();
        let h = headers(&["198.51.100.7, unknown, 10.3.3.3"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("10.3.3.3"));
    }

    #[test]
    fn a_huge_chain_is_cut() {
        let trusted = IpList::parse(&["10.0.0.0/8"]).unwrap();
        let chain = vec!["10.0.0.2"; 10_000].join(",");
        let h = headers(&[&format!("198.51.100.7,{chain}")]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn lists_parse_cidrs_and_addresses() {
        let l = IpList::parse(&["203.0.113.0/24", "2001:db8::7"]).unwrap();
        assert!(l.contains(ip("203.0.113.200")));
        assert!(l.contains(ip("::ffff:203.0.113.1")));
        assert!(l.contains(ip("2001:db8::7")));
        assert!(!l.contains(ip("2001:db8::8")));
        assert_eq!(
            IpList::parse(&["10.0.0.0/33"]).unwrap_err(),
            "\"10.0.0.0/33\" is not an IP address or CIDR"
        );
    }
}
