//! `${NAME}` and `${NAME:-default}` in gateway.toml, so one file serves laptops, CI and
//! containers.
//!
//! Substitution happens on the text before TOML parsing, so parse errors keep pointing at
//! the right line. A substituted value is escaped for a TOML basic string (`"..."`), which
//! is where variables belong; `$${` writes a literal `${`.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    #[error(
        "line {line}: environment variable `{name}` is not set and has no default (write `${{{name}:-default}}`)"
    )]
    Unset { name: String, line: u32 },
    #[error("line {line}: unterminated `${{` (expected `${{NAME}}` or `${{NAME:-default}}`)")]
    Unterminated { line: u32 },
    #[error(
        "line {line}: invalid variable name `{name}` (letters, digits and `_`, not starting with a digit)"
    )]
    BadName { name: String, line: u32 },
}

/// Where the scanner stands in the TOML text: substitution happens everywhere but in
/// comments, and a value is escaped as its surroundings need.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Bare,
    Basic,
    Literal,
    MultiBasic,
    MultiLiteral,
    Comment,
}

const TRIPLE_BASIC: &str = "\"\"\"";
const TRIPLE_LITERAL: &str = "'''";

/// Replaces every `${NAME}` / `${NAME:-default}` in `text` outside comments, reading
/// variables through `lookup` (the process environment in production, a map in tests).
///
/// ```
/// use schemagate::config::env::substitute;
///
/// let env = |name: &str| (name == "PORT").then(|| "9000".to_string());
/// let text = "# ${NOT_HERE}\nurl = \"http://127.0.0.1:${PORT}\"\nlisten = \"${LISTEN:-0.0.0.0:8080}\"\n";
/// assert_eq!(
///     substitute(text, &env).unwrap(),
///     "# ${NOT_HERE}\nurl = \"http://127.0.0.1:9000\"\nlisten = \"0.0.0.0:8080\"\n"
/// );
/// ```
pub fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut ctx = Ctx::Bare;
    let mut line = 1u32;
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        if c == '\n' {
            line += 1;
            if matches!(ctx, Ctx::Comment | Ctx::Basic | Ctx::Literal) {
                ctx = Ctx::Bare;
            }
        }
        let triple = |t: &str| rest.starts_with(t);
        match ctx {
            Ctx::Comment => {}
            Ctx::Bare if c == '#' => ctx = Ctx::Comment,
            Ctx::Bare if triple(TRIPLE_BASIC) || triple(TRIPLE_LITERAL) => {
                ctx = if c == '"' {
                    Ctx::MultiBasic
                } else {
                    Ctx::MultiLiteral
                };
                out.push_str(&rest[..3]);
                i += 3;
                continue;
            }
            Ctx::MultiBasic if triple(TRIPLE_BASIC) => {
                ctx = Ctx::Bare;
                out.push_str(TRIPLE_BASIC);
                i += 3;
                continue;
            }
            Ctx::MultiLiteral if triple(TRIPLE_LITERAL) => {
                ctx = Ctx::Bare;
                out.push_str(TRIPLE_LITERAL);
                i += 3;
                continue;
            }
            Ctx::Bare if c == '"' => ctx = Ctx::Basic,
            Ctx::Bare if c == '\'' => ctx = Ctx::Literal,
            Ctx::Basic | Ctx::MultiBasic if c == '\\' => {
                // An escape: copy it and the escaped character verbatim.
                out.push('\\');
                i += 1;
                if let Some(next) = text[i..].chars().next() {
                    out.push(next);
                    i += next.len_utf8();
                }
                continue;
            }
            Ctx::Basic if c == '"' => ctx = Ctx::Bare,
            Ctx::Literal if c == '\'' => ctx = Ctx::Bare,
            _ if c == '$' => {
                if rest.starts_with("$${") {
                    out.push_str("${");
                    i += 3;
                    continue;
                }
                if let Some(tail) = rest.strip_prefix("${") {
                    let (value, used) = expand(tail, line, lookup)?;
                    match ctx {
                        Ctx::Basic | Ctx::MultiBasic => escape_basic_string(&value, &mut out),
                        _ => out.push_str(&value),
                    }
                    i += 2 + used;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += c.len_utf8();
    }
    Ok(out)
}

/// Expands the inside of `${...}` (`tail` starts after `${`); returns the value and how many
/// bytes of `tail` it used, closing brace included.
fn expand(
    tail: &str,
    line: u32,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), EnvError> {
    let Some(end) = tail.find('}') else {
        return Err(EnvError::Unterminated { line });
    };
    let inner = &tail[..end];
    if inner.contains('\n') {
        return Err(EnvError::Unterminated { line });
    }
    let (name, default) = match inner.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (inner, None),
    };
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(EnvError::BadName {
            name: name.to_string(),
            line,
        });
    }
    // An empty variable counts as unset when a default is given, as in the shell.
    let value = match (
        lookup(name).filter(|v| !v.is_empty() || default.is_none()),
        default,
    ) {
        (Some(v), _) => v,
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            return Err(EnvError::Unset {
                name: name.to_string(),
                line,
            });
        }
    };
    Ok((value, end + 1))
}

