//! The response cache of GET routes: upstream answers kept in memory (moka, bounded by
//! bytes, each entry expiring when its freshness ends), optionally shared with other
//! gateway instances through Redis.
//!
//! A request's key is its method, path, query and consumer, plus the values of the
//! request headers the stored answer's `Vary` names. Since those names are only known
//! from an answer, the cache remembers them per base key (method, path, query,
//! consumer) and builds the full key from them. [`control`] decides what may be stored
//! and for how long; [`layer`] puts it in front of a route, with one upstream call for a
//! burst of identical misses.

pub mod config;
pub mod control;
pub mod layer;
pub mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::VARY;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use moka::Expiry;
use moka::sync::Cache;
use tokio::sync::watch;

pub use self::config::{CacheConfig, CacheOverride, CompiledCache};
pub use self::control::{CacheControlLayer, CacheControlPolicy};
pub use self::layer::{CacheLayer, CacheService, memory_hit};
pub use self::shared::SharedCache;

/// Bytes an entry is charged beyond its key, headers and body: moka's and our own
/// bookkeeping, so a flood of empty answers is still bounded.
const ENTRY_OVERHEAD: usize = 256;

/// Most header names a `Vary` may list before the answer is not stored: each name
/// multiplies the keys one path can take.
pub const MAX_VARY_HEADERS: usize = 8;

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it was stored, in milliseconds since the Unix epoch (shared with other
    /// instances, so wall-clock).
    pub stored_at_ms: u64,
    /// The `Age` it had when stored.
    pub age_at_store: u64,
    pub ttl: Duration,
}

impl CachedResponse {
    /// `Age` now: what it had plus the time spent here (RFC 9111 §4.2.3).
    pub fn age(&self) -> u64 {
        self.age_at_store + now_ms().saturating_sub(self.stored_at_ms) / 1000
    }

