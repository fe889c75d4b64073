//! Arbitrary bytes as a globex (JSON) partner body.

mod common;

fn main() {
    let gw = common::gateway();
    afl::fuzz!(|data: &[u8]| common::run(&gw, "globex/orders", data));
}
