//! `skiff run`: parse docker's options, resolve the image, hand the rest to
//! the runtime and stay attached in the foreground — or, with `-d`, to a
//! supervisor (`supervisor::spawn`) that owns the container from then on.
//! The flags are here; `run/options.rs` turns them into the runtime's and
//! the supervisor's options, `run/attached.rs` is the foreground run,
//! `run/replicas.rs` is `--replicas`.

use crate::deploy::create;
use crate::runtime::process::sealed_exe;
use crate::runtime::{self, Container};
use crate::store::events::Event;
use crate::store::Store;
use crate::supervisor::config::{Options, RunConfig};
use crate::supervisor::lookup;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

mod attached;
mod options;
mod replicas;

use attached::run_attached;
use options::{detached_options, labels, options, recorded_options};
use replicas::{replica_count, run_replicas};

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

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    // Detached containers and replicas are started by supervisors, which
    // protect the binary themselves; in the foreground the program is exec'd
    // through the sealed exec stub unless the tiny init stays as PID 1.
    if a.detach {
        sealed_exe::ensure()
    } else {
        sealed_exe::ensure_unless_stub(a.init)
    }
    .context("cannot protect the skiff binary")?;
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
