//! The `aggregate` route kind (a Backend-for-Frontend answer declared, not coded): one
//! client request fans out to several upstream calls, concurrent unless one reads
//! another's answer, whose answers are validated, merged into one document and mapped
//! into the route's answer, or into the answer of the client's profile.
//!
//! [`spec`] is the route file's `aggregate:` section, [`mod@compile`] proves it into an
//! [`AggregatePlan`], and the gateway's `aggregate` service runs the plan per request.

pub mod compile;
pub mod spec;

pub use compile::{AggregatePlan, CallPlan, MISSING_MEMBER, PathPiece, Selector, compile_route};
pub use spec::{AggregateSpec, AnswerSpec, CallSpec, ProfileSelector};

/// The response header naming the optional calls an answer lacks, comma-separated.
pub const MISSING_HEADER: &str = "x-aggregate-missing";
