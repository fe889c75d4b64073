//! Which headers cross the gateway, in each direction.
//!
//! Two kinds of route need two rules:
//!
//! - A **transforming** (partner) route rewrites the body, so most client headers describe
//!   something the upstream never receives (the partner's XML, its encoding, its
//!   credentials for the gateway). [`transform_request_headers`] forwards an allow-list:
//!   the configured `forward` headers, plus [`ALWAYS_FORWARDED`] (who is calling, in which
//!   language, in which trace). `Authorization` is not forwarded unless listed: partner
//!   credentials are for the gateway, not for internal services.
//! - A **pass-through** route (a reverse proxy) keeps the body, so
//!   [`upstream_request_headers`] forwards everything except what must never cross a proxy.
//!
//! Both drop the hop-by-hop headers of RFC 9110 §7.6.1 (`Connection`, `Keep-Alive`,
//! `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, and every header `Connection`
//! names), every header with an internal prefix (so a partner cannot forge an internal
//! header, and an internal one never leaks out), `Host` and `Content-Length` (the upstream
//! client sets them for the body it sends). Both append the peer to `X-Forwarded-For` (the
//! partner's own chain is kept only when the peer is a trusted proxy, and then only from the
//! client's hop on, see [`believed_hops`]), set
//! `X-Forwarded-Proto` and `X-Forwarded-Host` (the host the client asked for,
//! [`request_host`]), and set the correlation header.
//!
//! Responses: [`client_response_headers`] drops hop-by-hop and internal-prefix headers,
//! `Content-Length` (recomputed for the body actually sent) and the headers that advertise
//! the upstream's software ([`LEAKY_RESPONSE_HEADERS`]). [`transform_response_headers`]
//! also drops the headers that describe the upstream's body ([`BODY_HEADERS`]), since the
//! partner gets a different one. The correlation header is the caller's to set on the final
//! response.
//!
//! Requests are also checked before anything is forwarded: [`check_host`] (exactly one
//! valid `Host`, RFC 9112 §3.2) and [`check_body_codings`] (the gateway reads bodies as sent
//! and decompresses nothing, so a coded body is refused rather than misread).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use crate::config::file::HeadersConfig;
use crate::edge::auth::client_ip::{IpList, believed_hops};

/// Request headers a transforming route always forwards: harmless, and what an internal
/// service needs to log, localise and trace a call.
pub const ALWAYS_FORWARDED: [HeaderName; 4] = [
    header::USER_AGENT,
    header::ACCEPT_LANGUAGE,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

/// Response headers that only tell an attacker which software (and, for `Via`, which
/// internal hosts and proxies) runs behind the gateway.
pub const LEAKY_RESPONSE_HEADERS: [HeaderName; 5] = [
    header::SERVER,
    header::VIA,
    HeaderName::from_static("x-powered-by"),
    HeaderName::from_static("x-aspnet-version"),
    HeaderName::from_static("x-aspnetmvc-version"),
];

/// Upstream response headers a mapped answer passes on as they are: how long it may be
/// cached and in which language it is, which stay true of the mapped body.
pub const MAPPED_RESPONSE_HEADERS: [HeaderName; 5] = [
    header::CACHE_CONTROL,
    header::EXPIRES,
    header::LAST_MODIFIED,
    header::CONTENT_LANGUAGE,
    // What the answer depends on, for every cache between the service and the partner
    // (the gateway's own included).
    header::VARY,
];

/// Response headers that describe the upstream's body, wrong once the body is rewritten.
pub const BODY_HEADERS: [HeaderName; 9] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::ETAG,
    HeaderName::from_static("content-md5"),
    HeaderName::from_static("digest"),
    HeaderName::from_static("content-digest"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Why a request's `Host` is refused: RFC 9112 §3.2 requires a 400 for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("an HTTP/1.1 request must carry a Host header")]
    Missing,
    #[error("the request carries {0} Host headers; exactly one is allowed")]
    Several(usize),
    #[error("the Host header is not a valid host[:port]")]
    Invalid,
    #[error("the Host header is empty; a request to this gateway names its host")]
    Empty,
}

/// Checks that a request names its host once, with a value that can be a host and port.
/// HTTP/1.0 requests may omit `Host`, and so may HTTP/2 ones, which name their host in the
/// `:authority` pseudo-header (RFC 9113 §8.3.1) that hyper has already parsed into the
/// URI. The value check is by character set (RFC 3986
/// `reg-name`, IP literals and `:port`), enough to refuse spaces, user info, paths and
/// bytes outside ASCII, which no well-formed `Host` holds.
pub fn check_host(version: http::Version, headers: &HeaderMap) -> Result<(), HostError> {
    let mut values = headers.get_all(header::HOST).iter();
    let Some(first) = values.next() else {
        return if matches!(
            version,
            http::Version::HTTP_09
                | http::Version::HTTP_10
                | http::Version::HTTP_2
                | http::Version::HTTP_3
        ) {
            Ok(())
        } else {
            Err(HostError::Missing)
        };
    };
    let more = values.count();
    if more > 0 {
        return Err(HostError::Several(more + 1));
    }
    // An empty Host is what a client sends for a target without an authority, which no
    // http or https URI is (RFC 9110 §4.2.1: such a URI is invalid and must be rejected).
    if first.is_empty() {
        return Err(HostError::Empty);
    }
    // `host[:port]` as RFC 3986 writes an authority, without user information, the port a
    // real one.
    let valid = first.to_str().ok().is_some_and(|text| {
        let port = text
            .rsplit_once(':')
            .map(|(_, p)| p)
            .filter(|p| !p.contains(']'));
        !text.contains('@')
            && text.parse::<http::uri::Authority>().is_ok()
            && port.is_none_or(|p| p.parse::<u16>().is_ok())
    });
    if valid {
        Ok(())
    } else {
        Err(HostError::Invalid)
    }
}

/// A request body coded in a way the gateway does not undo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodingError {
    #[error(
        "Content-Encoding `{0}` is not supported: the gateway does not decompress request bodies; send the body uncompressed"
    )]
    Content(String),
    #[error(
        "Transfer-Encoding `{0}` is not supported; send the body with Content-Length or with chunked alone"
    )]
    Transfer(String),
}

