//! `route.response_media_type`: the media type a route's mapped answers carry, checked once
//! at compile so the hot path only copies a ready header value.

use http::HeaderValue;

use crate::codec::Format;

/// Why a text cannot be a route's answer media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaTypeError {
    #[error(
        "`{0}` is not a media type: write `type/subtype`, optionally followed by `; name=value` parameters"
    )]
    Syntax(String),
    #[error("`{value}` is not {expected}, so it cannot label the {format} this route answers with")]
    Format {
        value: String,
        format: &'static str,
        expected: &'static str,
    },
    #[error("`{value}` names charset `{charset}`, but the gateway writes answers in UTF-8")]
    Charset { value: String, charset: String },
}

/// The answer media type of a route of `format`: `value` when it is a media type (RFC 9110
/// §8.3.1) of that format (XML: `application/xml`, `text/xml` or any `…+xml`; JSON:
/// `application/json` or any `…+json`) that names no charset but UTF-8, else the
/// format's own (`application/xml`, `application/json`) when there is no `value`.
pub fn answer_media_type(
    format: Format,
    value: Option<&str>,
) -> Result<HeaderValue, MediaTypeError> {
    let Some(value) = value else {
        return Ok(HeaderValue::from_static(format.media_type()));
    };
    let syntax = || MediaTypeError::Syntax(value.to_string());
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let (ty, sub) = essence.split_once('/').ok_or_else(syntax)?;
    if !is_token(ty) || !is_token(sub) {
        return Err(syntax());
    }
    let (ty, sub) = (ty.to_ascii_lowercase(), sub.to_ascii_lowercase());
    let (fits, name, expected) = match format {
        Format::Xml => (
            ((ty == "application" || ty == "text") && sub == "xml") || sub.ends_with("+xml"),
            "XML",
            "an XML media type (`application/xml`, `text/xml` or one ending in `+xml`)",
        ),
        Format::Json => (
            (ty == "application" && sub == "json") || sub.ends_with("+json"),
            "JSON",
            "a JSON media type (`application/json` or one ending in `+json`)",
        ),
    };
    if !fits {
        return Err(MediaTypeError::Format {
            value: value.to_string(),
            format: name,
            expected,
        });
    }
    for param in parts {
        let (key, v) = param.trim().split_once('=').ok_or_else(syntax)?;
        let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
        if !is_token(key) || !(is_token(v) || quoted) {
            return Err(syntax());
        }
        let v = v.trim_matches('"');
        if key.eq_ignore_ascii_case("charset") && !v.eq_ignore_ascii_case("utf-8") {
            return Err(MediaTypeError::Charset {
                value: value.to_string(),
                charset: v.to_string(),
            });
        }
    }
    HeaderValue::from_str(value).map_err(|_| syntax())
}

/// An RFC 9110 §5.6.2 token: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_formats_own() {
        assert_eq!(
            answer_media_type(Format::Xml, None).unwrap(),
            "application/xml"
        );
        assert_eq!(
            answer_media_type(Format::Json, None).unwrap(),
            "application/json"
        );
    }

    #[test]
    fn media_types_of_the_format_are_kept_as_written() {
        for (format, value) in [
            (Format::Xml, "text/xml; charset=utf-8"),
            (Format::Xml, "application/vnd.acme.order-ack+xml"),
            (Format::Xml, "Application/XML;charset=\"UTF-8\""),
            (Format::Xml, "application/soap+xml; action=\"urn:ack\""),
            (Format::Json, "application/problem+json"),
            (Format::Json, "application/json; charset=utf-8"),
        ] {
            assert_eq!(answer_media_type(format, Some(value)).unwrap(), value);
        }
    }

    #[test]
    fn anything_else_is_refused_saying_why() {
        let refused = |format, value: &str| {
            answer_media_type(format, Some(value))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused(Format::Xml, "application/json"),
            "`application/json` is not an XML media type (`application/xml`, `text/xml` or one ending in `+xml`), so it cannot label the XML this route answers with"
        );
        assert_eq!(
            refused(Format::Json, "text/json"),
            "`text/json` is not a JSON media type (`application/json` or one ending in `+json`), so it cannot label the JSON this route answers with"
        );
        assert_eq!(
            refused(Format::Xml, "text/xml; charset=iso-8859-1"),
            "`text/xml; charset=iso-8859-1` names charset `iso-8859-1`, but the gateway writes answers in UTF-8"
        );
        for bad in [
            "xml",
            "application/",
            "/xml",
            "application/x ml",
            "text/xml;",
            "text/xml; a",
            "text/xml; a=b c",
            "text/xml; a=\"b",
            "text/xml\n",
        ] {
            assert_eq!(
                refused(Format::Xml, bad),
                format!(
                    "`{bad}` is not a media type: write `type/subtype`, optionally followed by `; name=value` parameters"
                ),
                "{bad:?}"
            );
        }
    }
}
