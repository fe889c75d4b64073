//! Source paths: parsed once at compile time into segments, resolved per request by
//! walking borrowed `serde_json::Value`s (no allocation on the way).

use std::fmt::Write as _;

use serde_json::Value;

use crate::view::{Doc, View};

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `/Order/...`: the source document.
    Document,
    /// `Qty`, `@line`, `.`: the current item of the innermost `each`.
    Item,
    /// `$request/...`: the original request body (response mappings).
    Request,
    /// `$path.NAME`.
    PathParam(String),
    /// `$query.NAME` (first occurrence).
    Query(String),
    /// `$header.NAME` (lower-cased).
    Header(String),
    /// `$claims.a.b`: segments hold `a`, `b`.
    Claims,
    /// `$soap.header.NAME/a/b` (SOAP routes' request mappings): segments hold `NAME`, `a`,
    /// `b`.
    SoapHeader,
    /// `$partner`.
    Partner,
    /// `$correlation_id`.
    CorrelationId,
    /// `$index`: 0-based index of the current item.
    Index,
    /// `$position`: 1-based number of the current item (line numbers).
    Position,
}

/// A parsed source path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePath {
    pub root: Root,
    /// Steps below the root: object keys, or array indexes where the value is an array.
    pub segments: Vec<String>,
    /// The path as written, for messages.
    pub text: String,
    /// The segments as [`walk_from`](SourcePath::walk_from) reads them.
    steps: Box<[Step]>,
}

/// One segment prepared for the walk: its array index parsed once here rather than at
/// every step through an array.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    key: Box<str>,
    /// The segment read as an array index, `None` where it is not one.
    index: Option<usize>,
}

/// Why a path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty source path")]
    Empty,
    #[error("empty step in path `{0}` (two `/` in a row or a trailing `/`)")]
    EmptyStep(String),
    #[error(
        "unknown context source `{0}`; known: $path.NAME, $query.NAME, $header.NAME, $claims.NAME, $soap.header.NAME, $partner, $correlation_id, $index, $position, $request/..."
    )]
    UnknownContext(String),
    #[error("`{0}` needs a name, e.g. `{0}.id`")]
    MissingName(String),
    #[error("invalid escape in path `{0}`: `~` must be followed by 0 or 1")]
    BadEscape(String),
}

/// Names of the context sources, for messages and the checker.
pub const CONTEXT_NAMES: &[&str] = &[
    "$path",
    "$query",
    "$header",
    "$claims",
    "$soap.header",
    "$partner",
    "$correlation_id",
    "$index",
    "$position",
    "$request",
];

fn unescape(step: &str, whole: &str) -> Result<String, PathError> {
    if !step.contains('~') {
        return Ok(step.to_owned());
    }
    let mut out = String::with_capacity(step.len());
    let mut chars = step.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(PathError::BadEscape(whole.to_owned())),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn slash_steps(rest: &str, whole: &str) -> Result<Vec<String>, PathError> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('/')
        .map(|s| {
            if s.is_empty() {
                Err(PathError::EmptyStep(whole.to_owned()))
            } else {
                unescape(s, whole)
            }
        })
        .collect()
}

/// The name after `$path.` etc.
fn context_name(rest: &str, kind: &str) -> Result<String, PathError> {
    match rest.strip_prefix('.') {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err(PathError::MissingName(kind.to_owned())),
    }
}

