//! Restart policies as docker defines them, and the backoff between quick
//! failures. Pure: no clock, no processes — the supervisor feeds in how the
//! container ended and how long it ran, and gets back what to do.
//!
//! | policy | restarts when the container ends… | at `skiff boot` |
//! | --- | --- | --- |
//! | `no` | never | never |
//! | `always` | always (not after `skiff stop`) | yes, even if it was stopped |
//! | `on-failure[:N]` | with a non-zero exit code, at most N times | if it was running when the host went down |
//! | `unless-stopped` | always (not after `skiff stop`) | unless it was stopped |
//!
//! Backoff: a container that ran [`LONG_RUN`] or more is restarted at once
//! and the delay starts over; otherwise the delay is [`FIRST_DELAY`],
//! doubling with every quick failure, capped at [`MAX_DELAY`] — a crash
//! loop never spins.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

pub const LONG_RUN: Duration = Duration::from_secs(10);
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// For soak tests only (`scripts/soak.sh`): the first backoff delay in
/// milliseconds (fractions allowed: `0.05`) instead of [`FIRST_DELAY`]; the
/// cap scales with it (600 ×), so 1000 crash-loop restarts take a minute,
/// not hours.
/// Read once when a supervisor starts; `spawn.rs` passes it through the
/// supervisor's otherwise empty environment. Never set it in production.
pub const BACKOFF_ENV: &str = "SKIFF_RESTART_BACKOFF_MS";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    #[default]
    No,
    Always,
    /// `on-failure[:N]`; `None` retries forever.
    OnFailure(Option<u32>),
    UnlessStopped,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid restart policy {0:?} (use no, always, on-failure[:N] or unless-stopped)")]
pub struct BadPolicy(pub String);

impl std::str::FromStr for Policy {
    type Err = BadPolicy;
    fn from_str(s: &str) -> Result<Policy, BadPolicy> {
        let bad = || BadPolicy(s.to_string());
        let (name, max) = match s.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (s, None),
        };
        match (name, max) {
            ("no" | "", None) => Ok(Policy::No),
            ("always", None) => Ok(Policy::Always),
            ("unless-stopped", None) => Ok(Policy::UnlessStopped),
            ("on-failure", None) => Ok(Policy::OnFailure(None)),
            ("on-failure", Some(m)) => match m.parse::<u32>() {
                Ok(0) => Ok(Policy::OnFailure(None)),
                Ok(n) => Ok(Policy::OnFailure(Some(n))),
                Err(_) => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::No => f.write_str("no"),
            Policy::Always => f.write_str("always"),
            Policy::OnFailure(None) => f.write_str("on-failure"),
            Policy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            Policy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Policy, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How one run of the container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// docker's exit code (128 + signal when killed).
    pub exit_code: i32,
    /// `skiff stop`/`restart`/`rm -f` ended it, or the supervisor was told to stop.
    pub stopped: bool,
    /// How long it ran.
    pub ran_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after this delay (zero: at once).
    Restart(Duration),
    /// Leave it stopped.
    Stay,
}

/// The state a supervisor keeps between runs: how many restarts so far and
/// the current backoff delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restarter {
    pub policy: Policy,
    /// Restarts done by the policy (shown as RESTARTS).
    pub count: u32,
    /// The delay the next quick failure waits; zero before the first one.
    delay: Duration,
    /// [`FIRST_DELAY`] and [`MAX_DELAY`], unless scaled for a soak test.
    first: Duration,
    max: Duration,
}

impl Default for Restarter {
    fn default() -> Restarter {
        Restarter::new(Policy::default(), 0)
    }
}

impl Restarter {
    pub fn new(policy: Policy, count: u32) -> Restarter {
        Restarter {
            policy,
            count,
            delay: Duration::ZERO,
            first: FIRST_DELAY,
            max: MAX_DELAY,
        }
    }

    /// Soak tests only: backoff from `first`, capped at 600 × `first`
    /// (docker's 100 ms → 60 s, scaled). A zero `first` is taken as 1 µs so
    /// the delay still doubles.
    pub fn with_first_delay(mut self, first: Duration) -> Restarter {
        self.first = first.max(Duration::from_micros(1));
        self.max = self.first * (MAX_DELAY.as_millis() / FIRST_DELAY.as_millis()) as u32;
        self
    }

    /// The [`BACKOFF_ENV`] override, if set to a number of milliseconds.
    pub fn first_delay_from_env() -> Option<Duration> {
        let ms: f64 = std::env::var(BACKOFF_ENV).ok()?.parse().ok()?;
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    }

