//! Arbitrary bytes as a globex (JSON) partner body.

mod common;

fn main() {
    // The gateway is immutable while fuzzing; a panic ends the run anyway.
    let gw = std::panic::AssertUnwindSafe(common::gateway());
    afl::fuzz!(|data: &[u8]| common::run(&*gw, "globex/orders", data));
}
