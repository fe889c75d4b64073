//! Configuration: `gateway.toml` plus the partner files, loaded and compiled into one
//! immutable snapshot.

pub mod file;

pub use file::GatewayConfig;

/// One compiled, immutable configuration snapshot.
pub struct Gateway {}
