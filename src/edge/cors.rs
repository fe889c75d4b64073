//! CORS for partners calling from a browser: the `[cors]` section and a route's
//! `[routes."PARTNER/ROUTE".cors]` override, compiled into one tower-http [`CorsLayer`] per
//! route plus the exact origin list the gateway layer checks before applying it.
//!
//! Origins are an exact list: a browser's `Origin` is compared byte for byte, never as a
//! pattern, because a suffix or regex match is how CORS policies are usually bypassed
//! (`https://partner.example.evil.test`). `"*"` is accepted only without credentials, as
//! the Fetch standard requires. A request whose origin is not listed gets no CORS header
//! at all: the browser then withholds the answer from the calling page.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::config_key::InvalidKey;

/// How long a browser may cache a preflight's answer: ten minutes, Chromium's own cap
/// (longer values are cut to it anyway), short enough that a policy change reaches browsers.
pub const DEFAULT_MAX_AGE_SECS: u64 = 600;
/// Methods allowed when `allowed_methods` is not written: the ones partner routes use.
pub const DEFAULT_ALLOWED_METHODS: [&str; 5] = ["GET", "HEAD", "POST", "PUT", "DELETE"];
/// Request headers allowed when `allowed_headers` is not written: what a partner's
/// browser code needs to send a body and a token.
pub const DEFAULT_ALLOWED_HEADERS: [&str; 3] =
    ["content-type", "authorization", "x-correlation-id"];

/// `[cors]` or a route's `cors`: every key is optional; a route's key left out keeps the
/// global value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Whether CORS is answered (a route may set `false` to turn the global policy off).
    pub enabled: Option<bool>,
    /// Origins allowed, exactly as browsers send them (`https://app.example.com`), or
    /// `["*"]` (only without credentials).
    pub allowed_origins: Option<Vec<String>>,
    /// Methods a preflight may ask for.
    pub allowed_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for.
    pub allowed_headers: Option<Vec<String>>,
    /// Answer headers the page's script may read besides the CORS-safelisted ones.
    pub exposed_headers: Option<Vec<String>>,
    /// Whether cookies and `Authorization` may be sent (`Access-Control-Allow-Credentials`).
    pub allow_credentials: Option<bool>,
    /// `Access-Control-Max-Age` of preflight answers.
    pub max_age_secs: Option<u64>,
}

/// One route's compiled CORS policy.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    /// None: any origin (`"*"`).
    origins: Option<Vec<HeaderValue>>,
    pub layer: CorsLayer,
}

impl CorsPolicy {
    /// Whether a request from `origin` gets CORS headers.
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            None => true,
            Some(list) => list.iter().any(|o| o == origin),
        }
    }
}

fn pick<T: Clone>(own: &Option<T>, global: &Option<T>) -> Option<T> {
    own.clone().or_else(|| global.clone())
}

