//! The JSON Schemas `schemagate schema config|mapping` prints for editors, tightened to say
//! what the loader says.
//!
//! The derived schemas describe the serde structs; the loader knows more than the types do:
//! a `${NAME}` placeholder may stand where any value goes in gateway.toml (it is replaced
//! before parsing), a route's method is one of six, an object is either a rule (it holds a
//! rule keyword) or a nested target object (it holds none), and some rule keywords only make
//! sense beside others. Those facts are added here, from the same lists the loader uses
//! ([`RULE_KEYS`]), so an editor flags `as: decmal`, `method: POTS`, `frm:` or `map:` without
//! `each` as the gateway would.

use serde_json::{Map, Value, json};

use crate::mapping::syntax::RULE_KEYS;

/// The methods a route may name (any letter case), as the route loader accepts them.
pub const ROUTE_METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// A string holding at least one `${NAME}` or `${NAME:-default}`.
pub const PLACEHOLDER_PATTERN: &str = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}";

/// Rule keywords that produce a value (exactly one per rule).
const SOURCES: [&str; 5] = ["from", "const", "template", "each", "cases"];

/// The schema of gateway.toml.
pub fn config_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(crate::config::GatewayConfig))
        .unwrap_or(Value::Null);
    if let Some(props) = schema.get_mut("properties") {
        admit_placeholders(props, true);
    }
    let defs = schema
        .as_object_mut()
        .map(|root| root.entry("$defs").or_insert_with(|| json!({})));
    if let Some(defs) = defs.and_then(Value::as_object_mut) {
        defs.values_mut().for_each(|d| admit_placeholders(d, false));
        defs.insert(
            "Placeholder".into(),
            json!({
                "description": "An environment variable, `${NAME}` or `${NAME:-default}`, replaced before the file is read: it stands for a value of any type.",
                "type": "string",
                "pattern": PLACEHOLDER_PATTERN,
            }),
        );
    }
    schema
}

/// Lets every value constrained beyond "a string" (a number, a boolean, an enumeration, a
/// pattern) also be a placeholder string. Objects and arrays keep their shape and have
/// their members relaxed; a `$ref` is relaxed where its definition is. `members` is true
/// for a map of property schemas.
fn admit_placeholders(schema: &mut Value, members: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if members {
        obj.values_mut().for_each(|s| admit_placeholders(s, false));
        return;
    }
    if obj.contains_key("$ref") {
        return;
    }
    if let Some(props) = obj.get_mut("properties") {
        admit_placeholders(props, true);
    }
    for key in ["additionalProperties", "items"] {
        if let Some(sub) = obj.get_mut(key) {
            admit_placeholders(sub, false);
        }
    }
    // A choice among object or referenced schemas (an Option of a struct) is relaxed in
    // its branches; a choice among scalars (an enumeration written as `oneOf` consts) as a
    // whole, or a placeholder would match several branches of a `oneOf`.
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = obj.get_mut(key) else {
            continue;
        };
        let structured = branches.iter().any(|b| {
            b.get("$ref").is_some()
                || b.get("properties").is_some()
                || matches!(b.get("type"), Some(Value::String(t)) if t == "object" || t == "array")
        });
        if structured {
            branches
                .iter_mut()
                .for_each(|b| admit_placeholders(b, false));
            return;
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let scalar = types
        .iter()
        .any(|t| matches!(*t, "integer" | "number" | "boolean"));
    let constrained = obj.contains_key("enum")
        || obj.contains_key("const")
        || obj.contains_key("pattern")
        || obj.contains_key("oneOf")
        || obj.contains_key("anyOf");
    if scalar || constrained {
        let description = obj.remove("description");
        let default = obj.remove("default");
        let original = Value::Object(std::mem::take(obj));
        obj.insert(
            "anyOf".into(),
            json!([original, { "$ref": "#/$defs/Placeholder" }]),
        );
        if let Some(d) = description {
            obj.insert("description".into(), d);
        }
        if let Some(d) = default {
            obj.insert("default".into(), d);
        }
    }
}

/// The schema of a route file under mappings/.
pub fn mapping_schema() -> Value {
    let mut schema = crate::mapping::json_schema();
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return schema;
    };
    if let Some(method) = defs
        .get_mut("RouteSpec")
        .and_then(|r| r.pointer_mut("/properties/method"))
    {
        let description = method.get("description").cloned();
        let mut tight = json!({
            "anyOf": [
                { "enum": ROUTE_METHODS },
                { "type": "string", "pattern": case_insensitive(&ROUTE_METHODS) },
                // Every method, on a `proxy` route.
                { "const": "*" },
            ],
        });
        if let Some(d) = description {
            tight["description"] = d;
        }
        *method = tight;
    }
    if let Some(map) = defs.get_mut("MapSpec").and_then(Value::as_object_mut) {
        // An object holding a rule keyword is a rule: as a nested target object it is an
        // error (the keyword misplaced or the rule misspelt), so no property may be one.
        map.insert(
            "propertyNames".into(),
            json!({ "not": { "enum": RULE_KEYS } }),
        );
    }
    if let Some(rule) = defs.get_mut("Rule").and_then(Value::as_object_mut) {
        tighten_rule(rule);
    }
    schema
}

/// The combinations of rule keywords the mapping compiler refuses.
fn tighten_rule(rule: &mut Map<String, Value>) {
    let one_source: Vec<Value> = SOURCES.iter().map(|s| json!({ "required": [s] })).collect();
    let value_steps = [
        "apply", "lookup", "fallback", "date", "calc", "as", "scale", "rounding", "on_empty",
    ];
    rule.insert("oneOf".into(), Value::Array(one_source));
    rule.insert(
        "dependentRequired".into(),
        json!({
            "map": ["each"],
            "item": ["each"],
            "filter": ["each"],
            "fallback": ["lookup"],
            "rounding": ["scale"],
            "on_empty": ["from"],
        }),
    );
    rule.insert(
        "allOf".into(),
        json!([
            {
                "description": "`const` takes no other keys than `when`",
                "if": { "required": ["const"] },
                "then": { "propertyNames": { "enum": ["const", "when"] } },
            },
            {
                "description": "`each` needs exactly one of `map` or `item`; value steps belong in them",
                "if": { "required": ["each"] },
                "then": {
                    "oneOf": [{ "required": ["map"] }, { "required": ["item"] }],
                    "propertyNames": { "not": { "enum": value_steps } },
                },
            },
            {
                "description": "`scale` needs `as: string` or `as: decimal`",
                "if": { "required": ["scale"] },
                "then": {
                    "required": ["as"],
                    "properties": { "as": { "enum": ["string", "decimal"] } },
                },
            },
            {
                "description": "`on_missing` has no effect when `default` is given",
                "not": { "required": ["default", "on_missing"] },
            },
            {
                "description": "`cases` takes no other keys than `when` and `default`; steps belong in its branches",
                "if": { "required": ["cases"] },
                "then": { "propertyNames": { "enum": ["cases", "when", "default"] } },
            },
            {
                "description": "`on_empty: default` needs a `default` value",
                "if": {
                    "required": ["on_empty"],
                    "properties": { "on_empty": { "const": "default" } },
                },
                "then": { "required": ["default"] },
            },
            {
                "description": "`on_null: default` needs a `default` value",
                "if": {
                    "required": ["on_null"],
                    "properties": { "on_null": { "const": "default" } },
                },
                "then": { "required": ["default"] },
            },
        ]),
    );
}

/// A regular expression matching any of `words` in any letter case: `^(?:[Gg][Ee][Tt]|...)$`
/// (JSON Schema's regular expressions have no case-insensitive flag).
fn case_insensitive(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}
