//! One service of the compose file: its keys decoded into a [`Service`]
//! (build, healthcheck, deploy, depends_on here; ports and volumes in
//! `decode_mounts.rs`).

use super::decode_mounts::{mounts, ports};
use super::decoder::{shell_join, Decoder};
use super::interpolate::parse_env_file;
use super::model::{Build, Condition, Dependency, Healthcheck, NetworkDef, Service, VolumeDef};
use super::yaml::{Key, Node, Value};
use super::{ComposeError, Result};
use std::collections::BTreeMap;

const SERVICE: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "container_name",
    "working_dir",
    "user",
    "networks",
    "labels",
    "stop_signal",
    "stop_grace_period",
    "deploy",
    "profiles",
    "init",
    "read_only",
    "hostname",
    "tmpfs",
];

pub(super) fn service(
    d: &mut Decoder,
    k: &Key,
    n: &Node,
    volumes: &BTreeMap<String, VolumeDef>,
    networks: &BTreeMap<String, NetworkDef>,
) -> Result<Service> {
    let what = format!("service {:?}", k.name);
    let m = d.map(n, &what)?;
    d.check_keys(m, SERVICE, &what)?;
    if crate::supervisor::lookup::check_name(&k.name).is_err() {
        return Err(d.err(
            k.line,
            format!("{what}: invalid service name (use [a-zA-Z0-9][a-zA-Z0-9_.-]*)"),
        ));
    }
    let mut s = Service {
        name: k.name.clone(),
        line: k.line,
        restart: "no".into(),
        replicas: 1,
        ..Default::default()
    };
    let w = |f: &str| format!("{what}: {f}");
    for (key, v) in m {
        let f = key.name.as_str();
        match f {
            "image" => s.image = d.opt_string(v, &w(f))?,
            "build" => s.build = Some(build(d, v, &w(f))?),
            "command" => s.command = d.command(v, &w(f))?,
            "entrypoint" => s.entrypoint = d.command(v, &w(f))?,
            "env_file" => {
                for path in d.list(v, &w(f))? {
                    let p = d.path(&path);
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        d.err(
                            v.line,
                            format!("{}: cannot read env_file {}: {e}", w(f), p.display()),
                        )
                    })?;
                    let vars = parse_env_file(&text).map_err(|(line, m)| ComposeError::At {
                        file: p.clone(),
                        line,
                        msg: m,
                    })?;
                    for (k, val) in vars {
                        if let Some(val) = val.or_else(|| (d.lookup)(&k)) {
                            s.env_file_vars.insert(k.clone(), val.clone());
                            s.environment.insert(k, val);
                        }
                    }
                }
            }
            "environment" | "labels" | "ports" | "volumes" | "depends_on" | "networks" => {}
            "healthcheck" => s.healthcheck = Some(healthcheck(d, v, &w(f))?),
            "restart" => {
                let r = d.string(v, &w(f))?;
                if r.parse::<crate::supervisor::restart::Policy>().is_err() {
                    return Err(d.err(
                        v.line,
                        format!(
                            "{}: {r:?} is not no, always, on-failure[:N] or unless-stopped",
                            w(f)
                        ),
                    ));
                }
                s.restart = r;
            }
            "container_name" => {
                let c = d.string(v, &w(f))?;
                crate::supervisor::lookup::check_name(&c)
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.container_name = Some(c);
            }
            "working_dir" => s.working_dir = d.opt_string(v, &w(f))?,
            "user" => s.user = d.opt_string(v, &w(f))?,
            "hostname" => s.hostname = d.opt_string(v, &w(f))?,
            "stop_signal" => {
                let sig = d.string(v, &w(f))?;
                sig.parse::<crate::runtime::signum::Signum>()
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.stop_signal = Some(sig);
            }
            "stop_grace_period" => {
                let t = d.string(v, &w(f))?;
                let dur = crate::units::parse_duration(&t)
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.stop_grace_period = Some(dur.as_secs());
            }
            "deploy" => deploy(d, v, &mut s, &what)?,
            "profiles" => s.profiles = d.list(v, &w(f))?,
            "init" => s.init = d.boolean(v, &w(f))?,
            "read_only" => s.read_only = d.boolean(v, &w(f))?,
            "tmpfs" => s.tmpfs = d.list(v, &w(f))?,
            _ => {}
        }
    }
    // After env_file, whatever the order in the file.
    if let Some(v) = n.get("environment") {
        for (k, val) in d.key_values(v, &w("environment"))? {
            s.environment.insert(k, val);
        }
    }
    if let Some(v) = n.get("labels") {
        s.labels = d.key_values(v, &w("labels"))?.into_iter().collect();
    }
    if let Some(v) = n.get("ports") {
        s.ports = ports(d, v, &w("ports"))?;
    }
    if let Some(v) = n.get("volumes") {
        s.volumes = mounts(d, v, &w("volumes"), volumes)?;
    }
    if let Some(v) = n.get("depends_on") {
        s.depends_on = depends_on(d, v, &w("depends_on"))?;
    }
    if let Some(v) = n.get("networks") {
        let names: Vec<(String, usize)> = match &v.value {
            Value::Map(m) => m.iter().map(|(k, _)| (k.name.clone(), k.line)).collect(),
            Value::Seq(items) => items
                .iter()
                .map(|i| Ok((d.string(i, &w("networks"))?, i.line)))
                .collect::<Result<_>>()?,
            _ => return Err(d.err(v.line, w("networks must be a list or a mapping"))),
        };
        for (nname, line) in names {
            if nname != "default" && !networks.contains_key(&nname) {
                return Err(d.err(
                    line,
                    format!(
                        "{what}: network {nname:?} is not declared under the top-level networks"
                    ),
                ));
            }
            s.networks.push(nname);
        }
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(d.err(k.line, format!("{what}: has neither an image nor a build")));
    }
    if s.replicas > 1 && s.container_name.is_some() {
        return Err(d.err(
            k.line,
            format!("{what}: container_name cannot be used with more than one replica"),
        ));
    }
    Ok(s)
}

