//! How a multi-part input is cut: parts separated by a line holding `%%`, so seeds stay
//! readable files and the fuzzer can grow, drop and mix parts.

/// The parts of `data`, at most `max` (the last takes the rest, separators and all).
pub fn parts(data: &[u8], max: usize) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\n%%\n";
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}
