//! A client certificate's consumer. The TLS listener has already verified the chain
//! against the configured client CA (expiry, signature, usage); this reads the verified
//! end-entity certificate's subject CN and subject alternative names and looks them up in
//! the configured consumers. An entry matches on the one name it states, compared exactly
//! (DNS names without case).

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::AuthError;

/// The name of a certificate a consumer is recognised by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertName {
    SubjectCn(String),
    SanDns(String),
    SanUri(String),
    SanEmail(String),
}

/// Configured certificate names, each naming a consumer.
#[derive(Debug, Clone, Default)]
pub struct MtlsConsumers {
    entries: Vec<(CertName, String)>,
}

/// The names a certificate carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    pub subject_cn: Vec<String>,
    pub dns: Vec<String>,
    pub uri: Vec<String>,
    pub email: Vec<String>,
}

impl MtlsConsumers {
    pub fn new(entries: Vec<(CertName, String)>) -> Self {
        MtlsConsumers { entries }
    }

    /// The consumer of a verified chain (DER, end-entity certificate first).
    pub fn consumer<C: AsRef<[u8]>>(&self, chain: &[C]) -> Result<&str, AuthError> {
        let leaf = chain.first().ok_or(AuthError::MissingCredentials)?;
        let names = cert_names(leaf.as_ref()).map_err(|_| AuthError::UnknownCertificate)?;
        self.entries
            .iter()
            .find(|(name, _)| match name {
                CertName::SubjectCn(v) => names.subject_cn.iter().any(|n| n == v),
                CertName::SanDns(v) => names.dns.iter().any(|n| n.eq_ignore_ascii_case(v)),
                CertName::SanUri(v) => names.uri.iter().any(|n| n == v),
                CertName::SanEmail(v) => names.email.iter().any(|n| n == v),
            })
            .map(|(_, consumer)| consumer.as_str())
            .ok_or(AuthError::UnknownCertificate)
    }
}

/// Reads a DER certificate's subject CNs and SANs.
pub fn cert_names(der: &[u8]) -> Result<CertNames, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let mut names = CertNames {
        subject_cn: cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect(),
        ..CertNames::default()
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(s) => names.dns.push(s.to_string()),
                GeneralName::URI(s) => names.uri.push(s.to_string()),
                GeneralName::RFC822Name(s) => names.email.push(s.to_string()),
                _ => {}
            }
        }
    }
    Ok(names)
}
