//! The init of a bundle, in the cloned child:
//!
//! cgroup → joined namespaces → cgroup namespace → hostname → rootfs bound
//! on itself → mounts[] → devices → exec.fifo opened → pivot_root →
//! sysctl → masked/read-only paths → read-only root → console → cwd →
//! rlimits → capabilities, user, no_new_privs, seccomp → the program is
//! found → "ready" (the channel closes, `create` returns) → block on
//! exec.fifo until `start` → startContainer hooks → execve.

use super::{creds, mounts, Launch};
use crate::runtime::cgroups::{self, CgroupMount};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::process::channel::{Channel, Message};
use crate::runtime::process::exec;
use crate::runtime::rootfs::{mounts::make_readonly, mounts::make_root_rslave, pivot};
use crate::runtime::{fds, seccomp, signals, terminal};
use crate::sys::syscall::{Linux, Syscall};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub struct Context<'a> {
    pub launch: &'a Launch<'a>,
    /// Namespaces to join by path (pid is joined by the parent).
    pub join: &'a [(LinuxNamespaceType, OwnedFd)],
    pub new_cgroup_ns: bool,
    /// What a `cgroup` mount shows: the container's own cgroups.
    pub cgroup_fs: &'a CgroupMount,
    pub join_cgroup: Option<&'a [std::path::PathBuf]>,
    pub wait_for_go: bool,
}

pub fn main(ctx: &Context<'_>, chan: Channel) -> ! {
    let code = match run(ctx, chan) {
        Ok(never) => match never {},
        Err((e, chan)) => {
            let code = e.exit_code();
            match chan {
                Some(c) => {
                    let _ = c.send(&Message::Failed {
                        code,
                        message: e.to_string(),
                    });
                }
                None => eprintln!("skiff-runc: {e}"),
            }
            code
        }
    };
    // Without the atexit handlers and stdio flushing of the parent whose
    // memory we share copy-on-write.
    crate::sys::process::exit_now(code)
}

type Failure = (RuntimeError, Option<Channel>);

fn run(ctx: &Context<'_>, chan: Channel) -> std::result::Result<Infallible, Failure> {
    let fifo = match prepare(ctx, &chan) {
        Ok(f) => f,
        Err(e) => return Err((e, Some(chan))),
    };
    // Ready: `create` returns once the channel closes.
    drop(chan);
    wait_and_exec(ctx, fifo).map_err(|e| (e, None))
}