/// Checks that a request body is sent as it is to be read: no content coding other than
/// `identity`, and no transfer coding other than one `chunked`. hyper undoes `chunked`
/// framing when it is the last transfer coding and ignores any coding before it, so without
/// this check `gzip, chunked` would be read as if it were plain.
pub fn check_body_codings(headers: &HeaderMap) -> Result<(), CodingError> {
    if let Some(coding) =
        tokens(headers, &header::CONTENT_ENCODING).find(|t| !t.eq_ignore_ascii_case("identity"))
    {
        return Err(CodingError::Content(coding));
    }
    let mut chunked = 0;
    for t in tokens(headers, &header::TRANSFER_ENCODING) {
        if t.eq_ignore_ascii_case("chunked") {
            chunked += 1;
        }
        if chunked > 1 || !t.eq_ignore_ascii_case("chunked") {
            let field: Vec<String> = headers
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
                .collect();
            return Err(CodingError::Transfer(field.join(", ")));
        }
    }
    Ok(())
}

/// The comma-separated, non-empty tokens of every `name` field, trimmed.
fn tokens<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = String> + 'a {
    headers.get_all(name).iter().flat_map(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
    })
}

/// A `[headers]` setting the gateway cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderPolicyError {
    #[error("headers.{field}: `{name}` is not a valid header name")]
    InvalidName { field: &'static str, name: String },
    #[error("headers.internal_prefixes: an empty prefix would remove every header")]
    EmptyPrefix,
}

impl HeaderPolicyError {
    /// The configuration key the error is about.
    pub fn key(&self) -> String {
        match self {
            HeaderPolicyError::InvalidName { field, .. } => format!("headers.{field}"),
            HeaderPolicyError::EmptyPrefix => "headers.internal_prefixes".into(),
        }
    }
}

/// `[headers]` compiled for the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderPolicy {
    internal_prefixes: Vec<String>,
    forward: Vec<HeaderName>,
    correlation: HeaderName,
    pass_back: Vec<HeaderName>,
    /// Proxies whose `X-Forwarded-For` is believed (`auth.trusted_proxies`).
    trusted_proxies: Arc<IpList>,
    /// The identity headers authentication sets (a partner's copies are removed before),
    /// forwarded by transforming routes too.
    identity: Vec<HeaderName>,
    /// What a transforming route forwards ([`ALWAYS_FORWARDED`], `forward`, `identity`),
    /// once each, without the names that are never forwarded whatever the request: so a
    /// request checks only the names its own `Connection` lists.
    transformed: Vec<HeaderName>,
}