fn build(d: &mut Decoder, v: &Node, what: &str) -> Result<Build> {
    if let Value::Str(_) = v.value {
        return Ok(Build {
            context: d.path(&d.string(v, what)?),
            ..Default::default()
        });
    }
    let m = d.map(v, what)?;
    d.check_keys(m, &["context", "dockerfile", "args", "target"], what)?;
    let mut b = Build {
        context: d.path("."),
        ..Default::default()
    };
    if let Some(c) = v.get("context") {
        b.context = d.path(&d.string(c, what)?);
    }
    if let Some(f) = v.get("dockerfile") {
        b.dockerfile = d.opt_string(f, what)?;
    }
    if let Some(a) = v.get("args") {
        b.args = d.key_values(a, what)?.into_iter().collect();
    }
    if let Some(t) = v.get("target") {
        b.target = d.opt_string(t, what)?;
    }
    Ok(b)
}

fn healthcheck(d: &mut Decoder, v: &Node, what: &str) -> Result<Healthcheck> {
    let m = d.map(v, what)?;
    d.check_keys(
        m,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
        what,
    )?;
    let mut h = Healthcheck::default();
    for (k, x) in m {
        let f = format!("{what}.{}", k.name);
        match k.name.as_str() {
            "test" => match &x.value {
                Value::Seq(_) => {
                    let t = d.list(x, &f)?;
                    match t.split_first() {
                        Some((k, rest)) if k == "CMD" && !rest.is_empty() => {
                            h.test = Some(format!("exec {}", shell_join(rest)))
                        }
                        Some((k, [cmd])) if k == "CMD-SHELL" => h.test = Some(cmd.clone()),
                        Some((k, [])) if k == "NONE" => h.disable = true,
                        _ => {
                            return Err(d.err(
                                x.line,
                                format!("{f}: expected [\"CMD\", args...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]"),
                            ))
                        }
                    }
                }
                _ => h.test = Some(d.string(x, &f)?),
            },
            "disable" => h.disable = d.boolean(x, &f)?,
            "retries" => h.retries = Some(d.number(x, &f)?),
            _ => {
                let s = d.string(x, &f)?;
                crate::units::parse_duration(&s).map_err(|e| d.err(x.line, format!("{f}: {e}")))?;
                match k.name.as_str() {
                    "interval" => h.interval = Some(s),
                    "timeout" => h.timeout = Some(s),
                    "start_period" => h.start_period = Some(s),
                    _ => h.start_interval = Some(s),
                }
            }
        }
    }
    if h.disable {
        h.test = None;
    }
    Ok(h)
}

