//! skiff's default filter: an allow-list with the semantics of docker's
//! default seccomp profile (moby `profiles/seccomp/default.json`, and the
//! copy in containers-common installed as /usr/share/containers/seccomp.json),
//! evaluated for the capabilities every skiff container has (docker's 14,
//! see capabilities.rs) on x86_64:
//!
//! - `ALLOWED`: the calls both of those profiles allow without a condition,
//!   minus skiff's stricter choices (`STRICTER`): mount and namespace calls,
//!   the kernel keyring, `clock_adjtime` and `name_to_handle_at` stay
//!   refused even though docker leaves some of them to the capability check;
//! - `ptrace`, `process_vm_readv`, `process_vm_writev` (docker: kernel 4.8+),
//!   `arch_prctl` and `modify_ldt` (x86), `chroot` (CAP_SYS_CHROOT);
//! - argument conditions: `personality` only for docker's five personas
//!   (no ADDR_NO_RANDOMIZE), `clone` only without namespace flags, `socket`
//!   for every family but AF_VSOCK;
//! - refused (EPERM): everything else the profiles know, among them what
//!   docker ties to capabilities skiff does not grant (`kcmp`,
//!   `process_madvise`, `pidfd_getfd`, `move_pages`, `mbind`,
//!   `set_mempolicy`, `bpf`, `perf_event_open`, modules, time, reboot...),
//!   io_uring and `userfaultfd`;
//! - ENOSYS: `clone3` (libc falls back to clone, whose flags can be
//!   checked), and every number newer than the profile (above
//!   `set_mempolicy_home_node`, 450) or unassigned (335–423), so libc falls
//!   back as it does on an older kernel.

use super::policy::{Action, Cond, Op, Policy, Rule};
use super::syscalls;
use crate::runtime::error::Result;

/// Allowed whatever the arguments, in system call number order (x86_64).
#[rustfmt::skip]
pub const ALLOWED: &[&str] = &[
    "read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
    "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
    "pread64", "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield", "mremap",
    "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2", "pause",
    "nanosleep", "getitimer", "alarm", "setitimer", "getpid", "sendfile", "connect", "accept",
    "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "bind", "listen", "getsockname",
    "getpeername", "socketpair", "setsockopt", "getsockopt", "fork", "vfork", "execve", "exit",
    "wait4", "kill", "uname", "semget", "semop", "semctl", "shmdt", "msgget", "msgsnd", "msgrcv",
    "msgctl", "fcntl", "flock", "fsync", "fdatasync", "truncate", "ftruncate", "getdents",
    "getcwd", "chdir", "fchdir", "rename", "mkdir", "rmdir", "creat", "link", "unlink", "symlink",
    "readlink", "chmod", "fchmod", "chown", "fchown", "lchown", "umask", "gettimeofday",
    "getrlimit", "getrusage", "sysinfo", "times", "getuid", "getgid", "setuid", "setgid",
    "geteuid", "getegid", "setpgid", "getppid", "getpgrp", "setsid", "setreuid", "setregid",
    "getgroups", "setgroups", "setresuid", "getresuid", "setresgid", "getresgid", "getpgid",
    "setfsuid", "setfsgid", "getsid", "capget", "capset", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigqueueinfo", "rt_sigsuspend", "sigaltstack", "utime", "mknod", "statfs", "fstatfs",
    "getpriority", "setpriority", "sched_setparam", "sched_getparam", "sched_setscheduler",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "mlock", "munlock", "mlockall", "munlockall", "prctl", "adjtimex",
    "setrlimit", "sync", "gettid", "readahead", "setxattr", "lsetxattr", "fsetxattr", "getxattr",
    "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
    "lremovexattr", "fremovexattr", "tkill", "time", "futex", "sched_setaffinity",
    "sched_getaffinity", "set_thread_area", "io_setup", "io_destroy", "io_getevents", "io_submit",
    "io_cancel", "get_thread_area", "epoll_create", "epoll_ctl_old", "epoll_wait_old",
    "remap_file_pages", "getdents64", "set_tid_address", "restart_syscall", "semtimedop",
    "fadvise64", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "clock_gettime", "clock_getres", "clock_nanosleep", "exit_group", "epoll_wait",
    "epoll_ctl", "tgkill", "utimes", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr", "waitid", "ioprio_set", "ioprio_get", "inotify_init",
    "inotify_add_watch", "inotify_rm_watch", "openat", "mkdirat", "mknodat", "fchownat",
    "futimesat", "newfstatat", "unlinkat", "renameat", "linkat", "symlinkat", "readlinkat",
    "fchmodat", "faccessat", "pselect6", "ppoll", "set_robust_list", "get_robust_list", "splice",
    "tee", "sync_file_range", "utimensat", "epoll_pwait", "signalfd", "timerfd_create", "eventfd",
    "fallocate", "timerfd_settime", "timerfd_gettime", "accept4", "signalfd4", "eventfd2",
    "epoll_create1", "dup3", "pipe2", "inotify_init1", "preadv", "pwritev", "rt_tgsigqueueinfo",
    "recvmmsg", "fanotify_mark", "prlimit64", "syncfs", "sendmmsg", "getcpu", "sched_setattr",
    "sched_getattr", "renameat2", "seccomp", "getrandom", "memfd_create", "execveat", "membarrier",
    "mlock2", "copy_file_range", "preadv2", "pwritev2", "pkey_mprotect", "pkey_alloc", "pkey_free",
    "statx", "rseq", "pidfd_send_signal", "pidfd_open", "close_range", "openat2", "faccessat2",
    "epoll_pwait2", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "memfd_secret", "process_mrelease",
];

