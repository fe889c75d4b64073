//! What the admin listener publishes about the partners, rendered once per snapshot so
//! that a request for it is a lookup: the OpenAPI documents (`/openapi.json`,
//! `/openapi/PARTNER.json`) and the XSDs of the XML routes' partner documents, exported
//! from their JSON Schemas (`/schemas/PARTNER/ROUTE.xsd` for the request,
//! `/schemas/PARTNER/ROUTE.response.xsd` for the answer, and `ROUTE-1.xsd`, ... beside
//! them for further namespaces, which the first imports by those relative names).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

use crate::codec::Format;
use crate::config::{Gateway, RouteKind};

pub(super) struct Published {
    pub openapi: Bytes,
    /// By partner name.
    pub partners: BTreeMap<String, Bytes>,
    /// By path under `/schemas/`: the file, or why the route's schema has none (a schema
    /// the export cannot write as XSD, such as one referring to other files).
    pub xsd: BTreeMap<String, Result<Bytes, String>>,
}

impl Published {
    pub(super) fn render(gw: &Gateway) -> Published {
        let json = |v: &Value| Bytes::from(serde_json::to_vec_pretty(v).unwrap_or_default());
        let partners = crate::openapi::partners(gw)
            .into_iter()
            .filter_map(|p| {
                Some((
                    p.to_string(),
                    json(&crate::openapi::partner_document(gw, p)?),
                ))
            })
            .collect();
        let mut xsd = BTreeMap::new();
        for r in gw
            .routes
            .iter()
            .filter(|r| r.format == Format::Xml && r.kind == RouteKind::Transform)
        {
            let Some((dir, name)) = r.name.rsplit_once('/') else {
                continue;
            };
            let documents = [
                (r.request.as_ref().map(|s| &s.source), name.to_string()),
                (
                    r.response.as_ref().map(|s| &s.target),
                    format!("{name}.response"),
                ),
            ];
            for (schema, stem) in documents {
                let Some(schema) = schema else { continue };
                match crate::xsd::export::export_named(
                    &schema.document,
                    r.namespace.as_deref(),
                    &stem,
                ) {
                    Ok(exported) => {
                        for f in exported.files {
                            xsd.entry(format!("{dir}/{}", f.file_name))
                                .or_insert(Ok(Bytes::from(f.text)));
                        }
                    }
                    Err(e) => {
                        xsd.entry(format!("{dir}/{stem}.xsd"))
                            .or_insert(Err(format!(
                                "{} of route {} cannot be written as XSD: {e}",
                                schema.name, r.name
                            )));
                    }
                }
            }
        }
        Published {
            openapi: json(&crate::openapi::document(gw)),
            partners,
            xsd,
        }
    }
}
