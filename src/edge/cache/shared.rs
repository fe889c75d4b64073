//! Sharing cached answers between gateway instances through Redis: one instance's
//! upstream call serves the others' misses. Entries are stored under
//! `prefix:cache:<key>` with Redis expiring them when their freshness ends. Redis is a
//! second level only: when it fails or answers nonsense the request goes upstream as on
//! any miss, and failures are counted, never fatal. After a failure Redis is left alone
//! for [`REST_AFTER_FAILURE`], so an outage does not add its timeout to every miss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::CachedResponse;
use crate::edge::ratelimit::{RedisSettings, RedisStoreError};

/// How long the shared level is skipped after a failed call.
pub const REST_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The shared second level.
#[derive(Clone)]
pub struct SharedCache {
    conn: ConnectionManager,
    prefix: String,
    deadline: Duration,
    errors: std::sync::Arc<AtomicU64>,
    /// Unix milliseconds before which Redis is not asked.
    rest_until_ms: std::sync::Arc<AtomicU64>,
}

impl SharedCache {
    /// Connects lazily (see [`crate::edge::ratelimit::RedisStore::new`]).
    pub fn new(settings: &RedisSettings) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(RedisStoreError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(settings.connect_timeout);
        Ok(SharedCache {
            conn: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: format!("{}:cache:", settings.prefix),
            deadline: settings.connect_timeout + settings.response_timeout,
            errors: Default::default(),
            rest_until_ms: Default::default(),
        })
    }

    /// Failed Redis calls, for telemetry.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn resting(&self) -> bool {
        super::now_ms() < self.rest_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let until = super::now_ms() + u64::try_from(REST_AFTER_FAILURE.as_millis()).unwrap_or(0);
        self.rest_until_ms.store(until, Ordering::Relaxed);
    }

    pub async fn get(&self, key: &str) -> Option<CachedResponse> {
        match self.get_entry(key).await? {
            Entry::Answer(r) => Some(r),
            Entry::Vary(_) => None,
        }
    }

    /// What is stored under `key`: an answer, or the `Vary` names another instance
    /// learnt for a base key (see [`SharedCache::put_vary`]).
    pub async fn get_entry(&self, key: &str) -> Option<Entry> {
        if self.resting() {
            return None;
        }
        let mut conn = self.conn.clone();
        let got = tokio::time::timeout(
            self.deadline,
            conn.get::<_, Option<Vec<u8>>>(format!("{}{key}", self.prefix)),
        )
        .await;
        match got {
            Ok(Ok(bytes)) => decode_entry(&bytes?),
            _ => {
                self.failed();
                None
            }
        }
    }

    pub async fn put(&self, key: &str, resp: &CachedResponse) {
        if self.resting() {
            return;
        }
        let ms = u64::try_from(resp.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.set(key, encode(resp), ms).await;
    }

    /// Records under a base key the header names its answers vary on, for as long as the
    /// answer stored with them: an instance that has not seen such an answer yet only
    /// knows the base key of a request, and finds the full key through this record.
    pub async fn put_vary(&self, base: &str, names: &[HeaderName], ttl: Duration) {
        if self.resting() {
            return;
        }
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.set(base, encode_vary(names), ms).await;
    }

    async fn set(&self, key: &str, value: Vec<u8>, ms: u64) {
        let mut conn = self.conn.clone();
        let set = conn.pset_ex::<_, _, ()>(format!("{}{key}", self.prefix), value, ms);
        if !matches!(tokio::time::timeout(self.deadline, set).await, Ok(Ok(()))) {
            self.failed();
        }
    }
}

/// A value of the shared store.
#[derive(Debug, PartialEq)]
pub enum Entry {
    Answer(CachedResponse),
    /// The `Vary` names of the answers stored for a base key.
    Vary(Vec<HeaderName>),
}

/// Status 0 (never a real one) marks a `Vary` record: then the names, one per line.
fn encode_vary(names: &[HeaderName]) -> Vec<u8> {
    let mut out = vec![0, 0];
    let joined: Vec<&str> = names.iter().map(HeaderName::as_str).collect();
    out.extend_from_slice(joined.join("\n").as_bytes());
    out
}

/// An answer ([`decode`]) or a `Vary` record ([`encode_vary`]); None for anything else.
pub fn decode_entry(bytes: &[u8]) -> Option<Entry> {
    match bytes {
        [0, 0, names @ ..] => {
            let names = std::str::from_utf8(names).ok()?;
            let parsed: Option<Vec<HeaderName>> = names
                .split('\n')
                .map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .collect();
            let parsed = parsed?;
            (!parsed.is_empty() && parsed.len() <= super::MAX_VARY_HEADERS)
                .then_some(Entry::Vary(parsed))
        }
        _ => decode(bytes).map(Entry::Answer),
    }
}

/// Layout: status u16, stored_at_ms u64, age u64, ttl_ms u64, header count u32, then per
/// header a u16-length name and a u32-length value, then the body. Big-endian.
pub fn encode(r: &CachedResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + r.body.len());
    out.extend_from_slice(&r.status.as_u16().to_be_bytes());
    out.extend_from_slice(&r.stored_at_ms.to_be_bytes());
    out.extend_from_slice(&r.age_at_store.to_be_bytes());
    out.extend_from_slice(
        &u64::try_from(r.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&u32::try_from(r.headers.len()).unwrap_or(0).to_be_bytes());
    for (k, v) in &r.headers {
        out.extend_from_slice(&u16::try_from(k.as_str().len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&r.body);
    out
}

/// The inverse of [`encode`]; None for anything malformed (a foreign value under our key).
pub fn decode(bytes: &[u8]) -> Option<CachedResponse> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u16(&mut self) -> Option<u16> {
            Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
        }
    }
    let mut r = Reader(bytes);
    let status = StatusCode::from_u16(r.u16()?).ok()?;
    let stored_at_ms = r.u64()?;
    let age_at_store = r.u64()?;
    let ttl = Duration::from_millis(r.u64()?);
    let count = r.u32()?;
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let n = usize::from(r.u16()?);
        let name = HeaderName::from_bytes(r.take(n)?).ok()?;
        let n = usize::try_from(r.u32()?).ok()?;
        let value = HeaderValue::from_bytes(r.take(n)?).ok()?;
        headers.append(name, value);
    }
    Some(CachedResponse {
        status,
        headers,
        body: Bytes::copy_from_slice(r.0),
        stored_at_ms,
        age_at_store,
        ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_the_round_trip_and_garbage_is_refused() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("vary", HeaderValue::from_static("accept"));
        headers.append("vary", HeaderValue::from_static("accept-language"));
        let r = CachedResponse {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"{\"a\":1}"),
            stored_at_ms: 1_700_000_000_000,
            age_at_store: 3,
            ttl: Duration::from_millis(60_500),
        };
        let bytes = encode(&r);
        assert_eq!(decode(&bytes), Some(r));
        for cut in 0..40 {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        assert_eq!(decode(b"\x00\x63garbage"), None);
    }

    #[test]
    fn vary_records_round_trip_and_are_told_from_answers() {
        let names = [
            HeaderName::from_static("accept"),
            HeaderName::from_static("accept-language"),
        ];
        let bytes = encode_vary(&names);
        assert_eq!(bytes, b"\x00\x00accept\naccept-language");
        assert_eq!(decode_entry(&bytes), Some(Entry::Vary(names.to_vec())));
        assert_eq!(decode_entry(b"\x00\x00"), None);
        assert_eq!(decode_entry(b"\x00\x00bad name"), None);
        assert_eq!(decode_entry(b"\x00\x63garbage"), None);
    }
}
