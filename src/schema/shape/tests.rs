use super::*;
use serde_json::json;

fn no_docs(_: &str) -> Option<Arc<Value>> {
    None
}

#[test]
fn local_refs_defs_definitions_and_escapes() {
    let doc = json!({
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"$ref": "#/definitions/B"},
            "c": {"$ref": "#/$defs/we~1ird~0name"},
            "d": {"$ref": "#/$defs/sp%20ace"}
        },
        "$defs": {
            "A": {"type": "integer"},
            "we/ird~name": {"type": "boolean"},
            "sp ace": {"type": "null"}
        },
        "definitions": {"B": {"type": ["string", "null"]}}
    });
    let s = Shape::build("t.json", &doc, &no_docs).unwrap();
    let r = s.root();
    let types = |p: &str| s.node(s.property(r, p).unwrap()).types;
    assert_eq!(types("a"), TypeSet::INTEGER);
    assert_eq!(types("b"), TypeSet(TypeSet::STRING.0 | TypeSet::NULL.0));
    assert_eq!(types("c"), TypeSet::BOOLEAN);
    assert_eq!(types("d"), TypeSet::NULL);
    assert_eq!(
        s.node(s.property(r, "a").unwrap()).location,
        "t.json#/$defs/A"
    );
    assert_eq!(s.property(r, "zz"), None);
}

#[test]
fn draft7_ref_ignores_its_siblings_and_2020_12_applies_them() {
    let schema = |dialect: &str| {
        json!({
            "$schema": dialect,
            "type": "object",
            "properties": {"q": {"$ref": "#/definitions/Qty", "type": "string", "maxLength": 3}},
            "definitions": {"Qty": {"type": "integer"}}
        })
    };
    let doc = schema("http://json-schema.org/draft-07/schema#");
    let s = Shape::build("d7.json", &doc, &no_docs).unwrap();
    let q = s.node(s.property(s.root(), "q").unwrap());
    assert_eq!(q.types, TypeSet::INTEGER);
    assert_eq!(q.enum_values, None);
    assert_eq!(q.location, "d7.json#/definitions/Qty");

    let doc = schema("https://json-schema.org/draft/2020-12/schema");
    let s = Shape::build("d20.json", &doc, &no_docs).unwrap();
    let q = s.node(s.property(s.root(), "q").unwrap());
    // integer and string at once: no value has both types, so none is valid.
    assert_eq!(q.enum_values, Some(Vec::new()));
    assert_eq!(q.location, "d20.json#/properties/q");
}

#[test]
fn recursive_schema_terminates() {
    let doc = json!({
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }
        }}
    });
    let s = Shape::build("tree.json", &doc, &no_docs).unwrap();
    let r = s.root();
    let kids = s.property(r, "children").unwrap();
    assert!(s.is_array(kids));
    assert_eq!(s.items(kids), Some(r));
    assert_eq!(s.node(r).location, "tree.json#/$defs/Node");
}

#[test]
fn circular_alias_is_an_error() {
    let doc = json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}});
    let err = Shape::build("c.json", &doc, &no_docs).unwrap_err();
    assert_eq!(
        err,
        "c.json#/$defs/A: circular $ref \"#/$defs/B\" never reaches a schema"
    );
}

#[test]
fn unresolvable_refs_are_errors() {
    let doc = json!({"properties": {"x": {"$ref": "#/$defs/Missing"}}});
    let err = Shape::build("m.json", &doc, &no_docs).unwrap_err();
    assert_eq!(
        err,
        "m.json#/properties/x: $ref \"#/$defs/Missing\" points at nothing (no /$defs/Missing in m.json)"
    );
    let doc = json!({"properties": {"x": {"$ref": "other.json#/A"}}});
    let err = Shape::build("dir/m.json", &doc, &no_docs).unwrap_err();
    assert_eq!(
        err,
        "dir/m.json#/properties/x: $ref \"other.json#/A\" does not resolve to a known schema"
    );
}

