//! `--sdnotify container` (podman's option): the container says itself when
//! it is ready, with sd_notify(3). The supervisor binds a unix datagram
//! socket at `containers/<id>/notify/notify.sock`; the runtime mounts that
//! directory read-only at /run/notify and NOTIFY_SOCKET names the socket
//! (`runtime::spec::NOTIFY_SOCKET`). `READY=1` makes the container ready
//! (instead of the TCP connect to its published ports; a health check, if
//! any, must pass as well); `STATUS=…` is kept for `inspect`. `MAINPID=`,
//! `WATCHDOG=`, `RELOADING=`, `STOPPING=` and the rest are ignored: the
//! supervisor watches the container's own init, has no watchdog, and
//! learns of stops from the exit itself.

use super::{Result, SupervisorError};
use crate::runtime::spec::{ContainerSpec, NOTIFY_HOST_DIR, NOTIFY_SOCKET, NOTIFY_SOCKET_NAME};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// The longest STATUS= text kept.
const MAX_STATUS: usize = 256;
/// Datagrams read per wake-up (a flood cannot starve the loop).
const MAX_PER_WAKE: usize = 64;

/// `--sdnotify`: who says the container is ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdNotify {
    /// skiff decides: the health check if there is one, else a TCP
    /// connect to every published port.
    #[default]
    Ignore,
    /// The container sends READY=1 to $NOTIFY_SOCKET.
    Container,
}

impl std::str::FromStr for SdNotify {
    type Err = SupervisorError;
    fn from_str(s: &str) -> Result<SdNotify> {
        match s {
            "ignore" => Ok(SdNotify::Ignore),
            "container" => Ok(SdNotify::Container),
            _ => Err(SupervisorError::Invalid(format!(
                "invalid --sdnotify {s:?}: use container (the container sends READY=1) \
                 or ignore (skiff's own readiness check)"
            ))),
        }
    }
}

impl SdNotify {
    pub fn is_container(self) -> bool {
        self == SdNotify::Container
    }
}

/// What the container said since the last read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notice {
    pub ready: bool,
    pub status: Option<String>,
}

/// Read one sd_notify datagram: newline-separated `KEY=VALUE` pairs.
pub fn parse(msg: &[u8], into: &mut Notice) {
    for line in msg.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            into.ready = true;
        } else if let Some(v) = line.strip_prefix(b"STATUS=") {
            let v = &v[..v.len().min(MAX_STATUS)];
            into.status = Some(String::from_utf8_lossy(v).into_owned());
        }
    }
}

/// A new container's spec under `mode`: with `container`, the socket's
/// directory is mounted and NOTIFY_SOCKET set (over any `-e` of it).
pub fn prepare_spec(spec: &mut ContainerSpec, mode: SdNotify) {
    if !mode.is_container() {
        return;
    }
    spec.notify_socket = true;
    spec.env.retain(|kv| !kv.starts_with("NOTIFY_SOCKET="));
    spec.env.push(format!("NOTIFY_SOCKET={NOTIFY_SOCKET}"));
}

/// The supervisor's end of the socket.
pub struct NotifySocket {
    sock: UnixDatagram,
    buf: Vec<u8>,
}

/// The socket's path on the host for the container in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(NOTIFY_HOST_DIR).join(NOTIFY_SOCKET_NAME)
}

impl NotifySocket {
    /// Bind the socket in `containers/<id>/notify/` (a stale one from a
    /// killed supervisor is replaced); any user of the container may send.
    pub fn bind(dir: &Path) -> Result<NotifySocket> {
        let d = dir.join(NOTIFY_HOST_DIR);
        std::fs::create_dir_all(&d).map_err(SupervisorError::io("cannot create", &d))?;
        let p = socket_path(dir);
        // Bound through an O_PATH descriptor of its directory: the store's
        // path may be longer than a socket address allows.
        use std::os::unix::fs::OpenOptionsExt;
        let dfd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&d)
            .map_err(SupervisorError::io("cannot open", &d))?;
        let short = format!("/proc/self/fd/{}/{NOTIFY_SOCKET_NAME}", dfd.as_raw_fd());
        match std::fs::remove_file(&short) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SupervisorError::io("cannot remove", &p)(e)),
        }
        let sock = UnixDatagram::bind(&short).map_err(SupervisorError::io("cannot bind", &p))?;
        sock.set_nonblocking(true)
            .map_err(SupervisorError::io("cannot set up", &p))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o777)).map_err(
            SupervisorError::io("cannot open to the container's users", &p),
        )?;
        Ok(NotifySocket {
            sock,
            buf: vec![0; 4096],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The datagrams waiting (at most a batch of them).
    pub fn read(&mut self) -> Notice {
        let mut n = Notice::default();
        for _ in 0..MAX_PER_WAKE {
            match self.sock.recv(&mut self.buf) {
                Ok(len) => parse(&self.buf[..len], &mut n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        n
    }

    /// Forget what a previous run of the container sent.
    pub fn drain(&mut self) {
        while self.sock.recv(&mut self.buf).is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_status_are_read_the_rest_ignored() {
        let mut n = Notice::default();
        parse(b"STATUS=warming up\nMAINPID=7", &mut n);
        assert_eq!(
            n,
            Notice {
                ready: false,
                status: Some("warming up".into())
            }
        );
        parse(b"READY=1\nSTATUS=serving\nWATCHDOG=1\n", &mut n);
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("serving"));
        let mut n = Notice::default();
        parse(b"READY=0\nREADY=10\nXREADY=1", &mut n);
        assert!(!n.ready);
        parse(&[b"STATUS=".as_slice(), &[b'x'; 10_000]].concat(), &mut n);
        assert_eq!(n.status.map(|s| s.len()), Some(MAX_STATUS));
        assert!("healthy".parse::<SdNotify>().is_err());
        assert_eq!(
            "container".parse::<SdNotify>().unwrap(),
            SdNotify::Container
        );
    }

    #[test]
    fn a_datagram_to_the_socket_is_read_and_a_stale_one_drained() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = NotifySocket::bind(dir.path()).unwrap();
        let tx = UnixDatagram::unbound().unwrap();
        let p = socket_path(dir.path());
        tx.send_to(b"READY=1", &p).unwrap();
        s.drain();
        assert_eq!(s.read(), Notice::default());
        tx.send_to(b"STATUS=up\nREADY=1", &p).unwrap();
        assert!(s.read().ready);
        // Bound again (a new supervisor): the stale socket is replaced.
        drop(s);
        let mut s = NotifySocket::bind(dir.path()).unwrap();
        tx.send_to(b"READY=1", &p).unwrap();
        assert!(s.read().ready);
    }
}
