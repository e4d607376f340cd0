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
//! dropping those would discard their contents.

/// A mapping line of /proc/self/smaps: (start, end) if it is private,
/// not writable and backed by a file.
fn droppable_range(line: &str) -> Option<(usize, usize)> {
    let mut f = line.split_whitespace();
    let (range, perms) = (f.next()?, f.next()?);
    let path = f.nth(3)?;
    let p = perms.as_bytes();
    if p.len() != 4 || p[1] != b'-' || p[3] != b'p' || !path.starts_with('/') {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    Some((
        usize::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    ))
}

/// Drop the clean file pages not in use and trim the heap.
pub fn trim() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let is_header = line
            .split_whitespace()
            .next()
            .is_some_and(|t| !t.ends_with(':'));
        if is_header {
            current = droppable_range(line);
            continue;
        }
        // Only mappings without a single modified (copy-on-write) page:
        // RELRO and other relocated pages keep their contents.
        if let (Some((start, end)), Some(v)) = (current, line.strip_prefix("Anonymous:")) {
            if v.trim() == "0 kB" {
                // SAFETY: a read-only, private, unmodified file mapping of
                // this process: after MADV_DONTNEED its pages are read again
                // from the file on the next access, with identical contents.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
                };
            }
            current = None;
        }
    }
    // SAFETY: malloc_trim only returns free memory to the kernel.
    unsafe { libc::malloc_trim(0) };
}
