//! `/openapi.json`: an OpenAPI 3.1 document of every partner route, generated from the
//! partner-facing schemas, so partners have one documented entry point.
//!
//! Only partner-facing schemas are published (a route's request `schema` and response
//! `target`, and the files they reference): internal schemas describe internal services and
//! stay private. Each published schema is a component with `$id` `/schemas/<name>`, so the
//! relative `$ref`s between schema files keep resolving inside the document. For XML routes
//! the schema describes the JSON view of the document, with OpenAPI's `xml` keyword.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::codec::Format;
use crate::config::Gateway;

fn component_key(name: &str) -> String {
    name.trim_end_matches(".json")
        .trim_end_matches(".schema")
        .replace(['/', '.'], "_")
}

/// Collects `name` and every schema file it references, relative names resolved.
fn collect(gw: &Gateway, name: &str, out: &mut BTreeMap<String, Value>) {
    if out.contains_key(name) {
        return;
    }
    let Some(schema) = gw.schemas.get(name) else {
        return;
    };
    let mut doc = (*schema.document).clone();
    if let Value::Object(o) = &mut doc {
        o.insert("$id".into(), Value::String(format!("/schemas/{name}")));
    }
    out.insert(name.to_string(), doc.clone());
    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut refs = Vec::new();
    find_refs(&doc, &mut refs);
    for r in refs {
        let file = r.split('#').next().unwrap_or_default();
        if file.is_empty() || file.contains(':') {
            continue;
        }
        let joined = if dir.is_empty() {
            file.to_string()
        } else {
            format!("{dir}/{file}")
        };
        collect(gw, &normalize(&joined), out);
    }
}

fn find_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "$ref"
                    && let Some(s) = v.as_str()
                {
                    out.push(s.to_string());
                } else {
                    find_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| find_refs(v, out)),
        _ => {}
    }
}

fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The OpenAPI document of the gateway's partner routes.
pub fn document(gw: &Gateway) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut components = BTreeMap::new();
    for r in &gw.routes {
        let media = match r.format {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        };
        let problem = match r.format {
            Format::Xml => "application/problem+xml",
            Format::Json => "application/problem+json",
        };
        let mut op = Map::new();
        op.insert(
            "operationId".into(),
            Value::String(r.name.replace('/', "_")),
        );
        op.insert("tags".into(), json!([r.partner]));
        let params: Vec<Value> = r
            .path_params
            .iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(req) = &r.spec.request {
            collect(gw, &req.schema, &mut components);
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {media: {"schema": {"$ref": format!("#/components/schemas/{}", component_key(&req.schema))}}}}),
            );
        }
        let ok = match &r.spec.response {
            Some(resp) => {
                collect(gw, &resp.target, &mut components);
                json!({"description": "Success", "content": {media: {"schema": {"$ref": format!("#/components/schemas/{}", component_key(&resp.target))}}}})
            }
            None => json!({"description": "The service's answer, passed through"}),
        };
        let err = |d: &str| json!({"description": d, "content": {problem: {"schema": {"$ref": "#/components/schemas/Problem"}}}});
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        if r.spec.request.is_some() {
            responses.insert("400".into(), err("Malformed body"));
            responses.insert("413".into(), err("Body too large"));
            responses.insert("415".into(), err("Wrong media type"));
            responses.insert("422".into(), err("The body does not match the schema"));
        }
        responses.insert("502".into(), err("The service failed"));
        responses.insert("504".into(), err("The service timed out"));
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(r.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    let mut schemas: Map<String, Value> = components
        .into_iter()
        .map(|(name, doc)| (component_key(&name), doc))
        .collect();
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details",
            "xml": {"name": "problem", "namespace": "urn:ietf:rfc:7807"},
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "instance": {"type": "string", "description": "the correlation id"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "pointer": {"type": "string"}, "message": {"type": "string"},
                    "line": {"type": "integer"}, "column": {"type": "integer"}}}}
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Partner API", "version": "1", "description": "Partner routes served by schemagate."},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(component_key("acme/order.schema.json"), "acme_order");
        assert_eq!(normalize("globex/../internal/./x.json"), "internal/x.json");
    }
}
