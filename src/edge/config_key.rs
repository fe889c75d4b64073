//! The one error shape of the traffic-control configuration: a bad key, named by its
//! dotted path, and what is wrong with it. Each `compile` collects every one it finds
//! before failing, so an operator fixes a file in one pass.

/// One bad configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidKey {
    /// Dotted path of the key, e.g. `routes.orders.rate_limit.burst`.
    pub key: String,
    pub message: String,
}

impl InvalidKey {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidKey {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Collects problems found while compiling one section.
#[derive(Debug, Default)]
pub struct Problems {
    pub found: Vec<InvalidKey>,
}

impl Problems {
    /// Records `message` against `prefix.key` (or `key` when there is no prefix).
    pub fn push(&mut self, prefix: &str, key: &str, message: impl Into<String>) {
        let key = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        self.found.push(InvalidKey::new(key, message));
    }

    /// Requires `value` to be at least 1.
    pub fn positive(&mut self, prefix: &str, key: &str, value: u64) {
        if value == 0 {
            self.push(prefix, key, "must be at least 1");
        }
    }

    pub fn finish<T>(self, value: T) -> Result<T, Vec<InvalidKey>> {
        if self.found.is_empty() {
            Ok(value)
        } else {
            Err(self.found)
        }
    }
}
