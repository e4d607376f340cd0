//! The control socket `containers/<id>/control.sock` (a Unix stream socket,
//! inside the 0700 containers directory): one JSON request a line from a
//! CLI command, one JSON reply a line from the supervisor. Replies to
//! `stop` and `restart` come once that is done.
//!
//! A Unix stream socket can carry descriptors (SCM_RIGHTS) next to a reply,
//! which the rollout work builds on:
//! - `take_listeners` (reserved): the supervisor answers with its listening
//!   sockets attached (in the order of `ports` in config.json) and stops
//!   accepting; connections in flight finish.
//! - the reverse — a supervisor starting with listeners handed to it — goes
//!   through `ports::Listener::from_fd`, given the descriptors at spawn.
//!
//! Socket paths are limited to 108 bytes and store paths can be long, so
//! both ends name the socket through a short `/proc/self/fd/<dirfd>/…` path.

use super::state::State;
use super::{Result, SupervisorError, CONTROL_SOCKET};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The current state.
    State,
    /// STOPSIGNAL, SIGKILL after `timeout` seconds; no restart. Replies
    /// when the container is gone; the supervisor then exits.
    Stop { timeout: u64 },
    /// Stop as above, then start again with the same ports. Replies once
    /// started (or failed).
    Restart { timeout: u64 },
    /// Reserved for rollout: hand the listening sockets over (SCM_RIGHTS)
    /// and stop accepting.
    TakeListeners,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

impl Reply {
    pub fn ok(state: Option<State>) -> Reply {
        Reply {
            ok: true,
            error: None,
            state,
        }
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(msg.into()),
            state: None,
        }
    }
}

/// An O_PATH descriptor of the container directory and the short path of
/// the socket through it.
fn short_path(dir: &Path) -> Result<(OwnedFd, String)> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(SupervisorError::io("cannot open", dir))?;
    let fd = OwnedFd::from(f);
    let p = format!("/proc/self/fd/{}/{CONTROL_SOCKET}", fd.as_raw_fd());
    Ok((fd, p))
}

use std::os::unix::fs::OpenOptionsExt;

/// The supervisor's end: a fresh listening socket (a stale one is replaced).
pub fn bind(dir: &Path) -> Result<UnixListener> {
    let (_fd, p) = short_path(dir)?;
    let _ = std::fs::remove_file(&p);
    let l = UnixListener::bind(&p).map_err(|e| SupervisorError::Sys {
        what: format!("bind the control socket in {}", dir.display()),
        source: e,
    })?;
    l.set_nonblocking(true).map_err(|e| SupervisorError::Sys {
        what: "set the control socket non-blocking".into(),
        source: e,
    })?;
    Ok(l)
}

/// Send `req` to the supervisor of the container in `dir` and wait for
/// its reply (at most `timeout`, if given).
pub fn request(dir: &Path, req: &Request, timeout: Option<Duration>) -> Result<Reply> {
    let (_fd, p) = short_path(dir)?;
    let sys = |what: &str| {
        let what = format!("{what} ({})", dir.join(CONTROL_SOCKET).display());
        move |e| SupervisorError::Sys { what, source: e }
    };
    let mut s = UnixStream::connect(&p).map_err(sys("cannot reach the container's supervisor"))?;
    s.set_read_timeout(timeout).map_err(sys("socket timeout"))?;
    let mut line = serde_json::to_vec(req).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line)
        .map_err(sys("cannot talk to the container's supervisor"))?;
    let mut reply = String::new();
    BufReader::new(s)
        .read_line(&mut reply)
        .map_err(sys("no reply from the container's supervisor"))?;
    if reply.is_empty() {
        return Err(SupervisorError::Invalid(
            "the container's supervisor closed the connection without replying".into(),
        ));
    }
    serde_json::from_str(&reply)
        .map_err(|e| SupervisorError::Invalid(format!("bad reply from the supervisor: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        assert_eq!(
            serde_json::to_string(&Request::Stop { timeout: 10 }).unwrap(),
            r#"{"op":"stop","timeout":10}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"take_listeners"}"#).unwrap(),
            Request::TakeListeners
        );
        assert_eq!(
            serde_json::to_string(&Reply::ok(None)).unwrap(),
            r#"{"ok":true}"#
        );
    }

    #[test]
    fn long_directories_work() {
        let d = tempfile::tempdir().unwrap();
        let long = d.path().join("x".repeat(100)).join("y".repeat(100));
        std::fs::create_dir_all(&long).unwrap();
        let l = bind(&long).unwrap();
        let t = std::thread::spawn(move || {
            l.set_nonblocking(false).unwrap();
            let (s, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert_eq!(line, "{\"op\":\"state\"}\n");
            (&s).write_all(b"{\"ok\":true}\n").unwrap();
        });
        let r = request(&long, &Request::State, Some(Duration::from_secs(5))).unwrap();
        assert!(r.ok);
        t.join().unwrap();
    }
}