/// Allowed by docker's profile but refused by skiff.
pub const STRICTER: &[&str] = &[
    "clock_adjtime",
    "name_to_handle_at",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "pivot_root",
    "keyctl",
    "add_key",
    "request_key",
    "syslog",
    "reboot",
];

/// Allowed on x86_64 only (docker's `arches` entries) and with the
/// capabilities skiff grants (CAP_SYS_CHROOT).
const ALLOWED_HERE: &[&str] = &["arch_prctl", "modify_ldt", "chroot"];

/// docker allows these from Linux 4.8 on (earlier kernels let ptrace
/// bypass seccomp).
const PTRACE: &[&str] = &["ptrace", "process_vm_readv", "process_vm_writev"];

/// personality(2) personas docker allows: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (query).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET (docker's 2114060288).
pub const CLONE_NAMESPACES: u64 = 0x7E02_0000;

const AF_VSOCK: u64 = 40;

/// The newest system call docker's profile names (set_mempolicy_home_node).
pub const NEWEST: u32 = 450;

/// Unassigned on x86_64 below `NEWEST`, or newer than the profile (uretprobe, 335).
#[cfg(target_arch = "x86_64")]
const UNKNOWN: &[std::ops::RangeInclusive<u32>] = &[335..=423];
#[cfg(not(target_arch = "x86_64"))]
const UNKNOWN: &[std::ops::RangeInclusive<u32>] = &[];

fn nr(name: &str) -> Result<u32> {
    syscalls::number(name).ok_or_else(|| {
        crate::runtime::RuntimeError::Init(format!(
            "seccomp: no number for {name} on this architecture (skiff's tables cover x86_64; \
             run with --security-opt seccomp=unconfined)"
        ))
    })
}

fn allow(nr: u32, when: Vec<Vec<Cond>>) -> Rule {
    Rule {
        nr,
        action: Action::Allow,
        when,
    }
}

fn arg0(op: Op, value: u64) -> Vec<Cond> {
    vec![Cond {
        index: 0,
        op,
        value,
    }]
}

