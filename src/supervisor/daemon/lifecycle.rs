//! The container's run: start with fresh log pipes, its end (reaped,
//! logged, recorded), the restart policy's decision, stop and restart.

use super::{After, Run, Stopping, Supervisor};
use crate::runtime::{ExitStatus, Signum, Stdio};
use crate::supervisor::log::{LineSplitter, Stream};
use crate::supervisor::probe::Checker;
use crate::supervisor::restart::{Decision, Ended};
use crate::supervisor::state::Status;
use crate::supervisor::{now_rfc3339, Result, SupervisorError};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

fn set_nonblocking(fd: &OwnedFd) {
    let _ = crate::sys::fd::set_nonblocking(fd.as_fd());
}

impl Supervisor {
    /// A replacement without published ports: stop the old container first.
    pub(super) fn stop_first(&mut self) -> Result<()> {
        let Some((id, timeout)) = self.stop_first.take() else {
            return Ok(());
        };
        match crate::supervisor::ops::stop(&self.store, &id, timeout) {
            Ok(_) | Err(SupervisorError::NotFound(_)) => Ok(()),
            Err(e) => Err(SupervisorError::Invalid(format!(
                "cannot stop the container this one replaces: {e}"
            ))),
        }
    }

    /// Start the container's program with fresh log pipes.
    pub(super) fn start(&mut self) -> Result<()> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SupervisorError::sys("pipe"))
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        set_nonblocking(&out_r);
        set_nonblocking(&err_r);
        let running = self.container.start(Stdio::Fds {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        })?;
        let pid = running.pid().as_raw();
        self.ports.set_container(Some(pid));
        self.state.status = Status::Running;
        self.state.pid = Some(pid);
        self.state.started_at = Some(now_rfc3339());
        self.state.error = None;
        self.state.oom_killed = false;
        self.state.restart_count = self.restarter.count;
        self.state.ready = false;
        self.ports_ready = self.ports.is_empty();
        self.state.health = self.health.as_mut().map(Checker::on_start);
        self.probe_at = (!self.ports.is_empty()).then(Instant::now);
        if let Some(n) = &mut self.notify {
            // Ready when this run of the container says so.
            n.drain();
            self.ports_ready = false;
            self.probe_at = None;
            self.state.notify_status = None;
        }
        self.gate_replica();
        self.update_ready();
        self.save();
        self.event("start", |e| e.attr("pid", pid.to_string()));
        self.run = Some(Run {
            running,
            out: Some(out_r),
            err: Some(err_r),
            out_lines: LineSplitter::default(),
            err_lines: LineSplitter::default(),
            started: Instant::now(),
        });
        Ok(())
    }
    /// Start again (policy or `restart`); a failed start counts as a quick exit.
    pub(super) fn restart_now(&mut self) {
        let count = self.restarter.count;
        self.event("restart", |e| e.attr("restartCount", count.to_string()));
        let started = self.start();
        if started.is_ok() {
            crate::supervisor::memory::trim();
        }
        if let Err(e) = started {
            let code = e.exit_code();
            self.log.write(
                Stream::Stderr,
                format!("skiff: cannot restart the container: {e}\n").as_bytes(),
            );
            self.state.error = Some(e.to_string());
            self.state.exit_code = Some(code);
            self.state.finished_at = Some(now_rfc3339());
            self.after_exit(Ended {
                exit_code: code,
                stopped: false,
                ran_for: Duration::ZERO,
            });
        }
        self.reply_waiting(After::Restart);
    }
    pub(super) fn on_child(&mut self) {
        if let Some(r) = self.health.as_mut().and_then(Checker::reap) {
            self.health_result(r);
        }
        let status = match &mut self.run {
            None => {
                // Not ours (nothing else should be): reap and forget.
                while let Ok(
                    nix::sys::wait::WaitStatus::Exited(..)
                    | nix::sys::wait::WaitStatus::Signaled(..),
                ) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
                {
                }
                return;
            }
            Some(r) => match r.running.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    // The exit was recorded before the cgroup removal failed.
                    self.log
                        .write(Stream::Stderr, format!("skiff: {e}\n").as_bytes());
                    match r.running.try_wait() {
                        Ok(Some(s)) => s,
                        _ => return,
                    }
                }
            },
        };
        self.ended(status);
    }

    pub(super) fn ended(&mut self, status: ExitStatus) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        // Every process of the container is gone: read the pipes to the end.
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.drain(&mut run, stream, true);
        }
        let ran_for = run.started.elapsed();
        drop(run);
        self.ports.set_container(None);
        self.probe_at = None;
        if let Some(c) = &mut self.health {
            c.on_end();
        }
        let code = status.exit_code();
        let was_ready = self.state.ready;
        self.state.pid = None;
        self.state.ready = false;
        self.gate_replica();
        if was_ready && self.forward {
            self.save();
            self.sync_forwarding();
        }
        self.state.exit_code = Some(code);
        self.state.oom_killed = status.oom_killed;
        self.state.finished_at = Some(now_rfc3339());
        if status.oom_killed {
            self.log.write(
                Stream::Stderr,
                b"skiff: the container was killed: out of memory\n",
            );
            self.event("oom", |e| e);
        }
        let ran = ran_for.as_secs().to_string();
        self.event("die", |e| {
            e.attr("exitCode", code.to_string())
                .attr("runtime", ran)
                .attr_opt("oomKilled", status.oom_killed.then_some("true"))
        });
        match self.stopping.take() {
            Some(Stopping {
                after: After::Restart,
                ..
            }) => self.restart_now(),
            Some(Stopping {
                after: After::Exit,
                by_user,
                ..
            }) => {
                self.state.status = Status::Exited;
                self.state.stopped_by_user = by_user;
                self.done = true;
                self.event("stop", |e| e);
            }
            None => self.after_exit(Ended {
                exit_code: code,
                stopped: false,
                ran_for,
            }),
        }
    }

    /// The policy's decision after the container ended by itself.
    pub(super) fn after_exit(&mut self, ended: Ended) {
        match self.restarter.decide(ended) {
            Decision::Restart(delay) => {
                self.state.status = Status::Restarting;
                self.state.restart_count = self.restarter.count;
                self.save();
                if delay.is_zero() {
                    self.restart_now();
                } else {
                    self.restart_at = Some(Instant::now() + delay);
                }
            }
            Decision::Stay => {
                self.state.status = Status::Exited;
                self.done = true;
            }
        }
    }

    /// STOPSIGNAL now, SIGKILL after `timeout` seconds, then `after`.
    pub(super) fn begin_stop(&mut self, timeout: u64, after: After, by_user: bool) {
        if self.run.is_none() {
            // Waiting to be restarted (or never started): nothing to signal.
            self.restart_at = None;
            match after {
                After::Exit => {
                    self.state.status = Status::Exited;
                    self.state.stopped_by_user = by_user;
                    self.done = true;
                    self.event("stop", |e| e);
                }
                After::Restart => self.restart_now(),
            }
            return;
        }
        let kill_at = Instant::now() + Duration::from_secs(timeout);
        if let Some(s) = &mut self.stopping {
            // A stop overrides a restart in progress; the earlier kill wins.
            if after == After::Exit {
                s.after = After::Exit;
                s.by_user |= by_user;
            }
            s.kill_at = s.kill_at.min(kill_at);
            return;
        }
        self.stopping = Some(Stopping {
            kill_at,
            after,
            by_user,
        });
        if let Some(r) = &self.run {
            let sig = if timeout == 0 {
                Signum::KILL
            } else {
                self.stop_signal
            };
            let _ = r.running.signal_num(sig);
        }
    }
}
