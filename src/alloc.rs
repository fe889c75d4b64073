//! The process allocator: mimalloc, asked for a plain block wherever its natural alignment
//! already satisfies the request.
//!
//! A request allocates and frees about 150 small blocks (decoded strings, member lists,
//! buffers). The `mimalloc` crate's allocator sends every one of them through
//! `mi_malloc_aligned`, whose checks cost about 55 instructions a block and which takes a
//! slow generic path for blocks over 1 KiB, where `mi_malloc`'s fast path costs about 15.
//! Every mimalloc block is 8-byte aligned, and 16-byte aligned from 16 bytes up, so a block
//! whose alignment is at most 16 bytes and at most its size is aligned without asking: the
//! rule mimalloc applies itself (`mi_malloc_is_naturally_aligned`) and that Rust's own
//! system allocator applies to `malloc`. Other requests still go to the aligned functions.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as ffi;

/// Alignment every mimalloc block of at least this size has (`MI_MAX_ALIGN_SIZE`).
const MAX_NATURAL_ALIGN: usize = 16;

/// mimalloc as the global allocator; see the module documentation.
pub struct Allocator;

/// Whether a plain block of `size` bytes is aligned to `align`.
#[inline(always)]
fn natural(size: usize, align: usize) -> bool {
    align <= MAX_NATURAL_ALIGN && align <= size
}

/// A new block for `layout` from `plain` where [`natural`] holds, from `aligned` otherwise.
///
/// # Safety
///
/// Both functions must be mimalloc's allocation functions of one kind (plain or zeroed).
#[inline(always)]
unsafe fn block(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    // SAFETY: the caller passes mimalloc's functions, which take any size and a power of two
    // alignment (every `Layout`'s).
    unsafe {
        if natural(size, align) {
            plain(size).cast()
        } else {
            aligned(size, align).cast()
        }
    }
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` takes blocks of
// either kind), and a block is only asked for without alignment where `natural` holds, so
// each block returned is aligned to its layout.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain FFI calls; null (out of memory) is passed on as the trait allows.
        unsafe { block(layout, ffi::mi_malloc, ffi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { block(layout, ffi::mi_zalloc, ffi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { ffi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        // SAFETY: `ptr` came from mimalloc. `mi_realloc` keeps the block when it fits (it
        // was aligned for `layout`) or moves it to a plain block of `new_size`, aligned
        // where `natural` holds.
        unsafe {
            if natural(new_size, align) {
                ffi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                ffi::mi_realloc_aligned(ptr.cast(), new_size, align).cast()
            }
        }
    }
}

/// The unit tests run on the allocator the binary uses.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: Allocator = Allocator;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size and alignment a program asks for comes back aligned, across the plain
    /// and aligned paths and across growing and shrinking.
    #[test]
    fn blocks_are_aligned_to_their_layout() {
        let a = Allocator;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [
                1usize, 3, 7, 8, 12, 16, 24, 40, 48, 100, 1000, 1025, 5000, 70_000,
            ] {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: nonzero sizes; each block is written within its size and freed
                // once with the layout it has.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} align {align}");
                    p.write_bytes(0xAB, size);
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grow {size} align {align}");
                    assert_eq!(*grown.add(size - 1), 0xAB, "contents kept");
                    let bigger = Layout::from_size_align(size * 3, align).expect("layout");
                    let shrunk = a.realloc(grown, bigger, size.div_ceil(2));
                    assert_eq!(shrunk as usize % align, 0, "shrink {size} align {align}");
                    assert_eq!(*shrunk, 0xAB);
                    let small = Layout::from_size_align(size.div_ceil(2), align).expect("l");
                    a.dealloc(shrunk, small);
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "zeroed {size} align {align}");
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
