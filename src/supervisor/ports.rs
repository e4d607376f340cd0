//! `-p [IP:]HOST:CTR`: the supervisor holds the host ports for the
//! container's whole life (across restarts) and relays into the container's
//! network namespace each connection the kernel does not forward (see
//! `forwarding`: bridge networks are forwarded by DNAT once ready; the relay
//! serves `private`, a container not yet ready, and a program that listens
//! on 127.0.0.1 only) — no proxy process.
//!
//! For an accepted connection: setns into the container's netns (an fd
//! opened once per container start), create the socket, setns back (the
//! supervisor is single-threaded, so no other code runs in between),
//! connect non-blocking to 127.0.0.1:CTR, then relay both ways in the
//! supervisor's poll loop, half-closes included. A client that arrives
//! while the container restarts (or before its program listens) is kept
//! and the inner connect retried for [`PATIENCE`] instead of being refused.
//!
//! Listeners can be built from an existing descriptor ([`Listener::from_fd`])
//! and handed out ([`Forwarder::listener_fds`], [`Forwarder::stop_accepting`]),
//! so a rollout passes them between supervisors over SCM_RIGHTS. A
//! supervisor given another's listeners is *gated* ([`Forwarder::gate`]):
//! it leaves the shared accept queue to the old supervisor until its own
//! container answers on every published container port ([`Forwarder::probe`]).

use super::{Result, SupervisorError};
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{
    connect, getsockopt, shutdown, socket, sockopt, AddressFamily, Shutdown, SockFlag, SockType,
    SockaddrIn,
};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long a client waits for the container to accept before it is dropped.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// Between two inner connect attempts.
pub const RETRY: Duration = Duration::from_millis(20);
/// Relay buffer per direction.
const BUF: usize = 16 * 1024;
/// Connections relayed at once; listeners pause beyond (fds are limited).
pub const MAX_CONNS: usize = 400;

/// One published port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

impl std::str::FromStr for PortSpec {
    type Err = SupervisorError;
    fn from_str(s: &str) -> Result<PortSpec> {
        let bad = |why: &str| SupervisorError::Invalid(format!("invalid -p {s:?}: {why}"));
        let body = match s.rsplit_once('/') {
            Some((b, "tcp")) => b,
            Some((_, p)) => return Err(bad(&format!("protocol {p} is not supported (tcp only)"))),
            None => s,
        };
        let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
            let (ip, rest) = r
                .split_once("]:")
                .ok_or_else(|| bad("unclosed [ in the address"))?;
            (Some(ip), rest)
        } else {
            let parts: Vec<&str> = body.split(':').collect();
            match parts.len() {
                2 => (None, body),
                3 => (Some(parts[0]), &body[parts[0].len() + 1..]),
                1 => return Err(bad("give the host port too (HOST:CONTAINER)")),
                _ => return Err(bad("expected [IP:]HOST:CONTAINER")),
            }
        };
        let (h, c) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected [IP:]HOST:CONTAINER"))?;
        let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
        let host_port =
            port(h).ok_or_else(|| bad("the host port must be a number from 1 to 65535"))?;
        let container_port =
            port(c).ok_or_else(|| bad("the container port must be a number from 1 to 65535"))?;
        let host_ip = match ip {
            None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Some(ip) => ip
                .parse()
                .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?,
        };
        Ok(PortSpec {
            host_ip,
            host_port,
            container_port,
        })
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}->{}/tcp",
            SocketAddr::new(self.host_ip, self.host_port),
            self.container_port
        )
    }
}

/// A host port the supervisor listens on.
pub struct Listener {
    pub spec: PortSpec,
    sock: TcpListener,
}

impl Listener {
    pub fn bind(spec: &PortSpec) -> Result<Listener> {
        let addr = SocketAddr::new(spec.host_ip, spec.host_port);
        let sock = TcpListener::bind(addr).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                "the address is already in use (by another container or program)".to_string()
            } else {
                e.to_string()
            };
            SupervisorError::Invalid(format!(
                "cannot publish port {}: {addr}: {why}",
                spec.host_port
            ))
        })?;
        Listener::from_std(sock, spec.clone())
    }

    /// A listener handed over by another process (a listening TCP socket).
    pub fn from_fd(fd: OwnedFd, spec: PortSpec) -> Result<Listener> {
        Listener::from_std(TcpListener::from(fd), spec)
    }

    fn from_std(sock: TcpListener, spec: PortSpec) -> Result<Listener> {
        sock.set_nonblocking(true)
            .map_err(|e| SupervisorError::Sys {
                what: "set the listener non-blocking".into(),
                source: e,
            })?;
        Ok(Listener { spec, sock })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// The port it is bound to.
    pub fn local_port(&self) -> Option<u16> {
        self.sock.local_addr().ok().map(|a| a.port())
    }
}