fn deploy(d: &mut Decoder, v: &Node, s: &mut Service, service: &str) -> Result<()> {
    let what = format!("{service}: deploy");
    let m = d.map(v, &what)?;
    d.check_keys(
        m,
        &[
            "replicas",
            "resources",
            "update_config",
            "restart_policy",
            "mode",
            "labels",
        ],
        &what,
    )?;
    if let Some(r) = v.get("replicas") {
        s.replicas = d.number(r, &format!("{what}.replicas"))?;
    }
    if let Some(r) = v.get("resources") {
        let rm = d.map(r, &format!("{what}.resources"))?;
        d.check_keys(
            rm,
            &["limits", "reservations"],
            &format!("{what}.resources"),
        )?;
        if let Some(l) = r.get("limits") {
            let lw = format!("{what}.resources.limits");
            let lm = d.map(l, &lw)?;
            d.check_keys(lm, &["cpus", "memory", "pids"], &lw)?;
            for (k, x) in lm {
                let f = format!("{lw}.{}", k.name);
                match k.name.as_str() {
                    "cpus" => s.limits.cpus = Some(d.string(x, &f)?),
                    "memory" => s.limits.memory = Some(d.string(x, &f)?),
                    _ => s.limits.pids = Some(d.number(x, &f)?),
                }
            }
        }
    }
    if let Some(u) = v.get("update_config") {
        let uw = format!("{what}.update_config");
        let um = d.map(u, &uw)?;
        d.check_keys(
            um,
            &["parallelism", "order", "failure_action", "monitor", "delay"],
            &uw,
        )?;
        for (k, x) in um {
            let f = format!("{uw}.{}", k.name);
            match k.name.as_str() {
                "parallelism" => s.update_config.parallelism = d.number(x, &f)?,
                "order" => {
                    let o = d.string(x, &f)?;
                    if o != "stop-first" && o != "start-first" {
                        return Err(
                            d.err(x.line, format!("{f}: expected stop-first or start-first"))
                        );
                    }
                    s.update_config.order = o;
                }
                "failure_action" => {
                    let o = d.string(x, &f)?;
                    if !["pause", "continue", "rollback"].contains(&o.as_str()) {
                        return Err(
                            d.err(x.line, format!("{f}: expected pause, continue or rollback"))
                        );
                    }
                    s.update_config.failure_action = o;
                }
                "monitor" | "delay" => {
                    let t = d.string(x, &f)?;
                    crate::units::parse_duration(&t)
                        .map_err(|e| d.err(x.line, format!("{f}: {e}")))?;
                    if k.name == "monitor" {
                        s.update_config.monitor = Some(t);
                    } else {
                        s.update_config.delay = Some(t);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn depends_on(d: &mut Decoder, v: &Node, what: &str) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    match &v.value {
        Value::Seq(items) => {
            for i in items {
                out.push(Dependency {
                    service: d.string(i, what)?,
                    condition: Condition::ServiceStarted,
                    line: i.line,
                });
            }
        }
        Value::Map(m) => {
            for (k, x) in m {
                let xm = d.map(x, what)?;
                d.check_keys(xm, &["condition", "restart", "required"], what)?;
                let condition = match x.get("condition") {
                    None => Condition::ServiceStarted,
                    Some(c) => match d.string(c, what)?.as_str() {
                        "service_started" => Condition::ServiceStarted,
                        "service_healthy" => Condition::ServiceHealthy,
                        "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                        o => {
                            return Err(d.err(c.line, format!(
                                "{what}: condition {o:?} is not service_started, service_healthy or service_completed_successfully"
                            )))
                        }
                    },
                };
                out.push(Dependency {
                    service: k.name.clone(),
                    condition,
                    line: k.line,
                });
            }
        }
        _ => return Err(d.err(v.line, format!("{what} must be a list or a mapping"))),
    }
    Ok(out)
}
