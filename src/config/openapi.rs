//! The `[openapi]` section: what the published OpenAPI documents say about themselves
//! (title, version, servers) and which OpenAPI version they declare. The version matters
//! for XML partners: only OpenAPI 3.2 can say that a member is an element's text, so the
//! rendering of XML bodies follows it (see `openapi::xml`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The title of the documents when none is configured.
pub const DEFAULT_TITLE: &str = "Partner API";
/// The version of the documents when none is configured.
pub const DEFAULT_VERSION: &str = "1";

/// The OpenAPI version the documents declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SpecVersion {
    /// OpenAPI 3.1.0: the widest tool support; an element's `#text` is marked with the
    /// extension `x-nodeType: text` in its `xml` object, which 3.1 tools ignore.
    #[default]
    #[serde(rename = "3.1.0")]
    V3_1,
    /// OpenAPI 3.2.0: `xml.nodeType` says which member is an attribute, which is the text.
    #[serde(rename = "3.2.0")]
    V3_2,
}

impl SpecVersion {
    /// The value of the document's `openapi` field.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V3_1 => "3.1.0",
            SpecVersion::V3_2 => "3.2.0",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OpenApiConfig {
    /// The OpenAPI version the documents declare: `"3.1.0"` or `"3.2.0"`.
    pub spec_version: SpecVersion,
    /// `info.title` of `/openapi.json`; a partner's document `/openapi/PARTNER.json` is
    /// titled `TITLE: PARTNER` unless `[openapi.partners.PARTNER]` names it.
    pub title: String,
    /// `info.version` of every document (the version of the partner contract, not of
    /// schemagate).
    pub version: String,
    /// The base URLs partners call, as the documents' `servers`: absolute `http://` or
    /// `https://` URLs, or paths starting with `/` (relative to where the document is read).
    /// Empty: no `servers`, so tools assume the document's own host.
    pub servers: Vec<String>,
    /// One partner's document over the values above (`[openapi.partners.PARTNER]`).
    pub partners: BTreeMap<String, PartnerDocConfig>,
}

impl Default for OpenApiConfig {
    fn default() -> Self {
        OpenApiConfig {
            spec_version: SpecVersion::default(),
            title: DEFAULT_TITLE.into(),
            version: DEFAULT_VERSION.into(),
            servers: Vec::new(),
            partners: BTreeMap::new(),
        }
    }
}

/// What one partner's document says differently from the combined one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerDocConfig {
    pub title: Option<String>,
    pub version: Option<String>,
    pub servers: Option<Vec<String>>,
}

/// The `info` and `servers` of one document, resolved from the section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocInfo<'c> {
    pub title: std::borrow::Cow<'c, str>,
    pub version: &'c str,
    pub servers: &'c [String],
}

