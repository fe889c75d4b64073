//! XML bodies described as XML: the `xml` objects that make documentation tools (Swagger
//! UI, Redoc) show the document an XML partner really sends, not its JSON view.
//!
//! A partner schema of an XML route describes the JSON view the decoder builds: `@name`
//! members are attributes, `#text` is the text of an element that has attributes, an array
//! member is its items repeated in place (there is no wrapper element: a wrapper is an
//! object member of its own), and the one top-level member is the root element. Each
//! becomes what OpenAPI says for it:
//!
//! - `@name`: `xml.name` without the `@` and `xml.attribute: true` (3.1) or
//!   `xml.nodeType: attribute` (3.2);
//! - `#text`: `xml.nodeType: text` (3.2). OpenAPI 3.1 has no way to say it: the member
//!   keeps the extension `xml.x-nodeType: text`, which 3.1 tools ignore and which names
//!   the 3.2 meaning for a reader;
//! - an array: `xml.wrapped: false` (3.1) or `xml.nodeType: none` (3.2), and its items
//!   named as the decoder names each element: the member's `xml.name`, else the items'
//!   own, else the member's key;
//! - the root: the body's schema is the root member's, named with `xml.name` and the
//!   route's namespace (see [`root`]).
//!
//! `xml.namespace` and `xml.prefix` written in the partner schema are kept as they are.

use serde_json::{Map, Value, json};

use super::bundle::{DATA_KEYWORDS, SCHEMA_MAPS, fragment};
use crate::config::openapi::SpecVersion;

/// Schemas nest; a copy deeper than this is left as it is rather than recursed into.
const MAX_DEPTH: usize = 256;

/// Describes `schema` (a component an XML route reaches) as XML, in place.
pub(super) fn annotate(schema: &mut Value, version: SpecVersion) {
    walk(schema, version, 0);
}

fn walk(schema: &mut Value, version: SpecVersion, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let Value::Object(map) = schema else {
        return;
    };
    for (k, v) in map.iter_mut() {
        match k.as_str() {
            "properties" => {
                if let Value::Object(props) = v {
                    for (key, member) in props.iter_mut() {
                        describe_member(key, member, version);
                        walk(member, version, depth + 1);
                    }
                }
            }
            "xml" => {}
            k if DATA_KEYWORDS.contains(&k) => {}
            k if SCHEMA_MAPS.contains(&k) => {
                if let Value::Object(named) = v {
                    for s in named.values_mut() {
                        walk(s, version, depth + 1);
                    }
                }
            }
            _ => match v {
                Value::Object(_) => walk(v, version, depth + 1),
                Value::Array(items) => {
                    for item in items {
                        walk(item, version, depth + 1);
                    }
                }
                _ => {}
            },
        }
    }
}

/// The `xml` object of a schema, made when it has none.
fn xml_of(schema: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let xml = schema
        .entry("xml")
        .or_insert_with(|| Value::Object(Map::new()));
    if !xml.is_object() {
        *xml = Value::Object(Map::new());
    }
    match xml {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

fn own_xml<'s>(schema: &'s Map<String, Value>, key: &str) -> Option<&'s str> {
    schema.get("xml")?.get(key)?.as_str()
}

fn is_array(schema: &Map<String, Value>) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    }
}

/// Sets the node type of an `xml` object: the 3.2 field, or the 3.1 flags.
fn node_type(xml: &mut Map<String, Value>, version: SpecVersion, kind: &str) {
    // 3.2 forbids the deprecated flags beside `nodeType`; 3.1 knows only the flags.
    xml.remove("attribute");
    xml.remove("wrapped");
    match version {
        SpecVersion::V3_2 => {
            xml.insert("nodeType".into(), Value::String(kind.into()));
        }
        SpecVersion::V3_1 => match kind {
            "attribute" => {
                xml.insert("attribute".into(), Value::Bool(true));
            }
            "none" => {
                xml.insert("wrapped".into(), Value::Bool(false));
            }
            "element" => {
                xml.insert("wrapped".into(), Value::Bool(true));
            }
            other => {
                xml.insert("x-nodeType".into(), Value::String(other.into()));
            }
        },
    }
}

