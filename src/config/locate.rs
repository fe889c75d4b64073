//! Finds where a key is written, so diagnostics about settings point at their line like
//! the mapping rules do: in `gateway.toml` through the TOML parser's own spans, in a route
//! file (`upstream.service`, `route.path`) by following its YAML layout.
//!
//! Error path only. The YAML side reads the file again and follows block-style indentation
//! at any depth (`aggregate.calls.user.depends_on`) or flow mappings on one line
//! (`upstream: { service: x }`): the route file is read
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

/// 1-based line and column of the last key of `path`, or of the deepest key found.
pub fn key_position(text: &str, path: &[&str]) -> Option<(u32, u32)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    // The block the next key is looked for in: lines [from, to), deeper than `parent`.
    let (mut from, mut to, mut parent) = (0usize, lines.len(), -1isize);
    for (k, key) in path.iter().enumerate() {
        let mut hit = None;
        for (n, line) in lines.iter().enumerate().take(to).skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent {
                break;
            }
            // The first key is a top-level one: a nested key of the same name is not it.
            if k == 0 && indent > 0 {
                continue;
            }
            if key_at(trimmed, key) {
                hit = Some((n, indent));
                break;
            }
        }
        match hit {
            Some((n, indent)) => {
                found = Some((n as u32 + 1, indent as u32 + 1));
                let end = lines
                    .iter()
                    .enumerate()
                    .skip(n + 1)
                    .find(|(_, l)| {
                        let t = l.trim_start();
                        !t.is_empty()
                            && !t.starts_with('#')
                            && (l.len() - t.len()) as isize <= indent
                    })
                    .map_or(lines.len(), |(i, _)| i);
                (from, to, parent) = (n + 1, end, indent);
                // The rest may be written as a flow mapping on this same line.
                let line = lines[n];
                let mut at = indent as usize + key.len() + 1;
                let mut flow = Some(());
                for rest in &path[k + 1..] {
                    match flow.and_then(|_| flow_key(&line[at..], rest)) {
                        Some(col) => {
                            at += col;
                            found = Some((n as u32 + 1, at as u32 + 1));
                            at += rest.len() + 1;
                        }
                        None => flow = None,
                    }
                }
                if flow.is_some() && k + 1 < path.len() {
                    return found;
                }
            }
            None => return found,
        }
    }
    found
}

fn key_at(trimmed: &str, key: &str) -> bool {
    let unquoted = trimmed
        .strip_prefix(key)
        .is_some_and(|r| r.starts_with(':'));
    unquoted
        || ['"', '\''].iter().any(|q| {
            trimmed
                .strip_prefix(*q)
                .and_then(|r| r.strip_prefix(key))
                .and_then(|r| r.strip_prefix(*q))
                .is_some_and(|r| r.starts_with(':'))
        })
}

/// Byte offset of `key:` inside a flow mapping (`{ a: 1, key: 2 }`) starting in `text`.
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
        // A key that is not written: the deepest one that is.
        assert_eq!(key_position(FILE, &["route", "format"]), Some((2, 1)));
        assert_eq!(key_position(FILE, &["format"]), None);
    }

    #[test]
    fn flow_keys() {
        let text =
            "route:    { method: POST, path: /x }\nupstream: { service: orders, path: /o }\n";
        assert_eq!(key_position(text, &["upstream", "path"]), Some((2, 30)));
        assert_eq!(key_position(text, &["route", "method"]), Some((1, 13)));
    }

    const AGGREGATE: &str = "route: { kind: aggregate }\naggregate:\n  calls:\n    user:\n      service: orders\n      # note\n      depends_on: [x]\n    orders: { service: orders, depends_on: [user] }\n  answer:\n    target: t\n";

    #[test]
    fn keys_are_found_at_any_depth_in_block_and_flow_style() {
        let at = |p: &str| key_position(AGGREGATE, &p.split('.').collect::<Vec<_>>());
        assert_eq!(at("aggregate.calls.user.depends_on"), Some((7, 7)));
        assert_eq!(at("aggregate.calls.user.service"), Some((5, 7)));
        assert_eq!(at("aggregate.calls.orders.depends_on"), Some((8, 32)));
        assert_eq!(at("aggregate.calls.orders"), Some((8, 5)));
        assert_eq!(at("aggregate.answer.target"), Some((10, 5)));
        assert_eq!(at("route.kind"), Some((1, 10)));
        // The deepest key that exists.
        assert_eq!(at("aggregate.calls.nobody.path"), Some((3, 3)));
    }
}
