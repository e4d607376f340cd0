//! One health probe, both ends of it.
//!
//! The supervisor must never enter its container's namespaces itself, so
//! each probe is a short-lived `skiff __probe ID TIMEOUT_MS -- CMD...`
//! (the sealed binary, a clean environment), started with [`Probe::start`].
//! That process joins the container exactly as `skiff exec` does (cgroup,
//! namespaces, user, capabilities, no_new_privs, seccomp: [`join::spawn`]),
//! runs the command with stdout and stderr on one pipe back to the
//! supervisor, kills it at the timeout and exits with its code
//! ([`run_in_container`]). The supervisor reads at most
//! [`health::MAX_OUTPUT`] bytes of the pipe (and drains the rest), reaps the
//! process on SIGCHLD, and kills it if it outlives its timeout by far.

use super::health::{self, HealthResult};
use super::state::State;
use super::{now_rfc3339, Result, SupervisorError};
use crate::runtime::process::join::{self, ExecOptions};
use crate::runtime::process::sealed_exe;
use crate::runtime::{Container, RuntimeError};
use crate::store::Store;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Exit code of `__probe` when the command ran out of time.
pub const TIMED_OUT: i32 = 124;
/// The supervisor kills a probe process this long after its timeout.
const GRACE: Duration = Duration::from_secs(5);

/// A probe in flight, owned by the supervisor.
pub struct Probe {
    child: std::process::Child,
    out: Option<OwnedFd>,
    output: Vec<u8>,
    started_at: String,
    kill_at: Instant,
}

impl Probe {
    /// Start `skiff __probe` for the container `id`.
    pub fn start(root: &Path, id: &str, command: &[String], timeout: Duration) -> Result<Probe> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(SupervisorError::sys("pipe"))?;
        let w2 = w
            .try_clone()
            .map_err(SupervisorError::io("cannot duplicate", Path::new("pipe")))?;
        let flags = nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(SupervisorError::sys("fcntl"))?;
        nix::fcntl::fcntl(
            &r,
            nix::fcntl::FcntlArg::F_SETFL(
                nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
            ),
        )
        .map_err(SupervisorError::sys("fcntl"))?;
        let child = std::process::Command::new("/proc/self/exe")
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("SKIFF_ROOT", root)
            .arg("__probe")
            .arg(id)
            .arg(timeout.as_millis().to_string())
            .arg("--")
            .args(command)
            .stdin(std::process::Stdio::null())
            .stdout(w)
            .stderr(w2)
            .current_dir("/")
            .spawn()
            .map_err(SupervisorError::io(
                "cannot start a health probe with",
                Path::new("/proc/self/exe"),
            ))?;
        Ok(Probe {
            child,
            out: Some(r),
            output: Vec::new(),
            started_at: now_rfc3339(),
            kill_at: Instant::now() + timeout + GRACE,
        })
    }

    /// The pipe to poll, until it reached its end.
    pub fn fd(&self) -> Option<RawFd> {
        self.out.as_ref().map(|f| f.as_raw_fd())
    }

    /// Read what the pipe has; keep the first MAX_OUTPUT bytes.
    pub fn read(&mut self) {
        let Some(fd) = &self.out else { return };
        let mut f = std::fs::File::from(match fd.try_clone() {
            Ok(f) => f,
            Err(_) => return,
        });
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => {
                    self.out = None;
                    return;
                }
                Ok(n) => {
                    let room = health::MAX_OUTPUT.saturating_sub(self.output.len());
                    self.output.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    pub fn kill_at(&self) -> Instant {
        self.kill_at
    }

    /// Past its deadline: kill the probe process (its command dies with it
    /// or with the container).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        self.kill_at = Instant::now() + Duration::from_secs(3600);
    }

    /// The result once the probe process has ended (reaped here).
    pub fn try_finish(&mut self) -> Option<HealthResult> {
        // Err: someone else reaped it (a wait for any child): it ended.
        let code = match self.child.try_wait() {
            Ok(Some(status)) => status.code(),
            Ok(None) => return None,
            Err(_) => None,
        };
        self.read();
        let exit_code = code.unwrap_or(-1);
        let mut output = health::cap_output(&self.output);
        if exit_code == TIMED_OUT && output.is_empty() {
            output = "Health check exceeded its timeout".into();
        } else if code.is_none() {
            output.push_str("\nskiff: the health check was killed (it outlived its timeout)");
        }
        Some(HealthResult {
            start: std::mem::take(&mut self.started_at),
            end: now_rfc3339(),
            exit_code,
            output,
        })
    }
}

