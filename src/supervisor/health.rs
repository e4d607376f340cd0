//! Health checks as docker runs them (moby `daemon/health.go`): the image's
//! HEALTHCHECK or the `--health-*` options, decided once at create time
//! into a [`HealthConfig`] in config.json; the supervisor runs each probe
//! inside the container (`skiff __probe`, the same joining and hardening
//! as `exec`) and keeps a [`HealthState`] in state.json: `starting` until a
//! probe passes, `healthy`, or `unhealthy` after `retries` failures in a
//! row, failures inside the start period not counted, the last five
//! results with their output (4 KiB at most) for `inspect`.

use super::{Result, SupervisorError};
use crate::image::config::Healthcheck;
use crate::units::parse_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Results kept in the state, and output kept per result (docker's).
pub const MAX_LOG_ENTRIES: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

/// `--health-*` as the user gave them (part of the container's one
/// record of options).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthOptions {
    /// `--health-cmd`: run with `/bin/sh -c` (docker's CMD-SHELL).
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<u32>,
    /// `--no-healthcheck`: none, whatever the image says.
    pub none: bool,
    /// `--health-on-failure` (podman's): what an unhealthy container gets.
    pub on_failure: OnFailure,
}

impl HealthOptions {
    fn any_set(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.retries.is_some()
            || self.on_failure != OnFailure::None
    }
}

/// What happens when the container turns unhealthy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Report it (ps, inspect); nothing else.
    #[default]
    None,
    /// SIGKILL: the restart policy decides what follows.
    Kill,
    /// Stop and start again, whatever the restart policy.
    Restart,
    /// Stop it for good.
    Stop,
}

impl std::str::FromStr for OnFailure {
    type Err = SupervisorError;
    fn from_str(s: &str) -> Result<OnFailure> {
        match s {
            "none" => Ok(OnFailure::None),
            "kill" => Ok(OnFailure::Kill),
            "restart" => Ok(OnFailure::Restart),
            "stop" => Ok(OnFailure::Stop),
            _ => Err(SupervisorError::Invalid(format!(
                "invalid --health-on-failure {s:?}: use none, kill, restart or stop"
            ))),
        }
    }
}

/// The health check a container runs, decided at create time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// argv run inside the container.
    pub command: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub start_period_ms: u64,
    pub start_interval_ms: u64,
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn duration_opt(flag: &str, given: &Option<String>, image_ns: Option<i64>) -> Result<Option<u64>> {
    if let Some(s) = given {
        let d = parse_duration(s)
            .map_err(|e| SupervisorError::Invalid(format!("invalid --health-{flag}: {e}")))?;
        if flag != "start-period" && d < Duration::from_millis(1) {
            return Err(SupervisorError::Invalid(format!(
                "invalid --health-{flag} {s:?}: must be at least 1ms"
            )));
        }
        return Ok(Some(d.as_millis() as u64));
    }
    Ok(image_ns
        .filter(|n| *n > 0)
        .map(|n| (n / 1_000_000).max(1) as u64))
}

/// docker's rules for combining the image's HEALTHCHECK with `--health-*`:
/// `--no-healthcheck` (or the image's `NONE` without `--health-cmd`) turns
/// it off; `--health-cmd` replaces the test; each other option replaces
/// the image's value; what neither gives takes docker's default.
pub fn decide(image: Option<&Healthcheck>, o: &HealthOptions) -> Result<Option<HealthConfig>> {
    if o.none {
        if o.any_set() {
            return Err(SupervisorError::Invalid(
                "--no-healthcheck conflicts with the --health-* options".into(),
            ));
        }
        return Ok(None);
    }
    let command = match (&o.cmd, image.map(|h| h.test.as_slice())) {
        (Some(cmd), _) if cmd.trim().is_empty() => {
            return Err(SupervisorError::Invalid("--health-cmd is empty".into()))
        }
        (Some(cmd), _) => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
        (None, Some([kind, rest @ ..])) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        (None, Some([kind, cmd])) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), cmd.clone()]
        }
        _ => {
            if o.any_set() {
                return Err(SupervisorError::Invalid(
                    "--health-* options need a health check: give --health-cmd (the image has none)"
                        .into(),
                ));
            }
            return Ok(None);
        }
    };
    let ms = |d: Duration| d.as_millis() as u64;
    let interval = duration_opt("interval", &o.interval, image.and_then(|h| h.interval))?
        .unwrap_or(ms(DEFAULT_INTERVAL));
    let timeout = duration_opt("timeout", &o.timeout, image.and_then(|h| h.timeout))?
        .unwrap_or(ms(DEFAULT_TIMEOUT));
    let start_period = duration_opt(
        "start-period",
        &o.start_period,
        image.and_then(|h| h.start_period),
    )?
    .unwrap_or(0);
    let start_interval = duration_opt("start-interval", &o.start_interval, None)?
        .unwrap_or(ms(DEFAULT_START_INTERVAL));
    let retries = match (o.retries, image.and_then(|h| h.retries)) {
        (Some(0), _) => {
            return Err(SupervisorError::Invalid(
                "invalid --health-retries 0: must be at least 1".into(),
            ))
        }
        (Some(n), _) => n,
        (None, Some(n)) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
        _ => DEFAULT_RETRIES,
    };
    Ok(Some(HealthConfig {
        command,
        interval_ms: interval,
        timeout_ms: timeout,
        start_period_ms: start_period,
        start_interval_ms: start_interval,
        retries,
        on_failure: o.on_failure,
    }))
}