impl OpenApiConfig {
    /// The `info` and `servers` of `/openapi.json`.
    pub fn combined(&self) -> DocInfo<'_> {
        DocInfo {
            title: self.title.as_str().into(),
            version: &self.version,
            servers: &self.servers,
        }
    }

    /// The `info` and `servers` of `/openapi/PARTNER.json`.
    pub fn partner(&self, partner: &str) -> DocInfo<'_> {
        let own = self.partners.get(partner);
        DocInfo {
            title: match own.and_then(|p| p.title.as_deref()) {
                Some(t) => t.into(),
                None => format!("{}: {partner}", self.title).into(),
            },
            version: own
                .and_then(|p| p.version.as_deref())
                .unwrap_or(&self.version),
            servers: own
                .and_then(|p| p.servers.as_deref())
                .unwrap_or(&self.servers),
        }
    }

    /// What is wrong with the section, as `(key, message)` pairs; empty when it is usable.
    /// `partners`: the partners that have routes OpenAPI describes, which
    /// `[openapi.partners]` must name.
    pub fn problems<'p>(
        &self,
        partners: impl IntoIterator<Item = &'p str> + Clone,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut text = |key: String, value: &str| {
            if value.trim().is_empty() {
                out.push((key, "must not be empty".to_string()));
            }
        };
        text("openapi.title".into(), &self.title);
        text("openapi.version".into(), &self.version);
        for (name, p) in &self.partners {
            if let Some(t) = &p.title {
                text(format!("openapi.partners.{name}.title"), t);
            }
            if let Some(v) = &p.version {
                text(format!("openapi.partners.{name}.version"), v);
            }
        }
        let mut servers = |key: String, list: &[String]| {
            for s in list {
                if let Some(why) = server_problem(s) {
                    out.push((key.clone(), format!("`{s}` {why}")));
                }
            }
        };
        servers("openapi.servers".into(), &self.servers);
        for (name, p) in &self.partners {
            if let Some(list) = &p.servers {
                servers(format!("openapi.partners.{name}.servers"), list);
            }
        }
        for name in self.partners.keys() {
            if !partners.clone().into_iter().any(|p| p == name.as_str()) {
                let known: Vec<&str> = partners.clone().into_iter().collect();
                out.push((
                    format!("openapi.partners.{name}"),
                    format!(
                        "no route of partner `{name}` is described in OpenAPI (a SOAP route's contract is its WSDL); partners: {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        out
    }
}

/// Why `url` cannot be a server URL of the documents, or None when it can.
fn server_problem(url: &str) -> Option<&'static str> {
    if url.contains(['{', '}']) {
        // OpenAPI reads braces as server variables, which the documents do not declare.
        return Some("uses `{...}`: server variables are not supported");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains white space");
    }
    if url.starts_with('/') && !url.starts_with("//") {
        return url
            .parse::<http::uri::PathAndQuery>()
            .is_err()
            .then_some("is not a valid path");
    }
    match url.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {
            None
        }
        _ => Some("is neither an http:// or https:// URL with a host nor a path starting with /"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_absolute_http_urls_or_paths() {
        assert_eq!(server_problem("https://partners.example.com"), None);
        assert_eq!(server_problem("http://127.0.0.1:8080/api"), None);
        assert_eq!(server_problem("/api/v1"), None);
        assert_eq!(
            server_problem("https://{region}.example.com"),
            Some("uses `{...}`: server variables are not supported")
        );
        assert_eq!(
            server_problem("partners.example.com"),
            Some("is neither an http:// or https:// URL with a host nor a path starting with /")
        );
        assert_eq!(
            server_problem("ftp://example.com"),
            Some("is neither an http:// or https:// URL with a host nor a path starting with /")
        );
        assert_eq!(server_problem("/a b"), Some("contains white space"));
    }

    #[test]
    fn the_section_is_checked_against_the_partners() {
        let cfg: OpenApiConfig = toml::from_str(
            "title = \" \"\nservers = [\"https://x.example\", \"nowhere\"]\n[partners.acme]\ntitle = \"ACME orders\"\n[partners.initech]\nservers = []\n",
        )
        .unwrap();
        assert_eq!(
            cfg.problems(["acme", "globex"]),
            vec![
                ("openapi.title".to_string(), "must not be empty".to_string()),
                (
                    "openapi.servers".to_string(),
                    "`nowhere` is neither an http:// or https:// URL with a host nor a path starting with /".to_string()
                ),
                (
                    "openapi.partners.initech".to_string(),
                    "no route of partner `initech` is described in OpenAPI (a SOAP route's contract is its WSDL); partners: acme, globex".to_string()
                ),
            ]
        );
        assert_eq!(
            cfg.partner("acme"),
            DocInfo {
                title: "ACME orders".into(),
                version: "1",
                servers: &["https://x.example".to_string(), "nowhere".to_string()],
            }
        );
        assert_eq!(cfg.partner("globex").title, " : globex");
        assert!(
            toml::from_str::<OpenApiConfig>("spec_version = \"3.0.3\"").is_err(),
            "only the versions the documents are written for"
        );
        assert!(toml::from_str::<OpenApiConfig>("titel = \"x\"").is_err());
    }
}
