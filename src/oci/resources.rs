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
    let allowed: &[(&str, &[&str])] = &[
        ("devices", &[]),
        ("memory", &["limit", "swap"]),
        ("cpu", &["quota", "period"]),
        ("pids", &["limit"]),
    ];
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
        "linux.resources.{what} is not supported by skiff-runc (memory.limit, cpu.quota/period, pids.limit are)"
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
    if let Some(c) = r.cpu() {
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
