//! What the memory budget adds to a request: taking a charge and dropping it, and a
//! transform answer built with its charge riding in the body, against the same answer
//! without one.
//!
//! Run with `cargo bench --bench budget`; figures are in docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use schemagate::edge::budget::{MemoryBudget, request_charge};

fn bench(c: &mut Criterion) {
    let budget = Arc::new(MemoryBudget::default()).with_limit(1 << 30);
    let answer = Bytes::from_static(&[b'x'; 2048]);
    c.bench_function("budget/admit_and_drop", |b| {
        b.iter(|| black_box(budget.admit(request_charge(black_box(1500))).unwrap()))
    });
    c.bench_function("budget/answer_without_charge", |b| {
        b.iter(|| black_box(Response::new(Body::from(answer.clone()))))
    });
    c.bench_function("budget/answer_with_charge", |b| {
        b.iter(|| {
            let mut held = budget.admit(request_charge(black_box(1500))).unwrap();
            held.grow(8 * answer.len()).unwrap();
            black_box(held.hold_answer(Response::new(Body::from(answer.clone()))))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