impl HeaderPolicy {
    /// Believe the `X-Forwarded-For` these proxies send (`auth.trusted_proxies`).
    pub fn set_trusted_proxies(&mut self, trusted: Arc<IpList>) {
        self.trusted_proxies = trusted;
    }

    /// Forward these headers, set by authentication, on transforming routes too.
    pub fn set_identity_headers(&mut self, names: Vec<HeaderName>) {
        self.identity = names;
        self.transformed = self.transformed_names();
    }

    /// The `transformed` names, computed whenever what they derive from is set.
    fn transformed_names(&self) -> Vec<HeaderName> {
        let mut out: Vec<HeaderName> = Vec::new();
        for name in ALWAYS_FORWARDED
            .iter()
            .chain(&self.forward)
            .chain(&self.identity)
        {
            if out.contains(name)
                || is_hop_by_hop(name, &[])
                || self.is_internal(name)
                || *name == header::HOST
                || *name == header::CONTENT_LENGTH
            {
                continue;
            }
            out.push(name.clone());
        }
        out
    }

    /// Compiles `[headers]`, or every setting in it that cannot be applied.
    pub fn new(cfg: &HeadersConfig) -> Result<HeaderPolicy, Vec<HeaderPolicyError>> {
        let mut errors = Vec::new();
        let mut internal_prefixes = Vec::with_capacity(cfg.internal_prefixes.len());
        for p in &cfg.internal_prefixes {
            if p.is_empty() {
                errors.push(HeaderPolicyError::EmptyPrefix);
            }
            internal_prefixes.push(p.to_ascii_lowercase());
        }
        let mut names = |field: &'static str, list: &[String]| -> Vec<HeaderName> {
            list.iter()
                .filter_map(|s| match HeaderName::from_bytes(s.as_bytes()) {
                    Ok(n) => Some(n),
                    Err(_) => {
                        errors.push(HeaderPolicyError::InvalidName {
                            field,
                            name: s.to_string(),
                        });
                        None
                    }
                })
                .collect()
        };
        let forward = names("forward", &cfg.forward);
        let correlation = names(
            "correlation_header",
            std::slice::from_ref(&cfg.correlation_header),
        )
        .pop();
        let pass_back = names("pass_back", &cfg.pass_back);
        match correlation {
            Some(correlation) if errors.is_empty() => {
                let mut policy = HeaderPolicy {
                    internal_prefixes,
                    forward,
                    correlation,
                    pass_back,
                    trusted_proxies: Arc::default(),
                    identity: Vec::new(),
                    transformed: Vec::new(),
                };
                policy.transformed = policy.transformed_names();
                Ok(policy)
            }
            _ => Err(errors),
        }
    }

    pub fn correlation_header(&self) -> &HeaderName {
        &self.correlation
    }

    /// The configured `forward` headers (also what mappings may read as `$header.NAME`).
    pub fn forward(&self) -> &[HeaderName] {
        &self.forward
    }

    /// Whether `name` starts with one of the internal prefixes.
    pub fn is_internal(&self, name: &HeaderName) -> bool {
        // Header names are lower case in `http`, and the prefixes were lower-cased above.
        let n = name.as_str();
        self.internal_prefixes
            .iter()
            .any(|p| n.starts_with(p.as_str()))
    }
}

/// The host a request asked for, as `X-Forwarded-Host` passes it on: the authority of an
/// absolute-form target (`POST http://host:1/path`) or of HTTP/2's `:authority`, which win
/// over `Host` (RFC 9112 §3.2.2, RFC 9113 §8.3.1), without any user information; else the
/// `Host` header.
pub fn request_host<'a>(uri: &'a http::Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(a) => Some(a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h)),
        None => headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    }
}

/// Removes every header with an internal prefix from a partner's request.
pub fn strip_internal(headers: &mut HeaderMap, policy: &HeaderPolicy) {
    if !headers.keys().any(|n| policy.is_internal(n)) {
        return;
    }
    let internal: Vec<HeaderName> = headers
        .keys()
        .filter(|n| policy.is_internal(n))
        .cloned()
        .collect();
    for name in internal {
        headers.remove(&name);
    }
}