/// Describes member `key` of an object schema as the decoder reads it.
fn describe_member(key: &str, member: &mut Value, version: SpecVersion) {
    let Value::Object(m) = member else {
        return;
    };
    if let Some(attribute) = key.strip_prefix('@') {
        let xml = xml_of(m);
        xml.entry("name")
            .or_insert_with(|| Value::String(attribute.to_string()));
        node_type(xml, version, "attribute");
    } else if key == "#text" {
        let xml = xml_of(m);
        // A text node has no name of its own.
        xml.remove("name");
        xml.remove("prefix");
        xml.remove("namespace");
        node_type(xml, version, "text");
    } else if is_array(m) {
        let name = own_xml(m, "name").map(str::to_string);
        let namespace = own_xml(m, "namespace").map(str::to_string);
        if let Some(Value::Object(items)) = m.get_mut("items")
            && (name.is_some() || namespace.is_some())
        {
            let xml = xml_of(items);
            // The decoder names each element by the member's name first; OpenAPI ignores
            // the name of an unwrapped array, so the items carry it.
            if let Some(name) = name {
                xml.insert("name".into(), Value::String(name));
            }
            if let Some(ns) = namespace {
                xml.entry("namespace").or_insert(Value::String(ns));
            }
        }
        node_type(xml_of(m), version, "none");
    } else if let Some(Value::Object(xml)) = m.get_mut("xml")
        && xml.remove("attribute").is_some()
        && xml.is_empty()
    {
        // Only an `@` key is read as an attribute, whatever the schema says.
        m.remove("xml");
    }
}

/// The schema of an XML route's body, as its media type gives it. The JSON view's one
/// top-level member is the root element, so the body is that member's schema, named and
/// placed in its namespace (its own `xml.namespace`, that of the component it refers to,
/// else the route's). `component`: the name of the route schema's component; `schemas`:
/// every component. None when the schema is not one member (the loader refuses that for
/// XML routes).
pub(super) fn root(
    component: &str,
    schemas: &Map<String, Value>,
    route_namespace: Option<&str>,
) -> Option<Value> {
    let props = schemas.get(component)?.get("properties")?.as_object()?;
    let mut members = props.iter();
    let (Some((key, member)), None) = (members.next(), members.next()) else {
        return None;
    };
    let key = key.as_str();
    let target = member
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.get("$ref")?.as_str());
    let referenced = target
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .and_then(|name| schemas.get(name))
        .and_then(Value::as_object);
    let reference = match target {
        Some(r) => r.to_string(),
        None => format!(
            "#/components/schemas/{component}/properties/{}",
            fragment(&crate::schema::escape_pointer(key))
        ),
    };
    let own = |k: &str| {
        member
            .as_object()
            .and_then(|m| own_xml(m, k))
            .or_else(|| referenced.and_then(|m| own_xml(m, k)))
    };
    let mut xml = Map::new();
    xml.insert(
        "name".into(),
        Value::String(own("name").unwrap_or(key).into()),
    );
    if let Some(ns) = own("namespace").or(route_namespace) {
        xml.insert("namespace".into(), Value::String(ns.into()));
    }
    if let Some(prefix) = own("prefix") {
        xml.insert("prefix".into(), Value::String(prefix.into()));
    }
    Some(json!({"$ref": reference, "xml": xml}))
}

