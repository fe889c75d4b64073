//! The pooled upstream client.
