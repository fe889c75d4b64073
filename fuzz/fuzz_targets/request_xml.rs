//! Arbitrary bytes as an acme (XML) partner body.

mod common;

fn main() {
    let gw = common::gateway();
    afl::fuzz!(|data: &[u8]| common::run(&gw, "acme/orders", data));
}
