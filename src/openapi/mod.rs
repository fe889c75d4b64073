//! The OpenAPI documents of the partner routes, generated from the partner-facing schemas,
//! so partners have a documented entry point in their own terms: `/openapi.json` with
//! every partner, `/openapi/PARTNER.json` with one partner's routes alone.
//!
//! Only partner-facing schemas are published (a route's request `schema` and response
//! `target`, and what they reference): internal schemas describe internal services and stay
//! private. They are bundled into the document ([`bundle`]); for XML routes they describe
//! the JSON view of the document and are described as XML besides ([`xml`]), so tools show
//! the XML a partner sends. Title, version, servers and the OpenAPI version come from
//! `[openapi]`.

mod bundle;
mod xml;

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::codec::Format;
use crate::config::openapi::DocInfo;
use crate::config::{Gateway, Route};
use bundle::{Bundle, Documents, PROBLEM, Target};

/// The OpenAPI document of every partner route.
pub fn document(gw: &Gateway) -> Value {
    build(gw, None, gw.config.openapi.combined())
}

/// The OpenAPI document of one partner's routes; None when no route of `partner` is
/// published in OpenAPI.
pub fn partner_document(gw: &Gateway, partner: &str) -> Option<Value> {
    gw.routes
        .iter()
        .any(|r| r.partner == partner && published(r))
        .then(|| build(gw, Some(partner), gw.config.openapi.partner(partner)))
}

/// The partners that have routes published in OpenAPI, each with a document of its own.
pub fn partners(gw: &Gateway) -> BTreeSet<&str> {
    gw.routes
        .iter()
        .filter(|r| published(r))
        .map(|r| r.partner.as_str())
        .collect()
}

/// Whether OpenAPI describes `route`. A SOAP route's contract is its endpoint's WSDL
/// (`export wsdl`): OpenAPI has no form for an envelope and its actions.
fn published(route: &Route) -> bool {
    route.soap.is_none()
}

