//! Which text format a scraper gets from `/metrics`, and the Prometheus text format 0.0.4.
//!
//! The metrics library writes OpenMetrics 1.0. Prometheus asks for it in `Accept`, but many
//! tools (older Prometheus, `promtool check metrics`, exporters' parsers, a person with curl)
//! read only the classic text format 0.0.4, where a counter family is named with its
//! `_total`, there are no `# UNIT` or `# EOF` lines and `info`/`unknown` are not types. So the
//! page is negotiated from `Accept` and, for 0.0.4, rewritten line by line from the
//! OpenMetrics page: one encoder, two spellings that cannot drift apart.

use std::collections::HashMap;

/// `Content-Type` of the OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the Prometheus text 0.0.4 answer.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two exposition formats `/metrics` speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text004 => TEXT_CONTENT_TYPE,
        }
    }

    /// The format for an `Accept` header value (or none). OpenMetrics only when the client
    /// names `application/openmetrics-text` (version 1.0.0, 0.0.1 or unversioned) with a
    /// weight above that of any text range it also names; everything else, no header, `*/*`
    /// or garbage included, gets text 0.0.4, which every reader understands.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut openmetrics: Option<f32> = None;
        let mut text: Option<f32> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0_f32;
            let mut version_ok = true;
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => {
                        q = v
                            .parse::<f32>()
                            .ok()
                            .filter(|q| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0)
                    }
                    "version" => version_ok = matches!(v, "1.0.0" | "0.0.1"),
                    _ => {}
                }
            }
            let slot = match media.as_str() {
                "application/openmetrics-text" if version_ok => &mut openmetrics,
                "text/plain" | "text/*" | "*/*" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        match (openmetrics, text) {
            (Some(om), t) if om > 0.0 && om >= t.unwrap_or(0.0) => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }
}

/// Rewrites an OpenMetrics page into Prometheus text 0.0.4: counter families take their
/// `_total` name, `info` families become gauges named `<name>_info`, `unknown` is
/// `untyped`, `# UNIT` and `# EOF` go. Sample lines stay as they are (their names already
/// carry the suffixes).
pub fn to_text_004(openmetrics: &str) -> String {
    let mut types: HashMap<&str, &str> = HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, ty)) = rest.split_once(' ')
        {
            types.insert(name, ty.trim());
        }
    }
    let mut out = String::with_capacity(openmetrics.len() + 256);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("HELP", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("TYPE", r)));
        if let Some((kind, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let (renamed, ty) = match types.get(name).copied() {
                Some("counter") => (format!("{name}_total"), "counter"),
                Some("info") => (format!("{name}_info"), "gauge"),
                Some("unknown") => (name.to_string(), "untyped"),
                Some(other) => (name.to_string(), other),
                None => (name.to_string(), "untyped"),
            };
            out.push_str("# ");
            out.push_str(kind);
            out.push(' ');
            out.push_str(&renamed);
            out.push(' ');
            if kind == "TYPE" {
                out.push_str(ty);
            } else {
                // OpenMetrics escapes `"` in help text; 0.0.4 does not know that escape.
                out.push_str(&tail.replace("\\\"", "\""));
            }
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept() {
        use Format::*;
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        for (accept, want) in [
            (None, Text004),
            (Some(prometheus), OpenMetrics),
            (Some("application/openmetrics-text"), OpenMetrics),
            (
                Some("Application/OpenMetrics-Text; Version=\"1.0.0\""),
                OpenMetrics,
            ),
            (Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1"), Text004),
            (
                Some("text/plain, application/openmetrics-text;q=0.5"),
                Text004,
            ),
            (
                Some("application/openmetrics-text;q=0.9, text/plain;q=0.3"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;q=0"), Text004),
            (Some("application/openmetrics-text;version=2.0.0"), Text004),
            (Some("application/openmetrics-text;q=banana"), Text004),
            (Some("*/*"), Text004),
            (Some(""), Text004),
            (Some(";;;,,,=;q"), Text004),
            (Some("application/json"), Text004),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_page_becomes_text_004() {
        let om = "\
# HELP a_requests Requests.
# TYPE a_requests counter
a_requests_total{route=\"x\"} 2
# HELP a_build Build \\\"info\\\".
# TYPE a_build info
a_build_info{version=\"1\"} 1
# HELP a_size Size.
# TYPE a_size gauge
# UNIT a_size bytes
a_size 3
# HELP a_odd Odd.
# TYPE a_odd unknown
a_odd 1
# EOF
";
        assert_eq!(
            to_text_004(om),
            "\
# HELP a_requests_total Requests.
# TYPE a_requests_total counter
a_requests_total{route=\"x\"} 2
# HELP a_build_info Build \"info\".
# TYPE a_build_info gauge
a_build_info{version=\"1\"} 1
# HELP a_size Size.
# TYPE a_size gauge
a_size 3
# HELP a_odd Odd.
# TYPE a_odd untyped
a_odd 1
"
        );
    }
}
