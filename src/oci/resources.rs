//! `linux.resources` and `linux.cgroupsPath` onto the runtime's cgroup:
//! memory limit, CPU quota (scaled to skiff's 100 ms period), pids limit.
//! Device rules are accepted and replaced by skiff's own (deny all but the
//! default nodes). Anything else set is refused, by name.

use super::{OciError, Result};
use crate::runtime::spec::{Resources, CPU_PERIOD_US};
use oci_spec::runtime::Spec;
use std::path::PathBuf;

pub fn check(spec: &Spec) -> Result<()> {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Ok(());
    };
    let v = serde_json::to_value(r).map_err(|e| OciError::Invalid(e.to_string()))?;
    let v1 = !crate::runtime::cgroups::host_is_unified();
    let allowed: &[(&str, &[&str])] = if v1 {
        &[
            ("devices", &[]),
            (
                "memory",
                &[
                    "limit",
                    "reservation",
                    "swap",
                    "kernel",
                    "kernelTCP",
                    "swappiness",
                    "disableOOMKiller",
                ],
            ),
            (
                "cpu",
                &[
                    "quota",
                    "period",
                    "shares",
                    "realtimeRuntime",
                    "realtimePeriod",
                    "cpus",
                    "mems",
                ],
            ),
            ("pids", &["limit"]),
        ]
    } else {
        &[
            ("devices", &[]),
            ("memory", &["limit"]),
            ("cpu", &["quota", "period"]),
            ("pids", &["limit"]),
        ]
    };
    for (k, val) in v.as_object().into_iter().flatten() {
        if val.is_null() {
            continue;
        }
        let Some((_, fields)) = allowed.iter().find(|(a, _)| a == k) else {
            return Err(unsupported(k));
        };
        if k == "devices" {
            continue;
        }
        for (f, fv) in val.as_object().into_iter().flatten() {
            if !fv.is_null() && !fields.contains(&f.as_str()) {
                return Err(unsupported(&format!("{k}.{f}")));
            }
        }
    }
    Ok(())
}

fn unsupported(what: &str) -> OciError {
    OciError::Invalid(format!(
        "linux.resources.{what} is not supported by skiff-runc on this host (see `skiff-runc features`)"
    ))
}

pub fn of(spec: &Spec) -> Resources {
    let mut out = Resources::default();
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return out;
    };
    if let Some(m) = r.memory().as_ref().and_then(|m| m.limit()) {
        out.memory = (m > 0).then_some(m as u64);
    }
    // On v1 quota and period are written as given (`v1_extras`).
    if let Some(c) = r
        .cpu()
        .as_ref()
        .filter(|_| crate::runtime::cgroups::host_is_unified())
    {
        if let (Some(q), p) = (c.quota(), c.period().unwrap_or(CPU_PERIOD_US)) {
            if q > 0 && p > 0 {
                out.cpu_quota = Some((q as u64).saturating_mul(CPU_PERIOD_US) / p);
            }
        }
    }
    if let Some(p) = r.pids().as_ref().map(|p| p.limit()) {
        out.pids = (p > 0).then_some(p as u64);
    }
    out
}

/// The v1 settings beyond `Resources` (see `cgroups::v1_extra`).
pub fn v1_extras(spec: &Spec) -> Vec<crate::runtime::cgroups::v1_extra::Setting> {
    let mut out = Vec::new();
    let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return out;
    };
    if let Some(m) = r.memory() {
        if let Some(v) = m.reservation() {
            out.push(("memory", "memory.soft_limit_in_bytes", v.to_string()));
        }
        if let Some(v) = m.swap() {
            out.push(("memory", "memory.memsw.limit_in_bytes", v.to_string()));
        }
        if let Some(v) = m.kernel() {
            out.push(("memory", "memory.kmem.limit_in_bytes", v.to_string()));
        }
        if let Some(v) = m.kernel_tcp() {
            out.push(("memory", "memory.kmem.tcp.limit_in_bytes", v.to_string()));
        }
        if let Some(v) = m.swappiness() {
            out.push(("memory", "memory.swappiness", v.to_string()));
        }
        if m.disable_oom_killer() == Some(true) {
            out.push(("memory", "memory.oom_control", "1".into()));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(v) = c.period() {
            out.push(("cpu", "cpu.cfs_period_us", v.to_string()));
        }
        if let Some(v) = c.quota() {
            out.push(("cpu", "cpu.cfs_quota_us", v.to_string()));
        }
        if let Some(v) = c.shares() {
            out.push(("cpu", "cpu.shares", v.to_string()));
        }
        if let Some(v) = c.realtime_period() {
            out.push(("cpu", "cpu.rt_period_us", v.to_string()));
        }
        if let Some(v) = c.realtime_runtime() {
            out.push(("cpu", "cpu.rt_runtime_us", v.to_string()));
        }
        if let Some(v) = c.cpus().as_ref().filter(|v| !v.is_empty()) {
            out.push(("cpuset", "cpuset.cpus", v.clone()));
        }
        if let Some(v) = c.mems().as_ref().filter(|v| !v.is_empty()) {
            out.push(("cpuset", "cpuset.mems", v.clone()));
        }
    }
    out
}

/// `linux.cgroupsPath` below the hierarchy root, else `skiff/<id>`. A
/// path with `..` is refused by `check_path`.
pub fn cgroup_path(spec: &Spec, id: &str) -> PathBuf {
    match spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        Some(p) if !p.as_os_str().is_empty() => {
            let s = p.to_string_lossy();
            PathBuf::from(s.trim_start_matches('/'))
        }
        _ => PathBuf::from(crate::runtime::cgroups::PARENT).join(id),
    }
}

pub fn check_path(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        if p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
            || p.to_string_lossy().contains(':')
        {
            return Err(OciError::Invalid(format!(
                "linux.cgroupsPath {} must be a cgroupfs path without \"..\" (systemd slice:prefix:name paths are not supported)",
                p.display()
            )));
        }
    }
    Ok(())
}
