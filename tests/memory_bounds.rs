//! The memory a hostile body can make a decoder hold, counted by a global allocator that
//! tracks the peak of live bytes: one test binary of its own, so no other test allocates
//! while it measures, and one test function, so its cases never overlap.
//!
//! The bounds are the ones docs/operations.md states: a 1 MiB partner body grows the heap by
//! at most 16 MiB whatever it holds, and an 8 MiB upstream answer at the element limit by at
//! most 64 MiB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use schemagate::codec::{CodecError, Limits, json, xml};
use schemagate::schema::Shape;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growth is counted as a copy would be, both blocks live at once: the worst an
        // allocator does. A shrink is counted in place, as glibc and mimalloc do it.
        let extra = if new_size <= layout.size() {
            0
        } else {
            new_size
        };
        let live = LIVE.fetch_add(extra, Ordering::Relaxed) + extra;
        PEAK.fetch_max(live, Ordering::Relaxed);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            LIVE.fetch_sub(extra, Ordering::Relaxed);
        } else if extra == 0 {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;

/// The peak growth of live heap bytes while `f` runs, and its result (dropped after the
/// measurement ends, as a refused request's value is).
fn peak_growth<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (PEAK.load(Ordering::Relaxed) - base, out)
}

/// A JSON array of `n` copies of `item`, as close to `bytes` long as the items allow.
fn array(item: &str, bytes: usize) -> Vec<u8> {
    let n = bytes / (item.len() + 1);
    let mut body = Vec::with_capacity(bytes + 2);
    body.push(b'[');
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
    }
    body.push(b']');
    body
}

fn limit_of(r: Result<impl Sized, CodecError>) -> Option<&'static str> {
    match r {
        Err(CodecError::Limit { limit, .. }) => Some(limit),
        Err(e) => panic!("not a limit error: {e}"),
        Ok(_) => None,
    }
}

#[test]
fn decoders_hold_memory_bounded_by_the_limits() {
    let limits = Limits::default();
    let mut report = Vec::new();
    eprintln!(
        "size of a decoded value: {} bytes, of a member: {} bytes",
        std::mem::size_of::<schemagate::view::Doc<'_>>(),
        std::mem::size_of::<(std::borrow::Cow<'_, str>, schemagate::view::Doc<'_>)>()
    );

    // Partner direction, JSON: 1 MiB of 520 000 single-digit values, refused at the element
    // limit, and the same body cut to the limit, accepted.
    let hostile = array("0", MIB);
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&hostile, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((16, "request JSON, 520k values, refused", grew));

    let at_limit = array("10000000", 100_000 * 9 - 1);
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&at_limit, &limits)));
    assert_eq!(r, None);
    report.push((16, "request JSON, 100k numbers, accepted", grew));

    // Objects: each value an object with one member, the costliest value to build.
    let objects = array(r#"{"a":0}"#, MIB);
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&objects, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((16, "request JSON, 1 MiB of objects, refused", grew));

    // Short arrays, each grown by doubling as the parser gives no count.
    let arrays = array("[0,0,0,0,0]", MIB);
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&arrays, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((16, "request JSON, 1 MiB of 5-item arrays, refused", grew));

    // Upstream direction, JSON: 8 MiB, 3.9 million values, refused; and 8 MiB at the element
    // limit, every value an escaped string the decoder has to own.
    let hostile = array("0", 8 * MIB - 2);
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&hostile, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((64, "answer JSON, 4.2M values, refused", grew));

    // 99 999 strings of 82 bytes and their array: 8 MiB, one value under the limit.
    let item = format!("\"{}\\n\"", "x".repeat(78));
    let owned = array(&item, 99_999 * 83);
    assert!(owned.len() > 8 * MIB - 100_000, "{}", owned.len());
    let (grew, r) = peak_growth(|| limit_of(json::decode(&owned, &limits)));
    assert_eq!(r, None);
    report.push((64, "answer JSON, 8 MiB, 100k owned strings, accepted", grew));

    let wide = {
        // One object past the member-list width, its members each an escaped string.
        let mut body = String::from("{");
        for i in 0..99_000 {
            body.push_str(&format!("\"k{i}\":\"{}\\n\",", "y".repeat(60)));
        }
        body.push_str("\"end\":0}");
        body.into_bytes()
    };
    let (grew, r) = peak_growth(|| limit_of(json::decode_doc(&wide, &limits)));
    assert_eq!(r, None);
    report.push((64, "answer JSON, one object of 99k members, accepted", grew));

    // Partner direction, XML: 1 MiB of empty elements, refused at the element limit.
    let shape = Shape::build(
        "r.json",
        &serde_json::json!({"type": "object", "properties": {"r": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}}}),
        &|_| None,
    )
    .unwrap();
    let mut body = b"<r>".to_vec();
    while body.len() < MIB - 4 {
        body.extend_from_slice(b"<a/>");
    }
    body.extend_from_slice(b"</r>");
    let (grew, r) = peak_growth(|| limit_of(xml::decode_doc(&body, &shape, None, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((16, "request XML, 262k elements, refused", grew));

    // The same in UTF-16: 1 MiB received, transcoded before it is read.
    let wide: Vec<u8> = std::iter::once(0xFEFF)
        .chain(String::from_utf8(body).unwrap().encode_utf16())
        .take(MIB / 2)
        .flat_map(u16::to_le_bytes)
        .collect();
    let (grew, r) = peak_growth(|| limit_of(xml::decode_doc(&wide, &shape, None, &limits)));
    assert_eq!(r, Some("elements"));
    report.push((16, "request XML in UTF-16, 131k elements, refused", grew));

    for (_, case, grew) in &report {
        eprintln!(
            "{case}: peak heap growth {:.1} MiB",
            *grew as f64 / MIB as f64
        );
    }
    for (bound, case, grew) in report {
        assert!(
            grew <= bound * MIB,
            "{case}: grew {grew} bytes, over {bound} MiB"
        );
    }
}