    /// What to do after `ended`. A `Restart` counts as a restart.
    pub fn decide(&mut self, ended: Ended) -> Decision {
        if ended.stopped {
            return Decision::Stay;
        }
        let wanted = match self.policy {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => ended.exit_code != 0 && max.is_none_or(|m| self.count < m),
        };
        if !wanted {
            return Decision::Stay;
        }
        self.count += 1;
        if ended.ran_for >= LONG_RUN {
            self.delay = Duration::ZERO;
            return Decision::Restart(Duration::ZERO);
        }
        self.delay = if self.delay.is_zero() {
            self.first
        } else {
            (self.delay * 2).min(self.max)
        };
        Decision::Restart(self.delay)
    }
}

/// Should `skiff boot` start this container? `was_running`: its state
/// said running (or restarting) when the host went down; `stopped`: a user
/// stopped it.
pub fn start_at_boot(policy: Policy, was_running: bool, stopped: bool) -> bool {
    match policy {
        Policy::No => false,
        Policy::Always => true,
        Policy::UnlessStopped => !stopped,
        Policy::OnFailure(_) => was_running && !stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: i32, secs: u64) -> Ended {
        Ended {
            exit_code: code,
            stopped: false,
            ran_for: Duration::from_secs(secs),
        }
    }

    #[test]
    fn parse_and_print() {
        for s in [
            "no",
            "always",
            "on-failure",
            "on-failure:3",
            "unless-stopped",
        ] {
            assert_eq!(s.parse::<Policy>().unwrap().to_string(), s);
        }
        assert_eq!(
            "on-failure:0".parse::<Policy>(),
            Ok(Policy::OnFailure(None))
        );
        assert!("sometimes".parse::<Policy>().is_err());
        assert!("always:3".parse::<Policy>().is_err());
        assert!("on-failure:x".parse::<Policy>().is_err());
        let j = serde_json::to_string(&Policy::OnFailure(Some(2))).unwrap();
        assert_eq!(j, "\"on-failure:2\"");
        assert_eq!(
            serde_json::from_str::<Policy>(&j).unwrap(),
            Policy::OnFailure(Some(2))
        );
    }

    #[test]
    fn no_never_restarts() {
        let mut r = Restarter::new(Policy::No, 0);
        assert_eq!(r.decide(ended(1, 0)), Decision::Stay);
        assert_eq!(r.count, 0);
    }

    #[test]
    fn crash_loop_backs_off_doubling_to_a_minute() {
        let mut r = Restarter::new(Policy::Always, 0);
        let delays: Vec<u64> = (0..12)
            .map(|_| match r.decide(ended(1, 0)) {
                Decision::Restart(d) => d.as_millis() as u64,
                Decision::Stay => panic!("always stays"),
            })
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(r.count, 12);
    }

    #[test]
    fn soak_backoff_scales_base_and_cap() {
        let mut r = Restarter::new(Policy::Always, 0).with_first_delay(Duration::from_millis(1));
        let delays: Vec<u128> = (0..12)
            .map(|_| match r.decide(ended(1, 0)) {
                Decision::Restart(d) => d.as_millis(),
                Decision::Stay => panic!("always stays"),
            })
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    }

    #[test]
    fn a_long_run_restarts_at_once_and_resets_the_backoff() {
        let mut r = Restarter::new(Policy::Always, 0);
        r.decide(ended(1, 0));
        r.decide(ended(1, 0));
        assert_eq!(r.decide(ended(137, 10)), Decision::Restart(Duration::ZERO));
        assert_eq!(r.decide(ended(1, 1)), Decision::Restart(FIRST_DELAY));
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let mut r = Restarter::new(Policy::OnFailure(Some(2)), 0);
        assert_eq!(r.decide(ended(0, 0)), Decision::Stay);
        assert!(matches!(r.decide(ended(3, 0)), Decision::Restart(_)));
        assert!(matches!(r.decide(ended(3, 0)), Decision::Restart(_)));
        assert_eq!(r.decide(ended(3, 0)), Decision::Stay);
        assert_eq!(r.count, 2);
        let mut forever = Restarter::new(Policy::OnFailure(None), 1000);
        assert!(matches!(forever.decide(ended(1, 0)), Decision::Restart(_)));
    }

    #[test]
    fn stop_means_stopped() {
        for p in [
            Policy::Always,
            Policy::UnlessStopped,
            Policy::OnFailure(None),
        ] {
            let mut r = Restarter::new(p, 0);
            let e = Ended {
                exit_code: 137,
                stopped: true,
                ran_for: Duration::from_secs(100),
            };
            assert_eq!(r.decide(e), Decision::Stay);
        }
    }

    #[test]
    fn boot() {
        assert!(start_at_boot(Policy::Always, false, true));
        assert!(start_at_boot(Policy::UnlessStopped, false, false));
        assert!(!start_at_boot(Policy::UnlessStopped, true, true));
        assert!(start_at_boot(Policy::OnFailure(None), true, false));
        assert!(!start_at_boot(Policy::OnFailure(None), false, false));
        assert!(!start_at_boot(Policy::No, true, false));
    }
}
