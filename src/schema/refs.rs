//! `$ref` resolution, the one way every part of the gateway follows a reference: the
//! shape tree, the compiled validator, the validator registry's closure and OpenAPI
//! bundling all ask here which document and which subschema a `$ref` names.
//!
//! A reference is resolved as the `jsonschema` registry does for the documents it is
//! given: a base equal to the document's own `$id` names the document itself; a relative
//! base is joined to the document's `$id`, then to its relative name; then the base is
//! looked up as written (a relative name or an `$id`). The fragment is a JSON pointer or
//! an `$anchor`, percent-decoded.

use std::ops::Deref;

use serde_json::Value;

use super::escape_pointer;

/// Why a `$ref` names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefError {
    /// The fragment holds a `%` escape that is broken or not UTF-8.
    Escape,
    /// The base names no known document.
    UnknownDocument,
    /// The fragment is an anchor no subschema of the document declares.
    NoAnchor(String),
    /// The pointer leads nowhere in the document.
    NothingAt { pointer: String, document: String },
}

/// What a `$ref` names: the document by relative name, the document, and the JSON
/// pointer of the subschema in it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved<D> {
    pub name: String,
    pub doc: D,
    pub pointer: String,
}

/// The `$id` a document declares, without an empty fragment.
fn own_id(doc: &Value) -> Option<&str> {
    doc.get("$id")
        .and_then(Value::as_str)
        .map(|id| id.trim_end_matches('#'))
}

/// The document a non-empty `$ref` base written in document `from` (relative name
/// `from_name`) names. `find` looks a name up among the known documents (by relative
/// name, then by `$id`) and gives its relative name and the document.
pub(crate) fn document<D>(
    from_name: &str,
    from: &D,
    base: &str,
    mut find: impl FnMut(&str) -> Option<(String, D)>,
) -> Option<(String, D)>
where
    D: Deref<Target = Value> + Clone,
{
    let own = own_id(from);
    if own == Some(base) {
        return Some((from_name.to_string(), from.clone()));
    }
    if !base.contains(':') {
        if let Some(joined) = own.and_then(|id| join_relative(id, base))
            && let Some(found) = find(&joined)
        {
            return Some(found);
        }
        if let Some(joined) = join_relative(from_name, base)
            && let Some(found) = find(&joined)
        {
            return Some(found);
        }
    }
    find(base)
}

/// Resolves `reference`, written in document `from` (relative name `from_name`), to the
/// subschema it names. `find` is as for [`document`].
pub(crate) fn resolve<D>(
    from_name: &str,
    from: &D,
    reference: &str,
    find: impl FnMut(&str) -> Option<(String, D)>,
) -> Result<Resolved<D>, RefError>
where
    D: Deref<Target = Value> + Clone,
{
    let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let fragment = percent_decode(fragment).ok_or(RefError::Escape)?;
    let (name, doc) = if base.is_empty() {
        (from_name.to_string(), from.clone())
    } else {
        document(from_name, from, base, find).ok_or(RefError::UnknownDocument)?
    };
    let pointer = if fragment.is_empty() || fragment.starts_with('/') {
        fragment
    } else {
        find_anchor(&doc, &fragment, "").ok_or(RefError::NoAnchor(fragment))?
    };
    if doc.pointer(&pointer).is_none() {
        return Err(RefError::NothingAt {
            pointer,
            document: name,
        });
    }
    Ok(Resolved { name, doc, pointer })
}

