//! The WSDL of SOAP routes: the routes of one endpoint described for [`crate::xsd::wsdl`],
//! an operation per action, with the XSD of each Body element exported from the route's
//! partner schemas and embedded.

use crate::config::Route;
use crate::xsd::export::{Locations, export_with, xml_ncname as ncname};
use crate::xsd::{ServiceDescription, SoapOperation, SoapVersion, Warning, XsdError, XsdFile};

use super::Version;

/// Why routes cannot be described.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("no SOAP route to describe")]
    Empty,
    #[error("route `{0}` is not a SOAP route (it has no `route.soap`)")]
    NotSoap(String),
    #[error(
        "routes `{first}` ({first_endpoint}) and `{other}` ({other_endpoint}) are different endpoints; a WSDL describes one: export them separately"
    )]
    Endpoints {
        first: String,
        first_endpoint: String,
        other: String,
        other_endpoint: String,
    },
    #[error("route `{route}`: {error}")]
    Xsd {
        route: String,
        #[source]
        error: XsdError,
    },
}

/// A description and the warnings of exporting its schemas.
#[derive(Debug)]
pub struct Described {
    pub description: ServiceDescription,
    pub warnings: Vec<Warning>,
}

/// Describes `routes` (SOAP routes of one method and path) served at `base_url` (scheme
/// and authority, to which the routes' path is appended).
pub fn describe(routes: &[&Route], base_url: &str) -> Result<Described, DescribeError> {
    let first = *routes.first().ok_or(DescribeError::Empty)?;
    let endpoint = |r: &Route| format!("{} {}", r.method, r.path);
    let mut versions = Vec::new();
    let mut operations: Vec<SoapOperation> = Vec::new();
    let mut schemas: Vec<XsdFile> = Vec::new();
    let mut warnings = Vec::new();
    for &route in routes {
        let Some(binding) = &route.soap else {
            return Err(DescribeError::NotSoap(route.name.clone()));
        };
        if endpoint(route) != endpoint(first) {
            return Err(DescribeError::Endpoints {
                first: first.name.clone(),
                first_endpoint: endpoint(first),
                other: route.name.clone(),
                other_endpoint: endpoint(route),
            });
        }
        let version = match binding.version {
            Version::V11 => SoapVersion::V11,
            Version::V12 => SoapVersion::V12,
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
        let ns = route.namespace.as_deref();
        let mut element = |schema: &serde_json::Value| {
            let exported = export_with(schema, ns, Locations::Embedded).map_err(|error| {
                DescribeError::Xsd {
                    route: route.name.clone(),
                    error,
                }
            })?;
            warnings.extend(exported.warnings);
            for f in exported.files {
                if !schemas.iter().any(|s| s.text == f.text) {
                    schemas.push(f);
                }
            }
            Ok::<_, DescribeError>(exported.root)
        };
        let (Some(request), Some(response)) = (&route.request, &route.response) else {
            return Err(DescribeError::NotSoap(route.name.clone()));
        };
        let input = element(&request.source.document)?;
        let output = element(&response.target.document)?;
        let stem = ncname(route.name.rsplit('/').next().unwrap_or(&route.name));
        let actions: Vec<&str> = if binding.actions.is_empty() {
            vec![""]
        } else {
            binding.actions.iter().map(String::as_str).collect()
        };
        let several = actions.len() > 1;
        for action in actions {
            let mut name = if several {
                action
                    .rsplit(['/', '#', ':'])
                    .next()
                    .filter(|n| !n.is_empty())
                    .map_or_else(|| stem.clone(), ncname)
            } else {
                stem.clone()
            };
            let base = name.clone();
            let mut n = 1;
            while operations.iter().any(|o| o.name == name) {
                n += 1;
                name = format!("{base}{n}");
            }
            operations.push(SoapOperation {
                name,
                action: action.to_string(),
                input: input.clone(),
                output: Some(output.clone()),
            });
        }
    }
    let description = ServiceDescription {
        name: ncname(&first.partner),
        target_namespace: first
            .namespace
            .clone()
            .unwrap_or_else(|| format!("urn:schemagate:{}", first.partner)),
        address: format!("{}{}", base_url.trim_end_matches('/'), first.path),
        versions,
        operations,
        schemas,
    };
    Ok(Described {
        description,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_ncnames() {
        assert_eq!(ncname("stock-level"), "stock-level");
        assert_eq!(ncname("1st:op"), "_1st_op");
        assert_eq!(ncname(""), "_");
    }
}
