//! Correlation ids and header hygiene.