fn escape_basic_string(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "UPSTREAM_URL" => Some("http://10.0.0.1:9000".into()),
            "EMPTY" => Some(String::new()),
            "QUOTE" => Some("a\"b\\c".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_set_variables_and_defaults() {
        let text = "url = \"${UPSTREAM_URL:-http://127.0.0.1:1}\"\nlisten = \"${LISTEN:-127.0.0.1:18084}\"\n";
        assert_eq!(
            substitute(text, &env).unwrap(),
            "url = \"http://10.0.0.1:9000\"\nlisten = \"127.0.0.1:18084\"\n"
        );
    }

    #[test]
    fn empty_variable_takes_the_default() {
        assert_eq!(
            substitute("a = \"${EMPTY:-x}\"", &env).unwrap(),
            "a = \"x\""
        );
        assert_eq!(substitute("a = \"${EMPTY}\"", &env).unwrap(), "a = \"\"");
    }

    #[test]
    fn values_are_escaped_and_dollars_kept() {
        assert_eq!(
            substitute("a = \"${QUOTE} $5 $${X}\"", &env).unwrap(),
            "a = \"a\\\"b\\\\c $5 ${X}\""
        );
    }

    #[test]
    fn comments_are_left_alone_and_bare_values_are_raw() {
        let text = "# use ${NAME} here\nport = ${PORT:-8080} # ${ALSO_NOT}\nx = '${QUOTE}'\n";
        assert_eq!(
            substitute(text, &env).unwrap(),
            "# use ${NAME} here\nport = 8080 # ${ALSO_NOT}\nx = 'a\"b\\c'\n"
        );
        assert_eq!(
            substitute("a = \"#${UPSTREAM_URL}\"", &env).unwrap(),
            "a = \"#http://10.0.0.1:9000\""
        );
        assert_eq!(
            substitute("a = \"\\\"${EMPTY:-q}\"", &env).unwrap(),
            "a = \"\\\"q\""
        );
        assert_eq!(
            substitute("a = \"\"\"\n${QUOTE}\n\"\"\" # ${X}", &env).unwrap(),
            "a = \"\"\"\na\\\"b\\\\c\n\"\"\" # ${X}"
        );
    }

    #[test]
    fn unset_and_malformed_are_errors_with_lines() {
        assert_eq!(
            substitute("\n\nx = \"${NOPE}\"", &env),
            Err(EnvError::Unset {
                name: "NOPE".into(),
                line: 3
            })
        );
        assert_eq!(
            substitute("x = \"${NOPE", &env),
            Err(EnvError::Unterminated { line: 1 })
        );
        assert_eq!(
            substitute("\nx = \"${9X}\"", &env),
            Err(EnvError::BadName {
                name: "9X".into(),
                line: 2
            })
        );
    }
}
