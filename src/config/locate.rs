//! Finds where a key is written, so diagnostics about settings point at their line like
//! the mapping rules do: in `gateway.toml` through the TOML parser's own spans, in a route
//! file (`upstream.service`, `route.path`) by following its YAML layout.
//!
//! Error path only. The YAML side reads the file again and follows block-style indentation
//! or a flow mapping on one line (`upstream: { service: x }`): the route file is read
//! through serde, which keeps no positions of keys. Where it cannot tell, the diagnostic
//! simply keeps no position.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;

/// Gives each diagnostic about a `gateway.toml` key (its `location`, `headers.forward`)
/// that has no position yet the line and column where the key's value is written.
pub fn place_config_keys(text: &str, diags: &mut [Diagnostic]) {
    if !diags
        .iter()
        .any(|d| d.line.is_none() && d.location.is_some())
    {
        return;
    }
    let Ok(root) = DeTable::parse(text) else {
        return;
    };
    for d in diags.iter_mut().filter(|d| d.line.is_none()) {
        let Some(key) = &d.location else { continue };
        if let Some(offset) = toml_value_offset(root.get_ref(), key) {
            let (line, column) = super::line_col(text, offset);
            d.line = Some(line);
            d.column = Some(column);
        }
    }
}

/// Byte offset of the value at the dotted `key` (`upstreams.orders.url`). A table name
/// holding dots (`[upstreams."a.b"]`) is matched by trying the longest name first.
fn toml_value_offset(table: &DeTable<'_>, key: &str) -> Option<usize> {
    let mut segments: Vec<&str> = key.split('.').collect();
    let mut current = table;
    let mut found: Option<&Spanned<DeValue<'_>>> = None;
    while !segments.is_empty() {
        let (n, value) = (1..=segments.len()).rev().find_map(|n| {
            let name = segments[..n].join(".");
            current
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == name.trim_matches('"'))
                .map(|(_, v)| (n, v))
        })?;
        segments.drain(..n);
        found = Some(value);
        match value.get_ref() {
            DeValue::Table(t) => current = t,
            _ if segments.is_empty() => {}
            _ => return None,
        }
    }
    found.map(|v| v.span().start)
}

/// 1-based line and column of the key at `path` (`["upstream", "service"]`), if found.
pub fn key_position(text: &str, path: &[&str]) -> Option<(u32, u32)> {
    let (first, rest) = path.split_first()?;
    let mut lines = text.lines().enumerate();
    // The top-level key: at column 1.
    let (line_no, line) = lines.by_ref().find(|(_, l)| key_at(l, 0, first))?;
    if rest.is_empty() {
        return Some((line_no as u32 + 1, 1));
    }
    let after = &line[first.len() + 1..];
    if let Some(col) = flow_key(after, rest[0]) {
        return Some((line_no as u32 + 1, (first.len() + 1 + col + 1) as u32));
    }
    // Block style: the nested key on a following, more indented line, before the next
    // top-level key.
    for (n, l) in lines {
        let indent = l.len() - l.trim_start().len();
        if indent == 0 && !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            return None;
        }
        if indent > 0 && key_at(l, indent, rest[0]) {
            return Some((n as u32 + 1, indent as u32 + 1));
        }
    }
    None
}

fn key_at(line: &str, indent: usize, key: &str) -> bool {
    line.len() > indent
        && line[..indent].trim().is_empty()
        && line[indent..]
            .strip_prefix(key)
            .is_some_and(|r| r.starts_with(':'))
}

/// Byte offset of `key:` inside a one-line flow mapping (`{ a: 1, key: 2 }`).
fn flow_key(text: &str, key: &str) -> Option<usize> {
    let open = text.find('{')?;
    let mut from = open + 1;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before = text[..at].trim_end();
        if (before.ends_with('{') || before.ends_with(','))
            && text[at + key.len()..].starts_with(':')
        {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# comment\nroute:\n  method: POST\n  path: /x\nupstream:\n  service: billing\n  path: /y\nrequest:\n  schema: a.json\n";

    #[test]
    fn toml_keys_are_placed_at_their_values() {
        let text = "[server]\nlisten = \"x\"\n\n[upstreams.\"a.b\"]\nurl = \"http://u@h\"\n\n[headers]\nforward = [\"ok\", \"bad one\"]\n";
        let mut diags = vec![
            Diagnostic::error("gateway.toml", "m").location("upstreams.a.b.url"),
            Diagnostic::error("gateway.toml", "m").location("headers.forward"),
            Diagnostic::error("gateway.toml", "m").location("server.listen"),
            Diagnostic::error("gateway.toml", "m").location("headers.nowhere"),
        ];
        place_config_keys(text, &mut diags);
        let places: Vec<_> = diags.iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(
            places,
            [
                (Some(5), Some(7)),
                (Some(8), Some(11)),
                (Some(2), Some(10)),
                (None, None)
            ]
        );
    }

    #[test]
    fn block_keys() {
        assert_eq!(key_position(FILE, &["upstream", "service"]), Some((6, 3)));
        assert_eq!(key_position(FILE, &["route", "path"]), Some((4, 3)));
        assert_eq!(key_position(FILE, &["upstream", "path"]), Some((7, 3)));
        assert_eq!(key_position(FILE, &["request"]), Some((8, 1)));
        assert_eq!(key_position(FILE, &["route", "format"]), None);
    }

    #[test]
    fn flow_keys() {
        let text =
            "route:    { method: POST, path: /x }\nupstream: { service: orders, path: /o }\n";
        assert_eq!(key_position(text, &["upstream", "path"]), Some((2, 30)));
        assert_eq!(key_position(text, &["route", "method"]), Some((1, 13)));
    }
}
