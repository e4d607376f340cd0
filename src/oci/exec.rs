//! `exec`: one more process in a running container, through the same join
//! as `skiff exec` (`runtime::process::join`: the init's cgroup and
//! namespaces, then fork). The process is `--process FILE` (a runtime-spec
//! process object) or the arguments, over the bundle's `process` (env,
//! cwd, user). It gets the bundle's seccomp filter and no_new_privs, and
//! docker's default capabilities (not the process object's sets). Not for
//! a container in a user namespace, which the join does not enter.

use super::{load, load_bundle, OciError, Result};
use crate::runtime::process::join::{self, ExecOptions};
use crate::runtime::seccomp::Seccomp;
use crate::runtime::signals::Forwarder;
use crate::runtime::spec::ContainerSpec;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use nix::unistd::{unlinkat, UnlinkatFlags};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub struct ExecRequest<'a> {
    pub process_file: Option<&'a Path>,
    pub args: &'a [String],
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    /// Receives the pty master when the process has a terminal.
    pub console_socket: Option<&'a Path>,
}

/// Returns the process's exit code (0 when detached).
pub fn exec(root: &Path, id: &str, req: &ExecRequest<'_>, sig: &mut Forwarder) -> Result<i32> {
    let (dir, r) = load(root, id)?;
    let status = r.status(&dir);
    if status != super::Status::Running {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            what: "exec needs a running container",
        });
    }
    let spec = load_bundle(&r.bundle)?;
    let linux = spec.linux().clone().unwrap_or_default();
    if linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User)
    {
        return Err(OciError::Invalid(
            "exec into a container with a user namespace is not supported by skiff-runc".into(),
        ));
    }
    let base = spec.process().clone().unwrap_or_default();
    let process: Process = match req.process_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(super::io("cannot read", p))?;
            serde_json::from_str(&text)
                .map_err(|e| OciError::Invalid(format!("{}: {e}", p.display())))?
        }
        None => {
            if req.args.is_empty() {
                return Err(OciError::Invalid(
                    "exec needs --process FILE or a command".into(),
                ));
            }
            let mut p = base.clone();
            p.set_args(Some(req.args.to_vec()));
            p.set_terminal(Some(false));
            p
        }
    };
    let terminal = process.terminal().unwrap_or(false);
    if terminal && req.detach && req.console_socket.is_none() {
        return Err(OciError::Invalid(
            "a detached exec with a terminal needs --console-socket".into(),
        ));
    }
    // Connected before the join, like the pid file below.
    let console_socket = match (terminal, req.console_socket) {
        (true, Some(p)) => Some((
            std::os::unix::net::UnixStream::connect(p)
                .map_err(super::io("cannot connect to the console socket", p))?,
            p,
        )),
        _ => None,
    };
    let args = process.args().clone().unwrap_or_default();
    let seccomp = match linux.seccomp() {
        Some(s) => crate::runtime::oci::creds::seccomp_of(s)?,
        None => Seccomp::Unconfined,
    };
    let cspec = ContainerSpec {
        id: id.to_string(),
        args: args.clone(),
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().to_string_lossy().to_string(),
        user: Some(format!("{}:{}", process.user().uid(), process.user().gid())),
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp,
        ..Default::default()
    };
    let opts = ExecOptions {
        args,
        tty: process.terminal().unwrap_or(false),
        interactive: process.terminal().unwrap_or(false),
        ..Default::default()
    };
    // Opened before the join: after it, this process sees the container's
    // mounts, and a path would name a file inside the container.
    let pid_file = req.pid_file.map(PidFile::open).transpose()?;
    let mut joined = match join::spawn(&cspec, Pid::from_raw(r.pid), &opts) {
        Ok(j) => j,
        Err(e) => {
            if let Some(f) = pid_file {
                f.abandon();
            }
            return Err(e.into());
        }
    };
    if let Some((s, p)) = &console_socket {
        // The master goes to the socket's owner, who relays it; not us.
        if let Some(m) = joined.console.take() {
            use std::os::fd::AsFd;
            super::send_console_on(s, p, m.as_fd())?;
        }
    }
    if let Some(f) = pid_file {
        f.commit(joined.pid.as_raw())?;
    }
    if req.detach {
        return Ok(0);
    }
    Ok(join::wait(joined, sig, opts.interactive)?)
}

/// `--pid-file`, written through descriptors opened in the caller's mount
/// namespace: a temporary file beside it, renamed over it once the pid is
/// known (containerd's shim reads it as soon as `exec` returns).
struct PidFile {
    path: PathBuf,
    dir: OwnedFd,
    tmp: String,
    name: std::ffi::OsString,
    file: std::fs::File,
}

impl PidFile {
    fn open(path: &Path) -> Result<PidFile> {
        let abs = std::path::absolute(path).map_err(super::io("cannot resolve", path))?;
        let (Some(dir), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err(OciError::Invalid(format!(
                "--pid-file {}: not a file path",
                path.display()
            )));
        };
        let dir_fd: OwnedFd = std::fs::File::open(dir)
            .map_err(super::io("cannot open the directory of", path))?
            .into();
        let tmp = format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id());
        let fd = openat(
            &dir_fd,
            tmp.as_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(|e| super::io("cannot create", path)(e.into()))?;
        Ok(PidFile {
            path: abs.clone(),
            dir: dir_fd,
            tmp,
            name: name.to_os_string(),
            file: fd.into(),
        })
    }

    fn commit(mut self, pid: i32) -> Result<()> {
        use std::io::Write;
        let res = self
            .file
            .write_all(pid.to_string().as_bytes())
            .and_then(|_| self.file.sync_all())
            .and_then(|_| {
                renameat(
                    &self.dir,
                    self.tmp.as_str(),
                    &self.dir,
                    self.name.as_os_str(),
                )
                .map_err(std::io::Error::from)
            });
        if let Err(e) = res {
            self.abandon_ref();
            return Err(super::io("cannot write", &self.path)(e));
        }
        Ok(())
    }

    fn abandon_ref(&self) {
        let _ = unlinkat(&self.dir, self.tmp.as_str(), UnlinkatFlags::NoRemoveDir);
    }

    fn abandon(self) {
        self.abandon_ref();
    }
}
