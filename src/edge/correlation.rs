//! Correlation ids: one id per request, carried upstream, echoed to the client, present in
//! every log line and in problem documents (`instance`).
//!
//! A client's id is kept only when it is 1 to [`MAX_CORRELATION_ID_LEN`] characters of
//! `[A-Za-z0-9._:-]`. That covers UUIDs, ULIDs, W3C trace ids and the usual `svc:1234`
//! forms, while keeping out what would hurt downstream: spaces and quotes that break log
//! parsing, `/` and `%` that break URL-shaped uses, control characters, and unbounded
//! length that bloats every log line. Anything else is replaced, not rejected: a bad id
//! should not fail a partner's order.

use std::cell::Cell;

use http::{HeaderMap, HeaderName};

/// Longest accepted client id: room for a UUID with a prefix or a trace-id/span-id pair,
/// small enough that it cannot dominate a log line.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// The client's id when well-formed (see the module documentation), else a new random
/// UUID v4 in hyphenated form. When the header occurs several times, the first is used.
pub fn correlation_id(headers: &HeaderMap, header: &HeaderName) -> String {
    if let Some(value) = headers.get(header)
        && let Ok(s) = value.to_str()
        && is_well_formed(s)
    {
        return s.to_owned();
    }
    generate()
}

/// Whether `id` may be used as given.
pub fn is_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CORRELATION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A new UUID v4 (hyphenated, lower case).
///
/// Correlation ids must be unique, not secret, so the random bits come from a per-thread
/// SplitMix64 generator seeded once from the operating system rather than a system call
/// per request.
pub fn generate() -> String {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    let (a, b) = STATE.with(|s| {
        let a = splitmix64(s);
        let b = splitmix64(s);
        (a, b)
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    // `to_owned`, not `to_string`: a copy of the 36 bytes, without the formatting machinery.
    (*id.hyphenated().encode_lower(&mut buf)).to_owned()
}

fn seed() -> u64 {
    let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
    hi ^ lo.rotate_left(32)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a full-period 64-bit generator with good output
/// mixing, enough for ids that only need to not collide.
fn splitmix64(state: &Cell<u64>) -> u64 {
    let s = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
    state.set(s);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use std::collections::HashSet;

    fn header() -> HeaderName {
        HeaderName::from_static("x-correlation-id")
    }

    fn with(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header(), HeaderValue::from_bytes(value).unwrap());
        h
    }

    fn is_uuid_v4(s: &str) -> bool {
        uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
            && s.len() == 36
            && s == s.to_lowercase()
    }

    #[test]
    fn well_formed_client_ids_are_kept() {
        for id in [
            "a",
            "A-10001",
            "svc:1234.5_x",
            "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        ] {
            assert_eq!(correlation_id(&with(id.as_bytes()), &header()), id);
        }
        let longest = "x".repeat(MAX_CORRELATION_ID_LEN);
        assert_eq!(
            correlation_id(&with(longest.as_bytes()), &header()),
            longest
        );
    }

    #[test]
    fn malformed_or_missing_ids_are_replaced() {
        let too_long = "x".repeat(MAX_CORRELATION_ID_LEN + 1);
        for bad in [
            &b""[..],
            b"has space",
            b"quote\"",
            b"a/b",
            b"100%",
            b"caf\xc3\xa9",
            too_long.as_bytes(),
        ] {
            let id = correlation_id(&with(bad), &header());
            assert!(is_uuid_v4(&id), "{id}");
        }
        assert!(is_uuid_v4(&correlation_id(&HeaderMap::new(), &header())));
    }

    #[test]
    fn generated_ids_are_distinct_uuids() {
        let ids: HashSet<String> = (0..10_000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| is_uuid_v4(id)));
    }
}
