//! A foreground container: skiff stays attached until it ends, forwarding
//! signals and, with `-t`, copying between the user's terminal and the pty.

use super::container::{ExitStatus, Running};
use super::error::{Result, RuntimeError};
use super::signals::{Event, Forwarder};
use super::terminal::{copy_window_size, RawMode};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

/// Wait for `running`, forwarding signals (and copying the console, if any;
/// stdin only when `interactive`). Returns the container's exit status.
pub fn attach(
    running: &mut Running,
    signals: &mut Forwarder,
    interactive: bool,
) -> Result<ExitStatus> {
    let console = running.take_console();
    let _raw = match (&console, interactive) {
        (Some(_), true) => RawMode::enable(),
        _ => None,
    };
    if let Some(m) = &console {
        copy_window_size(std::io::stdin().as_fd(), m.as_fd());
    }
    let mut stdin_open = interactive && console.is_some();
    let mut console_open = console.is_some();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let (sig_ready, in_ready, con_ready) = {
            let stdin = std::io::stdin();
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            if let (true, Some(m)) = (console_open, &console) {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    return Err(RuntimeError::Sys {
                        what: "poll".into(),
                        source: e.into(),
                    })
                }
                Ok(_) => {}
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
            };
            let con_index = if stdin_open { 2 } else { 1 };
            (
                ready(0),
                stdin_open && ready(1),
                console_open && ready(con_index),
            )
        };
        if in_ready {
            if let Some(m) = &console {
                stdin_open = copy(&std::io::stdin().as_fd(), m, &mut buf);
            }
        }
        if con_ready {
            if let Some(m) = &console {
                console_open = copy_to_stdout(m, &mut buf);
            }
        }
        if sig_ready {
            while let Some(ev) = signals.next_event()? {
                match ev {
                    Event::Forward(sig) => running.signal(sig)?,
                    Event::WindowChanged => {
                        if let Some(m) = &console {
                            copy_window_size(std::io::stdin().as_fd(), m.as_fd());
                        }
                    }
                    Event::ChildExited => {
                        if let Some(status) = running.try_wait()? {
                            if let (true, Some(m)) = (console_open, &console) {
                                while copy_to_stdout(m, &mut buf) {}
                            }
                            return Ok(status);
                        }
                    }
                }
            }
        }
    }
}

/// One read from `from`, written fully to `to`; false at end of input.
fn copy(from: &impl AsFd, to: &OwnedFd, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from.as_fd(), buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => write_all(to.as_fd(), &buf[..n]),
    }
}

fn write_all(to: std::os::fd::BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(to, data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => continue,
            Err(_) => return false,
        }
    }
    true
}

fn copy_to_stdout(from: &OwnedFd, buf: &mut [u8]) -> bool {
    match nix::unistd::read(from.as_fd(), buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&buf[..n]).and_then(|_| out.flush()).is_ok()
        }
    }
}
