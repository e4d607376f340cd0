//! `skiff run`: parse docker's options, resolve the image, hand the rest to
//! the runtime and stay attached in the foreground — or, with `-d`, to a
//! supervisor (`supervisor::spawn`) that owns the container from then on.

use crate::deploy::create;
use crate::runtime::process::sealed_exe;
use crate::runtime::seccomp::Seccomp;
use crate::runtime::{self, attach, signals, spec, Container, NetworkMode, RunOptions, Stdio};
use crate::store::events::Event;
use crate::store::Store;
use crate::supervisor::config::{LogOptions, Options, RunConfig};
use crate::supervisor::health::{HealthOptions, OnFailure};
use crate::supervisor::notify::SdNotify;
use crate::supervisor::ports::PortSpec;
use crate::supervisor::restart::Policy;
use crate::supervisor::state::{ProcessRef, State, Status};
use crate::supervisor::{lookup, replicas, SupervisorError};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Name of the container
    #[arg(long)]
    pub name: Option<String>,
    /// Run in the background under a supervisor; print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Restart policy: no, always, on-failure[:N], unless-stopped (needs -d)
    #[arg(long, default_value = "no", value_name = "POLICY")]
    pub restart: String,
    /// Publish a container port on the host: [IP:]HOST:CONTAINER (needs -d)
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR")]
    pub publish: Vec<String>,
    /// Log options: max-size=10m, max-file=3
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Run a tiny init as PID 1 that forwards signals and reaps zombies
    #[arg(long)]
    pub init: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (NAME=value, or NAME to copy it from here)
    #[arg(short = 'e', long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (one NAME=value a line)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User to run as: NAME|UID[:GROUP|GID]
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Memory limit (e.g. 64m, 1g); swap is not allowed
    #[arg(short = 'm', long = "memory", value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<String>,
    /// Maximum number of processes (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true, value_name = "N")]
    pub pids_limit: Option<i64>,
    /// Network: a bridge network's name (default: bridge, the default
    /// network), private (own namespace, loopback only), host, or none
    #[arg(long, env = "SKIFF_NETWORK", default_value = "bridge")]
    pub network: String,
    /// Another name this container has for the others on its network
    #[arg(long = "network-alias", value_name = "NAME")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its network (default: the next free one)
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// A DNS server for the container (replaces the host's resolvers)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// An entry for the container's /etc/hosts: NAME:IP
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Bind mount a host path: /host:/container[:ro]
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<String>,
    /// Mount the container's root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs: PATH[:options]
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Container host name (default: the short container id)
    #[arg(long)]
    pub hostname: Option<String>,
    /// Override the image's entrypoint ("" clears it)
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Command that checks the container's health, run inside it with
    /// /bin/sh -c (replaces the image's HEALTHCHECK; needs -d)
    #[arg(long = "health-cmd", value_name = "CMD", allow_hyphen_values = true)]
    pub health_cmd: Option<String>,
    /// Time between health checks (e.g. 30s, 1m30s)
    #[arg(long = "health-interval", value_name = "DURATION")]
    pub health_interval: Option<String>,
    /// Time one health check may take before it counts as failed
    #[arg(long = "health-timeout", value_name = "DURATION")]
    pub health_timeout: Option<String>,
    /// Time to start in, during which failed checks do not count
    #[arg(long = "health-start-period", value_name = "DURATION")]
    pub health_start_period: Option<String>,
    /// Time between health checks during the start period (default 5s)
    #[arg(long = "health-start-interval", value_name = "DURATION")]
    pub health_start_interval: Option<String>,
    /// Failures in a row that make the container unhealthy (default 3)
    #[arg(long = "health-retries", value_name = "N")]
    pub health_retries: Option<u32>,
    /// Run no health check, whatever the image says
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// What an unhealthy container gets: none, kill, restart or stop
    #[arg(
        long = "health-on-failure",
        value_name = "ACTION",
        default_value = "none"
    )]
    pub health_on_failure: String,
    /// Who says the container is ready: ignore (skiff: the health check,
    /// else a TCP connect to its ports) or container (it sends READY=1 to
    /// $NOTIFY_SOCKET, as with systemd; needs -d)
    #[arg(long = "sdnotify", value_name = "MODE", default_value = "ignore")]
    pub sdnotify: String,
    /// Set a label on the container: KEY=VALUE (ps --filter label=KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Run N replicas of the container (NAME.1 … NAME.N) behind the same
    /// published ports; max: one per CPU (needs -d and --name)
    #[arg(long, value_name = "N|max")]
    pub replicas: Option<String>,
    /// Signal that stops the container (replaces the image's STOPSIGNAL)
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Security options: no-new-privileges[=true|false], seccomp=PROFILE.json|unconfined
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// The image (NAME[:TAG], NAME@DIGEST or an image id), then the command
    /// and its arguments: everything after IMAGE belongs to the container,
    /// whatever it looks like (`skiff run node-api -e 'console.log(1)'`)
    #[arg(
        value_name = "IMAGE [COMMAND [ARG...]]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_args: Vec<String>,
}

