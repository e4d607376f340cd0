//! The control socket `containers/<id>/control.sock` (a Unix stream socket,
//! inside the 0700 containers directory): one JSON request a line from a
//! CLI command, one JSON reply a line from the supervisor. Replies to
//! `stop` and `restart` come once that is done.
//!
//! A Unix stream socket can carry descriptors (SCM_RIGHTS) next to a reply,
//! which a rollout builds on (see `deploy::replace`):
//! - `take_listeners`: the supervisor answers with duplicates of its
//!   listening sockets attached (in the order of the `listeners` port list
//!   in the reply, which is config.json's `ports`) and goes on accepting:
//!   the two supervisors then share one accept queue per port;
//! - `stop_accepting`: it stops polling its listeners (connections in
//!   flight are relayed to the end); what arrives goes to the other one;
//! - the reverse — a supervisor starting with listeners handed to it — goes
//!   through `spawn::Handover` and `ports::Listener::from_fd`.
//!
//! Socket paths are limited to 108 bytes and store paths can be long, so
//! both ends name the socket through a short `/proc/self/fd/<dirfd>/…` path.

use super::ports::PortSpec;
use super::state::State;
use super::{Result, SupervisorError, CONTROL_SOCKET};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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
    /// Rollout: reply with the listening sockets attached (SCM_RIGHTS);
    /// accepting goes on.
    TakeListeners,
    /// Rollout: stop accepting on the listeners (another supervisor now
    /// does); connections in flight go on.
    StopAccepting,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// For `take_listeners`: the ports of the attached descriptors, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Vec<PortSpec>>,
}

impl Reply {
    pub fn ok(state: Option<State>) -> Reply {
        Reply {
            ok: true,
            error: None,
            state,
            listeners: None,
        }
    }
    pub fn err(msg: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(msg.into()),
            state: None,
            listeners: None,
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

/// The supervisor's end of `take_listeners`: the reply line with `fds`
/// attached to its first byte.
pub fn send_with_fds(stream: &UnixStream, reply: &Reply, fds: &[RawFd]) -> Result<()> {
    let mut line =
        serde_json::to_vec(reply).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    line.push(b'\n');
    let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(fds)]
    };
    let mut sent = 0;
    while sent < line.len() {
        let iov = [IoSlice::new(&line[sent..])];
        let c: &[ControlMessage] = if sent == 0 { &cmsgs } else { &[] };
        match sendmsg::<()>(stream.as_raw_fd(), &iov, c, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::Error::EINTR) => {}
            Err(e) => {
                return Err(SupervisorError::Sys {
                    what: "send the listeners".into(),
                    source: e.into(),
                })
            }
        }
    }
    Ok(())
}

/// Ask the supervisor of the container in `dir` for its listening sockets:
/// (the ports, the descriptors in the same order). It goes on accepting.
pub fn take_listeners(dir: &Path, timeout: Duration) -> Result<(Vec<PortSpec>, Vec<OwnedFd>)> {
    let (_fd, p) = short_path(dir)?;
    let sys = |what: &str| {
        let what = format!("{what} ({})", dir.join(CONTROL_SOCKET).display());
        move |e| SupervisorError::Sys { what, source: e }
    };
    let mut s = UnixStream::connect(&p).map_err(sys("cannot reach the container's supervisor"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(sys("socket timeout"))?;
    let mut line = serde_json::to_vec(&Request::TakeListeners)
        .map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line)
        .map_err(sys("cannot talk to the container's supervisor"))?;
    let mut reply = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    while !reply.contains(&b'\n') && reply.len() < 64 * 1024 {
        let mut buf = [0u8; 4096];
        let (n, got) = crate::sys::socket::recv_with_fds(s.as_fd(), &mut buf, 16)
            .map_err(sys("no reply from the container's supervisor"))?;
        fds.extend(got);
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    let end = reply.iter().position(|&b| b == b'\n').ok_or_else(|| {
        SupervisorError::Invalid(
            "the container's supervisor closed the connection without replying".into(),
        )
    })?;
    let r: Reply = serde_json::from_slice(&reply[..end])
        .map_err(|e| SupervisorError::Invalid(format!("bad reply from the supervisor: {e}")))?;
    if !r.ok {
        return Err(SupervisorError::Invalid(r.error.unwrap_or_default()));
    }
    let specs = r.listeners.unwrap_or_default();
    if specs.len() != fds.len() {
        return Err(SupervisorError::Invalid(format!(
            "the supervisor sent {} listening sockets for {} ports",
            fds.len(),
            specs.len()
        )));
    }
    Ok((specs, fds))
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
    fn listeners_travel_with_the_reply() {
        let d = tempfile::tempdir().unwrap();
        let l = bind(d.path()).unwrap();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let spec: PortSpec = format!("127.0.0.1:{port}:80").parse().unwrap();
        let sent = spec.clone();
        let t = std::thread::spawn(move || {
            l.set_nonblocking(false).unwrap();
            let (s, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            assert_eq!(line, "{\"op\":\"take_listeners\"}\n");
            let mut r = Reply::ok(None);
            r.listeners = Some(vec![sent]);
            send_with_fds(&s, &r, &[tcp.as_raw_fd()]).unwrap();
        });
        let (specs, fds) = take_listeners(d.path(), Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        assert_eq!(specs, vec![spec]);
        let got = std::net::TcpListener::from(fds.into_iter().next().unwrap());
        assert_eq!(got.local_addr().unwrap().port(), port, "the same socket");
        // It shares the accept queue: a connection made now is accepted here.
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        got.accept().unwrap();
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
