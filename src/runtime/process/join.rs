//! `skiff exec`: run a command inside a running container — join its
//! cgroup and its namespaces (cgroup, ipc, uts, net, pid, mnt), then fork
//! (a pid namespace applies to children) and in the child do what the
//! container init does before its execve: user lookup in the container's
//! passwd, working directory, docker's capabilities, no_new_privs and the
//! seccomp filter, clean signals and descriptors.
//!
//! CVE-2019-5736: the process that enters is a skiff process inside the
//! container, so it must run from the sealed binary (`sealed_exe::ensure`
//! first; checked here), and it is made non-dumpable so the container's
//! processes cannot ptrace it or open its /proc files before the execve.

use super::{exec, sealed_exe};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::signals::{Event, Forwarder};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::terminal::{copy_window_size, RawMode};
use crate::runtime::{cgroups, fds, rootfs, signals, user};
use crate::sys::process::{fork_and_report, Started};
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// `exec` options as docker's.
#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    /// `-e NAME=value` (added to the container's environment).
    pub env: Vec<String>,
    /// `-u`; default: the container's user.
    pub user: Option<String>,
    /// `-w`; default: the container's working directory.
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
}

const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// The host cgroup directories the process `pid` belongs to under skiff's parent.
fn cgroup_dirs_of(pid: Pid) -> Result<Vec<PathBuf>> {
    let p = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&p)
        .map_err(RuntimeError::io("cannot read", std::path::Path::new(&p)))?;
    let prefix = format!("/{}/", cgroups::PARENT);
    let unified = cgroups::host_is_unified();
    let mountinfo = if unified {
        String::new()
    } else {
        std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
    };
    let hier = cgroups::v1::hierarchies(&mountinfo);
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !path.starts_with(&prefix) {
            continue;
        }
        let rel = path.trim_start_matches('/');
        if unified && ctrl.is_empty() {
            out.push(PathBuf::from(cgroups::CGROUP_ROOT).join(rel));
        } else if !unified && !ctrl.is_empty() {
            let mut want: Vec<&str> = ctrl.split(',').collect();
            want.sort_unstable();
            if let Some(h) = hier.iter().find(|h| {
                let mut have: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
                have.sort_unstable();
                have == want
            }) {
                out.push(h.mountpoint.join(rel));
            }
        }
    }
    Ok(out)
}

/// What the entering process found: the started command.
pub struct Joined {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

/// Enter the container whose init is `init` and start `opts.args` in it.
/// The calling process must be single-threaded, sealed, and should have
/// blocked the signals it forwards (`signals::Forwarder::install`) first.
pub fn spawn(spec: &ContainerSpec, init: Pid, opts: &ExecOptions) -> Result<Joined> {
    if !sealed_exe::is_sealed() {
        return Err(RuntimeError::Init(
            "skiff's binary is writable from here; call sealed_exe::ensure() first (CVE-2019-5736)"
                .into(),
        ));
    }
    if opts.args.is_empty() {
        return Err(RuntimeError::Invalid("exec needs a command".into()));
    }
    let _ = crate::sys::process::set_dumpable(false);
    let mut ns = Vec::new();
    for (name, flag) in NAMESPACES {
        let p = format!("/proc/{init}/ns/{name}");
        let f = std::fs::File::open(&p).map_err(|e| RuntimeError::Sys {
            what: format!("open {p} (is the container running?)"),
            source: e,
        })?;
        ns.push((OwnedFd::from(f), flag, name));
    }
    let me = std::process::id().to_string();
    for dir in cgroup_dirs_of(init)? {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, &me).map_err(|e| RuntimeError::Cgroup {
            path: procs,
            msg: format!("cannot join: {e}"),
        })?;
    }
    for (fd, flag, name) in &ns {
        setns(fd.as_fd(), *flag).map_err(RuntimeError::sys(format!(
            "join the container's {name} namespace"
        )))?;
    }
    drop(ns);
    let console = if opts.tty {
        let m = nix::pty::posix_openpt(
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        )
        .map_err(RuntimeError::sys("open the container's /dev/ptmx"))?;
        nix::pty::unlockpt(&m).map_err(RuntimeError::sys("unlockpt"))?;
        Some(m)
    } else {
        None
    };
    // The caller is single-threaded.
    let started = fork_and_report(|| {
        let err = match child(spec, opts, console.as_ref()) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        (err.exit_code(), err.to_string())
    })
    .map_err(RuntimeError::os("fork into the container"))?;
    match started {
        Started::Running(pid) => Ok(Joined {
            pid,
            console: console.map(OwnedFd::from),
        }),
        Started::Failed { code: 125, message } => Err(RuntimeError::Init(message)),
        Started::Failed { code, message } => Err(RuntimeError::Exec { code, message }),
    }
}