impl RunArgs {
    /// The image as the user named it.
    pub fn image(&self) -> &str {
        self.image_and_args.first().map_or("", String::as_str)
    }

    /// The command and its arguments (everything after IMAGE).
    pub fn args(&self) -> &[String] {
        self.image_and_args.get(1..).unwrap_or(&[])
    }
}

fn no_new_privileges(opts: &[String]) -> Result<bool> {
    let mut nnp = true;
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), "true"));
        match (k, v) {
            ("no-new-privileges", "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("seccomp", _) => {}
            _ => {
                bail!(
                    "unsupported --security-opt {o:?} (supported: no-new-privileges=true|false, \
                     seccomp=PROFILE.json|unconfined)"
                )
            }
        }
    }
    Ok(nnp)
}

/// `seccomp=PROFILE.json` or `seccomp=unconfined` (the last one given wins).
fn seccomp(opts: &[String]) -> Result<Seccomp> {
    let mut mode = Seccomp::Default;
    for o in opts {
        if let Some(("seccomp", v)) = o.split_once(['=', ':']) {
            mode = Seccomp::from_option(v)?;
        }
    }
    Ok(mode)
}

fn options(a: &RunArgs) -> Result<RunOptions> {
    if let Some(sig) = &a.stop_signal {
        sig.parse::<crate::runtime::signum::Signum>()
            .map_err(|e| anyhow::anyhow!("invalid --stop-signal {sig:?}: {e}"))?;
    }
    // Refuse a bad -v (a volume name with / or ..) before anything is read.
    let here = std::env::current_dir().context("cannot read the working directory")?;
    for v in &a.volume {
        spec::parse_volume(&spec::absolute_volume(v, &here))?;
    }
    let mut env_file_lines = Vec::new();
    for f in &a.env_file {
        let data =
            std::fs::read(f).with_context(|| format!("cannot read env file {}", f.display()))?;
        env_file_lines.extend(spec::env_file_checked(&f.display().to_string(), &data)?);
    }
    let (network, networks) = spec::network_choice(&a.network);
    if network != NetworkMode::Bridge && (a.ip.is_some() || !a.network_alias.is_empty()) {
        bail!(
            "--ip and --network-alias need a bridge network (--network {} has none)",
            a.network
        );
    }
    for alias in &a.network_alias {
        crate::network::hosts::check_alias(alias)?;
    }
    if network == NetworkMode::Bridge {
        for n in &networks {
            if n != crate::network::DEFAULT_NETWORK {
                crate::network::record::check_name(n)?;
            }
        }
    }
    Ok(RunOptions {
        name: a.name.clone(),
        hostname: a.hostname.clone(),
        env: a.env.clone(),
        env_file_lines,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        entrypoint: a.entrypoint.clone(),
        args: a.args().to_vec(),
        network,
        networks,
        network_aliases: a.network_alias.clone(),
        ip: a.ip,
        dns: a.dns.clone(),
        add_hosts: a.add_host.clone(),
        volumes: {
            let cwd = std::env::current_dir().context("cannot read the working directory")?;
            a.volume
                .iter()
                .map(|v| spec::absolute_volume(v, &cwd))
                .collect()
        },
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        memory: a.memory.clone(),
        cpus: a.cpus.clone(),
        pids_limit: a.pids_limit,
        no_new_privileges: no_new_privileges(&a.security_opt)?,
        tty: a.tty,
        seccomp: seccomp(&a.security_opt)?,
    })
}