/// The problem-details component, described for problem+xml as well: the root element
/// `problem` in the RFC's namespace, `errors` wrapping one `i` element per entry (RFC 9457 Appendix B).
pub(super) fn problem(version: SpecVersion) -> Value {
    let mut errors = Map::new();
    node_type(&mut errors, version, "element");
    json!({
        "type": "object",
        "description": "RFC 9457 problem details",
        "xml": {"name": "problem", "namespace": "urn:ietf:rfc:7807"},
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string", "description": "the correlation id"},
            "errors": {"type": "array", "xml": errors, "items": {"type": "object", "xml": {"name": "i"}, "properties": {
                "pointer": {"type": "string"}, "message": {"type": "string"},
                "line": {"type": "integer"}, "column": {"type": "integer"}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Value {
        json!({
            "type": "object",
            "properties": {
                "@id": {"type": "string"},
                "@lang": {"type": "string", "xml": {"name": "lang", "namespace": "urn:l", "prefix": "l"}},
                "Total": {
                    "type": "object",
                    "properties": {
                        "@currency": {"type": "string"},
                        "#text": {"type": "string", "pattern": "^[0-9]+$"}
                    }
                },
                "Line": {"type": "array", "items": {"$ref": "#/components/schemas/x.Line"}},
                "Lines": {"type": "array", "xml": {"name": "L", "wrapped": true}, "items": {"type": "string"}},
                "Odd": {"type": "string", "xml": {"attribute": true}},
                "enum": {"enum": [{"properties": {"@x": {}}}]}
            }
        })
    }

    #[test]
    fn openapi_3_1_has_flags_and_marks_text_with_an_extension() {
        let mut s = view();
        annotate(&mut s, SpecVersion::V3_1);
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {
                    "@id": {"type": "string", "xml": {"name": "id", "attribute": true}},
                    "@lang": {"type": "string", "xml": {"name": "lang", "namespace": "urn:l", "prefix": "l", "attribute": true}},
                    "Total": {
                        "type": "object",
                        "properties": {
                            "@currency": {"type": "string", "xml": {"name": "currency", "attribute": true}},
                            "#text": {"type": "string", "pattern": "^[0-9]+$", "xml": {"x-nodeType": "text"}}
                        }
                    },
                    "Line": {"type": "array", "items": {"$ref": "#/components/schemas/x.Line"}, "xml": {"wrapped": false}},
                    "Lines": {"type": "array", "xml": {"name": "L", "wrapped": false}, "items": {"type": "string", "xml": {"name": "L"}}},
                    "Odd": {"type": "string"},
                    "enum": {"enum": [{"properties": {"@x": {}}}]}
                }
            })
        );
    }

    #[test]
    fn openapi_3_2_says_node_types() {
        let mut s = view();
        annotate(&mut s, SpecVersion::V3_2);
        let p = &s["properties"];
        assert_eq!(
            p["@id"]["xml"],
            json!({"name": "id", "nodeType": "attribute"})
        );
        assert_eq!(
            p["Total"]["properties"]["#text"]["xml"],
            json!({"nodeType": "text"})
        );
        assert_eq!(p["Line"]["xml"], json!({"nodeType": "none"}));
        assert_eq!(p["Lines"]["xml"], json!({"name": "L", "nodeType": "none"}));
        assert_eq!(
            problem(SpecVersion::V3_2)["properties"]["errors"]["xml"],
            json!({"nodeType": "element"})
        );
        assert_eq!(
            problem(SpecVersion::V3_1)["properties"]["errors"]["xml"],
            json!({"wrapped": true})
        );
    }

    #[test]
    fn the_body_is_the_root_element() {
        let schemas = json!({
            "a": {"properties": {"Order": {"$ref": "#/components/schemas/a.Order"}}},
            "a.Order": {"type": "object", "xml": {"namespace": "urn:own"}},
            "b": {"properties": {"Ack": {"type": "object"}}},
            "c": {"properties": {"x/y": {"type": "object", "xml": {"name": "Z", "prefix": "p"}}}},
            "d": {"properties": {"A": {}, "B": {}}}
        });
        let schemas = schemas.as_object().unwrap();
        assert_eq!(
            root("a", schemas, Some("urn:route")),
            Some(
                json!({"$ref": "#/components/schemas/a.Order", "xml": {"name": "Order", "namespace": "urn:own"}})
            )
        );
        assert_eq!(
            root("b", schemas, Some("urn:route")),
            Some(
                json!({"$ref": "#/components/schemas/b/properties/Ack", "xml": {"name": "Ack", "namespace": "urn:route"}})
            )
        );
        assert_eq!(
            root("c", schemas, None),
            Some(
                json!({"$ref": "#/components/schemas/c/properties/x~1y", "xml": {"name": "Z", "prefix": "p"}})
            )
        );
        assert_eq!(root("d", schemas, None), None);
    }
}
