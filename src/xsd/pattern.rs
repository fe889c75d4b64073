//! XML Schema regular expressions to JSON Schema (ECMA-262) patterns and back.
//!
//! An XSD pattern matches the whole value, has the multi-character escapes `\i` and `\c`,
//! Unicode blocks as `\p{IsBlock}`, and no anchors (`^` and `$` are ordinary characters).
//! A JSON Schema pattern matches anywhere, so the translation anchors it, expands the
//! escapes and escapes the anchors. Constructs with no ECMA form (class subtraction, most
//! blocks) are refused with the reason, for the importer to report.

/// `\i`: the first character of an XML name (approximated by Unicode letters).
const NAME_START: &str = "\\p{L}_:";
/// `\c`: a character of an XML name.
const NAME_CHAR: &str = "\\p{L}\\p{N}_:.\\-";

/// The anchored JSON Schema pattern of XSD pattern `xsd`.
pub fn to_json(xsd: &str) -> Result<String, String> {
    let mut out = String::with_capacity(xsd.len() + 8);
    out.push_str("^(?:");
    let mut chars = xsd.chars().peekable();
    let mut in_class = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("the pattern ends with a lone backslash".into());
                };
                match e {
                    'i' | 'c' => {
                        let set = if e == 'i' { NAME_START } else { NAME_CHAR };
                        if in_class > 0 {
                            out.push_str(set);
                        } else {
                            out.push('[');
                            out.push_str(set);
                            out.push(']');
                        }
                    }
                    'I' | 'C' => {
                        if in_class > 0 {
                            return Err(format!("\\{e} inside a character class has no ECMA form"));
                        }
                        let set = if e == 'I' { NAME_START } else { NAME_CHAR };
                        out.push_str("[^");
                        out.push_str(set);
                        out.push(']');
                    }
                    'p' | 'P' => {
                        let mut name = String::new();
                        if chars.next() != Some('{') {
                            return Err(format!("\\{e} without {{name}}"));
                        }
                        for n in chars.by_ref() {
                            if n == '}' {
                                break;
                            }
                            name.push(n);
                        }
                        match name.strip_prefix("Is") {
                            Some(block) => {
                                let range = block_range(block).ok_or_else(|| {
                                    format!("the Unicode block \\{e}{{{name}}} has no ECMA form")
                                })?;
                                match (e, in_class > 0) {
                                    ('p', true) => out.push_str(range),
                                    ('p', false) => {
                                        out.push('[');
                                        out.push_str(range);
                                        out.push(']');
                                    }
                                    (_, false) => {
                                        out.push_str("[^");
                                        out.push_str(range);
                                        out.push(']');
                                    }
                                    _ => {
                                        return Err(format!(
                                            "\\P{{{name}}} inside a character class has no ECMA form"
                                        ));
                                    }
                                }
                            }
                            None => {
                                out.push('\\');
                                out.push(e);
                                out.push('{');
                                out.push_str(&name);
                                out.push('}');
                            }
                        }
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                if in_class > 0 {
                    return Err("character class subtraction has no ECMA form".into());
                }
                in_class += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            ']' if in_class > 0 => {
                in_class -= 1;
                out.push(']');
            }
            '-' if in_class > 0 && chars.peek() == Some(&'[') => {
                return Err("character class subtraction has no ECMA form".into());
            }
            '^' | '$' if in_class == 0 => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push_str(")$");
    Ok(out)
}

/// The XSD pattern of JSON Schema pattern `json`, when it is anchored at both ends (XSD
/// patterns always are); an unanchored one matches within `.*` on either side.
pub fn to_xsd(json: &str) -> String {
    if let Some(inner) = json
        .strip_prefix("^(?:")
        .and_then(|s| s.strip_suffix(")$"))
        .filter(|s| balanced(s))
    {
        return unescape_anchors(inner);
    }
    let start = json.strip_prefix('^');
    let body = start.unwrap_or(json);
    let end = body.strip_suffix('$').filter(|b| !b.ends_with('\\'));
    let core = end.unwrap_or(body);
    let mut out = String::new();
    if start.is_none() {
        out.push_str(".*");
    }
    out.push('(');
    out.push_str(&unescape_anchors(core));
    out.push(')');
    if end.is_none() {
        out.push_str(".*");
    }
    out
}

/// Whether the parentheses of `s` pair up (so `^(?:a)|(?:b)$` is not taken apart).
fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut escaped = false;
    let mut in_class = false;
    for c in s.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '[') => in_class = true,
            (false, ']') => in_class = false,
            (false, '(') if !in_class => depth += 1,
            (false, ')') if !in_class => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// `(?:` is ECMA-only; `\^`/`\$` stay valid XSD escapes, as does everything `to_json`
