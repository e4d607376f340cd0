//! Probes from skiff's health check, with docker's meaning kept:
//!
//! - the check's command is an exec probe, its interval the period, its
//!   timeout the timeout and its retries the failures that count;
//! - `readinessProbe` is what takes a replica out of the Service (skiff's
//!   shared socket stops accepting for an unhealthy replica), and
//!   `livenessProbe` restarts it when unhealthy;
//! - docker's start period (failures do not count, checks every start
//!   interval) is a `startupProbe` that allows that many failures more;
//! - without a health check, a container that listens is ready when its
//!   first port accepts a TCP connection (what skiff's rollouts wait for).

use crate::supervisor::health::HealthConfig;
use serde_json::{json, Map, Value};

/// Docker's default start interval (5 s), when none is given.
const DEFAULT_START_INTERVAL_MS: u64 = 5_000;

/// Whole seconds, rounded up, at least 1 (Kubernetes' unit and minimum).
fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

fn exec(h: &HealthConfig, period_ms: u64, failures: u64) -> Value {
    json!({
        "exec": { "command": h.command },
        "failureThreshold": failures.max(1),
        "periodSeconds": secs(period_ms),
        "timeoutSeconds": secs(h.timeout_ms),
    })
}

/// The probes of a container (keys of the container object).
pub fn probes(health: Option<&HealthConfig>, ports: &[u16]) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(h) = health {
        let retries = u64::from(h.retries.max(1));
        out.insert("readinessProbe".into(), exec(h, h.interval_ms, retries));
        out.insert("livenessProbe".into(), exec(h, h.interval_ms, retries));
        if h.start_period_ms > 0 {
            let every = if h.start_interval_ms > 0 {
                h.start_interval_ms
            } else {
                DEFAULT_START_INTERVAL_MS
            };
            let during = h.start_period_ms.div_ceil(secs(every) * 1000);
            out.insert("startupProbe".into(), exec(h, every, during + retries));
        }
    } else if let Some(p) = ports.first() {
        out.insert(
            "readinessProbe".into(),
            json!({
                "failureThreshold": 3,
                "periodSeconds": 2,
                "tcpSocket": { "port": p },
                "timeoutSeconds": 1,
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HealthConfig {
        HealthConfig {
            command: vec![
                "/bin/sh".into(),
                "-c".into(),
                "wget -q -O- localhost:3000".into(),
            ],
            interval_ms: 1500,
            timeout_ms: 200,
            start_period_ms: 10_000,
            start_interval_ms: 0,
            retries: 3,
            on_failure: Default::default(),
        }
    }

    #[test]
    fn health_check_becomes_exec_probes() {
        let p = probes(Some(&check()), &[3000]);
        let r = &p["readinessProbe"];
        assert_eq!(r["exec"]["command"][2], "wget -q -O- localhost:3000");
        assert_eq!(r["periodSeconds"], 2);
        assert_eq!(r["timeoutSeconds"], 1);
        assert_eq!(r["failureThreshold"], 3);
        assert_eq!(p["livenessProbe"], p["readinessProbe"]);
        // 10 s of start period at 5 s: 2 failures that do not count, then 3.
        assert_eq!(p["startupProbe"]["failureThreshold"], 5);
        assert_eq!(p["startupProbe"]["periodSeconds"], 5);
    }

    #[test]
    fn ports_only_give_tcp_readiness() {
        let p = probes(None, &[8080, 9090]);
        assert_eq!(p["readinessProbe"]["tcpSocket"]["port"], 8080);
        assert!(p.get("livenessProbe").is_none());
        assert!(probes(None, &[]).is_empty());
    }
}