/// `skiff __probe ID TIMEOUT_MS -- CMD...`: run CMD in the container as
/// `exec` would, give it TIMEOUT_MS, return its exit code ([`TIMED_OUT`]
/// when it ran out of time, 125/126/127 as docker when it could not run).
pub fn run_in_container(root: &Path, id: &str, timeout: Duration, command: &[String]) -> i32 {
    match probe(root, id, timeout, command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skiff: {e}");
            match e {
                SupervisorError::Runtime(RuntimeError::Exec { code, .. }) => code,
                _ => 125,
            }
        }
    }
}

fn probe(root: &Path, id: &str, timeout: Duration, command: &[String]) -> Result<i32> {
    sealed_exe::ensure()?;
    let store = Store::open(root)?;
    let container = Container::open(&store, id)?;
    let state = State::load(container.dir())?;
    let pid = state
        .pid
        .ok_or_else(|| SupervisorError::Invalid(format!("container {id} is not running")))?;
    let opts = ExecOptions {
        args: command.to_vec(),
        ..ExecOptions::default()
    };
    let joined = join::spawn(container.spec(), Pid::from_raw(pid), &opts)?;
    let deadline = Instant::now() + timeout;
    loop {
        match waitpid(joined.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SupervisorError::sys("wait for the health check")(e)),
        }
        if Instant::now() >= deadline {
            let _ = kill(joined.pid, Signal::SIGKILL);
            let _ = waitpid(joined.pid, None);
            println!("Health check exceeded its timeout ({})", humantime(timeout));
            return Ok(TIMED_OUT);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The supervisor's side of a container's health check: when the next
/// probe is due, the probe in flight, and what its result means.
pub struct Checker {
    cfg: health::HealthConfig,
    started: Option<Instant>,
    next_at: Option<Instant>,
    probe: Option<Probe>,
}

impl Checker {
    pub fn new(cfg: health::HealthConfig) -> Checker {
        Checker {
            cfg,
            started: None,
            next_at: None,
            probe: None,
        }
    }

    pub fn config(&self) -> &health::HealthConfig {
        &self.cfg
    }

    fn in_start_period(&self) -> bool {
        self.started
            .is_some_and(|t| t.elapsed() < Duration::from_millis(self.cfg.start_period_ms))
    }

    /// docker waits one interval (the start interval within the start
    /// period) before each probe, the first one included.
    fn schedule(&mut self) {
        let every = if self.in_start_period() {
            self.cfg.start_interval_ms
        } else {
            self.cfg.interval_ms
        };
        self.next_at = Some(Instant::now() + Duration::from_millis(every));
    }

    /// The container (re)started: a fresh `starting` state.
    pub fn on_start(&mut self) -> health::HealthState {
        self.started = Some(Instant::now());
        self.schedule();
        health::HealthState::default()
    }

    /// The container ended: no more probes (one in flight is reaped).
    pub fn on_end(&mut self) {
        self.started = None;
        self.next_at = None;
    }

    pub fn deadline(&self) -> Option<Instant> {
        let kill = self.probe.as_ref().map(Probe::kill_at);
        [self.next_at, kill].into_iter().flatten().min()
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.probe.as_ref().and_then(Probe::fd)
    }

    pub fn read(&mut self) {
        if let Some(p) = &mut self.probe {
            p.read();
        }
    }

    /// Start a due probe; kill one that outlived its timeout. A probe that
    /// cannot even start counts as a failed check.
    pub fn tick(&mut self, root: &Path, id: &str) -> Option<HealthResult> {
        let now = Instant::now();
        if let Some(p) = &mut self.probe {
            if now >= p.kill_at() {
                p.kill();
            }
            return None;
        }
        if self.next_at.is_none_or(|t| now < t) {
            return None;
        }
        self.next_at = None;
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        match Probe::start(root, id, &self.cfg.command, timeout) {
            Ok(p) => {
                self.probe = Some(p);
                None
            }
            Err(e) => {
                self.schedule();
                let now = now_rfc3339();
                Some(HealthResult {
                    start: now.clone(),
                    end: now,
                    exit_code: -1,
                    output: e.to_string(),
                })
            }
        }
    }

    /// After SIGCHLD: the finished probe's result, if it finished. The
    /// next probe is scheduled while the container runs.
    pub fn reap(&mut self) -> Option<HealthResult> {
        let result = self.probe.as_mut()?.try_finish()?;
        self.probe = None;
        if self.started.is_some() {
            self.schedule();
        }
        Some(result)
    }

    /// Record a result in `state`; the new status when it changed.
    pub fn record(
        &self,
        state: &mut health::HealthState,
        result: HealthResult,
    ) -> Option<health::HealthStatus> {
        state.record(&self.cfg, result, self.in_start_period())
    }
}