/// What only `-d` and the supervisor use, checked before anything is created.
struct Detached {
    policy: Policy,
    ports: Vec<PortSpec>,
    log: LogOptions,
    health: HealthOptions,
    sdnotify: SdNotify,
}

fn health_options(a: &RunArgs) -> Result<HealthOptions> {
    Ok(HealthOptions {
        cmd: a.health_cmd.clone(),
        interval: a.health_interval.clone(),
        timeout: a.health_timeout.clone(),
        start_period: a.health_start_period.clone(),
        start_interval: a.health_start_interval.clone(),
        retries: a.health_retries,
        none: a.no_healthcheck,
        on_failure: a.health_on_failure.parse::<OnFailure>()?,
    })
}

fn detached_options(a: &RunArgs, network: NetworkMode) -> Result<Detached> {
    let policy: Policy = a.restart.parse()?;
    let log = LogOptions::parse(&a.log_opt)?;
    let health = health_options(a)?;
    let sdnotify: SdNotify = a.sdnotify.parse()?;
    let mut ports = a
        .publish
        .iter()
        .map(|p| p.parse::<PortSpec>())
        .collect::<Result<Vec<_>, SupervisorError>>()?;
    if policy != Policy::No && a.rm {
        bail!("conflicting options: --restart and --rm");
    }
    if !a.detach {
        if policy != Policy::No {
            bail!("--restart needs -d: a foreground container ends with its skiff run");
        }
        if !ports.is_empty() {
            bail!("-p needs -d: published ports are served by the container's supervisor");
        }
        if !a.log_opt.is_empty() {
            bail!("--log-opt needs -d: a foreground container writes to the terminal");
        }
        if health != HealthOptions::default() {
            bail!(
                "--health-* options need -d: health checks are run by the container's supervisor"
            );
        }
        if sdnotify.is_container() {
            bail!("--sdnotify container needs -d: READY=1 is read by the container's supervisor");
        }
    } else if a.tty || a.interactive {
        bail!("-i and -t cannot be used with -d (use skiff exec -it to get a shell)");
    }
    match network {
        NetworkMode::Host if !ports.is_empty() => {
            eprintln!("WARNING: published ports are discarded when using host network mode");
            ports.clear();
        }
        NetworkMode::None if !ports.is_empty() => {
            bail!("-p cannot be used with --network none (the container has no network)")
        }
        _ => {}
    }
    for (i, p) in ports.iter().enumerate() {
        if ports[..i]
            .iter()
            .any(|q| q.host_port == p.host_port && q.host_ip == p.host_ip)
        {
            bail!("host port {} is published twice", p.host_port);
        }
    }
    Ok(Detached {
        policy,
        ports,
        log,
        health,
        sdnotify,
    })
}

