//! API keys: the configuration holds SHA-256 hashes only, so a leaked `gateway.toml` does
//! not leak keys. A presented key is hashed and compared with every stored hash in constant
//! time, so neither the match nor its position shows in the timing. The key itself is never
//! logged or kept.

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::AuthError;

/// Longest key considered: real keys are tens of bytes; anything longer is refused without
/// hashing it.
pub const MAX_API_KEY_LEN: usize = 512;

/// The keys of one gateway, each naming a consumer.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    header: http::HeaderName,
    /// The header as configured, for challenges.
    spelling: String,
    entries: Vec<([u8; 32], String)>,
}

impl ApiKeys {
    pub fn new(header: http::HeaderName, entries: Vec<([u8; 32], String)>) -> Self {
        ApiKeys {
            spelling: header.to_string(),
            header,
            entries,
        }
    }

    /// Keeps the operator's spelling of the header for challenges.
    pub fn spelled(mut self, spelling: &str) -> Self {
        self.spelling = spelling.to_string();
        self
    }

    pub fn header_spelling(&self) -> &str {
        &self.spelling
    }

    pub fn header(&self) -> &http::HeaderName {
        &self.header
    }

    /// The consumer owning `key`.
    pub fn verify(&self, key: &[u8]) -> Result<&str, AuthError> {
        if key.is_empty() || key.len() > MAX_API_KEY_LEN {
            return Err(AuthError::InvalidApiKey);
        }
        let digest: [u8; 32] = Sha256::digest(key).into();
        // Every entry is compared; the index of the match is selected without branching.
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, (hash, _)) in self.entries.iter().enumerate() {
            let eq = hash.ct_eq(&digest);
            index.conditional_assign(&(i as u32), eq);
            found |= eq;
        }
        if bool::from(found) {
            Ok(&self.entries[index as usize].1)
        } else {
            Err(AuthError::InvalidApiKey)
        }
    }
}

/// Parses a configured hex SHA-256.
pub fn parse_hash(hex_digest: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out)
        .map_err(|_| "must be 64 hexadecimal digits (a SHA-256 of the key)".to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        let h = |k: &str| -> [u8; 32] { Sha256::digest(k.as_bytes()).into() };
        ApiKeys::new(
            http::HeaderName::from_static("x-api-key"),
            vec![
                (h("alpha-key"), "alpha".into()),
                (h("beta-key"), "beta".into()),
            ],
        )
    }

    #[test]
    fn good_key_names_its_consumer() {
        assert_eq!(keys().verify(b"beta-key"), Ok("beta"));
        assert_eq!(keys().verify(b"alpha-key"), Ok("alpha"));
    }

    #[test]
    fn wrong_empty_and_huge_keys_are_refused() {
        assert_eq!(keys().verify(b"beta-kez"), Err(AuthError::InvalidApiKey));
        assert_eq!(keys().verify(b""), Err(AuthError::InvalidApiKey));
        assert_eq!(
            keys().verify(&vec![b'a'; MAX_API_KEY_LEN + 1]),
            Err(AuthError::InvalidApiKey)
        );
    }

    #[test]
    fn hashes_parse_from_hex_only() {
        let hex = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(parse_hash(hex).unwrap()[0], 0x2c);
        assert!(parse_hash("2cf24d").is_err());
        assert!(parse_hash(&hex.replace('2', "g")).is_err());
    }
}
