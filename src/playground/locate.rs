//! Where a JSON Pointer lands in a JSON document's text, so the playground can mark the line
//! of a violation in a JSON partner document as the XML decoder does for XML. One forward
//! scan per pointer, no recursion: nesting depth costs nothing but a counter.

/// 1-based line and column of the value `pointer` names in `text`, when the text holds it.
pub fn locate(text: &str, pointer: &str) -> Option<(u32, u32)> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, 0);
    if !pointer.is_empty() {
        let rest = pointer.strip_prefix('/')?;
        for raw in rest.split('/') {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            pos = child(bytes, pos, &segment)?;
        }
    }
    (pos < bytes.len()).then(|| crate::config::line_col(text, pos))
}

/// The start of the member `segment` of the object, or element of the array, at `pos`.
fn child(b: &[u8], pos: usize, segment: &str) -> Option<usize> {
    match b.get(pos)? {
        b'{' => {
            let mut at = skip_ws(b, pos + 1);
            loop {
                if b.get(at)? != &b'"' {
                    return None;
                }
                let end = string_end(b, at)?;
                let key: String = serde_json::from_slice(&b[at..end]).ok()?;
                at = skip_ws(b, end);
                if b.get(at)? != &b':' {
                    return None;
                }
                at = skip_ws(b, at + 1);
                if key == segment {
                    return Some(at);
                }
                at = skip_ws(b, value_end(b, at)?);
                match b.get(at)? {
                    b',' => at = skip_ws(b, at + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let index: usize = segment.parse().ok()?;
            let mut at = skip_ws(b, pos + 1);
            for _ in 0..index {
                at = skip_ws(b, value_end(b, at)?);
                match b.get(at)? {
                    b',' => at = skip_ws(b, at + 1),
                    _ => return None,
                }
            }
            (b.get(at)? != &b']').then_some(at)
        }
        _ => None,
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
        pos += 1;
    }
    pos
}

/// The position just after the string starting at `pos` (its opening quote).
fn string_end(b: &[u8], pos: usize) -> Option<usize> {
    let mut at = pos + 1;
    while at < b.len() {
        match b[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

/// The position just after the value starting at `pos`.
fn value_end(b: &[u8], pos: usize) -> Option<usize> {
    match b.get(pos)? {
        b'"' => string_end(b, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = pos;
            while at < b.len() {
                match b[at] {
                    b'"' => {
                        at = string_end(b, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            None
        }
        _ => {
            let mut at = pos;
            while at < b.len()
                && !matches!(b[at], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                at += 1;
            }
            Some(at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DOC: &str = "{\n  \"order\": {\n    \"id\": \"G-1\",\n    \"lines\": [\n      {\"sku\": \"a,]}\\\"\", \"qty\": 2},\n      {\"sku\": \"b\", \"qty\": \"x\"}\n    ],\n    \"a/b\": 1, \"m~n\": [[], {}, null]\n  }\n}";

    #[test]
    fn pointers_land_on_their_values() {
        assert_eq!(locate(DOC, ""), Some((1, 1)));
        assert_eq!(locate(DOC, "/order"), Some((2, 12)));
        assert_eq!(locate(DOC, "/order/id"), Some((3, 11)));
        assert_eq!(locate(DOC, "/order/lines/0/qty"), Some((5, 32)));
        assert_eq!(locate(DOC, "/order/lines/1/qty"), Some((6, 27)));
        assert_eq!(locate(DOC, "/order/a~1b"), Some((8, 12)));
        assert_eq!(locate(DOC, "/order/m~0n/2"), Some((8, 31)));
    }

    #[test]
    fn what_is_not_there_has_no_place() {
        for p in [
            "/nope",
            "/order/lines/2",
            "/order/lines/x",
            "/order/id/0",
            "order",
            "/order/m~0n/0/0",
        ] {
            assert_eq!(locate(DOC, p), None, "{p}");
        }
        assert_eq!(locate("", ""), None);
        assert_eq!(locate("{\"a\": [1, 2", "/a/5"), None);
        assert_eq!(locate("{\"a\" 1}", "/a"), None);
        assert_eq!(locate("\"unterminated", "/x"), None);
    }

    #[test]
    fn deep_nesting_is_a_counter_not_a_stack() {
        let deep = format!(
            "{{\"a\": {}1{}, \"b\": 2}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(locate(&deep, "/b"), Some((1, 200_015)));
    }
}
