//! The socketpair between skiff and the container init: a few typed
//! messages on a SOCK_SEQPACKET socket (one message per packet).
//!
//! skiff → init: `Go` once the init sits in its cgroup.
//! init → skiff: `Console` (the pty master, as SCM_RIGHTS) for `-t`, and
//! `Failed` if anything goes wrong. Success needs no message: the init's
//! end is close-on-exec, so a successful execve shows up as end-of-file.
//! The sealed exec stub (`sys::exec_stub`), which execs the program for an
//! init running from skiff's writable binary, keeps the init's end open and
//! reports a failed exec as `[EXEC_FAILED, errno as i32 LE, path]`, read
//! here as `Failed` with docker's exit code.

use crate::runtime::error::{Result, RuntimeError};
use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

const GO: u8 = 1;
const CONSOLE: u8 = 2;
const FAILED: u8 = 3;
/// Written by the exec stub's program (`sys/exec_stub/program.rs`).
const EXEC_FAILED: u8 = 4;

#[derive(Debug)]
pub enum Message {
    Go,
    Console(OwnedFd),
    /// The init failed: the exit code it uses and a one-line reason.
    Failed {
        code: i32,
        message: String,
    },
}

pub struct Channel {
    fd: OwnedFd,
}

/// (skiff's end, the init's end)
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(RuntimeError::sys("socketpair"))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// The descriptor, for the exec stub to report on.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Message) -> Result<()> {
        let mut buf = Vec::with_capacity(64);
        let mut fds: Vec<RawFd> = Vec::new();
        match msg {
            Message::Go => buf.push(GO),
            Message::Console(fd) => {
                buf.push(CONSOLE);
                fds.push(fd.as_raw_fd());
            }
            Message::Failed { code, message } => {
                buf.push(FAILED);
                buf.extend_from_slice(&code.to_le_bytes());
                buf.extend_from_slice(&message.as_bytes()[..message.len().min(3800)]);
            }
        }
        let iov = [IoSlice::new(&buf)];
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(RuntimeError::sys("send on the init channel"))?;
        Ok(())
    }

    /// The next message, or `None` when the other end is closed.
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = [0u8; 4096];
        let (n, fds) = crate::sys::socket::recv_with_fds(self.fd.as_fd(), &mut buf, 1)
            .map_err(RuntimeError::os("receive on the init channel"))?;
        let fd = fds.into_iter().next();
        if n == 0 {
            return Ok(None);
        }
        let data = &buf[..n];
        match data[0] {
            GO => Ok(Some(Message::Go)),
            CONSOLE => fd
                .map(|f| Some(Message::Console(f)))
                .ok_or_else(|| RuntimeError::Init("console message without a descriptor".into())),
            FAILED if n >= 5 => {
                let code = i32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                Ok(Some(Message::Failed {
                    code,
                    message: String::from_utf8_lossy(&data[5..]).into_owned(),
                }))
            }
            EXEC_FAILED if n >= 5 => {
                let errno = i32::from_le_bytes([data[1], data[2], data[3], data[4]]);
                let path = String::from_utf8_lossy(&data[5..]);
                let (code, message) = super::exec::failed(&path, errno);
                Ok(Some(Message::Failed { code, message }))
            }
            t => Err(RuntimeError::Init(format!(
                "unexpected message type {t} on the init channel"
            ))),
        }
    }
}
