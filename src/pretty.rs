//! Indents JSON text for people (`schemagate transform`) without reading it into values.
//!
//! Going through `serde_json::Value` would rewrite numbers (`1343.60` prints as `1343.6`,
//! integers past 2^64 become floats), and the gateway's output is exact decimal text that a
//! mapping author must see as the service will. So the text is re-spaced token by token:
//! strings and numbers are copied byte for byte, only whitespace changes.

/// `json` indented by two spaces per level, or `None` when it is not one well-formed JSON
/// value (the caller prints such bytes as they are).
pub fn indent_json(json: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde::de::IgnoredAny>(json).ok()?;
    let text = std::str::from_utf8(json).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                out.push(escaped);
                            }
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_ascii_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(c);
                    out.push(close);
                } else {
                    out.push(c);
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::indent_json;

    #[test]
    fn numbers_and_strings_stay_as_written() {
        let input = br#"{"total":1343.60,"big":123456789012345678901234567890,"s":"a, \"b\": {c}","e":[],"o":{ },"l":[1, -2e5,{"x":null}]}"#;
        assert_eq!(
            indent_json(input).unwrap(),
            "{\n  \"total\": 1343.60,\n  \"big\": 123456789012345678901234567890,\n  \"s\": \"a, \\\"b\\\": {c}\",\n  \"e\": [],\n  \"o\": {},\n  \"l\": [\n    1,\n    -2e5,\n    {\n      \"x\": null\n    }\n  ]\n}"
        );
        assert_eq!(indent_json(b"  7 ").unwrap(), "7");
        assert_eq!(
            indent_json("\"\u{e9}\\\\\"".as_bytes()).unwrap(),
            "\"\u{e9}\\\\\""
        );
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for bad in [&b"<Order/>"[..], b"{\"a\":", b"", b"{} {}", b"\xff"] {
            assert_eq!(indent_json(bad), None, "{bad:?}");
        }
    }
}
