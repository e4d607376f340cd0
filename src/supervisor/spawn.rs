//! Starting a supervisor from a CLI command (`run -d`, `start`, `restart`,
//! `boot`): the same skiff binary (`/proc/self/exe`, which after
//! `sealed_exe::ensure` is the read-only view) as `skiff __supervise <id>`,
//! detached — its own session and process group, stdio on /dev/null, cwd
//! `/` — so it outlives the command and the terminal. A pipe on its fd 3
//! carries one line back: `ok` once the container's program runs, or
//! `err <code> <message>` (127 for a command that does not exist), so the
//! CLI never prints the id of a container that is already dead.

use super::{Result, SupervisorError};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The descriptor the supervisor finds its report pipe on.
pub const READY_FD: RawFd = 3;
/// Handed-over listeners are descriptors 4, 5, … of the supervisor; this
/// variable holds how many there are.
pub const LISTEN_FDS_ENV: &str = "SKIFF_LISTEN_FDS";
pub const FIRST_LISTEN_FD: RawFd = 4;
/// `<id>:<timeout>`: the container to stop before starting this one.
pub const STOP_FIRST_ENV: &str = "SKIFF_STOP_FIRST";

/// What a rollout gives the supervisor of a replacement container.
#[derive(Debug, Default)]
pub struct Handover {
    /// The listening sockets of the container it replaces, in the order of
    /// `ports` in config.json (the same ports): the new supervisor shares
    /// them and accepts only once its container is ready.
    pub listeners: Vec<OwnedFd>,
    /// Stop this container (id, stop timeout in seconds) before starting
    /// (a replacement without published ports). The supervisor does it,
    /// not the command, so a killed command cannot leave both stopped.
    pub stop_first: Option<(String, u64)>,
}

/// Start the supervisor of container `id` and wait until the container
/// runs or failed to start.
pub fn spawn(root: &Path, id: &str) -> Result<()> {
    spawn_with(root, id, Handover::default())
}

/// [`spawn`], handing the supervisor what a rollout gives it.
pub fn spawn_with(root: &Path, id: &str, handover: Handover) -> Result<()> {
    let root = std::path::absolute(root).map_err(SupervisorError::io("cannot resolve", root))?;
    // Out of the way of descriptors 3, 4, … that the child's dup2s write.
    let mut high: Vec<OwnedFd> = Vec::with_capacity(handover.listeners.len());
    for fd in &handover.listeners {
        high.push(crate::sys::fd::dup_above(fd.as_fd(), 100).map_err(|e| {
            SupervisorError::Sys {
                what: "duplicate a listener".into(),
                source: e,
            }
        })?);
    }
    let high_raw: Vec<RawFd> = high.iter().map(|f| f.as_raw_fd()).collect();
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SupervisorError::sys("pipe"))?;
    let w_raw = w.as_raw_fd();
    let mut cmd = std::process::Command::new("/proc/self/exe");
    // A clean environment: nothing of the user's shell reaches the
    // supervisor (or a tiny init, which is a copy of it); the store goes in
    // SKIFF_ROOT rather than argv, which containers can read as /proc/1/cmdline.
    cmd.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("SKIFF_ROOT", &root)
        .arg("__supervise")
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .current_dir("/");
    // Soak tests only: the one variable of the caller passed through
    // (restart.rs, BACKOFF_ENV); never anything else of its environment.
    if let Some(v) = std::env::var_os(super::restart::BACKOFF_ENV) {
        cmd.env(super::restart::BACKOFF_ENV, v);
    }
    if !high_raw.is_empty() {
        cmd.env(LISTEN_FDS_ENV, high_raw.len().to_string());
    }
    if let Some((old, timeout)) = &handover.stop_first {
        cmd.env(STOP_FIRST_ENV, format!("{old}:{timeout}"));
    }
    // In the child: its own session, the report pipe on 3, the listeners
    // on 4, 5, … (inherited).
    let mut placed = vec![(w_raw, READY_FD)];
    placed.extend(
        high_raw
            .iter()
            .enumerate()
            .map(|(i, raw)| (*raw, FIRST_LISTEN_FD + i as RawFd)),
    );
    crate::sys::process::detach_with_fds(&mut cmd, placed);
    let child = cmd.spawn().map_err(|e| SupervisorError::Sys {
        what: "start the supervisor".into(),
        source: e,
    })?;
    drop(w);
    drop(cmd);
    drop(high);
    drop(handover);
    let mut line = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut line);
    // The supervisor is detached: never wait for it (it runs on).
    drop(child);
    parse_report(&line)
}

fn parse_report(line: &str) -> Result<()> {
    let line = line.trim_end();
    if line == "ok" {
        return Ok(());
    }
    if let Some(rest) = line.strip_prefix("err ") {
        let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
        return Err(SupervisorError::Start {
            code: code.parse().unwrap_or(125),
            message: msg.to_string(),
        });
    }
    Err(SupervisorError::Start {
        code: 125,
        message: "the supervisor exited before the container started".into(),
    })
}

/// The supervisor's end of the report pipe.
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// Take fd 3 if it is the report pipe (`run -d`), else report nowhere.
    pub fn from_fd3() -> Ready {
        // fd 3 was set up for us by `spawn`; close-on-exec so the
        // container never inherits it.
        Ready(crate::sys::fd::adopt_inherited(READY_FD, libc::S_IFIFO).map(std::fs::File::from))
    }

    pub fn ok(&mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(b"ok\n");
        }
    }

    pub fn fail(&mut self, code: i32, message: &str) {
        if let Some(mut f) = self.0.take() {
            let one_line = message.replace('\n', " ");
            let _ = f.write_all(format!("err {code} {one_line}\n").as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports() {
        assert!(parse_report("ok\n").is_ok());
        match parse_report("err 127 exec: \"nope\": executable file not found in $PATH\n") {
            Err(SupervisorError::Start { code, message }) => {
                assert_eq!(code, 127);
                assert!(message.starts_with("exec:"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_report(""),
            Err(SupervisorError::Start { code: 125, .. })
        ));
    }
}