/// The document of the routes of `partner` (every route when None).
fn build(gw: &Gateway, partner: Option<&str>, info: DocInfo<'_>) -> Value {
    let version = gw.config.openapi.spec_version;
    let routes: Vec<_> = gw
        .routes
        .iter()
        .filter(|r| partner.is_none_or(|p| r.partner == p) && published(r))
        .collect();
    let mut bundle = Bundle::new(
        Documents::new(
            gw.schemas
                .iter()
                .map(|s| (s.name.as_str(), s.document.as_ref())),
        ),
        version,
    );
    for r in &routes {
        let xml = r.format == Format::Xml;
        if let Some(req) = &r.spec.request {
            bundle.add(&req.schema, xml);
        }
        if let Some(resp) = &r.spec.response {
            bundle.add(&resp.target, xml);
        }
    }
    let (mut schemas, keys) = bundle.components();
    // A route's schema as its component; `{}` (anything) only if the file were missing,
    // which the loader does not let happen. An XML body is its root element's schema.
    let schema_of =
        |name: &str, format: Format, namespace: Option<&str>| match keys.get(&Target::root(name)) {
            Some(key) => match format {
                Format::Xml => xml::root(key, &schemas, namespace)
                    .unwrap_or_else(|| json!({"$ref": format!("#/components/schemas/{key}")})),
                Format::Json => json!({"$ref": format!("#/components/schemas/{key}")}),
            },
            None => json!({}),
        };

    let mut paths: Map<String, Value> = Map::new();
    // A proxy route's contract is its service's, not the gateway's to publish.
    for r in routes
        .iter()
        .filter(|r| r.kind != crate::config::RouteKind::Proxy)
    {
        let media = match r.format {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        };
        let problem = match r.format {
            Format::Xml => "application/problem+xml",
            Format::Json => "application/problem+json",
        };
        let namespace = r.namespace.as_deref();
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
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {media: {"schema": schema_of(&req.schema, r.format, namespace)}}}),
            );
        }
        let ok = match &r.spec.response {
            Some(resp) => {
                let answer = r.response_media_type.to_str().unwrap_or(media);
                json!({"description": "Success", "content": {answer: {"schema": schema_of(&resp.target, r.format, namespace)}}})
            }
            None => json!({"description": "The service's answer, passed through"}),
        };
        let err = |d: &str| json!({"description": d, "content": {problem: {"schema": {"$ref": format!("#/components/schemas/{PROBLEM}")}}}});
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        if r.spec.request.is_some() {
            responses.insert(
                "400".into(),
                err("Malformed body, or past a depth, element, attribute, name or text limit"),
            );
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
    schemas.insert(PROBLEM.into(), xml::problem(version));
    let description = match partner {
        Some(p) => format!("Routes of partner {p} served by schemagate."),
        None => "Partner routes served by schemagate.".to_string(),
    };
    let mut doc = Map::new();
    doc.insert("openapi".into(), Value::String(version.as_str().into()));
    doc.insert(
        "info".into(),
        json!({"title": info.title, "version": info.version, "description": description}),
    );
    if !info.servers.is_empty() {
        let servers = info.servers.iter().map(|url| json!({"url": url})).collect();
        doc.insert("servers".into(), Value::Array(servers));
    }
    doc.insert("paths".into(), Value::Object(paths));
    doc.insert("components".into(), json!({"schemas": schemas}));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::bundle::tests::assert_self_contained;
    use super::*;

    #[test]
    fn the_example_routes_publish_a_self_contained_document() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let gw = crate::config::load(&crate::config::LoadOptions {
            config_path: Some(root.join("gateway.toml")),
            ..Default::default()
        })
        .unwrap();
        let doc = document(&gw);
        assert_self_contained(&doc);
        let schemas = &doc["components"]["schemas"];
        let names: Vec<&str> = schemas
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "acme_order",
                "acme_order-ack",
                "acme_order.Customer",
                "acme_order.Item",
                "acme_order.Order",
                "acme_order.ShipTo",
                "acme_order.text",
                "globex_common.Country",
                "globex_common.Currency",
                "globex_common.Money",
                "globex_order",
                "globex_order-ack",
                "globex_order-status",
                "Problem"
            ]
        );
        assert_eq!(
            schemas["acme_order"],
            json!({
                "title": "ACME purchase order",
                "description": schemas["acme_order"]["description"],
                "type": "object",
                "required": ["Order"],
                "properties": {"Order": {"$ref": "#/components/schemas/acme_order.Order"}}
            })
        );
        assert_eq!(
            schemas["acme_order.Customer"],
            json!({
                "type": "object",
                "required": ["Name", "Email", "Phone"],
                "properties": {
                    "Name": {"$ref": "#/components/schemas/acme_order.text"},
                    "Email": {"type": "string", "pattern": "^\\s*[^@\\s]+@[^@\\s]+\\.[^@\\s]+\\s*$"},
                    "Phone": {"$ref": "#/components/schemas/acme_order.text"}
                }
            })
        );
        assert_eq!(
            schemas["globex_common.Money"],
            json!({"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$", "description": "amount with exactly two decimals, as text"})
        );
        assert_eq!(
            schemas["globex_order"]["properties"]["items"]["items"]["properties"]["unitPrice"],
            json!({"$ref": "#/components/schemas/globex_common.Money"})
        );
        assert_eq!(
            doc["paths"]["/partners/globex/orders"]["post"]["requestBody"],
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/globex_order"}}}})
        );
    }

    #[test]
    fn a_partner_document_holds_the_partner_s_routes_and_xml_bodies_are_root_elements() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let gw = crate::config::load(&crate::config::LoadOptions {
            config_path: Some(root.join("gateway.toml")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(partner_document(&gw, "initech"), None);
        assert_eq!(
            partners(&gw).into_iter().collect::<Vec<_>>(),
            ["acme", "bff", "globex"]
        );
        let doc = partner_document(&gw, "acme").unwrap();
        assert_self_contained(&doc);
        assert_eq!(doc["info"]["title"], "Partner API: acme");
        let op = &doc["paths"]["/partners/acme/orders"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/xml"]["schema"],
            json!({"$ref": "#/components/schemas/acme_order.Order", "xml": {"name": "Order", "namespace": "urn:acme:orders:v2"}})
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/xml"]["schema"],
            json!({"$ref": "#/components/schemas/acme_order-ack/properties/OrderAck", "xml": {"name": "OrderAck", "namespace": "urn:acme:orders:v2"}})
        );
        let order = &doc["components"]["schemas"]["acme_order.Order"]["properties"];
        assert_eq!(
            order["@id"],
            json!({"$ref": "#/components/schemas/acme_order.text", "xml": {"name": "id", "attribute": true}})
        );
        assert_eq!(
            order["Items"]["properties"]["Item"],
            json!({"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/acme_order.Item"}, "xml": {"wrapped": false}})
        );
        let names: Vec<&String> = doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("acme_") || *n == "Problem"),
            "{names:?}"
        );
    }
}
