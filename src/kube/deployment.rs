//! One app as a Deployment (and the objects it references): the image by
//! digest, command and args with docker's meaning, env and envFrom, ports,
//! limits, probes, securityContext, volumes, and a RollingUpdate strategy
//! that replaces replicas the way `skiff rollout` does.

use super::names::{Names, Space};
use super::source::App;
use super::{objects, probes, security, Manifests, Object, Options, Result};
use crate::image::reference::ImageRef;
use crate::runtime::spec::{parse_tmpfs, parse_volume};
use crate::runtime::NetworkMode;
use crate::store::Store;
use crate::supervisor::restart::Policy;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const NAME_LABEL: &str = "app.kubernetes.io/name";
const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";

/// Where the cluster pulls the image from. The store keeps manifests byte
/// for byte as pulled and pushes them unchanged, so the local manifest
/// digest is the registry's: `REGISTRY/NAME@DIGEST` with `--registry`, or
/// `NAME@DIGEST` when the name itself has a registry host. A name with
/// neither was never pushed (unless the tag was pulled from Docker Hub,
/// where the name alone points): it stays a tag, with a warning.
pub fn image(store: &Store, app: &App, opts: &Options, warnings: &mut Vec<String>) -> String {
    let u = &app.config.image;
    let parsed = u.reference.parse::<ImageRef>().ok();
    let name = u.name.clone().or_else(|| {
        parsed
            .as_ref()
            .filter(|r| !r.name.starts_with("sha256"))
            .map(|r| r.name.clone())
    });
    let tag = u
        .tag
        .clone()
        .or_else(|| parsed.as_ref().and_then(|r| r.tag.clone()))
        .unwrap_or_else(|| "latest".into());
    let Some(name) = name else {
        warnings.push(format!(
            "{}: the image was given by id ({}), which a cluster cannot pull; tag and push it, then give --registry",
            app.name, u.reference
        ));
        return u.reference.clone();
    };
    if let Some(reg) = &opts.registry {
        let repo = ImageRef {
            name: name.clone(),
            tag: None,
            digest: None,
        };
        return format!(
            "{}/{}@{}",
            reg.trim_end_matches('/'),
            repo.repository(),
            u.digest
        );
    }
    let has_registry = ImageRef {
        name: name.clone(),
        tag: None,
        digest: None,
    }
    .registry()
    .is_some();
    if has_registry || pulled(store, &name, &tag, &u.digest) {
        return format!("{name}@{}", u.digest);
    }
    warnings.push(format!(
        "image {name}:{tag} names no registry, so it was never pushed where a cluster can pull it: \
         the manifests name it by tag; push it (`skiff push {name}:{tag} REGISTRY/{name}:{tag}`) \
         and generate again with --registry REGISTRY to pin its digest"
    ));
    format!("{name}:{tag}")
}

/// Did `name:tag` get `digest` by a pull (so a registry has it)?
fn pulled(store: &Store, name: &str, tag: &str, digest: &str) -> bool {
    store.revisions(name, tag).is_ok_and(|revs| {
        revs.iter().any(|r| {
            r.reason == crate::store::refs::Reason::Pull
                && r.digest.as_ref().is_some_and(|d| d.to_string() == digest)
        })
    })
}

/// Kubernetes' quantity for a `-m` size: the largest binary unit that
/// divides it.
pub fn memory_quantity(bytes: u64) -> String {
    for (unit, shift) in [("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Kubernetes' quantity for `--cpus 1.5`: millicores.
pub fn cpu_quantity(cpus: &str) -> Option<String> {
    let f: f64 = cpus.trim().parse().ok().filter(|f: &f64| *f > 0.0)?;
    let milli = (f * 1000.0).round() as u64;
    Some(if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    })
}

fn resources(app: &App, warnings: &mut Vec<String>) -> Value {
    let run = &app.config.options.run;
    let mut limits = Map::new();
    if let Some(m) = &run.memory {
        match crate::units::parse_size(m) {
            Ok(b) if b > 0 => {
                limits.insert("memory".into(), json!(memory_quantity(b)));
            }
            _ => warnings.push(format!("{}: -m {m} is not a size: left out", app.name)),
        }
    }
    if let Some(c) = &run.cpus {
        match cpu_quantity(c) {
            Some(q) => {
                limits.insert("cpu".into(), json!(q));
            }
            None => warnings.push(format!(
                "{}: --cpus {c} is not a number: left out",
                app.name
            )),
        }
    }
    if let Some(p) = run.pids_limit {
        warnings.push(format!(
            "{}: --pids-limit {p} has no per-container field in Kubernetes (the kubelet's podPidsLimit sets it per node): left out",
            app.name
        ));
    }
    if limits.is_empty() {
        json!({})
    } else {
        json!({ "limits": limits })
    }
}

/// `-e` variables as given (a bare `KEY` was taken from the environment of
/// `skiff run`, which is not known here).
fn env_vars(app: &App, warnings: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in &app.config.options.run.env {
        match e.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => warnings.push(format!(
                "{}: variable {e:?} was taken from the environment of `skiff run`: left out",
                app.name
            )),
        }
    }
    out
}

/// Command and args with docker's meaning: `--entrypoint` replaces the
/// image's entrypoint and its Cmd (Kubernetes' `command` does both); args
/// after the image replace Cmd (`args`).
fn command(app: &App) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let run = &app.config.options.run;
    let args = (!run.args.is_empty()).then(|| run.args.clone());
    match &run.entrypoint {
        Some(e) if e.is_empty() => (args, None),
        Some(e) => (Some(vec![e.clone()]), args),
        None => (None, args),
    }
}