/// writes.
fn unescape_anchors(s: &str) -> String {
    s.replace("(?:", "(")
}

/// The code point range of a Unicode block XSD names with `\p{IsName}`, for the blocks
/// schemas of business documents use.
fn block_range(block: &str) -> Option<&'static str> {
    Some(match block {
        // Written as the characters themselves (the ones XML allows), which both regex
        // dialects read, since XSD has no `\u` escape.
        "BasicLatin" => "\t\n\r -\u{7F}",
        "Latin-1Supplement" => "\u{80}-\u{FF}",
        "LatinExtended-A" => "\u{100}-\u{17F}",
        "LatinExtended-B" => "\u{180}-\u{24F}",
        "LatinExtendedAdditional" => "\u{1E00}-\u{1EFF}",
        "GeneralPunctuation" => "\u{2000}-\u{206F}",
        "CurrencySymbols" => "\u{20A0}-\u{20CF}",
        "Greek" | "GreekandCoptic" => "\u{370}-\u{3FF}",
        "Cyrillic" => "\u{400}-\u{4FF}",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xsd_patterns_are_anchored_and_translated() {
        assert_eq!(to_json("[A-Z]{3}").unwrap(), "^(?:[A-Z]{3})$");
        assert_eq!(to_json("a|b").unwrap(), "^(?:a|b)$");
        assert_eq!(to_json("\\$[0-9]+^").unwrap(), "^(?:\\$[0-9]+\\^)$");
        assert_eq!(to_json("$").unwrap(), "^(?:\\$)$");
        assert_eq!(to_json("[^a$]").unwrap(), "^(?:[^a$])$");
        assert_eq!(
            to_json("\\i\\c*").unwrap(),
            "^(?:[\\p{L}_:][\\p{L}\\p{N}_:.\\-]*)$"
        );
        assert_eq!(
            to_json("[\\p{IsBasicLatin}]+").unwrap(),
            "^(?:[\t\n\r -\u{7F}]+)$"
        );
        assert_eq!(to_json("\\p{Lu}").unwrap(), "^(?:\\p{Lu})$");
        assert_eq!(
            to_json("[a-z-[aeiou]]").unwrap_err(),
            "character class subtraction has no ECMA form"
        );
        assert_eq!(
            to_json("\\p{IsTibetan}").unwrap_err(),
            "the Unicode block \\p{IsTibetan} has no ECMA form"
        );
        assert_eq!(
            to_json("a\\").unwrap_err(),
            "the pattern ends with a lone backslash"
        );
    }

    #[test]
    fn json_patterns_go_back_to_xsd() {
        assert_eq!(to_xsd("^(?:[A-Z]{3})$"), "[A-Z]{3}");
        assert_eq!(to_xsd("^(?:a(?:b)c)$"), "a(b)c");
        assert_eq!(to_xsd("^[A-Z]{2}$"), "([A-Z]{2})");
        assert_eq!(to_xsd("[0-9]"), ".*([0-9]).*");
        assert_eq!(to_xsd("^(?:a)|(?:b)$"), "((a)|(b))");
    }
}