/// Compiles the policy of a route (`own` under `key`) over the global section; None when
/// CORS is off for it. Every bad key is reported.
pub fn compile(
    global: Option<&CorsConfig>,
    own: Option<&CorsConfig>,
    key: &str,
) -> Result<Option<CorsPolicy>, Vec<InvalidKey>> {
    let empty = CorsConfig::default();
    let g = global.unwrap_or(&empty);
    let o = own.unwrap_or(&empty);
    // A section written at all turns CORS on unless it says `enabled = false`.
    let on = pick(&o.enabled, &g.enabled).unwrap_or(global.is_some() || own.is_some());
    if !on {
        return Ok(None);
    }
    let mut errs = Vec::new();
    let k = |name: &str| format!("{key}.{name}");
    let origins_key = if o.allowed_origins.is_some() {
        key.to_string()
    } else {
        "cors".into()
    };
    let origins = pick(&o.allowed_origins, &g.allowed_origins).unwrap_or_default();
    let credentials = pick(&o.allow_credentials, &g.allow_credentials).unwrap_or(false);
    let any = origins.iter().any(|s| s == "*");
    let mut layer = CorsLayer::new();
    let listed = if origins.is_empty() {
        errs.push(InvalidKey::new(
            format!("{origins_key}.allowed_origins"),
            "list the origins allowed (CORS is on)",
        ));
        None
    } else if any {
        if origins.len() > 1 {
            errs.push(InvalidKey::new(
                format!("{origins_key}.allowed_origins"),
                "\"*\" stands alone",
            ));
        }
        if credentials {
            errs.push(InvalidKey::new(
                format!("{origins_key}.allowed_origins"),
                "\"*\" cannot be used with allow_credentials = true: list the origins",
            ));
        }
        layer = layer.allow_origin(AllowOrigin::any());
        None
    } else {
        let mut values = Vec::new();
        for (i, s) in origins.iter().enumerate() {
            match origin_value(s) {
                Ok(v) => values.push(v),
                Err(m) => errs.push(InvalidKey::new(
                    format!("{origins_key}.allowed_origins[{i}]"),
                    m,
                )),
            }
        }
        layer = layer.allow_origin(AllowOrigin::list(values.clone()));
        Some(values)
    };
    let methods = pick(&o.allowed_methods, &g.allowed_methods)
        .unwrap_or_else(|| DEFAULT_ALLOWED_METHODS.map(String::from).to_vec());
    let mut ms = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        match Method::from_bytes(m.as_bytes()) {
            Ok(m) if m.as_str() != "*" => ms.push(m),
            _ => errs.push(InvalidKey::new(
                k(&format!("allowed_methods[{i}]")),
                format!("{m:?} is not a method"),
            )),
        }
    }
    layer = layer.allow_methods(ms);
    let names = |list: Vec<String>, name: &str, errs: &mut Vec<InvalidKey>| {
        let mut out = Vec::new();
        for (i, h) in list.iter().enumerate() {
            match HeaderName::try_from(h.as_str()) {
                Ok(n) => out.push(n),
                Err(_) => errs.push(InvalidKey::new(
                    k(&format!("{name}[{i}]")),
                    format!("{h:?} is not a header name"),
                )),
            }
        }
        out
    };
    let headers = pick(&o.allowed_headers, &g.allowed_headers)
        .unwrap_or_else(|| DEFAULT_ALLOWED_HEADERS.map(String::from).to_vec());
    layer = layer.allow_headers(names(headers, "allowed_headers", &mut errs));
    let exposed = pick(&o.exposed_headers, &g.exposed_headers).unwrap_or_default();
    layer = layer.expose_headers(names(exposed, "exposed_headers", &mut errs));
    layer = layer.allow_credentials(credentials);
    let max_age = pick(&o.max_age_secs, &g.max_age_secs).unwrap_or(DEFAULT_MAX_AGE_SECS);
    layer = layer.max_age(Duration::from_secs(max_age));
    if errs.is_empty() {
        Ok(Some(CorsPolicy {
            origins: listed,
            layer,
        }))
    } else {
        Err(errs)
    }
}

/// An origin as browsers serialize it: `scheme://host[:port]`, nothing after.
fn origin_value(s: &str) -> Result<HeaderValue, String> {
    let bad = || format!("{s:?} is not an origin (scheme://host[:port], no path)");
    let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '*', ' '])
        || s != s.to_ascii_lowercase()
    {
        return Err(bad());
    }
    HeaderValue::from_str(s).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> CorsConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn keys(r: Result<Option<CorsPolicy>, Vec<InvalidKey>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn no_section_means_no_cors() {
        assert!(
            compile(None, None, "routes.\"a/b\".cors")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn route_override_turns_the_global_policy_off_or_narrows_it() {
        let g = cfg("allowed_origins = [\"https://app.example\"]");
        let off = cfg("enabled = false");
        assert!(compile(Some(&g), Some(&off), "r").unwrap().is_none());
        let p = compile(Some(&g), None, "r").unwrap().unwrap();
        assert!(p.allows(&HeaderValue::from_static("https://app.example")));
        assert!(!p.allows(&HeaderValue::from_static("https://app.example.evil")));
        assert!(!p.allows(&HeaderValue::from_static("http://app.example")));
    }

    #[test]
    fn wildcard_with_credentials_and_bad_entries_are_named() {
        let g = cfg("allowed_origins = [\"*\"]\nallow_credentials = true");
        assert_eq!(
            keys(compile(Some(&g), None, "cors")),
            [
                "cors.allowed_origins: \"*\" cannot be used with allow_credentials = true: list the origins"
            ]
        );
        let own = cfg(
            "allowed_origins = [\"https://a.example/\", \"https://*.example\"]\nallowed_methods = [\"GE T\"]\nallowed_headers = [\"bad header\"]",
        );
        assert_eq!(
            keys(compile(None, Some(&own), "routes.\"a/b\".cors")),
            [
                "routes.\"a/b\".cors.allowed_origins[0]: \"https://a.example/\" is not an origin (scheme://host[:port], no path)",
                "routes.\"a/b\".cors.allowed_origins[1]: \"https://*.example\" is not an origin (scheme://host[:port], no path)",
                "routes.\"a/b\".cors.allowed_methods[0]: \"GE T\" is not a method",
                "routes.\"a/b\".cors.allowed_headers[0]: \"bad header\" is not a header name",
            ]
        );
        assert_eq!(
            keys(compile(Some(&cfg("max_age_secs = 5")), None, "cors")),
            ["cors.allowed_origins: list the origins allowed (CORS is on)"]
        );
    }
}