/// The image's EXPOSEd TCP ports.
fn exposed(store: &Store, app: &App) -> Vec<u16> {
    let Ok(d) = app.config.image.digest.parse() else {
        return Vec::new();
    };
    let Ok(img) = crate::image::local::LocalImage::by_digest(store, &d) else {
        return Vec::new();
    };
    img.config
        .config
        .exposed_ports
        .as_ref()
        .map(|p| {
            p.keys()
                .filter_map(|k| match k.split_once('/') {
                    Some((n, "tcp")) => n.parse().ok(),
                    Some(_) => None,
                    None => k.parse().ok(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn warn_unsupported(app: &App, warnings: &mut Vec<String>) {
    let c = &app.config;
    let n = &app.name;
    match c.restart {
        Policy::Always | Policy::UnlessStopped => {}
        ref p => warnings.push(format!(
            "{n}: restart policy {p}: a Deployment always restarts its containers"
        )),
    }
    if c.init {
        warnings.push(format!(
            "{n}: --init: Kubernetes runs no init in the container; add one (tini) to the image"
        ));
    }
    if let Some(s) = &c.options.stop_signal {
        if s != "SIGTERM" && s != "TERM" && s != "15" {
            warnings.push(format!(
                "{n}: stop signal {s}: Kubernetes stops containers with SIGTERM; set STOPSIGNAL in the image"
            ));
        }
    }
    if c.options.run.network == NetworkMode::Host {
        warnings.push(format!(
            "{n}: --network host is left out (a pod has its own network; hostNetwork is the cluster admin's call)"
        ));
    }
}

/// The Deployment of `app` and the objects it references, into `m`.
pub fn objects(
    store: &Store,
    app: &App,
    opts: &Options,
    names: &mut Names,
    claims: &BTreeMap<String, u32>,
    m: &mut Manifests,
) -> Result<()> {
    let w = &mut m.warnings;
    let run = &app.config.options.run;
    let name = names.get(Space::App, &app.name, 4);
    if let (Some(p), true) = (&app.project, name != app.name) {
        w.push(format!(
            "{p}: service {:?} is named {name:?} in Kubernetes (DNS names allow a-z, 0-9 and -): other services reach it as {name}",
            app.name
        ));
    }
    let mut labels = Map::new();
    labels.insert(NAME_LABEL.into(), json!(name));
    let selector = json!({ NAME_LABEL: name });
    if let Some(p) = &app.project {
        labels.insert(PART_OF_LABEL.into(), json!(super::names::label(p, 63)));
    }
    let labels = Value::Object(labels);
    warn_unsupported(app, w);

    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(image(store, app, opts, w)));
    let (cmd, args) = command(app);
    if let Some(c) = cmd {
        container.insert("command".into(), json!(c));
    }
    if let Some(a) = args {
        container.insert("args".into(), json!(a));
    }
    if let Some(d) = &run.workdir {
        container.insert("workingDir".into(), json!(d));
    }

    // Env files in a ConfigMap (envFrom); what the container's env says
    // besides them in `env`, which wins over envFrom as -e wins over
    // --env-file.
    let mut env = env_vars(app, w);
    let mut cm_data = BTreeMap::new();
    for (k, v) in &app.env_files {
        if objects::config_map_key(k) {
            cm_data.insert(k.clone(), v.clone());
        } else {
            env.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    env.retain(|k, v| cm_data.get(k) != Some(v));
    if !env.is_empty() {
        let list: Vec<Value> = env
            .iter()
            .map(|(k, v)| json!({ "name": k, "value": v }))
            .collect();
        container.insert("env".into(), json!(list));
    }
    if !cm_data.is_empty() {
        let cm = format!("{name}-env");
        container.insert(
            "envFrom".into(),
            json!([{ "configMapRef": { "name": cm } }]),
        );
        m.objects.push(objects::config_map(&cm, &labels, &cm_data));
    }

    // Ports: published container ports first, then the image's EXPOSEd.
    let published: Vec<u16> = app.config.ports.iter().map(|p| p.container_port).collect();
    let mut ports: Vec<u16> = Vec::new();
    for p in published.iter().copied().chain(exposed(store, app)) {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    if !ports.is_empty() {
        let list: Vec<Value> = ports
            .iter()
            .map(|p| json!({ "containerPort": p, "protocol": "TCP" }))
            .collect();
        container.insert("ports".into(), json!(list));
    }
    let res = resources(app, w);
    if res.as_object().is_some_and(|r| !r.is_empty()) {
        container.insert("resources".into(), res);
    }
    container.extend(probes::probes(app.config.health.as_ref(), &ports));
    container.insert("securityContext".into(), security::container(run, w));

    // Volumes: a claim per named volume, hostPath for host paths, a
    // memory emptyDir per tmpfs.
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, spec) in run.volumes.iter().enumerate() {
        let Ok(v) = parse_volume(spec) else {
            w.push(format!(
                "{}: volume {spec:?} is not valid: left out",
                app.name
            ));
            continue;
        };
        let vol_name = match &v.volume {
            Some(vol) => {
                let claim = names.get(Space::Volume, vol, 0);
                if claims.get(vol).copied().unwrap_or(0) > 1 {
                    w.push(format!(
                        "volume {vol} is mounted by more than one pod: a ReadWriteOnce claim binds them to one node; use a ReadWriteMany storage class to spread them"
                    ));
                }
                let mut claim_labels = labels.clone();
                if let Some(l) = claim_labels.as_object_mut() {
                    l.remove(NAME_LABEL);
                }
                m.objects
                    .push(objects::claim(&claim, &claim_labels, &opts.volume_size));
                if seen.insert(claim.clone()) {
                    volumes.push(json!({
                        "name": claim,
                        "persistentVolumeClaim": { "claimName": claim },
                    }));
                }
                claim
            }
            None => {
                let n = format!("host-{}", i + 1);
                w.push(format!(
                    "{}: host path {} becomes a hostPath volume: the pod sees that path on whichever node it runs on",
                    app.name,
                    v.source.display()
                ));
                volumes.push(json!({
                    "name": n,
                    "hostPath": { "path": v.source.display().to_string() },
                }));
                n
            }
        };
        mounts.push(json!({
            "mountPath": v.target,
            "name": vol_name,
            "readOnly": v.readonly,
        }));
    }
    for (i, t) in run.tmpfs.iter().enumerate() {
        let Ok(t) = parse_tmpfs(t) else {
            continue;
        };
        let n = format!("tmpfs-{}", i + 1);
        volumes.push(json!({ "name": n, "emptyDir": { "medium": "Memory" } }));
        mounts.push(json!({ "mountPath": t.target, "name": n, "readOnly": t.readonly }));
    }
    if !mounts.is_empty() {
        container.insert("volumeMounts".into(), json!(mounts));
    }

    let mut pod = Map::new();
    pod.insert("automountServiceAccountToken".into(), json!(false));
    pod.insert("containers".into(), json!([Value::Object(container)]));
    if let Some(g) = app.grace_seconds {
        pod.insert("terminationGracePeriodSeconds".into(), json!(g));
    }
    if !volumes.is_empty() {
        pod.insert("volumes".into(), json!(volumes));
    }

    // skiff's rollout: start-first (the new replica beside the old one)
    // when it publishes ports, else stop-first; K replicas at a time.
    let k = opts.parallel.unwrap_or(app.update.parallel).max(1);
    let (surge, unavailable) = if app.update.start_first {
        (k, 0)
    } else {
        (0, k)
    };
    let annotations: BTreeMap<&String, &String> = app
        .config
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose."))
        .collect();
    let mut meta = Map::new();
    meta.insert("labels".into(), labels.clone());
    meta.insert("name".into(), json!(name));
    if !annotations.is_empty() {
        meta.insert("annotations".into(), json!(annotations));
    }
    m.objects.push(Object {
        kind: "Deployment",
        name: name.clone(),
        value: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": app.replicas,
                "selector": { "matchLabels": selector },
                "strategy": {
                    "rollingUpdate": { "maxSurge": surge, "maxUnavailable": unavailable },
                    "type": "RollingUpdate",
                },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": pod,
                },
            },
        }),
    });
    if !ports.is_empty() {
        let kind = if published.is_empty() {
            "ClusterIP"
        } else {
            opts.service_type.as_str()
        };
        m.objects
            .push(objects::service(&name, &labels, &selector, &ports, kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(memory_quantity(512 << 20), "512Mi");
        assert_eq!(memory_quantity(2 << 30), "2Gi");
        assert_eq!(memory_quantity(1536 << 10), "1536Ki");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(cpu_quantity("1.5").as_deref(), Some("1500m"));
        assert_eq!(cpu_quantity("2").as_deref(), Some("2"));
        assert_eq!(cpu_quantity("0.25").as_deref(), Some("250m"));
        assert_eq!(cpu_quantity("x"), None);
        assert_eq!(cpu_quantity("0"), None);
    }
}
