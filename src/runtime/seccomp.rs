//! The default seccomp filter: docker's blocked system calls return EPERM
//! (everything else is allowed), creating user namespaces through clone(2)
//! is refused, and clone3 answers ENOSYS so that libc falls back to clone,
//! as docker does. Compiled with seccompiler and installed with a plain
//! seccomp(2) call, because seccompiler's `apply_filter` always sets
//! no_new_privs, which `--security-opt no-new-privileges=false` must avoid.

use super::error::{Result, RuntimeError};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// x32 ABI calls carry this bit; a deny list must cover them too.
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// System calls blocked with EPERM.
pub const BLOCKED: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_pivot_root,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_lookup_dcookie,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_uselib,
    libc::SYS_nfsservctl,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
];

/// create_module, get_kernel_syms, query_module: gone from the kernel and
/// from libc's list, still blocked by number as docker does.
#[cfg(target_arch = "x86_64")]
const OBSOLETE: &[i64] = &[174, 177, 178];
#[cfg(not(target_arch = "x86_64"))]
const OBSOLETE: &[i64] = &[];

/// x32 numbers outside the shared table for calls we block (kexec_load, ptrace).
const X32_ONLY: &[i64] = &[528, 521];

/// ptrace is only dangerous before Linux 4.8 (seccomp bypass); docker allows
/// it from 4.8 on, and so does skiff.
fn block_ptrace() -> bool {
    let Ok(u) = nix::sys::utsname::uname() else {
        return true;
    };
    let release = u.release().to_string_lossy().into_owned();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) < (4, 8)
}

fn arch() -> TargetArch {
    #[cfg(target_arch = "aarch64")]
    return TargetArch::aarch64;
    #[cfg(target_arch = "riscv64")]
    return TargetArch::riscv64;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    TargetArch::x86_64
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch())
        .map_err(|e| RuntimeError::Init(format!("seccomp filter: {e}")))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| RuntimeError::Init(format!("seccomp filter: {e}")))
}

/// The two programs: (EPERM deny list, clone3 → ENOSYS).
pub fn default_programs() -> Result<(BpfProgram, BpfProgram)> {
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut calls: Vec<i64> = BLOCKED.iter().chain(OBSOLETE).copied().collect();
    if block_ptrace() {
        calls.push(libc::SYS_ptrace);
    }
    for &nr in &calls {
        deny.insert(nr, Vec::new());
        if cfg!(target_arch = "x86_64") {
            deny.insert(nr | X32_SYSCALL_BIT, Vec::new());
        }
    }
    if cfg!(target_arch = "x86_64") {
        for &nr in X32_ONLY {
            deny.insert(nr | X32_SYSCALL_BIT, Vec::new());
        }
    }
    // clone(flags with CLONE_NEWUSER): no new user namespaces.
    let newuser = libc::CLONE_NEWUSER as u64;
    let cond = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(newuser),
        newuser,
    )
    .map_err(|e| RuntimeError::Init(format!("seccomp filter: {e}")))?;
    let rule = SeccompRule::new(vec![cond])
        .map_err(|e| RuntimeError::Init(format!("seccomp filter: {e}")))?;
    deny.insert(libc::SYS_clone, vec![rule]);
    let eperm = compile(deny, SeccompAction::Errno(libc::EPERM as u32))?;
    let enosys = compile(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok((eperm, enosys))
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const seccompiler::sock_filter,
}

fn install_one(prog: &BpfProgram) -> Result<()> {
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: the kernel copies the program; `prog` outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const SockFprog,
        )
    };
    if rc != 0 {
        return Err(RuntimeError::last_os("install the seccomp filter"));
    }
    Ok(())
}

/// Install the default filter on the calling thread. Requires no_new_privs
/// or CAP_SYS_ADMIN.
pub fn install_default() -> Result<()> {
    let (eperm, enosys) = default_programs()?;
    install_one(&enosys)?;
    install_one(&eperm)
}

#[cfg(test)]
mod tests {
    #[test]
    fn compiles() {
        let (a, b) = super::default_programs().unwrap();
        assert!(a.len() > super::BLOCKED.len());
        assert!(!b.is_empty());
    }
}
