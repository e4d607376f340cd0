//! skiff as an OCI runtime: runc's lifecycle over a state directory
//! (`--root`, default /run/skiff-runc), one directory per container:
//!
//! ```text
//! <root>/<id>/state.json   what `state` prints, plus the init's start time
//! <root>/<id>/exec.fifo    present while the container is "created"
//! ```
//!
//! `create` clones the init (`runtime::oci`), which builds the container
//! and blocks opening exec.fifo; `start` opens the other end, the init
//! execs the program and the fifo is removed. Status is read from the
//! kernel each time: the init's /proc entry (pid and start time, so a
//! reused pid is never mistaken for it), and whether the fifo remains.
//!
//! Layering: cli → oci → runtime.

pub mod exec;
pub mod freeze;
pub mod resources;
pub mod state;

use crate::runtime::cgroups::{v1_extra, Cgroup};
use crate::runtime::error::RuntimeError;
use crate::runtime::oci::{self as rt, hook};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Spec};
use state::Record;
pub use state::Status;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The runtime-spec version skiff-runc writes and accepts (major 1).
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("invalid container id {0:?}: use letters, digits, '.', '_', '-' and '+'")]
    BadId(String),
    #[error("container {id} is {status}: {what}")]
    WrongState {
        id: String,
        status: Status,
        what: &'static str,
    },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

pub type Result<T> = std::result::Result<T, OciError>;

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> OciError + 'a {
    move |source| OciError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OciError::BadId(id.to_string()))
    }
}

/// Options of `create`.
#[derive(Debug, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
}

/// Read and check `<bundle>/config.json`.
pub fn load_bundle(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(io("cannot read", &path))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        OciError::Invalid(format!(
            "{}: {e} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    for name in drop_unknown_capabilities(&mut value) {
        // As runc: a capability this runtime does not know is skipped.
        eprintln!("skiff-runc: warning: ignoring unknown capability {name}");
    }
    let spec: Spec = serde_json::from_value(value)
        .map_err(|e| OciError::Invalid(format!("{}: {e}", path.display())))?;
    if !spec.version().starts_with("1.") {
        return Err(OciError::Invalid(format!(
            "{}: ociVersion {:?} is not supported (1.x is)",
            path.display(),
            spec.version()
        )));
    }
    rt::check(&spec)?;
    resources::check(&spec)?;
    resources::check_path(&spec)?;
    Ok(spec)
}

/// Remove names oci-spec does not know from `process.capabilities`;
/// returns them.
fn drop_unknown_capabilities(v: &mut serde_json::Value) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(sets) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return dropped;
    };
    for list in sets.values_mut().filter_map(|l| l.as_array_mut()) {
        list.retain(|c| {
            let known = serde_json::from_value::<oci_spec::runtime::Capability>(c.clone()).is_ok();
            if !known {
                dropped.push(c.to_string());
            }
            known
        });
    }
    dropped
}

