//! The control socket's clients: requests (`state`, `stop`, `restart`,
//! `take_listeners`, `stop_accepting`) and their replies.

use super::{After, Client, Supervisor};
use crate::supervisor::control::{self, Reply, Request};
use crate::supervisor::state::Status;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

impl Supervisor {
    pub(super) fn accept_clients(&mut self) {
        while let Ok((stream, _)) = self.control.accept() {
            if stream.set_nonblocking(true).is_ok() && self.clients.len() < 64 {
                self.clients.push(Client {
                    stream,
                    buf: Vec::new(),
                    waiting: None,
                    gone: false,
                });
            }
        }
    }

    pub(super) fn read_client(&mut self, i: usize) {
        let mut chunk = [0u8; 512];
        let req = {
            let c = &mut self.clients[i];
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.gone = true;
                    return;
                }
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    c.gone = true;
                    return;
                }
            }
            if c.buf.len() > 4096 {
                c.gone = true;
                return;
            }
            let Some(end) = c.buf.iter().position(|&b| b == b'\n') else {
                return;
            };
            serde_json::from_slice::<Request>(&c.buf[..end])
        };
        match req {
            Err(e) => self.reply(i, &Reply::err(format!("bad request: {e}"))),
            Ok(Request::State) => {
                let r = Reply::ok(Some(self.state.clone()));
                self.reply(i, &r);
            }
            Ok(Request::TakeListeners) => self.send_listeners(i),
            Ok(Request::StopAccepting) => {
                self.ports.stop_accepting();
                self.state.draining = true;
                self.save();
                self.sync_forwarding();
                self.reply(i, &Reply::ok(Some(self.state.clone())));
            }
            Ok(Request::Stop { timeout }) => {
                self.clients[i].waiting = Some(After::Exit);
                self.begin_stop(timeout, After::Exit, true);
            }
            Ok(Request::Restart { timeout }) => {
                self.clients[i].waiting = Some(After::Restart);
                self.restarter.count = 0;
                self.begin_stop(timeout, After::Restart, true);
            }
        }
    }

    pub(super) fn reply(&mut self, i: usize, r: &Reply) {
        let c = &mut self.clients[i];
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = c.stream.write_all(&line);
        }
        c.gone = true;
    }

    /// `take_listeners`: the listening sockets go with the reply.
    pub(super) fn send_listeners(&mut self, i: usize) {
        let fds = self.ports.listener_fds();
        let mut r = Reply::ok(None);
        r.listeners = Some(fds.iter().map(|(spec, _)| (*spec).clone()).collect());
        let raw: Vec<RawFd> = fds.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let c = &mut self.clients[i];
        let _ = c.stream.set_nonblocking(false);
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = control::send_with_fds(&c.stream, &r, &raw);
        c.gone = true;
    }

    /// Answer the clients waiting for `what` (a restart's result or the end).
    pub(super) fn reply_waiting(&mut self, what: After) {
        for i in 0..self.clients.len() {
            if self.clients[i].waiting != Some(what) {
                continue;
            }
            let r = match (&self.state.status, &self.state.error) {
                (Status::Running, _) | (Status::Exited, None) => {
                    Reply::ok(Some(self.state.clone()))
                }
                (_, Some(e)) => Reply::err(e.clone()),
                _ => Reply::ok(Some(self.state.clone())),
            };
            self.reply(i, &r);
        }
    }
}
