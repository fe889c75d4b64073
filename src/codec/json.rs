//! JSON bodies under the same limits as XML.
//!
//! `serde_json` parses (its recursion limit of 128 keeps a hostile nesting off the stack);
//! the [`Limits`] are then checked by an iterative walk. Limit errors carry line and column
//! 0: the parsed value no longer knows where it came from, and the limit's name and maximum
//! are what the client needs.

use serde_json::Value;

use super::{CodecError, Limits, line_col};

const FORMAT: &str = "JSON";

/// Parses a JSON body, enforcing depth and element limits, with line/column on errors.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, CodecError> {
    if let Err(e) = std::str::from_utf8(input) {
        let (line, column) = line_col(input, e.valid_up_to());
        return Err(CodecError::Encoding {
            line,
            column,
            message: "the document is not valid UTF-8".to_string(),
        });
    }
    let value: Value = serde_json::from_slice(input).map_err(|e| CodecError::Malformed {
        format: FORMAT,
        line: u32::try_from(e.line()).unwrap_or(u32::MAX),
        column: u32::try_from(e.column()).unwrap_or(u32::MAX),
        message: e.to_string(),
    })?;
    check_limits(&value, limits)?;
    Ok(value)
}

fn limit(limit: &'static str, max: usize) -> CodecError {
    CodecError::Limit {
        limit,
        max,
        line: 0,
        column: 0,
    }
}

/// Walks the value with an explicit stack (no recursion) checking every limit. Depth counts
/// arrays and objects, as XML depth counts elements; object keys count as text.
fn check_limits(value: &Value, limits: &Limits) -> Result<(), CodecError> {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    let mut count = 0usize;
    while let Some((v, depth)) = stack.pop() {
        count += 1;
        if count > limits.max_elements {
            return Err(limit("elements", limits.max_elements));
        }
        match v {
            Value::String(s) if s.len() > limits.max_text_bytes => {
                return Err(limit("text", limits.max_text_bytes));
            }
            Value::Array(items) => {
                if depth >= limits.max_depth {
                    return Err(limit("depth", limits.max_depth));
                }
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(map) => {
                if depth >= limits.max_depth {
                    return Err(limit("depth", limits.max_depth));
                }
                for (k, item) in map {
                    if k.len() > limits.max_text_bytes {
                        return Err(limit("text", limits.max_text_bytes));
                    }
                    stack.push((item, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_valid_json() {
        assert_eq!(
            decode(
                br#"{"a": [1, 2.5, "x", null, true], "b": {}}"#,
                &Limits::default()
            )
            .unwrap(),
            json!({"a": [1, 2.5, "x", null, true], "b": {}})
        );
    }

    #[test]
    fn malformed_has_line_and_column() {
        assert_eq!(
            decode(b"{\n  \"a\": 1,\n  \"b\": }", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                format: "JSON",
                line: 3,
                column: 8,
                message: "expected value at line 3 column 8".into()
            }
        );
        assert!(matches!(
            decode(b"", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                line: 1,
                column: 0,
                ..
            }
        ));
        assert!(matches!(
            decode(b"{} {}", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                line: 1,
                column: 4,
                ..
            }
        ));
    }

    #[test]
    fn invalid_utf8_is_an_encoding_error() {
        assert_eq!(
            decode(b"{\"a\":\n \"\xff\"}", &Limits::default()).unwrap_err(),
            CodecError::Encoding {
                line: 2,
                column: 3,
                message: "the document is not valid UTF-8".into()
            }
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_depth: 2,
            max_elements: 4,
            max_attributes: 1,
            max_text_bytes: 3,
        };
        assert_eq!(
            decode(br#"{"a": [1]}"#, &limits).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(
            decode(br#"{"a": [[1]]}"#, &limits).unwrap_err(),
            limit("depth", 2)
        );
        assert_eq!(
            decode(b"[1, 2, 3, 4]", &limits).unwrap_err(),
            limit("elements", 4)
        );
        assert_eq!(
            decode(br#"["abcd"]"#, &limits).unwrap_err(),
            limit("text", 3)
        );
        assert_eq!(
            decode(br#"{"abcd": 1}"#, &limits).unwrap_err(),
            limit("text", 3)
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            decode(deep.as_bytes(), &Limits::default()).unwrap_err(),
            CodecError::Malformed { .. }
        ));
        let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            decode(nested.as_bytes(), &Limits::default()).unwrap_err(),
            limit("depth", 64)
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode(&bytes, &Limits::default());
            }

            #[test]
            fn decode_never_panics_on_jsonish_text(text in "[\\[\\]{}\",:0-9a-z .eE+-]{0,200}") {
                let _ = decode(text.as_bytes(), &Limits::default());
            }
        }
    }
}
