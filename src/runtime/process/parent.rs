//! skiff's side of the start: clone the init into its namespaces, put it in
//! the cgroup, let it go, and wait until it has exec'd the container's
//! program (end-of-file on the channel) or reported why it could not.

use super::channel::{self, Message};
use super::init::{self, InitContext};
use crate::runtime::cgroups::{Cgroup, Placement};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::network;
use crate::sys::process::{clone_fork, clone_fork_into_cgroup, Forked};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};

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

/// Clone and start the init. On error the init is gone (killed and reaped).
///
/// Cgroup placement (see `cgroups::Placement`): v1 — the init joins by
/// itself; v2 — clone3 into the cgroup, or, on kernels without
/// CLONE_INTO_CGROUP, skiff writes the pid and then sends `Go`.
pub fn spawn(ctx: &InitContext<'_>, cgroup: &Cgroup) -> Result<Spawned> {
    let (ours, theirs) = channel::pair()?;
    let flags = clone_flags(ctx);
    let placement = cgroup.placement()?;
    // Bridge networks: skiff plugs the veths in once the namespace exists,
    // then lets the init configure them.
    let plug = !ctx.ifaces.is_empty();
    let mut child_ctx = InitContext {
        wait_for_go: plug,
        go_after_rootfs: plug,
        join_cgroup: None,
        ..*ctx
    };
    let mut add_task = false;
    let forked = match &placement {
        Placement::SelfJoin(tasks) => {
            child_ctx.join_cgroup = Some(tasks.as_slice());
            clone_fork(flags)
        }
        Placement::CloneInto(fd) => match clone_fork_into_cgroup(flags, fd.as_fd()) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
                ) =>
            {
                child_ctx.wait_for_go = true;
                child_ctx.go_after_rootfs = false;
                add_task = true;
                clone_fork(flags)
            }
            other => other,
        },
    };
    let pid = match forked.map_err(|e| RuntimeError::Sys {
        what: "clone the container init".into(),
        source: e,
    })? {
        Forked::Child => {
            drop(ours);
            init::main(&child_ctx, theirs)
        }
        Forked::Parent(pid) => pid,
    };
    drop(theirs);
    let reap = |pid: Pid| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    };
    if child_ctx.wait_for_go {
        let go = (|| {
            if add_task {
                cgroup.add_task(pid)?;
            }
            if plug {
                crate::network::attach::plug(pid.as_raw(), ctx.ifaces)?;
            }
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