/// Headers for a pass-through route: all incoming headers minus those that must never
/// cross a proxy (see the module documentation), plus the forwarding headers.
/// `proto` is the scheme the client used (`http`), `host` the `Host` it asked for.
pub fn upstream_request_headers(
    incoming: &HeaderMap,
    policy: &HeaderPolicy,
    peer: IpAddr,
    proto: &str,
    host: Option<&str>,
    correlation: &str,
) -> HeaderMap {
    let connection_listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.keys_len() + 4);
    for (name, value) in incoming {
        if is_hop_by_hop(name, &connection_listed)
            || policy.is_internal(name)
            || *name == header::HOST
            || *name == header::CONTENT_LENGTH
            || *name == X_FORWARDED_FOR
            || *name == X_FORWARDED_PROTO
            || *name == X_FORWARDED_HOST
            || *name == policy.correlation
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    add_forwarding(&mut out, incoming, policy, peer, proto, host, correlation);
    out
}

/// Headers for a transforming route: the allow-list of the module documentation (the
/// `forward` headers and [`ALWAYS_FORWARDED`]), plus the forwarding headers. The caller
/// sets `Content-Type`/`Accept` for the internal JSON it sends.
pub fn transform_request_headers(
    incoming: &HeaderMap,
    policy: &HeaderPolicy,
    peer: IpAddr,
    proto: &str,
    host: Option<&str>,
    correlation: &str,
) -> HeaderMap {
    let connection_listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(policy.transformed.len() + 4);
    for name in &policy.transformed {
        if connection_listed.iter().any(|t| t == name.as_str()) {
            continue;
        }
        for value in incoming.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    add_forwarding(&mut out, incoming, policy, peer, proto, host, correlation);
    out
}

/// Upstream response headers for a pass-through route (see the module documentation).
pub fn client_response_headers(upstream: &HeaderMap, policy: &HeaderPolicy) -> HeaderMap {
    filter_response(upstream, policy, &[])
}

/// Upstream response headers for a transforming route: only [`MAPPED_RESPONSE_HEADERS`],
/// `Retry-After` as seconds, and the configured `pass_back` names (never one with an
/// internal prefix). A mapped answer is the partner's contract: the service's other headers
/// (`Location` and `Set-Cookie` naming internal hosts, validators of a body the partner
/// never sees) stay behind. The caller sets the headers of the body it renders.
pub fn transform_response_headers(upstream: &HeaderMap, policy: &HeaderPolicy) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in MAPPED_RESPONSE_HEADERS.iter().chain(&policy.pass_back) {
        if policy.is_internal(name) || out.contains_key(name) {
            continue;
        }
        for value in upstream.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(secs) = upstream
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after_seconds)
    {
        out.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    out
}

/// A `Retry-After` value (RFC 9110 §10.2.3) as seconds from now: delta-seconds as they
/// are, an HTTP-date as the seconds until it (0 when past); anything else is None.
pub fn retry_after_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<u64>().ok()
    } else {
        chrono::DateTime::parse_from_rfc2822(value).ok().map(|at| {
            let ahead = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
            u64::try_from(ahead.num_seconds()).unwrap_or(0)
        })
    }
}

