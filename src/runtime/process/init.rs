//! The container init: the process clone(2) made inside the new namespaces.
//! It runs skiff's code (already loaded; never re-executes skiff) through
//! these steps and ends in the container's program:
//!
//! wait for the cgroup → cgroup namespace → session → stdio → network →
//! hostname → rootfs and pivot_root → console → user lookup → working
//! directory → read-only root → capabilities → user switch → no_new_privs
//! and seccomp → signals and fds reset → execve (through the sealed exec
//! stub when skiff runs from its writable binary, see `sys::exec_stub`).
//!
//! Any failure is reported to skiff over the channel and ends the init with
//! the matching exit code (126/127 for the program, 125 otherwise).

use super::channel::{Channel, Message};
use super::exec;
use super::Stdio;
use crate::runtime::cgroups::CgroupMount;
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::rootfs::{self, RootfsPlan};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::{cgroups, fds, network, signals, terminal, user};
use crate::sys::syscall::{Linux, Syscall};
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::os::fd::{BorrowedFd, OwnedFd};

/// Everything the init needs; it lives in the init's copy of skiff's memory.
pub struct InitContext<'a> {
    pub spec: &'a ContainerSpec,
    pub plan: &'a RootfsPlan,
    pub cgroups: Option<&'a CgroupMount>,
    pub stdio: &'a Stdio,
    /// Kill the container if skiff dies.
    pub die_with_parent: bool,
    /// Wait for skiff's `Go` (it moves us into the cgroup itself).
    pub wait_for_go: bool,
    /// v1: the `tasks` files to join by ourselves.
    pub join_cgroup: Option<&'a [std::path::PathBuf]>,
    /// Bridge networks: the interfaces skiff plugs in before `Go`.
    pub ifaces: &'a [crate::network::Iface],
    /// `Go` only waits for the interfaces (not for the cgroup): build the
    /// rootfs first, while skiff plugs them in, and wait just before
    /// configuring them.
    pub go_after_rootfs: bool,
    /// skiff runs from its writable binary: exec the program through the
    /// sealed exec stub (`sys::exec_stub`), never as this binary.
    pub exec_stub: Option<BorrowedFd<'a>>,
}

/// Entry point in the cloned child. Never returns.
pub fn main(ctx: &InitContext<'_>, chan: Channel) -> ! {
    let code = match run(ctx, &chan) {
        Ok(never) => match never {},
        Err(e) => {
            let code = e.exit_code();
            let _ = chan.send(&Message::Failed {
                code,
                message: e.to_string(),
            });
            code
        }
    };
    // Without the atexit handlers and stdio flushing of the parent whose
    // memory we share copy-on-write.
    crate::sys::process::exit_now(code)
}

fn wait_for_go(chan: &Channel) -> Result<()> {
    match chan.recv()? {
        Some(Message::Go) => Ok(()),
        _ => Err(RuntimeError::Init(
            "skiff went away before the container started".into(),
        )),
    }
}

fn run(ctx: &InitContext<'_>, chan: &Channel) -> Result<Infallible> {
    let sys: &dyn Syscall = &Linux;
    let spec = ctx.spec;
    if ctx.die_with_parent {
        let _ = crate::sys::process::die_with_parent();
    }
    if ctx.exec_stub.is_some() {
        // Until its exec this process is skiff's writable binary: nothing
        // that shares its namespaces may open /proc/PID/exe of it (or read
        // its memory). The exec makes the program dumpable again.
        let _ = crate::sys::process::set_dumpable(false);
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if ctx.wait_for_go && !ctx.go_after_rootfs {
        wait_for_go(chan)?;
    }
    if let Some(tasks) = ctx.join_cgroup {
        cgroups::join_self(tasks)?;
    }
    // Now inside the container's cgroup: make it the root of our view.
    nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
        .map_err(RuntimeError::sys("unshare the cgroup namespace"))?;
    nix::unistd::setsid().map_err(RuntimeError::sys("setsid"))?;
    if let Stdio::Fds {
        stdin: Some(i),
        stdout,
        stderr,
    } = ctx.stdio
    {
        fds::install_stdio([i, stdout, stderr])?;
    }
    sys.sethostname(&spec.hostname)
        .map_err(RuntimeError::os("sethostname"))?;

    rootfs::build(sys, spec, ctx.plan, ctx.cgroups)?;
    if ctx.wait_for_go && ctx.go_after_rootfs {
        wait_for_go(chan)?;
    }
    network::setup(spec.network, ctx.ifaces)?;

    match ctx.stdio {
        Stdio::Pty => {
            let master = terminal::open_console()?;
            chan.send(&Message::Console(master))?;
        }
        Stdio::Inherit { stdin: false } => null_stdin(None)?,
        Stdio::Fds {
            stdin: None,
            stdout,
            stderr,
        } => null_stdin(Some([stdout, stderr]))?,
        _ => {}
    }

    let user = match &spec.user {
        Some(u) => {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
            user::resolve(u, &passwd, &group)?
        }
        None => user::ExecUser::root(),
    };
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    rootfs::pivot::enter_workdir(&spec.cwd)?;
    rootfs::finish(sys, spec)?;

    super::privileges::drop_to(sys, &user, spec.no_new_privileges, &spec.seccomp)?;
    signals::reset_for_exec();
    fds::cloexec_from_3()?;
    if super::tiny_init::enabled() {
        return super::tiny_init::run(&spec.args, &env); // --init (tiny_init.rs)
    }
    if let Some(stub) = ctx.exec_stub {
        return exec::exec_through_stub(stub, chan.raw_fd(), &spec.args, &env);
    }
    exec::exec(&spec.args, &env)
}

/// stdin from the container's /dev/null (opened after pivot_root).
fn null_stdin(out_err: Option<[&OwnedFd; 2]>) -> Result<()> {
    let null: OwnedFd = std::fs::File::open("/dev/null")
        .map_err(RuntimeError::io(
            "cannot open",
            std::path::Path::new("/dev/null"),
        ))?
        .into();
    match out_err {
        Some([o, e]) => fds::install_stdio([&null, o, e]),
        None => fds::install_stdin(&null),
    }
}