/// In the forked child, inside the namespaces: become the command.
fn child(
    spec: &ContainerSpec,
    opts: &ExecOptions,
    console: Option<&nix::pty::PtyMaster>,
) -> Result<std::convert::Infallible> {
    nix::unistd::setsid().map_err(RuntimeError::sys("setsid"))?;
    if let Some(m) = console {
        let name = nix::pty::ptsname_r(m).map_err(RuntimeError::sys("ptsname"))?;
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&name)
            .map_err(RuntimeError::io("cannot open", std::path::Path::new(&name)))?
            .into();
        crate::sys::terminal::set_controlling(slave.as_fd())
            .map_err(RuntimeError::os("make the pty the controlling terminal"))?;
        fds::install_stdio([&slave, &slave, &slave])?;
    } else if !opts.interactive {
        let null: OwnedFd = std::fs::File::open("/dev/null")
            .map_err(RuntimeError::io(
                "cannot open",
                std::path::Path::new("/dev/null"),
            ))?
            .into();
        fds::install_stdin(&null)?;
    }
    let who = opts
        .user
        .as_ref()
        .or(spec.user.as_ref())
        .filter(|u| !u.is_empty());
    let user = match who {
        Some(u) => {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
            user::resolve(u, &passwd, &group)?
        }
        None => user::ExecUser::root(),
    };
    let mut env = spec.env.clone();
    for kv in &opts.env {
        let name = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(name));
        env.push(kv.clone());
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = opts.workdir.as_deref().unwrap_or(&spec.cwd);
    rootfs::pivot::enter_workdir(cwd)?;
    let sys = &crate::sys::syscall::Linux;
    super::privileges::drop_to(sys, &user, spec.no_new_privileges, &spec.seccomp)?;
    signals::reset_for_exec();
    fds::cloexec_from_3()?;
    exec::exec(&opts.args, &env)
}

/// Wait for the command, forwarding signals and (with a console) copying
/// between the user's terminal and the pty. Returns docker's exit code.
pub fn wait(j: Joined, signals: &mut Forwarder, interactive: bool) -> Result<i32> {
    let _raw = match (&j.console, interactive) {
        (Some(_), true) => RawMode::enable(),
        _ => None,
    };
    if let Some(m) = &j.console {
        copy_window_size(std::io::stdin().as_fd(), m.as_fd());
    }
    let mut stdin_open = interactive && j.console.is_some();
    let mut console_open = j.console.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![libc::pollfd {
            fd: signals.fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut console_at = None;
        let mut stdin_at = None;
        if let (true, Some(m)) = (console_open, &j.console) {
            console_at = Some(fds.len());
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if stdin_open {
            stdin_at = Some(fds.len());
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if crate::sys::fd::poll(&mut fds, -1).is_err() {
            continue;
        }
        let ready = |at: Option<usize>| at.and_then(|i| fds.get(i)).is_some_and(|f| f.revents != 0);
        if let Some(m) = &j.console {
            if ready(console_at) {
                console_open = copy(m.as_fd(), std::io::stdout().as_fd(), &mut buf);
            }
            if ready(stdin_at) {
                stdin_open = copy(std::io::stdin().as_fd(), m.as_fd(), &mut buf);
            }
        }
        if ready(Some(0)) {
            while let Some(ev) = signals.next_event()? {
                match ev {
                    Event::Forward(sig) => {
                        let _ = nix::sys::signal::kill(j.pid, sig);
                    }
                    Event::WindowChanged => {
                        if let Some(m) = &j.console {
                            copy_window_size(std::io::stdin().as_fd(), m.as_fd());
                        }
                    }
                    Event::ChildExited => match waitpid(j.pid, Some(WaitPidFlag::WNOHANG)) {
                        Ok(WaitStatus::Exited(_, c)) => {
                            return Ok(finish(&j, console_open, &mut buf, c))
                        }
                        Ok(WaitStatus::Signaled(_, s, _)) => {
                            return Ok(finish(&j, console_open, &mut buf, 128 + s as i32))
                        }
                        _ => {}
                    },
                }
            }
        }
    }
}

fn finish(j: &Joined, console_open: bool, buf: &mut [u8], code: i32) -> i32 {
    if let (true, Some(m)) = (console_open, &j.console) {
        let _ = crate::sys::fd::set_nonblocking(m.as_fd());
        while copy(m.as_fd(), std::io::stdout().as_fd(), buf) {}
    }
    let _ = std::io::stdout().flush();
    code
}

/// One read from `from`, written fully to `to`; false at end or error.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    let n = match nix::unistd::read(from, buf) {
        Ok(n) if n > 0 => n,
        _ => return false,
    };
    let mut data = &buf[..n];
    while !data.is_empty() {
        match nix::unistd::write(to, data) {
            Ok(w) if w > 0 => data = &data[w..],
            _ => return false,
        }
    }
    true
}