    fn weight(&self, key: &str) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        u32::try_from(key.len() + headers + self.body.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct TtlOfEntry;

impl Expiry<String, Arc<CachedResponse>> for TtlOfEntry {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Arc<CachedResponse>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The base key: everything but the varied headers. Anonymous requests share `*`; a
/// consumer is written `@name`, so no name can pass for anonymous.
pub fn base_key(method: &Method, uri: &Uri, consumer: Option<&str>) -> String {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    match consumer {
        Some(c) => format!("{method} {target} @{c}"),
        None => format!("{method} {target} *"),
    }
}

/// The full key: the base plus each varied header's values, in the order `Vary` named
/// them (absent and empty are the same to a cache).
pub fn full_key(base: &str, vary: &[HeaderName], request: &HeaderMap) -> String {
    let mut key = base.to_owned();
    for name in vary {
        key.push('\n');
        key.push_str(name.as_str());
        key.push(':');
        let mut first = true;
        for v in request.get_all(name) {
            if !first {
                key.push(',');
            }
            first = false;
            key.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    key
}

/// The header names an answer's `Vary` lists, lower-cased and sorted; None when there
/// are too many or one is not a header name.
pub fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for value in headers.get_all(VARY) {
        for part in value.to_str().ok()?.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            names.push(HeaderName::from_bytes(part.as_bytes()).ok()?);
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    (names.len() <= MAX_VARY_HEADERS).then_some(names)
}

/// Counters for telemetry.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: std::sync::atomic::AtomicU64,
    pub misses: std::sync::atomic::AtomicU64,
    pub stores: std::sync::atomic::AtomicU64,
    /// Requests that waited for an identical request's upstream call instead of making one.
    pub coalesced: std::sync::atomic::AtomicU64,
}

/// The in-memory cache, shared by every route (entries of different routes differ by
/// path). Lives as long as the process.
pub struct ResponseCache {
    entries: Cache<String, Arc<CachedResponse>>,
    vary: Cache<String, Arc<[HeaderName]>>,
    inflight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    shared: Option<SharedCache>,
    pub stats: CacheStats,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.entries.entry_count())
            .field("bytes", &self.entries.weighted_size())
            .finish()
    }
}

/// Held by the one request fetching a key; dropping it (done or cancelled) wakes the
/// requests waiting for it.
pub struct Flight {
    key: String,
    inflight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    _done: watch::Sender<()>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// Whether the caller leads the upstream call for a key or waits for the leader.
pub enum Join {
    Lead(Flight),
    Wait(watch::Receiver<()>),
}

impl ResponseCache {
    /// A cache of at most `max_bytes` (keys, headers and bodies counted).
    pub fn new(max_bytes: u64, shared: Option<SharedCache>) -> Self {
        ResponseCache {
            entries: Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &String, v: &Arc<CachedResponse>| v.weight(k))
                .expire_after(TtlOfEntry)
                .build(),
            vary: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            inflight: Arc::default(),
            shared,
            stats: CacheStats::default(),
        }
    }

    /// The key a request is looked up under: its base plus the values of the headers
    /// that the last stored answer for its base varied on.
    pub fn key_for(&self, base: &str, request: &HeaderMap) -> String {
        match self.vary.get(base) {
            Some(names) => full_key(base, &names, request),
            None => base.to_owned(),
        }
    }

    /// The key of a request and the fresh answer stored under it, if any. Where this
    /// instance has not learnt the base key's `Vary` names, the shared store may know them
    /// (another instance stored a varied answer): they are taken from it, remembered, and
    /// the full key looked up.
    pub async fn lookup(
        &self,
        base: &str,
        request: &HeaderMap,
    ) -> (String, Option<Arc<CachedResponse>>) {
        if self.vary.contains_key(base) || self.shared.is_none() {
            let key = self.key_for(base, request);
            let found = self.get(&key).await;
            return (key, found);
        }
        if let Some(hit) = self.entries.get(base) {
            return (base.to_owned(), Some(hit));
        }
        let Some(shared) = self.shared.as_ref() else {
            return (base.to_owned(), None);
        };
        match shared.get_entry(base).await {
            Some(shared::Entry::Answer(found)) => {
                let found = Arc::new(found);
                self.entries.insert(base.to_owned(), Arc::clone(&found));
                (base.to_owned(), Some(found))
            }
            Some(shared::Entry::Vary(names)) => {
                let key = full_key(base, &names, request);
                self.vary.insert(base.to_owned(), names.into());
                let found = self.get(&key).await;
                (key, found)
            }
            None => (base.to_owned(), None),
        }
    }

    /// A fresh stored answer for `key`, from memory, else from the shared store (and then
    /// kept in memory for the rest of its life).
    pub async fn get(&self, key: &str) -> Option<Arc<CachedResponse>> {
        if let Some(hit) = self.get_in_memory(key) {
            return Some(hit);
        }
        let shared = self.shared.as_ref()?;
        let found = Arc::new(shared.get(key).await?);
        self.entries.insert(key.to_owned(), Arc::clone(&found));
        Some(found)
    }

    /// A fresh stored answer for `key` from memory only.
    pub fn get_in_memory(&self, key: &str) -> Option<Arc<CachedResponse>> {
        self.entries.get(key)
    }

    /// Stores `resp` for a request with base key `base` and headers `request`; returns
    /// the key used (it depends on the answer's `Vary`).
    pub async fn put(
        &self,
        base: &str,
        request: &HeaderMap,
        resp: CachedResponse,
    ) -> Option<String> {
        let names = vary_names(&resp.headers)?;
        let key = full_key(base, &names, request);
        if names.is_empty() {
            self.vary.invalidate(base);
        } else {
            self.vary.insert(base.to_owned(), names.clone().into());
        }
        let resp = Arc::new(resp);
        if let Some(shared) = &self.shared {
            if !names.is_empty() {
                shared.put_vary(base, &names, resp.ttl).await;
            }
            shared.put(&key, &resp).await;
        }
        self.entries.insert(key.clone(), resp);
        self.stats
            .stores
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(key)
    }

    /// Joins the upstream call for `key`: the first caller leads, the others wait.
    pub fn join(&self, key: &str) -> Join {
        let mut map = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(key) {
            return Join::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(key.to_owned(), rx);
        Join::Lead(Flight {
            key: key.to_owned(),
            inflight: Arc::clone(&self.inflight),
            _done: tx,
        })
    }

    /// Failed calls to the shared store, for metrics.
    pub fn shared_errors(&self) -> u64 {
        self.shared.as_ref().map_or(0, SharedCache::errors)
    }

    /// Bytes held (after pending evictions), for tests and metrics.
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

/// An `Age` header value.
pub fn age_value(secs: u64) -> HeaderValue {
    HeaderValue::from(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_consumers_queries_and_varied_values() {
        let uri: Uri = "/orders/1?view=full".parse().unwrap();
        assert_eq!(
            base_key(&Method::GET, &uri, None),
            "GET /orders/1?view=full *"
        );
        assert_eq!(
            base_key(&Method::GET, &uri, Some("*")),
            "GET /orders/1?view=full @*"
        );
        let mut request = HeaderMap::new();
        request.append("accept-language", HeaderValue::from_static("fr"));
        request.append("accept-language", HeaderValue::from_static("de"));
        let vary = [
            HeaderName::from_static("accept"),
            HeaderName::from_static("accept-language"),
        ];
        assert_eq!(
            full_key("B", &vary, &request),
            "B\naccept:\naccept-language:fr,de"
        );
    }

    #[test]
    fn vary_names_are_normalised_and_bounded() {
        let mut h = HeaderMap::new();
        h.append(VARY, HeaderValue::from_static("Accept-Language, accept"));
        h.append(VARY, HeaderValue::from_static("ACCEPT,"));
        let names: Vec<_> = vary_names(&h)
            .unwrap()
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        assert_eq!(names, ["accept", "accept-language"]);
        h.insert(VARY, HeaderValue::from_static("a,b,c,d,e,f,g,h,i"));
        assert_eq!(vary_names(&h), None);
        h.insert(VARY, HeaderValue::from_static("bad header"));
        assert_eq!(vary_names(&h), None);
    }

    #[tokio::test]
    async fn the_byte_bound_evicts_entries() {
        let cache = ResponseCache::new(10_000, None);
        for i in 0..100 {
            let entry = CachedResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(vec![b'x'; 500]),
                stored_at_ms: now_ms(),
                age_at_store: 0,
                ttl: Duration::from_secs(60),
            };
            cache
                .put(&format!("GET /{i} *"), &HeaderMap::new(), entry)
                .await;
        }
        assert!(cache.weighted_size() <= 10_000, "{}", cache.weighted_size());
    }
}