/// Decodes `%XX` escapes of a URI fragment; None when an escape is broken or not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Resolves `rel` against the directory of `from` (both `/`-separated), normalising `.`
/// and `..`. None when `..` climbs above the root.
pub(crate) fn join_relative(from: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The JSON pointer of the subschema declaring `$anchor: name`, searched depth-first
/// outside the keywords that hold data (`enum`, `const`, `examples`, `default`).
pub(crate) fn find_anchor(value: &Value, name: &str, at: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.get("$anchor").and_then(Value::as_str) == Some(name) {
                return Some(at.to_string());
            }
            map.iter().find_map(|(k, v)| {
                if k == "enum" || k == "const" || k == "examples" || k == "default" {
                    return None;
                }
                find_anchor(v, name, &format!("{at}/{}", escape_pointer(k)))
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_anchor(v, name, &format!("{at}/{i}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    /// A set of documents by relative name, found by name or `$id` as the registry does.
    fn documents() -> BTreeMap<&'static str, Value> {
        BTreeMap::from([
            (
                "acme/order.json",
                json!({"$defs": {"Line": {"$anchor": "line", "type": "object"}}}),
            ),
            (
                "acme/common.json",
                json!({"$defs": {"Code": {"type": "string"}}}),
            ),
            (
                "common.json",
                json!({"$defs": {"Top": {"type": "integer"}}}),
            ),
            (
                "globex/root.json",
                json!({"$id": "https://example.com/s/root.json", "items": {"$ref": "item.json"}}),
            ),
            (
                "globex/item.json",
                json!({"$id": "https://example.com/s/item.json"}),
            ),
            ("urn.json", json!({"$id": "urn:x:code#", "type": "string"})),
        ])
    }

    fn run(from: &str, reference: &str) -> Result<(String, String), RefError> {
        let docs = documents();
        let find = |name: &str| {
            let (n, d) = docs.get_key_value(name).or_else(|| {
                docs.iter().find(|(_, d)| {
                    d.get("$id")
                        .and_then(Value::as_str)
                        .map(|i| i.trim_end_matches('#'))
                        == Some(name)
                })
            })?;
            Some((n.to_string(), d))
        };
        let from_doc = docs.get(from).unwrap();
        resolve(from, &from_doc, reference, find).map(|r| (r.name, r.pointer))
    }

    #[test]
    fn each_form_of_reference_names_one_subschema() {
        let ok = |name: &str, pointer: &str| Ok((name.to_string(), pointer.to_string()));
        let cases = [
            // Within the document: a pointer, an anchor, the root.
            (
                "acme/order.json",
                "#/$defs/Line",
                ok("acme/order.json", "/$defs/Line"),
            ),
            (
                "acme/order.json",
                "#line",
                ok("acme/order.json", "/$defs/Line"),
            ),
            ("acme/order.json", "", ok("acme/order.json", "")),
            // Relative to the document's name, then as written.
            (
                "acme/order.json",
                "common.json#/$defs/Code",
                ok("acme/common.json", "/$defs/Code"),
            ),
            (
                "acme/order.json",
                "../common.json#/$defs/Top",
                ok("common.json", "/$defs/Top"),
            ),
            // Relative to the document's `$id`; its own `$id`; an `$id` as written.
            ("globex/root.json", "item.json", ok("globex/item.json", "")),
            (
                "globex/root.json",
                "https://example.com/s/root.json#/items",
                ok("globex/root.json", "/items"),
            ),
            ("acme/order.json", "urn:x:code", ok("urn.json", "")),
            // Percent-encoded pointers are decoded.
            (
                "acme/order.json",
                "#/%24defs/Line",
                ok("acme/order.json", "/$defs/Line"),
            ),
            // What names nothing says why.
            ("acme/order.json", "#/%zz", Err(RefError::Escape)),
            (
                "acme/order.json",
                "missing.json",
                Err(RefError::UnknownDocument),
            ),
            (
                "acme/order.json",
                "../../common.json",
                Err(RefError::UnknownDocument),
            ),
            (
                "acme/order.json",
                "#nowhere",
                Err(RefError::NoAnchor("nowhere".into())),
            ),
            (
                "acme/order.json",
                "common.json#/$defs/Nope",
                Err(RefError::NothingAt {
                    pointer: "/$defs/Nope".into(),
                    document: "acme/common.json".into(),
                }),
            ),
        ];
        for (from, reference, expected) in cases {
            assert_eq!(run(from, reference), expected, "{from}: {reference}");
        }
    }
}
