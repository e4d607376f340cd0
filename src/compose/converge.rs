//! `up`: make what runs match the file. Services in depends_on order; each
//! waits for its dependencies' conditions; images built when asked (or
//! missing); each replica's container compared by its config hash: an
//! unchanged one is left alone (started if it was stopped), a changed one
//! replaced through `deploy` (zero downtime when it publishes the same
//! ports), a missing one created as `skiff run -d` would. `down`: remove
//! the project's containers, and its volumes with `-v`.

use super::model::{Condition, Project, Service};
use super::{
    order, project, service, ComposeError, Result, LABEL_HASH, LABEL_PROJECT, LABEL_VOLUME,
};
use crate::deploy::{self, create, replace, update, Step};
use crate::image::local::LocalImage;
use crate::store::Store;
use crate::supervisor::health::HealthStatus;
use crate::supervisor::ops::{self, Info};
use crate::supervisor::state::Observed;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Build images that have a `build:` even if they exist.
    pub build: bool,
    /// How long to wait for a dependency's condition.
    pub wait_timeout: Duration,
    /// Remove containers of services no longer in the file.
    pub remove_orphans: bool,
}

impl Default for UpOptions {
    fn default() -> UpOptions {
        UpOptions {
            build: false,
            wait_timeout: Duration::from_secs(120),
            remove_orphans: false,
        }
    }
}

/// Build the services that have `build:` (all of them, or the named ones).
pub fn build(
    store: &Store,
    p: &Project,
    only: &[String],
    say: &mut dyn FnMut(String),
) -> Result<()> {
    for s in &p.services {
        if s.build.is_some() && (only.is_empty() || only.contains(&s.name)) {
            build_one(store, p, s, say).map_err(|msg| ComposeError::Service {
                service: s.name.clone(),
                msg,
                started: Vec::new(),
            })?;
        }
    }
    Ok(())
}

/// `skiff build` in a child process (its private mount namespace stays
/// there): tags `<image>` with a new revision.
fn build_one(
    store: &Store,
    p: &Project,
    s: &Service,
    say: &mut dyn FnMut(String),
) -> std::result::Result<(), String> {
    let Some(b) = &s.build else { return Ok(()) };
    let image = service::image_name(p, s);
    say(format!("Building {} ({image})", s.name));
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.arg("--root")
        .arg(store.root())
        .arg("build")
        .arg("-q")
        .arg("-t")
        .arg(&image);
    if let Some(f) = &b.dockerfile {
        cmd.arg("-f").arg(b.context.join(f));
    }
    for (k, v) in &b.args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    if let Some(t) = &b.target {
        cmd.arg("--target").arg(t);
    }
    cmd.arg(&b.context);
    cmd.stdout(std::process::Stdio::null());
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run skiff build: {e}"))?;
    if !st.success() {
        return Err(format!(
            "build of {} failed (exit {}); see the build's output above",
            b.context.display(),
            st.code().unwrap_or(-1)
        ));
    }
    Ok(())
}

/// `skiff pull IMAGE` in a child process (an image `up` needs and the
/// store lacks, as docker compose pulls it).
pub fn pull(
    store: &Store,
    image: &str,
    say: &mut dyn FnMut(String),
) -> std::result::Result<(), String> {
    say(format!("Pulling {image}"));
    let st = std::process::Command::new("/proc/self/exe")
        .arg("--root")
        .arg(store.root())
        .arg("pull")
        .arg("-q")
        .arg(image)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run skiff pull: {e}"))?;
    if !st.success() {
        return Err(format!(
            "image {image} is not in the store and pulling it failed (see above)"
        ));
    }
    Ok(())
}

