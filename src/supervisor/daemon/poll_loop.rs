//! The poll(2) loop: one wait over every descriptor, dispatch by token,
//! the timers (stop timeout, restart backoff, probes, health, forwarding
//! checks) and the signals.

use super::{After, Supervisor, Token, FORWARD_CHECK};
use crate::runtime::signals::Event;
use crate::supervisor::log::Stream;
use crate::supervisor::probe::Checker;
use nix::sys::signal::Signal;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// After this long without events, drop the code pages the last burst
/// faulted in (`memory::trim`).
const IDLE_TRIM_MS: i32 = 2000;

impl Supervisor {
    pub(super) fn iterate(&mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8 + 2 * self.ports.conn_count());
        let mut tokens: Vec<Token> = Vec::with_capacity(fds.capacity());
        let mut add = |fd: RawFd, events: i16, t: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(t);
        };
        add(self.signals.fd().as_raw_fd(), libc::POLLIN, Token::Signals);
        add(self.control.as_raw_fd(), libc::POLLIN, Token::Control);
        for (i, c) in self.clients.iter().enumerate() {
            if c.waiting.is_none() {
                add(c.stream.as_raw_fd(), libc::POLLIN, Token::Client(i));
            }
        }
        if let Some(r) = &self.run {
            if let Some(o) = &r.out {
                add(o.as_raw_fd(), libc::POLLIN, Token::Out);
            }
            if let Some(e) = &r.err {
                add(e.as_raw_fd(), libc::POLLIN, Token::Err);
            }
        }
        if let Some(fd) = self.health.as_ref().and_then(Checker::fd) {
            add(fd, libc::POLLIN, Token::Probe);
        }
        if let Some(n) = &self.notify {
            add(n.fd(), libc::POLLIN, Token::Notify);
        }
        for (i, fd) in self.ports.listener_interest().into_iter().enumerate() {
            add(fd, libc::POLLIN, Token::Listener(i));
        }
        for i in 0..self.ports.conn_count() {
            let w = self.ports.conn_interest(i);
            if w.outer.1 != 0 {
                add(w.outer.0, w.outer.1, Token::Conn(i));
            }
            if let Some((fd, ev)) = w.inner.filter(|(_, ev)| *ev != 0) {
                add(fd, ev, Token::Conn(i));
            }
        }
        let mut timeout = self.timeout_ms();
        if self.untrimmed && !(0..=IDLE_TRIM_MS).contains(&timeout) {
            timeout = IDLE_TRIM_MS;
        }
        let n = crate::sys::fd::poll(&mut fds, timeout).map_or(-1, |n| n as i32);
        if n == 0
            && self.untrimmed
            && self.busy_at.elapsed() >= Duration::from_millis(IDLE_TRIM_MS as u64)
        {
            crate::supervisor::memory::trim();
            self.untrimmed = false;
        }
        if n > 0 {
            self.untrimmed = true;
            self.busy_at = Instant::now();
            let mut last_conn = usize::MAX;
            for (pfd, t) in fds.iter().zip(tokens.iter()) {
                if pfd.revents == 0 {
                    continue;
                }
                match *t {
                    Token::Signals => self.on_signals(),
                    Token::Control => self.accept_clients(),
                    Token::Client(i) => self.read_client(i),
                    Token::Out => self.read_pipe(Stream::Stdout),
                    Token::Err => self.read_pipe(Stream::Stderr),
                    Token::Listener(i) => self.ports.accept(i),
                    Token::Conn(i) if i != last_conn => {
                        last_conn = i;
                        self.ports.conn_ready(i);
                    }
                    Token::Conn(_) => {}
                    Token::Probe => {
                        if let Some(c) = &mut self.health {
                            c.read();
                        }
                    }
                    Token::Notify => self.on_notify(),
                }
            }
        }
        self.clients.retain(|c| !c.gone);
        self.timers();
        self.ports.tick();
    }

    pub(super) fn timeout_ms(&self) -> i32 {
        let next = [
            self.restart_at,
            self.probe_at,
            self.stopping.as_ref().map(|s| s.kill_at),
            self.ports.next_deadline(),
            self.health.as_ref().and_then(Checker::deadline),
            self.forward_check_at,
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            None => -1,
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                (d.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
            }
        }
    }

    pub(super) fn timers(&mut self) {
        let now = Instant::now();
        if let Some(s) = &self.stopping {
            if now >= s.kill_at {
                if let Some(r) = &self.run {
                    let _ = r.running.signal(Signal::SIGKILL);
                }
                // Wait for SIGCHLD; do not kill again and again.
                if let Some(s) = &mut self.stopping {
                    s.kill_at = now + Duration::from_secs(3600);
                }
            }
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            self.restart_now();
        }
        if self.probe_at.is_some_and(|t| now >= t) {
            self.probe();
        }
        let root = self.store.root().to_path_buf();
        let id = self.container.id().to_string();
        if let Some(r) = self.health.as_mut().and_then(|c| c.tick(&root, &id)) {
            self.health_result(r);
        }
        if self.forward_check_at.is_some_and(|t| now >= t) {
            self.forward_check_at = Some(now + FORWARD_CHECK);
            self.check_forwarding();
        }
    }
    pub(super) fn on_signals(&mut self) {
        loop {
            let ev = match self.signals.next_event() {
                Ok(Some(ev)) => ev,
                _ => return,
            };
            match ev {
                Event::ChildExited => self.on_child(),
                Event::Forward(Signal::SIGTERM | Signal::SIGINT) => {
                    self.begin_stop(10, After::Exit, false)
                }
                Event::Forward(sig) => {
                    if let Some(r) = &self.run {
                        let _ = r.running.signal(sig);
                    }
                }
                Event::WindowChanged => {}
            }
        }
    }
}