fn prepare(ctx: &Context<'_>, chan: &Channel) -> Result<OwnedFd> {
    let spec = ctx.launch.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| RuntimeError::Invalid("no linux section".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Invalid("no process".into()))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    if ctx.wait_for_go && !matches!(chan.recv()?, Some(Message::Go)) {
        return Err(RuntimeError::Init(
            "skiff went away before the container started".into(),
        ));
    }
    if let Some(tasks) = ctx.join_cgroup {
        cgroups::join_self(tasks)?;
    }
    if linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User)
    {
        // Root of the new user namespace (when 0 is mapped), so what the
        // init creates has a mapped owner.
        let root_mapped = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
            m.iter().flatten().any(|m| m.container_id() == 0)
        };
        if root_mapped(linux.gid_mappings()) {
            let g = nix::unistd::Gid::from_raw(0);
            nix::unistd::setresgid(g, g, g)
                .map_err(RuntimeError::sys("setgid 0 in the user namespace"))?;
        }
        if root_mapped(linux.uid_mappings()) {
            let u = nix::unistd::Uid::from_raw(0);
            nix::unistd::setresuid(u, u, u)
                .map_err(RuntimeError::sys("setuid 0 in the user namespace"))?;
        }
    }
    for (typ, fd) in ctx.join {
        nix::sched::setns(fd, super::ns_flag(*typ))
            .map_err(RuntimeError::sys(format!("join the {typ} namespace")))?;
    }
    if ctx.new_cgroup_ns {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(RuntimeError::sys("unshare the cgroup namespace"))?;
    }
    let terminal = process.terminal().unwrap_or(false);
    if terminal {
        nix::unistd::setsid().map_err(RuntimeError::sys("setsid"))?;
    }
    // `check` made sure a uts namespace is listed (new, or joined).
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        Linux
            .sethostname(h)
            .map_err(RuntimeError::os("sethostname"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        crate::sys::process::setdomainname(d).map_err(|e| RuntimeError::Sys {
            what: "setdomainname".into(),
            source: e,
        })?;
    }

    // The root filesystem. Nothing propagates to the host while it is
    // built (and pivot_root refuses a shared parent); `rootfsPropagation`
    // applies to the new root once it is `/`.
    make_root_rslave(&Linux)?;
    let rootfs = ctx.launch.rootfs;
    let rootfs_s = rootfs.to_string_lossy();
    Linux
        .mount(
            Some(&rootfs_s),
            &rootfs_s,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .map_err(RuntimeError::os(format!(
            "bind {} on itself",
            rootfs.display()
        )))?;
    let root: OwnedFd = std::fs::File::open(rootfs)
        .map_err(RuntimeError::io("cannot open", rootfs))?
        .into();
    for m in spec.mounts().iter().flatten() {
        mounts::mount_one(root.as_fd(), m, Some(ctx.cgroup_fs))?;
    }
    mounts::make_devices(root.as_fd(), linux.devices().as_deref().unwrap_or(&[]))?;
    let fifo: OwnedFd = std::fs::OpenOptions::new()
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .read(true)
        .open(ctx.launch.fifo)
        .map_err(RuntimeError::io("cannot open", ctx.launch.fifo))?
        .into();
    if ctx.launch.no_pivot {
        Linux
            .chdir(rootfs)
            .map_err(RuntimeError::os("chdir to the rootfs"))?;
        Linux
            .mount(Some("."), "/", None, MsFlags::MS_MOVE, None)
            .map_err(RuntimeError::os("move the rootfs onto / (--no-pivot)"))?;
        nix::unistd::chroot(".").map_err(RuntimeError::sys("chroot (--no-pivot)"))?;
        Linux
            .chdir(std::path::Path::new("/"))
            .map_err(RuntimeError::os("chdir /"))?;
    } else {
        pivot::pivot(&Linux, rootfs)?;
    }
    if let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        let (_, prop, _) = mounts::parse_options(&[p.to_string()]);
        if prop.is_empty() {
            return Err(RuntimeError::Invalid(format!(
                "linux.rootfsPropagation {p:?}: use shared, slave, private or unbindable (r-prefixed too)"
            )));
        }
        Linux
            .mount(None, "/", None, prop | MsFlags::MS_REC, None)
            .map_err(RuntimeError::os(format!("set rootfsPropagation {p}")))?;
    }
    // Before readonlyPaths makes /proc/sys read-only (runc's order).
    for (k, v) in linux.sysctl().iter().flatten() {
        let p = format!("/proc/sys/{}", k.replace('.', "/"));
        std::fs::write(&p, v).map_err(RuntimeError::io(
            "sysctl: cannot write",
            std::path::Path::new(&p),
        ))?;
    }
    crate::runtime::rootfs::masked::mask_and_protect(
        &Linux,
        linux.masked_paths().as_deref().unwrap_or(&[]),
        linux.readonly_paths().as_deref().unwrap_or(&[]),
    )?;
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        make_readonly(&Linux, "/", false)?;
    }
    if terminal {
        let master = terminal::open_console()?;
        chan.send(&Message::Console(master))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(RuntimeError::io(
            "cannot write",
            std::path::Path::new("/proc/self/oom_score_adj"),
        ))?;
    }
    pivot::enter_workdir(&process.cwd().to_string_lossy())?;
    creds::set_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?;

    let caps = process.capabilities().as_ref();
    let nnp = process.no_new_privileges().unwrap_or(false);
    let filter = linux
        .seccomp()
        .as_ref()
        .map(creds::seccomp_of)
        .transpose()?;
    creds::limit_bounding(caps)?;
    if !nnp {
        if let Some(f) = &filter {
            seccomp::install(&Linux, f)?;
        }
    }
    creds::switch_user(process.user())?;
    creds::apply_sets(caps)?;
    if nnp {
        crate::sys::process::set_no_new_privs().map_err(RuntimeError::os("set no_new_privs"))?;
        if let Some(f) = &filter {
            seccomp::install(&Linux, f)?;
        }
    }
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    let program = exec::find_program(&args[0], &env)?;
    if let Err(e) = std::fs::metadata(&program) {
        return Err(RuntimeError::Exec {
            code: exec::EXIT_NOT_FOUND,
            message: format!("exec: {program:?}: {e}"),
        });
    }
    Ok(fifo)
}

fn wait_and_exec(ctx: &Context<'_>, fifo: OwnedFd) -> Result<Infallible> {
    let process = ctx
        .launch
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Invalid("no process".into()))?;
    // Blocks until `start` opens the other end.
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(RuntimeError::io(
            "cannot open exec.fifo as",
            std::path::Path::new(&path),
        ))?;
    w.write_all(b"0").map_err(RuntimeError::io(
        "cannot write",
        std::path::Path::new(&path),
    ))?;
    drop(w);
    drop(fifo);
    if let Some(hooks) = ctx.launch.spec.hooks().as_ref() {
        for h in hooks.start_container().iter().flatten() {
            super::hook::run(h, b"")?;
        }
    }
    signals::reset_for_exec();
    fds::cloexec_from_3()?;
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().clone().unwrap_or_default();
    exec::exec(&args, &env)
}

use std::os::unix::fs::OpenOptionsExt;