/// Create the project's volumes (labelled); external ones must exist.
pub fn volumes(store: &Store, p: &Project) -> Result<()> {
    for (key, v) in &p.volumes {
        if v.external {
            if store.volume(&v.name)?.is_none() {
                return Err(ComposeError::Invalid(format!(
                    "external volume {:?} does not exist (create it with skiff volume create {})",
                    v.name, v.name
                )));
            }
            continue;
        }
        let mut labels = v.labels.clone();
        labels.insert(LABEL_PROJECT.into(), p.name.clone());
        labels.insert(LABEL_VOLUME.into(), key.clone());
        let (meta, _) = store.create_volume(&v.name, &labels)?;
        if meta.labels.get(LABEL_PROJECT) != Some(&p.name) && !meta.labels.is_empty() {
            return Err(ComposeError::Invalid(format!(
                "volume {:?} belongs to another project ({}); declare it external to share it",
                v.name,
                meta.labels
                    .get(LABEL_PROJECT)
                    .map_or("none", String::as_str)
            )));
        }
    }
    Ok(())
}

/// Create the project's networks that do not exist yet (the default one,
/// and those the file declares); external ones must exist.
pub fn networks(store: &Store, p: &Project, say: &mut dyn FnMut(String)) -> Result<()> {
    let nets = crate::network::Networks::at(store.root());
    let mut wanted: Vec<(String, bool)> = Vec::new();
    for s in &p.services {
        for n in service::networks(p, s) {
            if !wanted.iter().any(|(w, _)| *w == n) {
                let external = p.networks.values().any(|d| d.name == n && d.external);
                wanted.push((n, external));
            }
        }
    }
    for (name, external) in wanted {
        match nets.get(&name) {
            Ok(_) => {}
            Err(crate::network::NetworkError::NotFound(_)) if !external => {
                crate::network::manage::create(store.root(), &name, None)?;
                say(format!("Network {name} created"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub fn up(store: &Store, p: &Project, opts: &UpOptions, say: &mut dyn FnMut(String)) -> Result<()> {
    for w in &p.warnings {
        say(format!("WARNING: {w}"));
    }
    volumes(store, p)?;
    networks(store, p, say)?;
    let mut started: Vec<String> = Vec::new();
    for i in order::order(p)? {
        let s = &p.services[i];
        let fail = |msg: String, started: &Vec<String>| ComposeError::Service {
            service: s.name.clone(),
            msg,
            started: started.clone(),
        };
        for dep in &s.depends_on {
            wait_for(store, p, &dep.service, &dep.condition, opts.wait_timeout)
                .map_err(|m| fail(format!("dependency {:?} {m}", dep.service), &started))?;
        }
        let image = service::image_name(p, s);
        if s.build.is_some() && (opts.build || LocalImage::load(store, &image).is_err()) {
            build_one(store, p, s, say).map_err(|m| fail(m, &started))?;
        } else if s.build.is_none() && LocalImage::load(store, &image).is_err() {
            pull(store, &image, say).map_err(|m| fail(m, &started))?;
        }
        converge_service(store, p, s, say, &mut started).map_err(|e| match e {
            ComposeError::Service { .. } => e,
            other => fail(other.to_string(), &started),
        })?;
    }
    let orphans: Vec<Info> = project::containers(store, &p.name)
        .into_iter()
        .filter(|i| project::service_of(i).is_none_or(|s| !p.services.iter().any(|x| x.name == s)))
        .collect();
    for o in orphans {
        if opts.remove_orphans {
            replace::stop_and_remove(store, &o.id, 10)?;
            say(format!("Container {} removed (orphan)", o.display_name()));
        } else {
            say(format!(
                "WARNING: container {} belongs to no service of the file (--remove-orphans removes it)",
                o.display_name()
            ));
        }
    }
    Ok(())
}

fn converge_service(
    store: &Store,
    p: &Project,
    s: &Service,
    say: &mut dyn FnMut(String),
    started: &mut Vec<String>,
) -> Result<()> {
    let existing = project::service_containers(store, &p.name, &s.name);
    let stop_timeout = s.stop_grace_period.unwrap_or(10);
    // Running replicas whose configuration changed: moved by
    // `deploy::update` as the service's update_config says.
    let mut changes: Vec<update::Change> = Vec::new();
    for n in 1..=s.replicas {
        let mut req = service::request(p, s, n).map_err(ComposeError::Invalid)?;
        let img = LocalImage::load(store, &req.image).map_err(|e| {
            ComposeError::Invalid(format!(
                "{e} (give the service a build:, or `skiff compose pull` / `skiff pull` it)"
            ))
        })?;
        let digest = img.manifest_digest.to_string();
        let hash = service::config_hash(&req, &digest);
        req.labels.insert(LABEL_HASH.into(), hash.clone());
        let name = service::container_name(p, s, n);
        let old = existing.iter().find(|i| project::number_of(i) == n);
        match old {
            Some(o) if label_hash(o) == Some(hash.as_str()) => {
                if o.observed.is_live() {
                    say(format!("Container {name} up to date"));
                } else {
                    ops::start(store, &o.id)?;
                    say(format!("Container {name} started"));
                    started.push(name.clone());
                }
            }
            Some(o) => {
                let same_ports = o.config.as_ref().is_some_and(|c| c.ports == req.ports);
                if o.observed.is_live() && same_ports && o.name.as_deref() == Some(name.as_str()) {
                    changes.push(update::Change {
                        old: o.clone(),
                        cfg: create::run_config(store, &req, &img)?,
                    });
                } else {
                    replace::stop_and_remove(store, &o.id, stop_timeout)?;
                    start_new(store, &req, &name, say, started)?;
                }
            }
            None => start_new(store, &req, &name, say, started)?,
        }
    }
    if !changes.is_empty() {
        let (policy, start_first) = update_policy(s)?;
        let dopts = deploy::Options {
            stop_timeout,
            start_first,
            ..Default::default()
        };
        update::update(store, &changes, &policy, &dopts, &mut |step| match step {
            Step::Replaced { container, .. } => {
                say(format!("Container {container} recreated (rolled out)"))
            }
            Step::Monitoring { tag, window, .. } => say(format!(
                "Watching {tag} for {}s (update_config.monitor)",
                window.as_secs_f64()
            )),
            Step::Skipped { container, why } => say(format!("WARNING: {container}: {why}")),
            _ => {}
        })?;
    }
    for extra in existing
        .iter()
        .filter(|i| project::number_of(i) > s.replicas)
    {
        replace::stop_and_remove(store, &extra.id, stop_timeout)?;
        say(format!(
            "Container {} removed (scaled down)",
            extra.display_name()
        ));
    }
    Ok(())
}

/// `deploy.update_config` as `deploy::update` takes it, and whether the
/// order is start-first.
fn update_policy(s: &Service) -> Result<(update::Policy, bool)> {
    let u = &s.update_config;
    let duration = |what: &str, v: &Option<String>| -> Result<Option<Duration>> {
        v.as_deref()
            .map(|m| {
                crate::units::parse_duration(m)
                    .map_err(|e| ComposeError::Invalid(format!("update_config.{what} {m:?}: {e}")))
            })
            .transpose()
    };
    let policy = update::Policy {
        parallelism: u.parallelism as usize,
        delay: duration("delay", &u.delay)?.unwrap_or_default(),
        monitor: duration("monitor", &u.monitor)?,
        failure_action: u
            .failure_action
            .parse()
            .map_err(|e| ComposeError::Invalid(format!("update_config.failure_action: {e}")))?,
    };
    Ok((policy, u.order == "start-first"))
}

fn start_new(
    store: &Store,
    req: &create::Request,
    name: &str,
    say: &mut dyn FnMut(String),
    started: &mut Vec<String>,
) -> Result<()> {
    let c = create::create(store, req, &|_| None)?;
    create::start_detached(store, c)?;
    say(format!("Container {name} started"));
    started.push(name.to_string());
    Ok(())
}

fn label_hash(i: &Info) -> Option<&str> {
    i.config
        .as_ref()
        .and_then(|c| c.labels.get(LABEL_HASH))
        .map(String::as_str)
}

/// Wait until every container of `service` meets `cond`.
fn wait_for(
    store: &Store,
    p: &Project,
    service: &str,
    cond: &Condition,
    limit: Duration,
) -> std::result::Result<(), String> {
    let until = Instant::now() + limit;
    loop {
        let cs = project::service_containers(store, &p.name, service);
        if cs.is_empty() {
            return Err("has no container".into());
        }
        let mut all = true;
        for c in &cs {
            let ok = match cond {
                Condition::ServiceStarted => !matches!(c.observed, Observed::Created),
                Condition::ServiceHealthy => {
                    if c.config.as_ref().is_some_and(|x| x.health.is_none()) {
                        return Err("has no healthcheck (condition service_healthy)".into());
                    }
                    match c.state.health.as_ref().map(|h| h.status) {
                        Some(HealthStatus::Healthy) => true,
                        Some(HealthStatus::Unhealthy) => {
                            return Err(format!("is unhealthy ({})", c.display_name()))
                        }
                        _ => {
                            if let Observed::Exited { exit_code, .. } = c.observed {
                                return Err(format!(
                                    "exited (code {}) before it became healthy",
                                    exit_code.unwrap_or(-1)
                                ));
                            }
                            false
                        }
                    }
                }
                Condition::ServiceCompletedSuccessfully => match c.observed {
                    Observed::Exited {
                        exit_code: Some(0), ..
                    } => true,
                    Observed::Exited { exit_code, .. } => {
                        return Err(format!(
                            "did not complete successfully (exit code {})",
                            exit_code.unwrap_or(-1)
                        ))
                    }
                    _ => false,
                },
            };
            all &= ok;
        }
        if all {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(format!(
                "did not meet {} within {}s",
                match cond {
                    Condition::ServiceStarted => "service_started",
                    Condition::ServiceHealthy => "service_healthy",
                    Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
                },
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stop and remove the project's containers (services in reverse
/// dependency order when the file is known), and with `volumes` its
/// volumes. Returns what was removed.
pub fn down(
    store: &Store,
    name: &str,
    p: Option<&Project>,
    remove_volumes: bool,
    say: &mut dyn FnMut(String),
) -> Result<()> {
    let mut cs = project::containers(store, name);
    if let Some(p) = p {
        if let Ok(ord) = order::order(p) {
            let rank: BTreeMap<&str, usize> = ord
                .iter()
                .enumerate()
                .map(|(r, i)| (p.services[*i].name.as_str(), r))
                .collect();
            cs.sort_by_key(|c| {
                std::cmp::Reverse(project::service_of(c).and_then(|s| rank.get(s).copied()))
            });
        }
    }
    for c in &cs {
        let grace = p
            .and_then(|p| {
                let s = project::service_of(c)?;
                p.services.iter().find(|x| x.name == s)?.stop_grace_period
            })
            .unwrap_or(10);
        replace::stop_and_remove(store, &c.id, grace)?;
        say(format!("Container {} removed", c.display_name()));
    }
    // The project's networks (not external ones); one still used by a
    // container of another project stays, with a warning.
    let mut nets = vec![format!("{name}_default")];
    if let Some(p) = p {
        nets.extend(
            p.networks
                .values()
                .filter(|d| !d.external)
                .map(|d| d.name.clone()),
        );
    }
    for n in nets {
        match crate::network::manage::remove(store.root(), &n) {
            Ok(()) => say(format!("Network {n} removed")),
            Err(crate::network::NetworkError::NotFound(_)) => {}
            Err(e) => say(format!("WARNING: network {n} kept: {e}")),
        }
    }
    if remove_volumes {
        for v in project::volumes(store, name)? {
            crate::supervisor::lookup::remove_unused_volume(store, &v.name)?;
            say(format!("Volume {} removed", v.name));
        }
    }
    Ok(())
}

/// After a rollback moved a service's tag and its containers: record each
/// container's hash for the image it now runs, so the next `up` sees it
/// as up to date rather than recreating it.
pub fn refresh_hashes(store: &Store, p: &Project, s: &Service) -> Result<()> {
    for i in project::service_containers(store, &p.name, &s.name) {
        let Some(mut cfg) = i.config.clone() else {
            continue;
        };
        let req = service::request(p, s, project::number_of(&i)).map_err(ComposeError::Invalid)?;
        let hash = service::config_hash(&req, &cfg.image.digest);
        cfg.labels.insert(LABEL_HASH.into(), hash);
        cfg.save(store, &i.dir)?;
    }
    Ok(())
}