fn filter_response(upstream: &HeaderMap, policy: &HeaderPolicy, also: &[HeaderName]) -> HeaderMap {
    let connection_listed = connection_listed(upstream);
    let mut out = HeaderMap::with_capacity(upstream.keys_len());
    for (name, value) in upstream {
        if is_hop_by_hop(name, &connection_listed)
            || policy.is_internal(name)
            || *name == header::CONTENT_LENGTH
            || LEAKY_RESPONSE_HEADERS.contains(name)
            || also.contains(name)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn add_forwarding(
    out: &mut HeaderMap,
    incoming: &HeaderMap,
    policy: &HeaderPolicy,
    peer: IpAddr,
    proto: &str,
    host: Option<&str>,
    correlation: &str,
) {
    // The chain believed so far (only what trusted proxies appended, from the client on),
    // then this hop's client. A partner's own header is never passed on as it is.
    // Room for a few hops without growing: a growth is a reallocation and a copy.
    let mut chain = String::with_capacity(64);
    for hop in believed_hops(peer, incoming, &policy.trusted_proxies) {
        chain.push_str(hop);
        chain.push_str(", ");
    }
    push_ip(&mut chain, peer.to_canonical());
    // The value takes the string's bytes as they are, with the same checks as `from_str`.
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(chain)) {
        out.insert(X_FORWARDED_FOR, v);
    }
    // The two schemes a partner can use are static values: no copy per request.
    let proto = match proto {
        "http" => Ok(HeaderValue::from_static("http")),
        "https" => Ok(HeaderValue::from_static("https")),
        other => HeaderValue::from_str(other),
    };
    if let Ok(v) = proto {
        out.insert(X_FORWARDED_PROTO, v);
    }
    if let Some(Ok(v)) = host.map(HeaderValue::from_str) {
        out.insert(X_FORWARDED_HOST, v);
    }
    if let Ok(v) = HeaderValue::from_str(correlation) {
        out.insert(policy.correlation.clone(), v);
    }
}

/// Appends `ip` as `Display` writes it. An IPv4 address, every request's case, is written
/// octet by octet: `Ipv4Addr`'s `Display` goes through the formatting machinery (padding
/// support, one call per octet) at about ten times the cost (docs/performance.md).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The header names a message's `Connection` fields list beyond the fixed hop-by-hop
/// ones (lower case): they are hop-by-hop too. Empty, and allocated for nothing, for the
/// usual `keep-alive`, which names a field the fixed set already has.
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !is_fixed_hop_by_hop(t))
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The fields never passed across a proxy, whatever `Connection` lists (besides every
/// `proxy-` one).
const FIXED_HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy",
];

/// Whether a token of `Connection` names a fixed hop-by-hop field, in any letter case.
fn is_fixed_hop_by_hop(token: &str) -> bool {
    FIXED_HOP_BY_HOP
        .iter()
        .any(|f| f.eq_ignore_ascii_case(token))
        || token
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
}

