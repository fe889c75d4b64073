//! Line and column of a dotted key path (`aggregate.calls.user.depends_on`) in a YAML
//! route file, at any depth, in block style and in one-line flow mappings, so `check`
//! points at the call a diagnostic is about.

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

    const FILE: &str = "route: { kind: aggregate }\naggregate:\n  calls:\n    user:\n      service: orders\n      # note\n      depends_on: [x]\n    orders: { service: orders, depends_on: [user] }\n  answer:\n    target: t\n";

    #[test]
    fn keys_are_found_at_any_depth_in_block_and_flow_style() {
        let at = |p: &str| key_position(FILE, &p.split('.').collect::<Vec<_>>());
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
