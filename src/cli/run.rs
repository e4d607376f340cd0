//! `skiff run`: parse docker's options, resolve the image, hand the rest to
//! the runtime and stay attached in the foreground.

use crate::image::local::LocalImage;
use crate::runtime::process::sealed_exe;
use crate::runtime::{
    self, attach, signals, spec, Container, ContainerSpec, NetworkMode, RunOptions, Stdio,
};
use crate::store::Store;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Name of the container
    #[arg(long)]
    pub name: Option<String>,
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
    /// Network: private (own namespace with loopback), host, or none
    #[arg(long, default_value = "private")]
    pub network: String,
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
    /// Security options: no-new-privileges[=true|false]
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// The image: NAME[:TAG], NAME@DIGEST or an image id
    pub image: String,
    /// The command and its arguments (everything after IMAGE)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

fn no_new_privileges(opts: &[String]) -> Result<bool> {
    let mut nnp = true;
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), "true"));
        match (k, v) {
            ("no-new-privileges", "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            _ => {
                bail!("unsupported --security-opt {o:?} (supported: no-new-privileges=true|false)")
            }
        }
    }
    Ok(nnp)
}

fn options(a: &RunArgs) -> Result<RunOptions> {
    let mut env_file_lines = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read env file {}", f.display()))?;
        env_file_lines.extend(spec::env_file_lines(&text));
    }
    Ok(RunOptions {
        name: a.name.clone(),
        hostname: a.hostname.clone(),
        env: a.env.clone(),
        env_file_lines,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        entrypoint: a.entrypoint.clone(),
        args: a.args.clone(),
        network: a.network.parse::<NetworkMode>()?,
        volumes: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        memory: a.memory.clone(),
        cpus: a.cpus.clone(),
        pids_limit: a.pids_limit,
        no_new_privileges: no_new_privileges(&a.security_opt)?,
        tty: a.tty,
    })
}

pub fn run(root: &Path, a: RunArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let opts = options(&a)?;
    let store = Store::open(root)
        .with_context(|| format!("cannot open the store at {}", root.display()))?;
    let image = LocalImage::load(&store, &a.image)?;
    let layers = image.layer_dirs(&store)?;
    let id = runtime::new_id();
    let mut spec = ContainerSpec::build(&id, &a.image, &image.config.config, &opts, &|n| {
        std::env::var(n).ok()
    })?;
    spec.image_digest = Some(image.manifest_digest.to_string());
    let mut container = Container::create(&store, spec, layers)?;
    container.set_ephemeral(a.rm);
    let result = run_attached(&container, &a);
    if a.rm {
        let removed = container.remove();
        if let (Ok(_), Err(e)) = (&result, removed) {
            eprintln!("skiff: {e}");
        }
    }
    result
}

fn run_attached(container: &Container, a: &RunArgs) -> Result<i32> {
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
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e.into()),
    };
    let status = attach::attach(&mut running, &mut forwarder, a.interactive)?;
    drop(running);
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
