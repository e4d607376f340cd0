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
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::path::Path;

pub struct ExecRequest<'a> {
    pub process_file: Option<&'a Path>,
    pub args: &'a [String],
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
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
    if process.terminal().unwrap_or(false) && req.detach {
        return Err(OciError::Invalid(
            "a detached exec with a terminal needs --console-socket, which skiff-runc does not take for exec".into(),
        ));
    }
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
    let joined = join::spawn(&cspec, Pid::from_raw(r.pid), &opts)?;
    if let Some(p) = req.pid_file {
        super::write_atomic(p, joined.pid.as_raw().to_string().as_bytes())?;
    }
    if req.detach {
        return Ok(0);
    }
    Ok(join::wait(joined, sig, opts.interactive)?)
}