#[test]
fn cross_file_refs_resolve_relative_to_the_referring_file() {
    let common = Arc::new(
        json!({"$defs": {"Money": {"type": "object", "properties": {"amount": {"type": "string"}}}}}),
    );
    let internal = Arc::new(json!({"$id": "urn:x:internal", "type": "integer"}));
    let seen = std::sync::Mutex::new(Vec::new());
    let resolve = |n: &str| -> Option<Arc<Value>> {
        seen.lock().unwrap().push(n.to_string());
        match n {
            "acme/common.schema.json" => Some(common.clone()),
            "internal/x.json" | "urn:x:internal" => Some(internal.clone()),
            _ => None,
        }
    };
    let doc = json!({
        "properties": {
            "total": {"$ref": "common.schema.json#/$defs/Money"},
            "n": {"$ref": "../internal/x.json"},
            "m": {"$ref": "urn:x:internal"}
        }
    });
    let s = Shape::build("acme/order.json", &doc, &resolve).unwrap();
    let r = s.root();
    let total = s.property(r, "total").unwrap();
    assert_eq!(
        s.node(total).location,
        "acme/common.schema.json#/$defs/Money"
    );
    assert_eq!(
        s.node(s.property(total, "amount").unwrap()).types,
        TypeSet::STRING
    );
    assert_eq!(
        s.node(s.property(r, "n").unwrap()).location,
        "internal/x.json#"
    );
    assert_eq!(
        s.node(s.property(r, "m").unwrap()).location,
        "urn:x:internal#"
    );
}