#[derive(Debug)]
struct Half {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Read side reached end of file.
    eof: bool,
    /// Write side shut down after eof.
    shut: bool,
}

impl Half {
    fn new() -> Half {
        Half {
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            shut: false,
        }
    }
    fn pending(&self) -> bool {
        self.start < self.end
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// No container to connect to yet, or the last attempt was refused.
    Waiting(Instant),
    Connecting,
    Relaying,
}

struct Conn {
    outer: OwnedFd,
    inner: Option<OwnedFd>,
    port: u16,
    phase: Phase,
    deadline: Instant,
    up: Half,
    down: Half,
    dead: bool,
}

/// What one connection wants from poll: (outer events, inner fd and events).
pub struct Interest {
    pub outer: (RawFd, i16),
    pub inner: Option<(RawFd, i16)>,
}

/// Every published port of one container and the connections in flight.
pub struct Forwarder {
    listeners: Vec<Listener>,
    conns: Vec<Conn>,
    /// The container's network namespace while it runs.
    netns: Option<OwnedFd>,
    host_ns: Option<OwnedFd>,
    accepting: bool,
    /// Not accepting yet: the container is not ready.
    gated: bool,
    /// The listeners are shared with other replicas' supervisors: accept
    /// one connection per wake-up so that every ready one gets its share.
    shared: bool,
}

fn nonblocking_io<T>(r: nix::Result<T>) -> std::result::Result<Option<T>, nix::Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Forwarder {
    /// Bind every port (an error names the first that cannot be bound).
    pub fn bind(specs: &[PortSpec]) -> Result<Forwarder> {
        let listeners = specs
            .iter()
            .map(Listener::bind)
            .collect::<Result<Vec<_>>>()?;
        Forwarder::with_listeners(listeners)
    }

    pub fn with_listeners(listeners: Vec<Listener>) -> Result<Forwarder> {
        let host_ns = if listeners.is_empty() {
            None
        } else {
            let f = std::fs::File::open("/proc/self/ns/net").map_err(SupervisorError::io(
                "cannot open",
                std::path::Path::new("/proc/self/ns/net"),
            ))?;
            Some(OwnedFd::from(f))
        };
        Ok(Forwarder {
            listeners,
            conns: Vec::new(),
            netns: None,
            host_ns,
            accepting: true,
            gated: false,
            shared: false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// The container (re)started with init `pid`: connect waiting clients.
    /// `None`: it is gone.
    pub fn set_container(&mut self, pid: Option<i32>) {
        self.netns = None;
        if self.listeners.is_empty() {
            return;
        }
        if let Some(pid) = pid {
            self.netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
                .ok()
                .map(OwnedFd::from);
            let now = Instant::now();
            for c in &mut self.conns {
                if matches!(c.phase, Phase::Waiting(_)) {
                    c.phase = Phase::Waiting(now);
                }
            }
        }
    }

    /// The listening sockets, for a handover to another supervisor.
    pub fn listener_fds(&self) -> Vec<(&PortSpec, BorrowedFd<'_>)> {
        self.listeners.iter().map(|l| (&l.spec, l.fd())).collect()
    }

    /// Stop accepting (connections in flight go on); the listeners stay
    /// open until the supervisor exits.
    pub fn stop_accepting(&mut self) {
        self.accepting = false;
    }

    /// Hold back (or start) accepting: a supervisor given another's
    /// listeners accepts only once its container is ready.
    pub fn gate(&mut self, on: bool) {
        self.gated = on;
    }

    /// The listeners are shared by several replicas (see [`Forwarder::accept`]).
    pub fn share(&mut self) {
        self.shared = true;
    }

    pub fn is_gated(&self) -> bool {
        self.gated
    }

    /// Does the container accept a TCP connection on every published
    /// container port (connecting from inside its network namespace)?
    /// Each attempt waits at most `wait`.
    pub fn probe(&self, wait: Duration) -> bool {
        if self.netns.is_none() {
            return false;
        }
        let mut ports: Vec<u16> = self
            .listeners
            .iter()
            .map(|l| l.spec.container_port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports.iter().all(|p| self.probe_port(*p, wait))
    }

    fn probe_port(&self, port: u16, wait: Duration) -> bool {
        let Ok(sock) = self.inner_socket() else {
            return false;
        };
        let addr = SockaddrIn::new(127, 0, 0, 1, port);
        match connect(sock.as_raw_fd(), &addr) {
            Ok(()) => true,
            Err(nix::Error::EINPROGRESS) => {
                let mut pfd = libc::pollfd {
                    fd: sock.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = wait.as_millis().min(i32::MAX as u128) as i32;
                let n = crate::sys::fd::poll(std::slice::from_mut(&mut pfd), ms);
                n.is_ok_and(|n| n == 1)
                    && getsockopt(&sock, sockopt::SocketError).is_ok_and(|e| e == 0)
            }
            Err(_) => false,
        }
    }

    /// Listeners to poll (POLLIN), by index.
    pub fn listener_interest(&self) -> Vec<RawFd> {
        if !self.accepting || self.gated || self.conns.len() >= MAX_CONNS {
            return Vec::new();
        }
        self.listeners.iter().map(|l| l.sock.as_raw_fd()).collect()
    }

    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    pub fn conn_interest(&self, i: usize) -> Interest {
        let c = &self.conns[i];
        let mut outer = 0;
        let mut inner = 0;
        match c.phase {
            Phase::Waiting(_) => {}
            Phase::Connecting => inner |= libc::POLLOUT,
            Phase::Relaying => {
                if !c.up.pending() && !c.up.eof {
                    outer |= libc::POLLIN;
                }
                if c.up.pending() {
                    inner |= libc::POLLOUT;
                }
                if !c.down.pending() && !c.down.eof {
                    inner |= libc::POLLIN;
                }
                if c.down.pending() {
                    outer |= libc::POLLOUT;
                }
            }
        }
        Interest {
            outer: (c.outer.as_raw_fd(), outer),
            inner: c.inner.as_ref().map(|f| (f.as_raw_fd(), inner)),
        }
    }

    /// Accept what listener `i` has pending.
    pub fn accept(&mut self, i: usize) {
        let now = Instant::now();
        while self.conns.len() < MAX_CONNS {
            let Some(l) = self.listeners.get(i) else {
                return;
            };
            match l.sock.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.conns.push(Conn {
                        outer: OwnedFd::from(stream),
                        inner: None,
                        port: l.spec.container_port,
                        phase: Phase::Waiting(now),
                        deadline: now + PATIENCE,
                        up: Half::new(),
                        down: Half::new(),
                        dead: false,
                    });
                    let last = self.conns.len() - 1;
                    self.try_connect(last, now);
                    if self.shared {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Create a socket inside the container's network namespace.
    fn inner_socket(&self) -> std::io::Result<OwnedFd> {
        let (Some(netns), Some(host)) = (&self.netns, &self.host_ns) else {
            return Err(std::io::Error::from_raw_os_error(libc::ENOENT));
        };
        setns(netns.as_fd(), CloneFlags::CLONE_NEWNET)?;
        let s = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        );
        if let Err(e) = setns(host.as_fd(), CloneFlags::CLONE_NEWNET) {
            // Staying in the container's namespace would make every later
            // socket of the supervisor wrong: give up loudly.
            eprintln!("skiff supervisor: cannot return to the host network namespace: {e}");
            std::process::abort();
        }
        Ok(s?)
    }

    fn try_connect(&mut self, i: usize, now: Instant) {
        let sock = match self.inner_socket() {
            Ok(s) => s,
            Err(_) => {
                self.conns[i].phase = Phase::Waiting(now + RETRY);
                return;
            }
        };
        let c = &mut self.conns[i];
        let addr = SockaddrIn::new(127, 0, 0, 1, c.port);
        match connect(sock.as_raw_fd(), &addr) {
            Ok(()) => {
                c.inner = Some(sock);
                c.start_relay();
            }
            Err(nix::Error::EINPROGRESS) => {
                c.inner = Some(sock);
                c.phase = Phase::Connecting;
            }
            Err(_) => c.phase = Phase::Waiting(now + RETRY),
        }
    }

    /// Events on connection `i` (from either side): make progress.
    pub fn conn_ready(&mut self, i: usize) {
        let now = Instant::now();
        let c = &mut self.conns[i];
        if c.phase == Phase::Connecting {
            let err = c
                .inner
                .as_ref()
                .and_then(|s| getsockopt(s, sockopt::SocketError).ok())
                .unwrap_or(libc::ECONNREFUSED);
            if err == 0 {
                c.start_relay();
            } else {
                c.inner = None;
                c.phase = Phase::Waiting(now + RETRY);
                return;
            }
        }
        if c.phase == Phase::Relaying {
            c.pump();
        }
    }

    /// Timers: retry connects that are due, drop clients that waited too long.
    pub fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            if c.phase != Phase::Relaying && now >= c.deadline {
                c.dead = true;
                continue;
            }
            if let Phase::Waiting(at) = c.phase {
                if now >= at && self.netns.is_some() {
                    self.try_connect(i, now);
                }
            }
        }
        self.conns.retain(|c| !c.dead);
    }

    /// The next instant `tick` has work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|c| c.phase != Phase::Relaying)
            .map(|c| match c.phase {
                Phase::Waiting(at) if self.netns.is_some() => at.min(c.deadline),
                _ => c.deadline,
            })
            .min()
    }

    /// Close every connection (the supervisor is about to exit).
    pub fn close_all(&mut self) {
        self.conns.clear();
        self.listeners.clear();
    }
}

impl Conn {
    fn start_relay(&mut self) {
        self.phase = Phase::Relaying;
        self.up.buf = vec![0; BUF];
        self.down.buf = vec![0; BUF];
        self.pump();
    }

    /// Move bytes both ways until nothing moves; mark dead when done.
    fn pump(&mut self) {
        let Some(inner) = &self.inner else { return };
        let (outer, inner) = (self.outer.as_fd(), inner.as_fd());
        let mut progress = true;
        while progress && !self.dead {
            progress = false;
            for (half, from, to) in [(&mut self.up, outer, inner), (&mut self.down, inner, outer)] {
                match move_bytes(half, from, to) {
                    Ok(p) => progress |= p,
                    Err(_) => self.dead = true,
                }
            }
        }
        if self.up.shut && self.down.shut {
            self.dead = true;
        }
    }
}

/// One step of one direction. Ok(true) when something happened.
fn move_bytes(h: &mut Half, from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> nix::Result<bool> {
    let mut progress = false;
    if !h.pending() && !h.eof {
        match nonblocking_io(nix::unistd::read(from, &mut h.buf))? {
            Some(0) => {
                h.eof = true;
                progress = true;
            }
            Some(n) => {
                h.start = 0;
                h.end = n;
                progress = true;
            }
            None => {}
        }
    }
    if h.pending() {
        if let Some(n) = nonblocking_io(nix::unistd::write(to, &h.buf[h.start..h.end]))? {
            h.start += n;
            progress = true;
        }
    }
    if h.eof && !h.pending() && !h.shut {
        let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
        h.shut = true;
        progress = true;
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_port_specs() {
        let p: PortSpec = "3000:3000".parse().unwrap();
        assert_eq!(p.host_ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!((p.host_port, p.container_port), (3000, 3000));
        let p: PortSpec = "127.0.0.1:8080:80/tcp".parse().unwrap();
        assert_eq!(p.to_string(), "127.0.0.1:8080->80/tcp");
        let p: PortSpec = "[::1]:8080:80".parse().unwrap();
        assert_eq!(p.to_string(), "[::1]:8080->80/tcp");
        for bad in [
            "80",
            "a:80",
            "0:80",
            "1:2:3:4",
            "8080:80/udp",
            "300.1.1.1:1:2",
            "70000:1",
        ] {
            assert!(bad.parse::<PortSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn port_in_use_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let spec: PortSpec = format!("127.0.0.1:{port}:80").parse().unwrap();
        let e = Listener::bind(&spec).err().unwrap().to_string();
        assert!(e.contains("already in use"), "{e}");
    }
}