/// docker's three states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn word(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result, as `inspect` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// The health of the running container (reset at each start).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthState {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

impl HealthState {
    /// Take one probe's result. `in_start_period`: the container started
    /// less than the start period ago (its failures do not count).
    /// Returns the new status when it changed.
    pub fn record(
        &mut self,
        cfg: &HealthConfig,
        result: HealthResult,
        in_start_period: bool,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(in_start_period && self.status == HealthStatus::Starting) {
            self.failing_streak += 1;
            if self.failing_streak >= cfg.retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
        (self.status != before).then_some(self.status)
    }
}

/// Keep at most [`MAX_OUTPUT`] bytes of a probe's output, cut on a
/// character boundary.
pub fn cap_output(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT)]);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(test: &[&str]) -> Healthcheck {
        Healthcheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: Some(2_000_000_000),
            timeout: None,
            start_period: None,
            retries: Some(5),
        }
    }

    #[test]
    fn docker_rules_for_image_and_flags() {
        let none = HealthOptions::default();
        assert_eq!(decide(None, &none).unwrap(), None);
        let c = decide(Some(&image(&["CMD", "curl", "-f", "x"])), &none)
            .unwrap()
            .unwrap();
        assert_eq!(c.command, ["curl", "-f", "x"]);
        assert_eq!((c.interval_ms, c.timeout_ms, c.retries), (2000, 30_000, 5));
        let c = decide(Some(&image(&["CMD-SHELL", "exit 0"])), &none)
            .unwrap()
            .unwrap();
        assert_eq!(c.command, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(decide(Some(&image(&["NONE"])), &none).unwrap(), None);
        let flags = HealthOptions {
            cmd: Some("true".into()),
            interval: Some("1s".into()),
            retries: Some(2),
            ..HealthOptions::default()
        };
        let c = decide(Some(&image(&["NONE"])), &flags).unwrap().unwrap();
        assert_eq!(c.command, ["/bin/sh", "-c", "true"]);
        assert_eq!((c.interval_ms, c.retries), (1000, 2));
        let off = HealthOptions {
            none: true,
            ..HealthOptions::default()
        };
        assert_eq!(decide(Some(&image(&["CMD", "true"])), &off).unwrap(), None);
    }

    #[test]
    fn bad_flags_are_refused() {
        let cases = [
            HealthOptions {
                none: true,
                cmd: Some("true".into()),
                ..HealthOptions::default()
            },
            HealthOptions {
                interval: Some("soon".into()),
                cmd: Some("true".into()),
                ..HealthOptions::default()
            },
            HealthOptions {
                retries: Some(0),
                cmd: Some("true".into()),
                ..HealthOptions::default()
            },
            HealthOptions {
                cmd: Some("  ".into()),
                ..HealthOptions::default()
            },
            // Options without any check to apply them to.
            HealthOptions {
                interval: Some("1s".into()),
                ..HealthOptions::default()
            },
        ];
        for o in cases {
            assert!(decide(None, &o).is_err(), "{o:?}");
        }
        assert!("sometimes".parse::<OnFailure>().is_err());
        assert_eq!("restart".parse::<OnFailure>().unwrap(), OnFailure::Restart);
    }

    fn result(code: i32) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..HealthResult::default()
        }
    }

    #[test]
    fn streaks_start_period_and_log() {
        let cfg = decide(
            None,
            &HealthOptions {
                cmd: Some("x".into()),
                retries: Some(2),
                ..HealthOptions::default()
            },
        )
        .unwrap()
        .unwrap();
        let mut h = HealthState::default();
        // Failures in the start period do not count.
        assert_eq!(h.record(&cfg, result(1), true), None);
        assert_eq!(h.record(&cfg, result(1), true), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.record(&cfg, result(0), true), Some(HealthStatus::Healthy));
        // Once healthy, failures count even within the start period.
        assert_eq!(h.record(&cfg, result(1), true), None);
        assert_eq!(
            h.record(&cfg, result(1), false),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(h.failing_streak, 2);
        assert_eq!(
            h.record(&cfg, result(0), false),
            Some(HealthStatus::Healthy)
        );
        for _ in 0..10 {
            h.record(&cfg, result(0), false);
        }
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(cap_output(&vec![b'x'; 10_000]).len(), MAX_OUTPUT);
    }
}
