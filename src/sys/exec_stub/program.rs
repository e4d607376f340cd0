//! skiff-exec: the last hop of a container start, a static program of about
//! a kilobyte with no libc, compiled by `build.rs` (x86_64 Linux) and run
//! from a sealed memfd (`sys::exec_stub`).
//!
//! Why it exists (CVE-2019-5736): the container init is a clone of skiff, so
//! until its final execve its /proc/self/exe is skiff's binary, and an image
//! whose program is `#!/proc/self/exe` would start that binary inside the
//! container, which could then reopen it for writing. The init therefore
//! execs this program first; from then on /proc/self/exe is a sealed memfd
//! that nobody can write, and this program execs the container's. That
//! costs one exec of a 1 KB static binary instead of re-executing all of
//! skiff from a read-only view before each `run` (two glibc start-ups).
//!
//! Usage (by skiff only): `skiff-exec FD PATH ARGV0 [ARG...]`, with the
//! container's environment. FD is skiff's channel to report a failed exec
//! on (`-` for none): it is made close-on-exec, so a successful exec shows
//! up to skiff as end-of-file; on failure one packet `[4, errno as i32 LE,
//! PATH]` (`EXEC_FAILED` in `runtime/process/channel.rs`) is written to it
//! and the program exits 127 (not found) or 126 (cannot execute), docker's
//! codes. Run any other way, it says so and exits 127.
//!
//! Not a module of the crate: `build.rs` compiles this file on its own with
//! `-nostdlib -static`; `cargo fmt` does not see it (`rustfmt` it by hand).

#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

const SYS_WRITEV: usize = 20;
const SYS_EXECVE: usize = 59;
const SYS_EXIT: usize = 60;
const SYS_FCNTL: usize = 72;
const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;
const ENOENT: isize = 2;
const ENOTDIR: isize = 20;
/// The packet tag skiff's channel reads as "the exec failed".
const EXEC_FAILED: u8 = 4;
/// At most this much of PATH in the report (the channel reads 4096 bytes).
const MAX_PATH: usize = 3800;

#[repr(C)]
struct Iovec {
    base: *const u8,
    len: usize,
}

/// The entry point: the kernel leaves argc, argv[], NULL, envp[], NULL at
/// the stack pointer; hand that address to `main` on an aligned stack.
#[unsafe(naked)]
#[no_mangle]
unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "mov rdi, rsp",
        "and rsp, -16",
        "call {main}",
        "ud2",
        main = sym main
    )
}

// SAFETY (all three): raw Linux system calls with integer or pointer
// arguments the callers own; the kernel clobbers rcx and r11 only.
#[inline(always)]
unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b,
         in("rdx") c, lateout("rcx") _, lateout("r11") _, options(nostack));
    ret
}

unsafe fn exit(code: usize) -> ! {
    syscall3(SYS_EXIT, code, 0, 0);
    loop {}
}

unsafe fn write_all(fd: usize, parts: &[Iovec]) {
    syscall3(SYS_WRITEV, fd, parts.as_ptr() as usize, parts.len());
}

/// strlen, read byte by byte so the compiler makes no libc call of it.
unsafe fn length(s: *const u8, max: usize) -> usize {
    let mut n = 0;
    while n < max && core::ptr::read_volatile(s.add(n)) != 0 {
        n += 1;
    }
    n
}

/// `-` is -1 (no channel); a decimal number is a descriptor.
unsafe fn parse_fd(s: *const u8) -> Option<isize> {
    if *s == b'-' && *s.add(1) == 0 {
        return Some(-1);
    }
    let mut v: isize = 0;
    let mut i = 0;
    loop {
        let c = core::ptr::read_volatile(s.add(i));
        if c == 0 {
            return if i == 0 { None } else { Some(v) };
        }
        if !c.is_ascii_digit() || i >= 9 {
            return None;
        }
        v = v * 10 + (c - b'0') as isize;
        i += 1;
    }
}

unsafe fn usage() -> ! {
    let msg = b"skiff-exec: skiff starts container programs through this; it is not run by hand\n";
    write_all(
        2,
        &[Iovec {
            base: msg.as_ptr(),
            len: msg.len(),
        }],
    );
    exit(127)
}

unsafe extern "C" fn main(sp: *const usize) -> ! {
    let argc = *sp;
    let argv = sp.add(1) as *const *const u8;
    let envp = argv.add(argc + 1);
    if argc < 4 {
        usage()
    }
    let fd = match parse_fd(*argv.add(1)) {
        Some(fd) => fd,
        None => usage(),
    };
    if fd >= 0 {
        syscall3(SYS_FCNTL, fd as usize, F_SETFD, FD_CLOEXEC);
    }
    let path = *argv.add(2);
    let rc = syscall3(
        SYS_EXECVE,
        path as usize,
        argv.add(3) as usize,
        envp as usize,
    );
    let errno = -rc;
    if fd >= 0 {
        let e = (errno as i32).to_le_bytes();
        let head = [EXEC_FAILED, e[0], e[1], e[2], e[3]];
        let parts = [
            Iovec {
                base: head.as_ptr(),
                len: head.len(),
            },
            Iovec {
                base: path,
                len: length(path, MAX_PATH),
            },
        ];
        write_all(fd as usize, &parts);
    }
    exit(if errno == ENOENT || errno == ENOTDIR {
        127
    } else {
        126
    })
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: see `exit`.
    unsafe { exit(127) }
}