fn is_hop_by_hop(name: &HeaderName, connection_listed: &[String]) -> bool {
    // Header names are lower case: compared as they are, with no folding.
    let n = name.as_str();
    FIXED_HOP_BY_HOP.contains(&n)
        || n.starts_with("proxy-")
        || connection_listed.iter().any(|t| t == n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "255.255.255.255",
            "10.200.3.45",
            "::1",
            "2001:db8::17",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = String::new();
            super::push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string());
        }
    }

    use super::*;
    use std::net::Ipv6Addr;

    fn policy() -> HeaderPolicy {
        HeaderPolicy::new(&HeadersConfig {
            internal_prefixes: vec!["X-Internal-".into(), "X-Secret".into()],
            forward: vec!["X-Partner-Ref".into(), "Authorization".into()],
            correlation_header: "X-Correlation-Id".into(),
            pass_back: Vec::new(),
        })
        .unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn incoming() -> HeaderMap {
        map(&[
            ("host", "api.example.com"),
            ("content-type", "application/xml"),
            ("content-length", "42"),
            ("accept", "application/xml"),
            ("user-agent", "acme-client/2"),
            ("accept-language", "de-DE"),
            ("authorization", "Bearer t"),
            ("x-partner-ref", "PO-1"),
            ("connection", "keep-alive, X-Custom-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-custom-hop", "1"),
            ("proxy-authorization", "Basic x"),
            ("proxy", "http://evil"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("x-internal-user", "admin"),
            ("x-secret-token", "s"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-forwarded-proto", "https"),
            ("x-correlation-id", "client-id"),
            ("cookie", "a=b"),
        ])
    }

    #[test]
    fn connection_lists_only_what_the_fixed_set_lacks() {
        let listed = |values: &[&str]| {
            let pairs: Vec<_> = values.iter().map(|v| ("connection", *v)).collect();
            connection_listed(&map(&pairs))
        };
        assert!(listed(&[]).is_empty());
        assert!(listed(&["keep-alive"]).is_empty());
        assert!(listed(&["Keep-Alive, TE", " Proxy-Foo ,upgrade"]).is_empty());
        assert_eq!(
            listed(&["keep-alive, X-Custom-Hop", "close"]),
            ["x-custom-hop", "close"]
        );
    }

    #[test]
    fn pass_through_request_keeps_all_but_hop_by_hop_and_internal() {
        let out = upstream_request_headers(
            &incoming(),
            &policy(),
            "192.0.2.1".parse().unwrap(),
            "http",
            Some("api.example.com"),
            "corr-1",
        );
        assert_eq!(
            out,
            map(&[
                ("content-type", "application/xml"),
                ("accept", "application/xml"),
                ("user-agent", "acme-client/2"),
                ("accept-language", "de-DE"),
                ("authorization", "Bearer t"),
                ("x-partner-ref", "PO-1"),
                ("cookie", "a=b"),
                // The partner's own chain is not believed: no trusted proxy is configured.
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "api.example.com"),
                ("x-correlation-id", "corr-1"),
            ])
        );
    }

    #[test]
    fn transforming_request_forwards_only_the_allow_list() {
        let out = transform_request_headers(
            &incoming(),
            &policy(),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            "http",
            None,
            "corr-2",
        );
        assert_eq!(
            out,
            map(&[
                ("user-agent", "acme-client/2"),
                ("accept-language", "de-DE"),
                ("x-partner-ref", "PO-1"),
                ("authorization", "Bearer t"),
                ("x-forwarded-for", "::1"),
                ("x-forwarded-proto", "http"),
                ("x-correlation-id", "corr-2"),
            ])
        );
    }

    #[test]
    fn forwarded_chain_is_kept_from_the_client_on_through_trusted_proxies() {
        let mut p = policy();
        p.set_trusted_proxies(Arc::new(
            IpList::parse(&["10.0.0.0/8", "192.0.2.1"]).unwrap(),
        ));
        let fwd = |peer: &str| {
            transform_request_headers(&incoming(), &p, peer.parse().unwrap(), "http", None, "c")
                ["x-forwarded-for"]
                .to_str()
                .unwrap()
                .to_string()
        };
        // 10.0.0.2 is a trusted proxy, so 203.0.113.7 is the client; left of it is dropped
        // (nothing here), the trusted peer is appended.
        assert_eq!(fwd("192.0.2.1"), "203.0.113.7, 10.0.0.2, 192.0.2.1");
        // An untrusted peer's header is not believed at all.
        assert_eq!(fwd("198.51.100.4"), "198.51.100.4");
        let mut forged = incoming();
        forged.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 203.0.113.7"),
        );
        let out =
            transform_request_headers(&forged, &p, "10.9.9.9".parse().unwrap(), "http", None, "c");
        assert_eq!(out["x-forwarded-for"], "203.0.113.7, 10.9.9.9");
    }

    #[test]
    fn ipv4_mapped_peer_is_written_as_ipv4() {
        let out = transform_request_headers(
            &HeaderMap::new(),
            &policy(),
            "::ffff:192.0.2.9".parse().unwrap(),
            "http",
            None,
            "c",
        );
        assert_eq!(out["x-forwarded-for"], "192.0.2.9");
    }

    #[test]
    fn internal_headers_in_the_forward_list_are_still_dropped() {
        let p = HeaderPolicy::new(&HeadersConfig {
            internal_prefixes: vec!["x-internal-".into()],
            forward: vec!["X-Internal-Role".into(), "Connection".into()],
            correlation_header: "X-Request-Id".into(),
            pass_back: Vec::new(),
        })
        .unwrap();
        let out = transform_request_headers(
            &map(&[("x-internal-role", "admin"), ("connection", "close")]),
            &p,
            "192.0.2.1".parse().unwrap(),
            "http",
            None,
            "c",
        );
        assert_eq!(
            out,
            map(&[
                ("x-forwarded-for", "192.0.2.1"),
                ("x-forwarded-proto", "http"),
                ("x-request-id", "c"),
            ])
        );
    }

    fn upstream_response() -> HeaderMap {
        map(&[
            ("content-type", "application/json"),
            ("content-length", "120"),
            ("content-encoding", "gzip"),
            ("etag", "\"abc\""),
            ("cache-control", "no-store"),
            ("set-cookie", "s=1"),
            ("server", "nginx/1.25"),
            ("x-powered-by", "Express"),
            ("via", "1.1 orders-7f9c.svc.cluster.local:8080"),
            ("x-internal-host", "orders-7.internal"),
            ("connection", "close, X-Hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("x-correlation-id", "corr-1"),
        ])
    }

    #[test]
    fn pass_through_response_drops_hop_by_hop_internal_and_leaks() {
        assert_eq!(
            client_response_headers(&upstream_response(), &policy()),
            map(&[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
                ("etag", "\"abc\""),
                ("cache-control", "no-store"),
                ("set-cookie", "s=1"),
                ("x-correlation-id", "corr-1"),
            ])
        );
    }

    #[test]
    fn a_mapped_answer_keeps_only_what_stays_true_of_it() {
        assert_eq!(
            transform_response_headers(&upstream_response(), &policy()),
            map(&[("cache-control", "no-store")])
        );
        let mut upstream = upstream_response();
        for (k, v) in [
            (
                "location",
                "http://orders-7f9c.svc.cluster.local:8080/orders/42",
            ),
            ("retry-after", "120"),
            ("x-ratelimit-remaining", "7"),
            ("x-internal-quota", "1"),
            ("content-language", "de"),
        ] {
            upstream.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let cfg = HeadersConfig {
            pass_back: vec!["X-RateLimit-Remaining".into(), "X-Internal-Quota".into()],
            ..HeadersConfig::default()
        };
        assert_eq!(
            transform_response_headers(&upstream, &HeaderPolicy::new(&cfg).unwrap()),
            map(&[
                ("cache-control", "no-store"),
                ("content-language", "de"),
                ("x-ratelimit-remaining", "7"),
                ("retry-after", "120"),
            ])
        );
        for junk in ["soon", "-5", "1.5"] {
            upstream.insert(header::RETRY_AFTER, HeaderValue::from_static(junk));
            assert!(
                !transform_response_headers(&upstream, &policy()).contains_key(header::RETRY_AFTER),
                "{junk}"
            );
        }
        upstream.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            transform_response_headers(&upstream, &policy())[header::RETRY_AFTER],
            "0"
        );
    }

    #[test]
    fn the_target_authority_wins_over_host() {
        let headers = map(&[("host", "other.example")]);
        let host = |uri: &str| {
            let uri: http::Uri = uri.parse().unwrap();
            request_host(&uri, &headers).map(str::to_string)
        };
        assert_eq!(
            host("http://api.example:1/path").as_deref(),
            Some("api.example:1")
        );
        assert_eq!(
            host("http://user:pw@api.example/path").as_deref(),
            Some("api.example")
        );
        assert_eq!(host("/path").as_deref(), Some("other.example"));
        assert_eq!(
            request_host(&"/p".parse().unwrap(), &HeaderMap::new()),
            None
        );
    }

    #[test]
    fn exactly_one_valid_host_is_required() {
        use http::Version;
        let ok = |v: Version, h: &[(&str, &str)]| check_host(v, &map(h));
        assert_eq!(ok(Version::HTTP_11, &[("host", "api.example.com")]), Ok(()));
        assert_eq!(ok(Version::HTTP_11, &[("host", "127.0.0.1:8080")]), Ok(()));
        assert_eq!(ok(Version::HTTP_11, &[("host", "[::1]:8080")]), Ok(()));
        for bad in ["a:1:2", "x:99999", "user@host", "a b", "x:", "[::1"] {
            assert_eq!(
                ok(Version::HTTP_11, &[("host", bad)]),
                Err(HostError::Invalid),
                "{bad}"
            );
        }
        // What a client sends for a target without an authority: no http(s) URI is one.
        assert_eq!(ok(Version::HTTP_11, &[("host", "")]), Err(HostError::Empty));
        assert_eq!(ok(Version::HTTP_2, &[("host", "")]), Err(HostError::Empty));
        assert_eq!(ok(Version::HTTP_10, &[]), Ok(()));
        // HTTP/2 names the host in `:authority`.
        assert_eq!(ok(Version::HTTP_2, &[]), Ok(()));
        assert_eq!(
            ok(Version::HTTP_2, &[("host", "a"), ("host", "b")]),
            Err(HostError::Several(2))
        );
        assert_eq!(ok(Version::HTTP_11, &[]), Err(HostError::Missing));
        assert_eq!(
            ok(
                Version::HTTP_11,
                &[("host", "a.example"), ("host", "b.example")]
            ),
            Err(HostError::Several(2))
        );
        assert_eq!(
            ok(
                Version::HTTP_10,
                &[("host", "a"), ("host", "a"), ("host", "a")]
            ),
            Err(HostError::Several(3))
        );
        assert_eq!(
            ok(Version::HTTP_11, &[("host", "user@a.example")]),
            Err(HostError::Invalid)
        );
        assert_eq!(
            ok(Version::HTTP_11, &[("host", "a.example/path")]),
            Err(HostError::Invalid)
        );
        assert_eq!(
            ok(Version::HTTP_11, &[("host", "a example")]),
            Err(HostError::Invalid)
        );
        assert_eq!(
            HostError::Several(2).to_string(),
            "the request carries 2 Host headers; exactly one is allowed"
        );
        assert_eq!(
            HostError::Missing.to_string(),
            "an HTTP/1.1 request must carry a Host header"
        );
    }

    #[test]
    fn only_identity_content_and_chunked_transfer_codings_pass() {
        let check = |h: &[(&str, &str)]| check_body_codings(&map(h));
        assert_eq!(check(&[]), Ok(()));
        assert_eq!(check(&[("content-encoding", "identity")]), Ok(()));
        assert_eq!(check(&[("content-encoding", "Identity, ")]), Ok(()));
        assert_eq!(check(&[("transfer-encoding", "chunked")]), Ok(()));
        assert_eq!(
            check(&[("content-encoding", "gzip")]),
            Err(CodingError::Content("gzip".into()))
        );
        assert_eq!(
            check(&[("content-encoding", "identity, br, x-unknown")]),
            Err(CodingError::Content("br".into()))
        );
        assert_eq!(
            check(&[("transfer-encoding", "gzip, chunked")]),
            Err(CodingError::Transfer("gzip, chunked".into()))
        );
        assert_eq!(
            check(&[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked")
            ]),
            Err(CodingError::Transfer("chunked, chunked".into()))
        );
        assert_eq!(
            CodingError::Content("gzip".into()).to_string(),
            "Content-Encoding `gzip` is not supported: the gateway does not decompress request bodies; send the body uncompressed"
        );
        assert_eq!(
            CodingError::Transfer("gzip, chunked".into()).to_string(),
            "Transfer-Encoding `gzip, chunked` is not supported; send the body with Content-Length or with chunked alone"
        );
    }

    #[test]
    fn invalid_policy_names_are_errors() {
        let bad = |forward: &str, corr: &str, prefix: &str| {
            HeaderPolicy::new(&HeadersConfig {
                internal_prefixes: vec![prefix.into()],
                forward: vec![forward.into()],
                correlation_header: corr.into(),
                pass_back: Vec::new(),
            })
            .unwrap_err()
        };
        assert_eq!(
            bad("X Bad", "X-Correlation-Id", "x-"),
            vec![HeaderPolicyError::InvalidName {
                field: "forward",
                name: "X Bad".into()
            }]
        );
        assert_eq!(
            bad("X-Ok", "", "x-")
                .iter()
                .map(|e| (e.key(), e.to_string()))
                .collect::<Vec<_>>(),
            vec![(
                "headers.correlation_header".to_string(),
                "headers.correlation_header: `` is not a valid header name".to_string()
            )]
        );
        // Every bad setting is reported, not only the first.
        assert_eq!(
            bad("a b", "x y", "")
                .iter()
                .map(HeaderPolicyError::key)
                .collect::<Vec<_>>(),
            [
                "headers.internal_prefixes",
                "headers.forward",
                "headers.correlation_header"
            ]
        );
        assert_eq!(bad("X-Ok", "X-C", ""), vec![HeaderPolicyError::EmptyPrefix]);
    }

    #[test]
    fn internal_headers_are_stripped_from_the_partner_request() {
        let policy = HeaderPolicy::new(&HeadersConfig {
            internal_prefixes: vec!["X-Internal-".into(), "X-Secret".into()],
            ..HeadersConfig::default()
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("x-internal-role", "admin"),
            ("x-partner-ref", "p-1"),
            ("x-secret-token", "t"),
            ("x-internal-role", "root"),
            ("accept", "application/json"),
        ] {
            headers.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_internal(&mut headers, &policy);
        let mut left: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [("accept", "application/json"), ("x-partner-ref", "p-1")]
        );
    }
}
