//! The built-in demo upstream.