impl SourcePath {
    /// Parses one source path as written in a rule.
    pub fn parse(text: &str) -> Result<SourcePath, PathError> {
        let (root, segments) = if text.is_empty() {
            return Err(PathError::Empty);
        } else if text == "." {
            (Root::Item, Vec::new())
        } else if let Some(rest) = text.strip_prefix('/') {
            (Root::Document, slash_steps(rest, text)?)
        } else if let Some(rest) = text.strip_prefix("$request") {
            match rest.strip_prefix('/') {
                Some(r) => (Root::Request, slash_steps(r, text)?),
                None if rest.is_empty() => (Root::Request, Vec::new()),
                None => return Err(PathError::UnknownContext(text.to_owned())),
            }
        } else if let Some(rest) = text.strip_prefix('$') {
            let (kind, tail) = match rest.find('.') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            match kind {
                "path" => (Root::PathParam(context_name(tail, "$path")?), Vec::new()),
                "query" => (Root::Query(context_name(tail, "$query")?), Vec::new()),
                "header" => (
                    Root::Header(context_name(tail, "$header")?.to_ascii_lowercase()),
                    Vec::new(),
                ),
                "claims" => {
                    let name = context_name(tail, "$claims")?;
                    let segs: Vec<String> = name.split('.').map(str::to_owned).collect();
                    if segs.iter().any(String::is_empty) {
                        return Err(PathError::EmptyStep(text.to_owned()));
                    }
                    (Root::Claims, segs)
                }
                "soap" => {
                    // The header entry's name, then steps into it as in a document path;
                    // an XML name may hold a `.`, so steps are written with `/`.
                    let name = tail
                        .strip_prefix(".header")
                        .ok_or_else(|| PathError::UnknownContext(text.to_owned()))?;
                    let name = context_name(name, "$soap.header")?;
                    let (entry, rest) = name.split_once('/').unwrap_or((name.as_str(), ""));
                    if entry.is_empty() || (name.contains('/') && rest.is_empty()) {
                        return Err(PathError::EmptyStep(text.to_owned()));
                    }
                    let mut segs = vec![unescape(entry, text)?];
                    segs.extend(slash_steps(rest, text)?);
                    (Root::SoapHeader, segs)
                }
                "partner" if tail.is_empty() => (Root::Partner, Vec::new()),
                "correlation_id" if tail.is_empty() => (Root::CorrelationId, Vec::new()),
                "index" if tail.is_empty() => (Root::Index, Vec::new()),
                "position" if tail.is_empty() => (Root::Position, Vec::new()),
                _ => return Err(PathError::UnknownContext(text.to_owned())),
            }
        } else {
            let rest = text.strip_prefix("./").unwrap_or(text);
            (Root::Item, slash_steps(rest, text)?)
        };
        let steps = segments
            .iter()
            .map(|s| Step {
                key: s.as_str().into(),
                index: s.parse::<usize>().ok(),
            })
            .collect();
        Ok(SourcePath {
            root,
            segments,
            text: text.to_owned(),
            steps,
        })
    }

    /// Walks the segments down from `start`, like [`walk`], with the array indexes
    /// already parsed.
    #[inline(always)]
    pub fn walk_from<'v>(&self, start: &'v Value) -> Option<&'v Value> {
        walk_steps(start, &self.steps)
    }

    /// [`SourcePath::walk_from`] over a [`View`]: member lists are searched in order, and
    /// once the walk reaches a plain value it goes on as `walk_from` does.
    #[inline(always)]
    pub fn walk_view<'v>(&self, start: View<'v>) -> Option<View<'v>> {
        let mut cur = start;
        for (i, step) in self.steps.iter().enumerate() {
            cur = match cur {
                View::Value(v) | View::Doc(Doc::Json(v)) => {
                    return walk_steps(v, self.steps.get(i..)?).map(View::Value);
                }
                View::Doc(Doc::Members(m)) => {
                    let key: &str = &step.key;
                    let first = key.as_bytes().first();
                    m.iter()
                        .find(|(k, _)| {
                            k.len() == key.len() && k.as_bytes().first() == first && k == key
                        })
                        .map(|(_, d)| d.view())?
                }
                View::Doc(Doc::List(items)) => items.get(step.index?)?.view(),
                // A string has no members or items.
                View::Text(_) | View::Doc(Doc::Text(_)) => return None,
            };
        }
        Some(cur)
    }

    /// True for paths read from the source document or the current item.
    pub fn reads_body(&self) -> bool {
        matches!(self.root, Root::Document | Root::Item)
    }
}