/// `--label KEY=VALUE` (KEY alone: an empty value, as docker does).
fn labels(given: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    given
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() || k.contains(char::is_whitespace) {
                anyhow::bail!("invalid --label {l:?}: use KEY=VALUE");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let opts = options(&a)?;
    if let Some(n) = &a.name {
        lookup::check_name(n)?;
    }
    let detached = detached_options(&a, opts.network)?;
    let replicas = replica_count(&a)?;
    let store = Store::open(root)
        .with_context(|| format!("cannot open the store at {}", root.display()))?;
    for n in opts
        .networks
        .iter()
        .filter(|n| *n != crate::network::DEFAULT_NETWORK)
    {
        crate::network::Networks::at(root).get(n)?;
    }
    let request = create::Request {
        image: a.image().to_string(),
        options: Options {
            sdnotify: detached.sdnotify,
            ..recorded_options(&a, &opts, &detached.health)
        },
        ports: detached.ports,
        restart: detached.policy,
        log: detached.log,
        init: a.init,
        detach: a.detach,
        auto_remove: a.rm,
        labels: labels(&a.label)?,
    };
    if let Some(n) = replicas {
        return run_replicas(&store, &a, &request, n);
    }
    let mut container = create_one(&store, &a, &request)?;
    let config_image = RunConfig::load(container.dir())
        .map(|c| c.image.label())
        .unwrap_or_else(|_| a.image().to_string());
    container.set_ephemeral(a.rm && !a.detach);
    if a.detach {
        return run_detached(&store, container);
    }
    runtime::process::tiny_init::enable(a.init);
    let result = run_attached(&store, &container, &a);
    if a.rm {
        store.emit(Event::container(
            "destroy",
            container.id(),
            a.name.as_deref(),
            &config_image,
        ));
        let removed = container.remove();
        if let (Ok(_), Err(e)) = (&result, removed) {
            eprintln!("skiff: {e}");
        }
    }
    result
}

/// One container through the library path `run -d` and compose share; a
/// missing image gets the closest tag ("did you mean node-api?").
fn create_one(store: &Store, a: &RunArgs, request: &create::Request) -> Result<Container> {
    match create::create(store, request, &|n| std::env::var(n).ok()) {
        Ok(c) => Ok(c),
        Err(
            e @ crate::deploy::DeployError::Image(crate::image::local::ImageError::NotFound(_)),
        ) => {
            super::images::load_image(store, a.image())?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `--replicas`: how many, checked before anything is created.
fn replica_count(a: &RunArgs) -> Result<Option<u32>> {
    let Some(r) = &a.replicas else {
        return Ok(None);
    };
    let n = replicas::parse_count(r)?;
    if !a.detach {
        bail!("--replicas needs -d: each replica runs under its own supervisor");
    }
    if a.rm {
        bail!("conflicting options: --replicas and --rm");
    }
    let Some(name) = &a.name else {
        bail!("--replicas needs --name: the replicas are named NAME.1, NAME.2, …");
    };
    if replicas::split_name(name).is_some() {
        bail!("invalid service name {name:?}: NAME.N is the name of a replica");
    }
    if a.ip.is_some() {
        bail!("--ip cannot be used with --replicas (each replica needs its own address)");
    }
    Ok(Some(n))
}

/// `run -d --replicas N --name api`: containers api.1 … api.N, started one
/// after the other (the first binds the published ports, the others share
/// them). If one cannot start, the ones made so far are removed again: all
/// or nothing.
fn run_replicas(store: &Store, a: &RunArgs, request: &create::Request, n: u32) -> Result<i32> {
    let service = a.name.clone().unwrap_or_default();
    // One deploy at a time (waits for a scale, rollout or rollback); what
    // a killed `scale`/`run --replicas` of this service left comes first.
    let _lock = crate::deploy::journal::lock(store)?;
    let opts = crate::deploy::Options::default();
    if let Some(what) = crate::deploy::scale::recover(store, &service, &opts)? {
        eprintln!("skiff: {what}");
    }
    if lookup::resolve(store, &service).is_ok() || !replicas::members(store, &service).is_empty() {
        bail!(
            "the name {service:?} is already in use (a container or a service); \
             remove it first (skiff rm -f {service})"
        );
    }
    crate::deploy::scale::begin_run(store, &service, n)?;
    let mut made: Vec<String> = Vec::new();
    for i in 1..=n {
        let mut r = request.clone();
        r.options.run.name = Some(replicas::replica_name(&service, i));
        r.options.service = Some(service.clone());
        let started = create_one(store, a, &r).and_then(|c| {
            let id = c.id().to_string();
            made.push(id.clone());
            replicas::spawn(store, &id).map_err(anyhow::Error::from)
        });
        if let Err(e) = started {
            for id in made.iter().rev() {
                let _ = crate::supervisor::ops::remove(store, id, true);
                let _ = crate::supervisor::cleanup::remove_cgroups(id);
            }
            crate::deploy::scale::end_run(store, &service)?;
            let code = e
                .downcast_ref::<SupervisorError>()
                .map_or(125, SupervisorError::exit_code);
            eprintln!(
                "skiff: replica {} of {service} did not start: {e:#}",
                replicas::replica_name(&service, i)
            );
            return Ok(code);
        }
    }
    crate::deploy::scale::end_run(store, &service)?;
    for id in made {
        println!("{id}");
    }
    Ok(0)
}

fn recorded_options(a: &RunArgs, opts: &RunOptions, health: &HealthOptions) -> Options {
    Options {
        run: opts.clone(),
        // Absolute, so `restart --update-env` reads them from anywhere.
        env_files: a
            .env_file
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect(),
        publish: a.publish.clone(),
        log_opts: a.log_opt.clone(),
        health: health.clone(),
        service: None,
        stop_signal: a.stop_signal.clone(),
        sdnotify: SdNotify::Ignore,
    }
}

/// Hand the container to its supervisor; print its id once it runs.
fn run_detached(store: &Store, container: Container) -> Result<i32> {
    match create::start_detached(store, container) {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("skiff: {e}");
            Ok(e.exit_code())
        }
    }
}

/// The foreground command owns the container: it records the state for
/// `ps` (unless the container goes away with `--rm`).
fn record(store: &Store, container: &Container, a: &RunArgs, f: impl FnOnce(&mut State)) {
    if a.rm || !container.dir().is_dir() {
        return;
    }
    let mut s = State::load(container.dir()).unwrap_or_default();
    f(&mut s);
    let _ = s.save(store, container.dir());
}

fn run_attached(store: &Store, container: &Container, a: &RunArgs) -> Result<i32> {
    let mut forwarder = signals::Forwarder::install()?;
    let stdio = if a.tty {
        Stdio::Pty
    } else {
        Stdio::Inherit {
            stdin: a.interactive,
        }
    };
    let mut running = match container.start(stdio) {
        Ok(r) => r,
        Err(e @ runtime::RuntimeError::Exec { .. }) => {
            eprintln!("skiff: {e}");
            record(store, container, a, |s| {
                s.status = Status::Exited;
                s.exit_code = Some(e.exit_code());
                s.error = Some(e.to_string());
            });
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e.into()),
    };
    let event = |action: &str| {
        let image = RunConfig::load(container.dir())
            .map(|c| c.image.label())
            .unwrap_or_else(|_| a.image().to_string());
        Event::container(action, container.id(), a.name.as_deref(), &image)
    };
    store.emit(event("start").attr("pid", running.pid().as_raw().to_string()));
    record(store, container, a, |s| {
        s.status = Status::Running;
        s.supervisor = Some(ProcessRef::current());
        s.pid = Some(running.pid().as_raw());
        s.started_at = Some(crate::supervisor::now_rfc3339());
    });
    let status = attach::attach(&mut running, &mut forwarder, a.interactive)?;
    drop(running);
    if status.oom_killed {
        store.emit(event("oom"));
    }
    store.emit(event("die").attr("exitCode", status.exit_code().to_string()));
    record(store, container, a, |s| {
        s.status = Status::Exited;
        s.pid = None;
        s.exit_code = Some(status.exit_code());
        s.oom_killed = status.oom_killed;
        s.finished_at = Some(crate::supervisor::now_rfc3339());
    });
    if status.oom_killed {
        let limit = container
            .spec()
            .resources
            .memory
            .map(|m| format!(" (memory limit {m} bytes)"))
            .unwrap_or_default();
        eprintln!(
            "skiff: container {} was killed: out of memory{limit}",
            container.spec().short_id()
        );
    }
    Ok(status.exit_code())
}