/// The default policy, for a kernel of version `kernel` (major, minor).
pub fn policy(kernel: (u32, u32)) -> Result<Policy> {
    let mut rules = Vec::new();
    for name in ALLOWED.iter().chain(ALLOWED_HERE) {
        rules.push(allow(nr(name)?, vec![]));
    }
    if kernel >= (4, 8) {
        for name in PTRACE {
            rules.push(allow(nr(name)?, vec![]));
        }
    }
    // The calls with argument conditions are allowed here and refused by
    // rules that read the arguments, which go to a second, small filter:
    // the allow-list's filter then decides every call from its number
    // alone, so the kernel caches its answers (see policy.rs), and these
    // three cost a short filter instead of a walk through the long one.
    let refuse = |nr: u32, when: Vec<Vec<Cond>>| Rule {
        nr,
        action: Action::Errno(libc::EPERM as u32),
        when,
    };
    let personality = nr("personality")?;
    rules.push(allow(personality, vec![]));
    // not one of docker's personas: all of the "not equal" together
    let other_persona = PERSONAS
        .iter()
        .map(|p| Cond {
            index: 0,
            op: Op::Ne,
            value: *p,
        })
        .collect();
    rules.push(refuse(personality, vec![other_persona]));
    let clone = nr("clone")?;
    rules.push(allow(clone, vec![]));
    // any namespace flag: (flags & bit) == bit for one of them
    let ns_bits = (0..64)
        .map(|b| 1u64 << b)
        .filter(|bit| CLONE_NAMESPACES & bit != 0)
        .map(|bit| arg0(Op::MaskedEq(bit), bit))
        .collect();
    rules.push(refuse(clone, ns_bits));
    let socket = nr("socket")?;
    rules.push(allow(socket, vec![]));
    rules.push(refuse(socket, vec![arg0(Op::Eq, AF_VSOCK)]));
    Ok(Policy {
        default: Action::Errno(libc::EPERM as u32),
        newest: NEWEST,
        unknown: UNKNOWN.to_vec(),
        enosys: vec![nr("clone3")?],
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::super::policy::tests::{decide, errno, ALLOW};
    use super::*;

    /// What docker's profile (moby's and containers-common's copy, with
    /// docker's default capabilities) refuses on x86_64, by name.
    #[rustfmt::skip]
    const DOCKER_REFUSES: &[&str] = &[
        "syslog", "uselib", "ustat", "sysfs", "vhangup", "pivot_root", "_sysctl", "acct",
        "settimeofday", "mount", "umount2", "swapon", "swapoff", "reboot", "sethostname",
        "setdomainname", "iopl", "ioperm", "create_module", "init_module", "delete_module",
        "get_kernel_syms", "query_module", "quotactl", "nfsservctl", "getpmsg", "putpmsg",
        "afs_syscall", "tuxcall", "security", "lookup_dcookie", "clock_settime", "vserver",
        "mbind", "set_mempolicy", "get_mempolicy", "kexec_load", "add_key", "request_key",
        "keyctl", "migrate_pages", "unshare", "vmsplice", "move_pages", "perf_event_open",
        "fanotify_init", "open_by_handle_at", "setns", "kcmp", "finit_module", "kexec_file_load",
        "bpf", "userfaultfd", "io_pgetevents", "uretprobe", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
        "fspick", "clone3", "pidfd_getfd", "process_madvise", "mount_setattr", "quotactl_fd",
        "futex_waitv", "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack",
        "futex_wake", "futex_wait", "futex_requeue", "statmount", "listmount",
        "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules", "mseal", "setxattrat",
        "getxattrat", "listxattrat", "removexattrat", "open_tree_attr", "file_getattr",
        "file_setattr",
    ];

    fn progs() -> Vec<seccompiler::BpfProgram> {
        policy((6, 18)).unwrap().programs().unwrap()
    }

    fn d(progs: &[seccompiler::BpfProgram], name: &str, args: [u64; 6]) -> u32 {
        decide(progs, syscalls::number(name).unwrap(), args)
    }

    #[test]
    fn at_least_as_strict_as_docker() {
        let p = progs();
        for name in DOCKER_REFUSES {
            assert_ne!(d(&p, name, [0; 6]), ALLOW, "{name} is allowed");
        }
        for name in STRICTER {
            assert_eq!(d(&p, name, [0; 6]), errno(libc::EPERM), "{name}");
        }
        for name in ALLOWED {
            assert_eq!(d(&p, name, [0; 6]), ALLOW, "{name}");
            assert!(
                !DOCKER_REFUSES.contains(name) && !STRICTER.contains(name),
                "{name}"
            );
        }
    }

    #[test]
    fn conditions_and_enosys() {
        let p = progs();
        let a0 = |v: u64| [v, 0, 0, 0, 0, 0];
        for persona in PERSONAS {
            assert_eq!(d(&p, "personality", a0(*persona)), ALLOW);
        }
        // ADDR_NO_RANDOMIZE
        assert_eq!(d(&p, "personality", a0(0x0040000)), errno(libc::EPERM));
        // pthread_create's flags; fork's
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        assert_eq!(d(&p, "clone", a0(thread)), ALLOW);
        assert_eq!(d(&p, "clone", a0(libc::SIGCHLD as u64)), ALLOW);
        for ns in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWCGROUP,
        ] {
            assert_eq!(d(&p, "clone", a0(ns as u64 | 17)), errno(libc::EPERM));
        }
        assert_eq!(d(&p, "socket", a0(libc::AF_INET as u64)), ALLOW);
        assert_eq!(
            d(&p, "socket", a0(libc::AF_VSOCK as u64)),
            errno(libc::EPERM)
        );
        assert_eq!(d(&p, "clone3", [0; 6]), errno(libc::ENOSYS));
        assert_eq!(d(&p, "fchmodat2", [0; 6]), errno(libc::ENOSYS));
        assert_eq!(d(&p, "mseal", [0; 6]), errno(libc::ENOSYS));
        assert_eq!(decide(&p, 400, [0; 6]), errno(libc::ENOSYS));
        assert_eq!(decide(&p, 1000, [0; 6]), errno(libc::ENOSYS));
        assert_eq!(d(&p, "io_uring_setup", [0; 6]), errno(libc::EPERM));
        assert_eq!(d(&p, "kcmp", [0; 6]), errno(libc::EPERM));
        // x32 calls are unknown: ENOSYS.
        assert_eq!(decide(&p, 0x4000_0000, [0; 6]), errno(libc::ENOSYS));
        // Before Linux 4.8 ptrace could bypass seccomp: refused there.
        let old = policy((4, 4)).unwrap().programs().unwrap();
        assert_eq!(d(&old, "ptrace", [0; 6]), errno(libc::EPERM));
        assert_eq!(d(&p, "ptrace", [0; 6]), ALLOW);
    }
}