#[inline(always)]
fn walk_steps<'v>(start: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut cur = start;
    for step in steps {
        cur = match cur {
            Value::Object(map) => member(map, &step.key)?,
            Value::Array(items) => items.get(step.index?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Objects with at most this many members are searched by comparing keys in order rather
/// than through their hash index: hashing a key (SipHash) costs more than a handful of
/// length-then-bytes comparisons, and documents are mostly made of small objects.
pub const LINEAR_LOOKUP_MAX: usize = 12;

/// Walks `segments` down from `start`. An array step must be a decimal index.
pub fn walk<'v>(start: &'v Value, segments: &[String]) -> Option<&'v Value> {
    let mut cur = start;
    for seg in segments {
        cur = match cur {
            Value::Object(map) => member(map, seg)?,
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// One member of an object, by linear search when the object is small.
#[inline(always)]
fn member<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= LINEAR_LOOKUP_MAX {
        // Members mostly differ in length or first byte: ruling those out inline leaves
        // the full comparison for the likely match only.
        let first = key.as_bytes().first();
        map.iter()
            .find(|(k, _)| k.len() == key.len() && k.as_bytes().first() == first && *k == key)
            .map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// Appends one JSON Pointer step, escaped (`~` -> `~0`, `/` -> `~1`).
pub fn push_pointer(out: &mut String, step: &str) {
    out.push('/');
    for c in step.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Appends an array index as a pointer step.
pub fn push_index(out: &mut String, index: usize) {
    let _ = write!(out, "/{index}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(p: &str) -> (Root, Vec<String>) {
        let sp = SourcePath::parse(p).unwrap();
        (sp.root, sp.segments)
    }

    #[test]
    fn parses_every_root() {
        assert_eq!(
            segs("/Order/@id"),
            (Root::Document, vec!["Order".into(), "@id".into()])
        );
        assert_eq!(segs("/"), (Root::Document, vec![]));
        assert_eq!(segs("."), (Root::Item, vec![]));
        assert_eq!(segs("Qty"), (Root::Item, vec!["Qty".into()]));
        assert_eq!(
            segs("./Sub/#text"),
            (Root::Item, vec!["Sub".into(), "#text".into()])
        );
        assert_eq!(
            segs("/a~1b/c~0d"),
            (Root::Document, vec!["a/b".into(), "c~d".into()])
        );
        assert_eq!(segs("$request/Order/@currency").0, Root::Request);
        assert_eq!(segs("$path.orderId").0, Root::PathParam("orderId".into()));
        assert_eq!(segs("$query.page").0, Root::Query("page".into()));
        assert_eq!(segs("$header.X-Tenant").0, Root::Header("x-tenant".into()));
        assert_eq!(
            segs("$soap.header.Auth.v2/User/@id"),
            (
                Root::SoapHeader,
                vec!["Auth.v2".to_string(), "User".to_string(), "@id".to_string()]
            )
        );
        assert_eq!(
            SourcePath::parse("$soap.header"),
            Err(PathError::MissingName("$soap.header".into()))
        );
        assert_eq!(
            SourcePath::parse("$soap.body.X"),
            Err(PathError::UnknownContext("$soap.body.X".into()))
        );
        assert_eq!(
            segs("$claims.org.id"),
            (Root::Claims, vec!["org".into(), "id".into()])
        );
        assert_eq!(segs("$partner").0, Root::Partner);
        assert_eq!(segs("$correlation_id").0, Root::CorrelationId);
        assert_eq!(segs("$index").0, Root::Index);
        assert_eq!(segs("$position").0, Root::Position);
    }

    #[test]
    fn rejects_bad_paths() {
        assert_eq!(SourcePath::parse(""), Err(PathError::Empty));
        assert_eq!(
            SourcePath::parse("/a//b"),
            Err(PathError::EmptyStep("/a//b".into()))
        );
        assert_eq!(
            SourcePath::parse("$user.id"),
            Err(PathError::UnknownContext("$user.id".into()))
        );
        assert_eq!(
            SourcePath::parse("$path"),
            Err(PathError::MissingName("$path".into()))
        );
        assert_eq!(
            SourcePath::parse("$index.x"),
            Err(PathError::UnknownContext("$index.x".into()))
        );
        assert_eq!(
            SourcePath::parse("/a~2"),
            Err(PathError::BadEscape("/a~2".into()))
        );
    }

    #[test]
    fn walks_objects_and_arrays() {
        let doc = json!({"a": {"b": [10, {"c": "x"}]}});
        let p = SourcePath::parse("/a/b/1/c").unwrap();
        assert_eq!(walk(&doc, &p.segments), Some(&json!("x")));
        let p = SourcePath::parse("/a/b/7").unwrap();
        assert_eq!(walk(&doc, &p.segments), None);
        let p = SourcePath::parse("/a/b/x").unwrap();
        assert_eq!(walk(&doc, &p.segments), None);
        // Past the linear-search size the hash index answers the same.
        let big: serde_json::Map<String, Value> = (0..=LINEAR_LOOKUP_MAX + 3)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect();
        let big = Value::Object(big);
        let p = SourcePath::parse("/k14").unwrap();
        assert_eq!(walk(&big, &p.segments), Some(&json!(14)));
        let p = SourcePath::parse("/k99").unwrap();
        assert_eq!(walk(&big, &p.segments), None);
        // The prepared walk answers as the plain one.
        for text in ["/a/b/1/c", "/a/b/7", "/a/b/x", "/a/b/+1/c", "/a", "/", "/b"] {
            let p = SourcePath::parse(text).unwrap();
            assert_eq!(p.walk_from(&doc), walk(&doc, &p.segments), "{text}");
        }
        let p = SourcePath::parse("/k14").unwrap();
        assert_eq!(p.walk_from(&big), Some(&json!(14)));
        let mut s = String::new();
        push_pointer(&mut s, "a/b~");
        push_index(&mut s, 3);
        assert_eq!(s, "/a~1b~0/3");
    }
}
