//! Finds where a key of a route file is written, so diagnostics about route-level settings
//! (`upstream.service`, `route.path`) point at their line like the mapping rules do.
//!
//! Error path only: it reads the file again and follows block-style YAML indentation or a
//! flow mapping on one line (`upstream: { service: x }`). Where it cannot tell, the
//! diagnostic simply keeps no position.

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
