//! skiff's side of the start: clone the init into its namespaces, put it in
//! the cgroup, let it go, and wait until it has exec'd the container's
//! program (end-of-file on the channel) or reported why it could not.

use super::channel::{self, Channel, Message};
use super::init::{self, InitContext};
use crate::runtime::cgroups::{Cgroup, Placement};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::network;
use crate::sys::process::{clone_fork, clone_fork_into_cgroup, Forked};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// Namespaces the init is born in. The cgroup namespace comes later, from
/// the init itself, once it sits in its cgroup.
fn clone_flags(ctx: &InitContext<'_>) -> libc::c_int {
    let mut f = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    if network::needs_namespace(ctx.spec.network) {
        f |= libc::CLONE_NEWNET;
    }
    f
}

/// A started init: its pid (in skiff's pid namespace) and, for `-t`, the
/// pty master.
pub struct Spawned {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

/// What a child cloned by [`start`] must do about its cgroup.
pub struct ChildStart<'a> {
    /// v1: the `tasks` files to join by itself.
    pub join_cgroup: Option<&'a [PathBuf]>,
    /// Wait for `Go` (skiff still has work to do).
    pub wait_for_go: bool,
    /// skiff puts the child in its cgroup itself: wait for `Go` before
    /// anything else, not later.
    pub go_first: bool,
}

/// The handshake of a start, shared by `run` and `skiff-runc`: clone the
/// child into `flags` namespaces and its cgroup — born there with clone3
/// (CLONE_INTO_CGROUP, v2), joining by itself (v1, when `may_self_join`),
/// or added by skiff before `Go` (v2 kernels without CLONE_INTO_CGROUP) —
/// `child` runs in the child and never returns (it execs or `_exit`s);
/// run `before_go` if the child waits for `Go`, send it, then wait until
/// the child has exec'd (end of file on the channel) or reported why not.
/// On error the child is gone (killed and reaped).
pub fn start<'a>(
    flags: libc::c_int,
    cgroup: &Cgroup,
    placement: &'a Placement,
    may_self_join: bool,
    wait_for_go: bool,
    child: impl FnOnce(ChildStart<'a>, Channel),
    before_go: impl FnOnce(Pid) -> Result<()>,
) -> Result<Spawned> {
    let (ours, theirs) = channel::pair()?;
    let mut cs = ChildStart {
        join_cgroup: None,
        wait_for_go,
        go_first: false,
    };
    let mut add_task = false;
    let forked = match placement {
        Placement::SelfJoin(tasks) if may_self_join => {
            cs.join_cgroup = Some(tasks.as_slice());
            clone_fork(flags)
        }
        Placement::SelfJoin(_) => {
            cs.wait_for_go = true;
            cs.go_first = true;
            add_task = true;
            clone_fork(flags)
        }
        Placement::CloneInto(fd) => match clone_fork_into_cgroup(flags, fd.as_fd()) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                ) =>
            {
                cs.wait_for_go = true;
                cs.go_first = true;
                add_task = true;
                clone_fork(flags)
            }
            other => other,
        },
    };
    let pid = match forked.map_err(RuntimeError::os("clone the container init"))? {
        Forked::Child => {
            drop(ours);
            // `child` execs or `_exit`s; should it return, leave all the same.
            child(cs, theirs);
            crate::sys::process::exit_now(125)
        }
        Forked::Parent(pid) => pid,
    };
    drop(theirs);
    let reap = |pid: Pid| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    };
    if cs.wait_for_go {
        let go = (|| {
            if add_task {
                cgroup.add_task(pid)?;
            }
            before_go(pid)?;
            ours.send(&Message::Go)
        })();
        if let Err(e) = go {
            reap(pid);
            return Err(e);
        }
    }
    let mut console = None;
    loop {
        match ours.recv() {
            Ok(None) => return Ok(Spawned { pid, console }),
            Ok(Some(Message::Console(fd))) => console = Some(fd),
            Ok(Some(Message::Failed { code, message })) => {
                let _ = waitpid(pid, None);
                return Err(if code == 125 {
                    RuntimeError::Init(message)
                } else {
                    RuntimeError::Exec { code, message }
                });
            }
            Ok(Some(Message::Go)) => {
                reap(pid);
                return Err(RuntimeError::Init(
                    "unexpected message from the container init".into(),
                ));
            }
            Err(e) => {
                reap(pid);
                return Err(e);
            }
        }
    }
}

/// Clone and start the init. On error the init is gone (killed and reaped).
///
/// Cgroup placement (see `cgroups::Placement`): v1 — the init joins by
/// itself; v2 — clone3 into the cgroup, or, on kernels without
/// CLONE_INTO_CGROUP, skiff writes the pid and then sends `Go`.
pub fn spawn(ctx: &InitContext<'_>, cgroup: &Cgroup) -> Result<Spawned> {
    let placement = cgroup.placement()?;
    // Bridge networks: skiff plugs the veths in once the namespace exists,
    // then lets the init configure them.
    let plug = !ctx.ifaces.is_empty();
    start(
        clone_flags(ctx),
        cgroup,
        &placement,
        true,
        plug,
        |cs, theirs| {
            // Bridge networks: the init builds its rootfs while skiff plugs
            // the veths in, and waits for Go only before configuring them.
            let child_ctx = InitContext {
                wait_for_go: cs.wait_for_go,
                go_after_rootfs: plug && !cs.go_first,
                join_cgroup: cs.join_cgroup,
                ..*ctx
            };
            init::main(&child_ctx, theirs)
        },
        |pid| {
            if plug {
                crate::network::attach::plug(pid.as_raw(), ctx.ifaces)?;
            }
            Ok(())
        },
    )
}
