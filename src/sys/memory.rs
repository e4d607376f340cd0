//! Returning memory to the kernel: clean file pages of this process's own
//! read-only mappings, and the allocator's free heap.

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

/// MADV_DONTNEED on every private, read-only, file-backed mapping of this
/// process without a single modified (copy-on-write) page — RELRO and other
/// relocated pages keep their contents — then malloc_trim.
pub fn drop_clean_file_pages_and_trim() {
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

#[cfg(test)]
mod tests {
    use super::droppable_range;

    #[test]
    fn only_private_read_only_file_mappings() {
        assert!(droppable_range("5600-5700 r-xp 00000000 08:01 12 /usr/bin/skiff").is_some());
        assert!(droppable_range("5600-5700 rw-p 00000000 08:01 12 /usr/bin/skiff").is_none());
        assert!(droppable_range("5600-5700 r--s 00000000 08:01 12 /dev/shm/x").is_none());
        assert!(droppable_range("5600-5700 r--p 00000000 00:00 0 [heap]").is_none());
    }
}