/// `create`: everything up to the user's program, which waits for `start`.
pub fn create(root: &Path, id: &str, opts: &CreateOptions) -> Result<Pid> {
    check_id(id)?;
    let bundle = opts
        .bundle
        .canonicalize()
        .map_err(io("cannot open the bundle", &opts.bundle))?;
    let spec = load_bundle(&bundle)?;
    let rootfs = rt::rootfs_of(&spec, &bundle)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.console_socket.is_none() {
        return Err(OciError::Invalid(
            "process.terminal is set: --console-socket is required".into(),
        ));
    }
    std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
    let dir = root.join(id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists(id.to_string()))
        }
        Err(e) => return Err(io("cannot create", &dir)(e)),
    }
    let mut made: Option<(Pid, Cgroup)> = None;
    let res = create_in(&dir, id, &bundle, &rootfs, &spec, opts, &mut made);
    if res.is_err() {
        if let Some((pid, cg)) = made {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            let _ = cg.remove();
            v1_extra::remove(&resources::cgroup_path(&spec, id));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    res
}

fn create_in(
    dir: &Path,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    spec: &Spec,
    opts: &CreateOptions,
    made: &mut Option<(Pid, Cgroup)>,
) -> Result<Pid> {
    let fifo = dir.join(state::FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| io("cannot create", &fifo)(e.into()))?;
    // Not the umask's: the init may write to it as another user.
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))
        .map_err(io("cannot chmod", &fifo))?;
    let cg_rel = resources::cgroup_path(spec, id);
    let cgroup = Cgroup::create_at(&cg_rel, &resources::of(spec))?;
    let extra_tasks = if crate::runtime::cgroups::host_is_unified() {
        Ok(Vec::new())
    } else {
        v1_extra::apply(&cg_rel, &resources::v1_extras(spec))
    };
    let launch = extra_tasks.map(|extra_tasks| rt::Launch {
        spec,
        rootfs,
        fifo: &fifo,
        no_pivot: opts.no_pivot,
        extra_tasks,
    });
    let started = match launch.and_then(|l| rt::spawn(&l, &cgroup)) {
        Ok(s) => s,
        Err(e) => {
            let _ = cgroup.remove();
            v1_extra::remove(&cg_rel);
            return Err(e.into());
        }
    };
    let pid = started.pid;
    *made = Some((pid, cgroup));
    if let (Some(sock), Some(master)) = (&opts.console_socket, &started.console) {
        send_console(sock, master.as_fd())?;
    }
    let record = Record {
        id: id.to_string(),
        pid: pid.as_raw(),
        start_time: state::start_time(pid).unwrap_or(0),
        bundle: bundle.to_path_buf(),
        rootfs: rootfs.to_path_buf(),
        cgroup: cg_rel,
        created: chrono::Utc::now().to_rfc3339(),
        annotations: spec.annotations().clone().unwrap_or_default(),
    };
    record.save(dir)?;
    if let Some(h) = spec.hooks() {
        let st = record.state_json(Status::Created);
        for hk in h
            .create_runtime()
            .iter()
            .flatten()
            .chain(h.prestart().iter().flatten())
            .chain(h.create_container().iter().flatten())
        {
            hook::run(hk, &st)?;
        }
    }
    if let Some(p) = &opts.pid_file {
        write_atomic(p, pid.as_raw().to_string().as_bytes())?;
    }
    // The init belongs to the container now: it must outlive us.
    made.take();
    Ok(pid)
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    crate::store::atomic::write_atomic(dir, path, bytes).map_err(io("cannot write", path))
}

fn send_console(sock: &Path, master: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let s = std::os::unix::net::UnixStream::connect(sock)
        .map_err(io("cannot connect to the console socket", sock))?;
    send_console_on(&s, sock, master)
}

/// Send the pty master over an already connected console socket (`exec`
/// connects before it joins the container's mount namespace).
pub(crate) fn send_console_on(
    s: &std::os::unix::net::UnixStream,
    sock: &Path,
    master: std::os::fd::BorrowedFd<'_>,
) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [master.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"/dev/ptmx")];
    sendmsg::<()>(
        s.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| io("cannot send the pty to", sock)(e.into()))?;
    Ok(())
}

pub(crate) fn load(root: &Path, id: &str) -> Result<(PathBuf, Record)> {
    check_id(id)?;
    let dir = root.join(id);
    let r = Record::load(&dir).map_err(|e| match e {
        OciError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            OciError::NotFound(id.to_string())
        }
        other => other,
    })?;
    Ok((dir, r))
}

/// `start`: let a created container's program run.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let (dir, r) = load(root, id)?;
    let status = r.status(&dir);
    if status != Status::Created {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            what: "only a created container can be started",
        });
    }
    let fifo = dir.join(state::FIFO);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
        .map_err(io("cannot open", &fifo))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1];
    loop {
        match nix::unistd::read(&f, &mut buf) {
            Ok(1) => break,
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(io("cannot read", &fifo)(e.into())),
        }
        if !r.alive() {
            return Err(OciError::Invalid(format!(
                "container {id}'s init exited before it was started"
            )));
        }
        if Instant::now() > deadline {
            return Err(OciError::Invalid(format!(
                "container {id}'s init did not answer on exec.fifo within 10 s"
            )));
        }
        let mut pfd = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(50u16));
    }
    std::fs::remove_file(&fifo).map_err(io("cannot remove", &fifo))?;
    let spec = load_bundle(&r.bundle).ok();
    if let Some(h) = spec.as_ref().and_then(|s| s.hooks().clone()) {
        let st = r.state_json(Status::Running);
        for hk in h.poststart().iter().flatten() {
            if let Err(e) = hook::run(hk, &st) {
                eprintln!("skiff-runc: poststart hook: {e}");
            }
        }
    }
    Ok(())
}

/// `state`: the runtime-spec state JSON.
pub fn state(root: &Path, id: &str) -> Result<Vec<u8>> {
    let (dir, r) = load(root, id)?;
    Ok(r.state_json(r.status(&dir)))
}

