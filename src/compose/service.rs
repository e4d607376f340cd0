//! What a service's containers are made from: the `run` request (the same
//! record `skiff run -d` makes) and the hash of it with the image digest,
//! stored as a label so a later `up` sees what changed.

use super::model::{Project, Service};
use super::{LABEL_HASH, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE};
use crate::deploy::create::Request;
use crate::runtime::{NetworkMode, RunOptions};
use crate::supervisor::config::Options;
use crate::supervisor::health::HealthOptions;
use sha2::{Digest as _, Sha256};

/// The image a service runs: `image:`, else `<project>-<service>` (what
/// `build:` tags).
pub fn image_name(p: &Project, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{}", p.name, s.name))
}

/// The project's default network.
pub fn default_network(p: &Project) -> String {
    format!("{}_default", p.name)
}

/// The networks (store names) a service's containers join.
pub fn networks(p: &Project, s: &Service) -> Vec<String> {
    if s.networks.is_empty() {
        return vec![default_network(p)];
    }
    s.networks
        .iter()
        .map(|n| match p.networks.get(n) {
            Some(d) => d.name.clone(),
            None => default_network(p),
        })
        .collect()
}

/// The container name of replica `n` (1-based).
pub fn container_name(p: &Project, s: &Service, n: u32) -> String {
    match &s.container_name {
        Some(c) => c.clone(),
        None => format!("{}-{}-{n}", p.name, s.name),
    }
}

fn health(s: &Service) -> HealthOptions {
    let Some(h) = &s.healthcheck else {
        return HealthOptions::default();
    };
    HealthOptions {
        cmd: h.test.clone(),
        interval: h.interval.clone(),
        timeout: h.timeout.clone(),
        start_period: h.start_period.clone(),
        start_interval: h.start_interval.clone(),
        retries: h.retries,
        none: h.disable,
        ..Default::default()
    }
}

/// The request for replica `n`, labelled, without the hash yet.
pub fn request(p: &Project, s: &Service, n: u32) -> Result<Request, String> {
    let mut args: Vec<String> = Vec::new();
    let entrypoint = match &s.entrypoint {
        Some(e) if e.is_empty() => Some(String::new()),
        Some(e) => {
            args.extend(e[1..].iter().cloned());
            Some(e[0].clone())
        }
        None => None,
    };
    if let Some(c) = &s.command {
        args.extend(c.iter().cloned());
    }
    let volumes = s
        .volumes
        .iter()
        .map(|m| {
            let src = match m.kind.as_str() {
                "volume" => p
                    .volumes
                    .get(&m.source)
                    .map(|v| v.name.clone())
                    .unwrap_or_else(|| m.source.clone()),
                _ => m.source.clone(),
            };
            let ro = if m.read_only { ":ro" } else { "" };
            format!("{src}:{}{ro}", m.target)
        })
        .collect();
    let run = RunOptions {
        name: Some(container_name(p, s, n)),
        hostname: s.hostname.clone(),
        env: s
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        env_file_lines: Vec::new(),
        workdir: s.working_dir.clone(),
        user: s.user.clone(),
        entrypoint,
        args,
        network: NetworkMode::Bridge,
        networks: networks(p, s),
        network_aliases: vec![s.name.clone()],
        volumes,
        tmpfs: s.tmpfs.clone(),
        read_only: s.read_only,
        memory: s.limits.memory.clone(),
        cpus: s.limits.cpus.clone(),
        pids_limit: s.limits.pids,
        no_new_privileges: true,
        tty: false,
        ..Default::default()
    };
    let ports = s
        .ports
        .iter()
        .map(|x| {
            x.parse()
                .map_err(|e: crate::supervisor::SupervisorError| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut labels = s.labels.clone();
    labels.insert(LABEL_PROJECT.into(), p.name.clone());
    labels.insert(LABEL_SERVICE.into(), s.name.clone());
    labels.insert(LABEL_NUMBER.into(), n.to_string());
    Ok(Request {
        image: image_name(p, s),
        options: Options {
            run,
            env_files: Vec::new(),
            publish: s.ports.clone(),
            log_opts: Vec::new(),
            health: health(s),
            stop_signal: s.stop_signal.clone(),
            // Compose names its replicas itself (project-service-N).
            service: None,
            sdnotify: Default::default(),
        },
        ports,
        restart: s
            .restart
            .parse::<crate::supervisor::restart::Policy>()
            .map_err(|e| e.to_string())?,
        log: Default::default(),
        init: s.init,
        detach: true,
        auto_remove: false,
        labels,
    })
}

/// The hash of what a container would be made from: the request (minus
/// the hash label itself) and the image's manifest digest.
pub fn config_hash(r: &Request, image_digest: &str) -> String {
    let mut labels = r.labels.clone();
    labels.remove(LABEL_HASH);
    let v = serde_json::json!({
        "image": r.image,
        "digest": image_digest,
        "options": r.options,
        "ports": r.ports,
        "restart": r.restart,
        "init": r.init,
        "labels": labels,
    });
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}
