//! Keeping the supervisor small. Most of its resident memory right after
//! the start is code it ran once — option parsing, the store, the
//! container start — faulted in from the skiff binary and libc (clean,
//! shared, file-backed pages, which the kernel maps in 64 KiB runs). Once
//! the container runs, [`trim`] drops those mappings from this process
//! (`MADV_DONTNEED` on the executable, read-only-text mappings only; the
//! page cache keeps them, nothing is lost) and returns free heap to the
//! system; the loop then faults back only what it uses.
//!
//! Writable or relocated mappings (.data, .bss, RELRO) are never touched:
//! dropping those would discard their contents (`sys::memory` decides).

/// Drop the clean file pages not in use and trim the heap.
pub fn trim() {
    crate::sys::memory::drop_clean_file_pages_and_trim();
}
