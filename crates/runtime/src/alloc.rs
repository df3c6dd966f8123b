//! The global allocator of the `skiff` binary and the containerd shim:
//! mimalloc, called through its plain entry points wherever they already give
//! the alignment asked for.
//!
//! A request allocates and frees about a hundred objects (the store, its WASI
//! context and resource table, wasmtime's instance state, hyper's buffers).
//! The `mimalloc` crate passes every one of them to `mi_malloc_aligned`, whose
//! fast path in mimalloc 3 only covers blocks of at most 1 KiB with a free block
//! of the right alignment at hand; anything else takes the generic path, and a
//! block whose size is not a power of two is over-allocated and later freed
//! through the aligned-block slow path. mimalloc's plain `mi_malloc` already
//! aligns every block of 16 bytes or more to 16 and every smaller one to 8, so
//! [`Allocator`] calls it for all the alignments Rust asks for in practice and
//! keeps the aligned entry points for the rest (over-aligned types such as
//! tokio's cache-padded task cells).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment of every mimalloc block of at least this many bytes
/// (`MI_MAX_ALIGN_SIZE`); smaller blocks are aligned to 8.
const BLOCK_ALIGN: usize = 16;

/// The alignment of every mimalloc block, however small.
const WORD_ALIGN: usize = 8;

/// mimalloc as the global allocator (`#[global_allocator]`).
///
/// ```no_run
/// #[global_allocator]
/// static GLOBAL: skiff_runtime::Allocator = skiff_runtime::Allocator;
/// ```
pub struct Allocator;

/// Whether a plain mimalloc block of `size` bytes is aligned to `align`.
#[inline]
fn plain(size: usize, align: usize) -> bool {
    align <= WORD_ALIGN || (align <= BLOCK_ALIGN && size >= BLOCK_ALIGN)
}

// SAFETY: every method hands the layout's size (and, where the plain entry
// points would not honour it, its alignment) to mimalloc, whose blocks stay
// valid until `mi_free`; `plain` only picks the plain entry points for the
// alignments their blocks are documented (and asserted, in mimalloc's
// `alloc.c`) to have.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's allocation functions accept any size and alignment.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if plain(layout.size(), layout.align()) {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc; `mi_free`
        // frees plain and aligned blocks alike.
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator. `mi_realloc` keeps the block
        // in place when it fits (it was aligned for `layout` already) or moves
        // the contents to a plain block of `new_size`, aligned by `plain`.
        unsafe {
            if plain(new_size, layout.align()) {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size from 1 to 5 KiB (both sides of mimalloc's 1 KiB small-block
    /// limit, powers of two and not) at every alignment from 1 to 4 KiB comes
    /// back aligned, writable, zeroed when asked, and keeps its contents
    /// through growing and shrinking.
    #[test]
    fn blocks_are_aligned_zeroed_and_keep_their_contents() {
        let sizes = (1..=64)
            .chain((65..=5120).step_by(37))
            .chain([1024, 1025, 4096]);
        for size in sizes {
            for shift in 0..=12 {
                let align = 1usize << shift;
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is used within its size,
                // then freed once with its layout.
                unsafe {
                    let zeroed = Allocator.alloc_zeroed(layout);
                    assert!(!zeroed.is_null());
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size} bytes at {align}");
                    assert!(
                        std::slice::from_raw_parts(zeroed, size)
                            .iter()
                            .all(|&b| b == 0)
                    );
                    Allocator.dealloc(zeroed, layout);

                    let mut p = Allocator.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "{size} bytes at {align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    // Grow, then shrink below the original size.
                    let mut current = layout;
                    for new_size in [size * 3 + 1, size.div_ceil(2)] {
                        p = Allocator.realloc(p, current, new_size);
                        assert!(!p.is_null());
                        assert_eq!(
                            p as usize % align,
                            0,
                            "{size} → {new_size} bytes at {align}"
                        );
                        // The bytes written at first that fit.
                        for i in 0..size.min(new_size) {
                            assert_eq!(*p.add(i), i as u8, "byte {i} of {size} → {new_size}");
                        }
                        current = Layout::from_size_align(new_size, align).unwrap();
                    }
                    Allocator.dealloc(p, current);
                }
            }
        }
    }

    #[test]
    fn plain_blocks_only_where_mimalloc_aligns_them() {
        assert!(plain(1, 1));
        assert!(plain(3, 8));
        assert!(plain(16, 16));
        assert!(plain(3000, 16));
        assert!(!plain(8, 16), "an 8-byte block is only 8-aligned");
        assert!(!plain(64, 32));
        assert!(!plain(128, 128));
    }
}