#[test]
fn all_of_merges_and_unions_are_kept() {
    let doc = json!({
        "allOf": [
            {"type": ["object", "null"], "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"const": 5}}, "required": ["b"], "additionalProperties": false}
        ],
        "properties": {
            "u": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "e": {"enum": ["x", "y"], "const": "y"},
            "n": {"type": "number", "allOf": [{"type": "integer", "minimum": 1}]}
        }
    });
    let s = Shape::build("a.json", &doc, &no_docs).unwrap();
    let r = s.root();
    let root = s.node(r);
    assert_eq!(root.types, TypeSet::OBJECT);
    assert_eq!(root.required, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(root.additional, Additional::Forbidden);
    assert_eq!(
        root.properties.keys().collect::<Vec<_>>(),
        vec!["u", "e", "n", "a", "b"]
    );
    assert_eq!(
        s.node(s.property(r, "b").unwrap()).enum_values,
        Some(vec![json!(5)])
    );
    let u = s.property(r, "u").unwrap();
    assert_eq!(s.node(u).union.len(), 2);
    assert_eq!(
        s.scalar_types(u),
        TypeSet(TypeSet::STRING.0 | TypeSet::INTEGER.0)
    );
    let e = s.property(r, "e").unwrap();
    assert_eq!(s.node(e).enum_values, Some(vec![json!("y")]));
    assert_eq!(s.scalar_types(e), TypeSet::STRING);
    let n = s.node(s.property(r, "n").unwrap());
    assert_eq!((n.types, n.minimum), (TypeSet::INTEGER, Some(1.0)));
}

#[test]
fn property_looks_through_unions_then_additional() {
    let doc = json!({
        "anyOf": [
            {"properties": {"x": {"type": "string"}}},
            {"properties": {"y": {"type": "array", "items": {"type": "integer"}}}}
        ],
        "additionalProperties": {"type": "boolean"}
    });
    let s = Shape::build("u.json", &doc, &no_docs).unwrap();
    let r = s.root();
    assert_eq!(s.node(s.property(r, "x").unwrap()).types, TypeSet::STRING);
    let y = s.property(r, "y").unwrap();
    assert_eq!(s.node(s.items(y).unwrap()).types, TypeSet::INTEGER);
    assert_eq!(
        s.node(s.property(r, "other").unwrap()).types,
        TypeSet::BOOLEAN
    );
    let arr = json!({"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]});
    let s = Shape::build("v.json", &arr, &no_docs).unwrap();
    assert!(s.is_array(s.root()));
    assert!(s.allows_null(s.root()));
    assert_eq!(s.node(s.items(s.root()).unwrap()).types, TypeSet::STRING);
}

#[test]
fn xml_namespace_is_inherited_until_overridden() {
    let doc = json!({
        "properties": {"Envelope": {
            "xml": {"namespace": "urn:soap", "prefix": "soap"},
            "properties": {"Body": {
                "properties": {"Order": {
                    "xml": {"namespace": "urn:acme", "name": "PurchaseOrder"},
                    "properties": {"Lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}}
                }}
            }}
        }},
        "$defs": {"Line": {"type": "object"}}
    });
    let s = Shape::build("soap.json", &doc, &no_docs).unwrap();
    let env = s.property(s.root(), "Envelope").unwrap();
    let body = s.property(env, "Body").unwrap();
    let order = s.property(body, "Order").unwrap();
    let line = s.items(s.property(order, "Lines").unwrap()).unwrap();
    assert_eq!(s.node(s.root()).xml, XmlMeta::default());
    assert_eq!(
        s.node(env).xml,
        XmlMeta {
            name: None,
            namespace: Some("urn:soap".into()),
            prefix: Some("soap".into()),
            namespace_given: true
        }
    );
    assert_eq!(s.node(body).xml.namespace.as_deref(), Some("urn:soap"));
    assert_eq!(
        s.node(order).xml,
        XmlMeta {
            name: Some("PurchaseOrder".into()),
            namespace: Some("urn:acme".into()),
            prefix: None,
            namespace_given: true
        }
    );
    assert_eq!(s.node(line).xml.namespace.as_deref(), Some("urn:acme"));
}

#[test]
fn unsupported_keywords_are_recorded_annotations_are_not() {
    let doc = json!({
        "title": "t", "description": "d", "format": "email", "minLength": 1, "$comment": "c",
        "examples": [], "default": "",
        "properties": {
            "a": {"if": {}, "then": {}, "else": {}, "not": {}},
            "b": {"patternProperties": {}, "propertyNames": {}, "unevaluatedProperties": false},
            "c": {"items": [{}], "contains": {}, "prefixItems": [{}]},
            "d": {"$dynamicRef": "#x", "dependentRequired": {}, "dependentSchemas": {}, "unevaluatedItems": false}
        }
    });
    let s = Shape::build("k.json", &doc, &no_docs).unwrap();
    let r = s.root();
    assert!(s.node(r).unsupported.is_empty());
    let un = |p: &str| s.node(s.property(r, p).unwrap()).unsupported.clone();
    assert_eq!(un("a"), vec!["if", "then", "else", "not"]);
    assert_eq!(
        un("b"),
        vec![
            "patternProperties",
            "propertyNames",
            "unevaluatedProperties"
        ]
    );
    assert_eq!(un("c"), vec!["prefixItems", "contains", "items"]);
    assert_eq!(
        un("d"),
        vec![
            "dependentSchemas",
            "dependentRequired",
            "unevaluatedItems",
            "$dynamicRef"
        ]
    );
}

#[test]
fn anchors_and_id_self_refs() {
    let doc = json!({
        "$id": "https://example.com/s/root.json",
        "properties": {
            "a": {"$ref": "#item"},
            "b": {"$ref": "https://example.com/s/root.json#/$defs/B"}
        },
        "$defs": {"I": {"$anchor": "item", "type": "integer"}, "B": {"type": "boolean"}}
    });
    let s = Shape::build("root.json", &doc, &no_docs).unwrap();
    let r = s.root();
    assert_eq!(s.node(s.property(r, "a").unwrap()).types, TypeSet::INTEGER);
    assert_eq!(s.node(s.property(r, "b").unwrap()).types, TypeSet::BOOLEAN);
}

#[test]
fn false_schema_and_contradictions_admit_nothing() {
    let doc = json!({"properties": {"f": false, "c": {"allOf": [{"type": "string"}, {"type": "integer"}]}}});
    let s = Shape::build("f.json", &doc, &no_docs).unwrap();
    assert!(s.node(s.property(s.root(), "f").unwrap()).is_never());
    assert!(s.node(s.property(s.root(), "c").unwrap()).is_never());
}
