//! Ready or not: the port probe, sd_notify's READY=1 and the health
//! check's results, and what they open (the ports' gate, forwarding).

use super::{After, Supervisor};
use crate::supervisor::health::{HealthResult, HealthStatus, OnFailure};
use crate::supervisor::log::Stream;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// Readiness probes: often at first (a rollout waits on them), then seldom.
const PROBE_FAST: Duration = Duration::from_millis(20);
const PROBE_SLOW: Duration = Duration::from_millis(500);
const PROBE_FAST_FOR: Duration = Duration::from_secs(10);
/// How long one probe connect may take.
const PROBE_WAIT: Duration = Duration::from_millis(100);

impl Supervisor {
    /// Ready for a rollout's hand-over: every published port answers and,
    /// with a health check, the container is healthy.
    pub(super) fn update_ready(&mut self) {
        let healthy = self
            .state
            .health
            .as_ref()
            .is_none_or(|h| h.status == HealthStatus::Healthy);
        if self.ports_ready && healthy && !self.state.ready && self.run.is_some() {
            self.state.ready = true;
            self.ports.gate(false);
            self.save();
            self.sync_forwarding();
        }
    }

    /// A replica whose container is not ready leaves the shared port to
    /// the other replicas.
    pub(super) fn gate_replica(&mut self) {
        if self.cfg.options.service.is_some() {
            self.ports.gate(true);
        }
    }

    /// One health check's result: record it, and act on a change.
    pub(super) fn health_result(&mut self, r: HealthResult) {
        let (Some(c), Some(h)) = (&self.health, &mut self.state.health) else {
            return;
        };
        let output = r.output.trim().to_string();
        let change = c.record(h, r);
        let on_failure = c.config().on_failure;
        if change == Some(HealthStatus::Unhealthy) {
            if self.cfg.options.service.is_some() {
                self.state.ready = false;
                self.ports.gate(true);
            }
            let last = output.lines().last().unwrap_or_default();
            self.log.write(
                Stream::Stderr,
                format!("skiff: the container is unhealthy (last check: {last})\n").as_bytes(),
            );
        }
        self.save();
        if change == Some(HealthStatus::Unhealthy) && self.cfg.options.service.is_some() {
            self.sync_forwarding();
        }
        if let Some(status) = change {
            // docker's action: `health_status: healthy`.
            let action = format!("health_status: {}", status.word());
            self.event(&action, |e| e);
        }
        match change {
            Some(HealthStatus::Healthy) => self.update_ready(),
            Some(HealthStatus::Unhealthy) => match on_failure {
                OnFailure::None => {}
                OnFailure::Kill => {
                    if let Some(r) = &self.run {
                        let _ = r.running.signal(Signal::SIGKILL);
                    }
                }
                OnFailure::Restart => self.begin_stop(10, After::Restart, false),
                OnFailure::Stop => self.begin_stop(10, After::Exit, false),
            },
            _ => {}
        }
    }

    /// sd_notify from the container: READY=1 is what the port probe
    /// would have found out (the health check, if any, still gates).
    pub(super) fn on_notify(&mut self) {
        let Some(n) = &mut self.notify else { return };
        let notice = n.read();
        if self.run.is_none() || self.stopping.is_some() {
            return;
        }
        if notice.status.is_some() {
            self.state.notify_status = notice.status;
            self.save();
        }
        if notice.ready && !self.ports_ready {
            self.ports_ready = true;
            self.update_ready();
        }
    }

    /// Is the container ready (answering on its ports)? Then accept.
    pub(super) fn probe(&mut self) {
        let since = self.run.as_ref().map(|r| r.started.elapsed());
        let Some(since) = since.filter(|_| self.stopping.is_none()) else {
            self.probe_at = None;
            return;
        };
        if self.ports.probe(PROBE_WAIT) {
            self.probe_at = None;
            self.ports_ready = true;
            self.update_ready();
            return;
        }
        let every = if since < PROBE_FAST_FOR {
            PROBE_FAST
        } else {
            PROBE_SLOW
        };
        self.probe_at = Some(Instant::now() + every);
    }
}
