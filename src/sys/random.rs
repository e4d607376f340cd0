//! Random bytes straight from the kernel (getrandom(2)), for ids and
//! temporary names: no user-space generator to seed and no CPU feature
//! probing at start-up (each CPUID traps to the hypervisor on a VM).

use std::io::{self, Read};

fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// `N` random bytes: getrandom(2), else /dev/urandom. Panics only if the
/// kernel gives no randomness at all (as `rand::random` did).
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(e) = getrandom(&mut buf) {
        let urandom = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
        if let Err(u) = urandom {
            panic!("no randomness from the kernel: getrandom: {e}; /dev/urandom: {u}");
        }
    }
    buf
}

/// A random u64.
pub fn u64() -> u64 {
    u64::from_le_bytes(bytes::<8>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_differ() {
        assert_ne!(super::bytes::<32>(), super::bytes::<32>());
        assert_ne!(super::u64(), super::u64());
    }
}