/// `kill ID SIGNAL`: only to a created or running container.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> Result<()> {
    let (dir, r) = load(root, id)?;
    let status = r.status(&dir);
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            // runc's words, which containerd's shim matches to treat a
            // kill of an exited container as done (checkKillError).
            what: "container not running, no signal sent",
        });
    }
    let pids = if all { r.pids() } else { vec![r.pid] };
    for p in pids {
        crate::sys::signal::kill(Pid::from_raw(p), sig)
            .map_err(|e| OciError::Invalid(format!("cannot send signal {sig} to {p}: {e}")))?;
    }
    // A frozen process dies only once thawed (runc thaws for SIGKILL too).
    if status == Status::Paused && sig == Signal::SIGKILL as i32 {
        freeze::set(&r.cgroup, false)?;
    }
    Ok(())
}

/// `delete [--force]`: a stopped or created container (running: --force).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let (dir, r) = match load(root, id) {
        Err(OciError::NotFound(_)) if force => return Ok(()),
        other => other?,
    };
    let status = r.status(&dir);
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            what: "stop it first, or delete --force",
        });
    }
    if r.alive() {
        for p in r.pids().into_iter().chain([r.pid]) {
            let _ = nix::sys::signal::kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        // A frozen task dies only once thawed.
        if status == Status::Paused {
            let _ = freeze::set(&r.cgroup, false);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.alive() && Instant::now() < deadline {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(r.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let _ = Cgroup::create_at(&r.cgroup, &Default::default()).and_then(|c| c.remove());
    v1_extra::remove(&r.cgroup);
    let spec = load_bundle(&r.bundle).ok();
    std::fs::remove_dir_all(&dir).map_err(io("cannot remove", &dir))?;
    if let Some(h) = spec.as_ref().and_then(|s| s.hooks().clone()) {
        let st = r.state_json(Status::Stopped);
        for hk in h.poststop().iter().flatten() {
            if let Err(e) = hook::run(hk, &st) {
                eprintln!("skiff-runc: poststop hook: {e}");
            }
        }
    }
    Ok(())
}

/// `pause`: freeze a running container's processes.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let (dir, r) = load(root, id)?;
    let status = r.status(&dir);
    if status != Status::Running {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            what: "only a running container can be paused",
        });
    }
    freeze::set(&r.cgroup, true)
}

/// `resume`: thaw a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let (dir, r) = load(root, id)?;
    let status = r.status(&dir);
    if status != Status::Paused {
        return Err(OciError::WrongState {
            id: id.into(),
            status,
            what: "only a paused container can be resumed",
        });
    }
    freeze::set(&r.cgroup, false)
}

/// `ps`: the container's processes (host pids).
pub fn ps(root: &Path, id: &str) -> Result<Vec<i32>> {
    let (_, r) = load(root, id)?;
    Ok(r.pids())
}

/// `list`: ids and states.
pub fn list(root: &Path) -> Result<Vec<(String, Status, i32)>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let dir = e.path();
        if let Ok(r) = Record::load(&dir) {
            out.push((r.id.clone(), r.status(&dir), r.pid));
        }
    }
    out.sort();
    Ok(out)
}

/// Run one hook list entry (used by tests of hooks).
pub fn run_hook(h: &Hook, state: &[u8]) -> Result<()> {
    Ok(hook::run(h, state)?)
}

/// `run` in the foreground: forward signals to the init (our child) until
/// it exits; its exit code (128 + signal when killed).
pub fn wait_foreground(pid: Pid, sig: &mut crate::runtime::signals::Forwarder) -> Result<i32> {
    use crate::runtime::signals::Event;
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(0),
            Err(e) => return Err(OciError::Invalid(format!("cannot wait for {pid}: {e}"))),
        }
        let mut pfd = [nix::poll::PollFd::new(
            sig.fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(500u16));
        while let Some(ev) = sig.next_event()? {
            if let Event::Forward(s) = ev {
                let _ = nix::sys::signal::kill(pid, s);
            }
        }
    }
}

/// `features`: what this runtime understands.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async","atime","bind","dev","diratime","dirsync","exec","mand","noatime","nodev",
            "nodiratime","noexec","nomand","norelatime","nostrictatime","nosuid","private","rbind","relatime",
            "remount","ro","rprivate","rshared","rslave","runbindable","rw","shared","slave","strictatime",
            "suid","sync","unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"io.github.skiff.version": env!("CARGO_PKG_VERSION")}
    })
}

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
