//! Container commands: ps, logs, stop, start, restart, rm, exec, inspect
//! (a container first, then an image), boot, and the hidden `__supervise`.
//! They parse, call `supervisor::ops` (or the runtime for exec), print.
//! `ps` is in `containers/ps.rs`, `logs` in `containers/logs.rs`.

use super::format::{human_age, human_duration};
use super::images::{image_json, open_store, InspectArgs};
use crate::image::local::LocalImage;
use crate::runtime::process::join::{self, ExecOptions};
use crate::runtime::process::sealed_exe;
use crate::runtime::{signals, Container, RuntimeError};
use crate::supervisor::health::HealthStatus;
use crate::supervisor::ops::{self, Info, StopOutcome};
use crate::supervisor::state::Observed;
use crate::supervisor::{daemon, lookup, replicas, SupervisorError};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::Path;

mod logs;
mod ps;

pub use logs::{logs, LogsArgs};
pub use ps::{ps, PsArgs};

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Recreate the container with its env files read again (PM2's
    /// --update-env), handing its ports over as a rollout does
    #[arg(long = "update-env")]
    pub update_env: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable (NAME=value)
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// User: NAME|UID[:GROUP|GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container (name or id), then the command and its arguments:
    /// everything after the container belongs to the command
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    pub container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container as the user named it.
    pub fn container(&self) -> &str {
        self.container_and_command
            .first()
            .map_or("", String::as_str)
    }

    /// The command and its arguments.
    pub fn command(&self) -> &[String] {
        self.container_and_command.get(1..).unwrap_or(&[])
    }
}

#[derive(Args, Debug)]
pub struct BootArgs {}

#[derive(Args, Debug)]
pub struct SuperviseArgs {
    pub id: String,
}

pub(super) fn resolve(store: &crate::store::Store, c: &str) -> Result<String> {
    match lookup::resolve(store, c) {
        Err(SupervisorError::NotFound(_)) => {
            let names: Vec<String> = lookup::all_ids(store)
                .iter()
                .filter_map(|id| lookup::name_of(store, id))
                .collect();
            match super::suggest::closest(c, names.iter().map(String::as_str)) {
                Some(n) => bail!("no such container: {c} (did you mean {n}?)"),
                None => bail!("no such container: {c}"),
            }
        }
        r => Ok(r?),
    }
}

/// The container `c` names, or every replica of the service it names.
fn resolve_all(store: &crate::store::Store, c: &str) -> Result<Vec<String>> {
    match replicas::resolve_all(store, c) {
        // Not a container nor a service: the error with a suggestion.
        Err(SupervisorError::NotFound(_)) => resolve(store, c).map(|id| vec![id]),
        r => Ok(r?),
    }
}

pub(super) fn status_text(i: &Info) -> String {
    let ago = |t: &Option<String>| t.as_deref().map(human_age).unwrap_or_default();
    let code = |c: &Option<i32>| c.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
    match &i.observed {
        Observed::Created => "Created".into(),
        Observed::Up { since } => {
            let secs = since
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or(0);
            // docker: "Up 2 minutes (healthy)", "(health: starting)".
            let health = match i.state.health.as_ref().map(|h| h.status) {
                Some(HealthStatus::Starting) => " (health: starting)",
                Some(HealthStatus::Healthy) => " (healthy)",
                Some(HealthStatus::Unhealthy) => " (unhealthy)",
                None => "",
            };
            format!("Up {}{health}", human_duration(secs))
        }
        Observed::Restarting { exit_code, since } => {
            format!("Restarting ({}) {}", code(exit_code), ago(since))
        }
        Observed::Exited { exit_code, since } => {
            let oom = if i.state.oom_killed {
                " (out of memory)"
            } else {
                ""
            };
            format!("Exited ({}){oom} {}", code(exit_code), ago(since))
        }
        Observed::Dead { reason } => format!("Dead ({reason})"),
    }
}

pub(super) fn ports_text(i: &Info) -> String {
    i.config
        .as_ref()
        .map(|c| {
            c.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

pub fn stop(root: &Path, a: StopArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let r = resolve_all(&store, c).and_then(|ids| {
            let mut outcome = StopOutcome::NotRunning;
            for id in ids {
                match ops::stop(&store, &id, a.time)? {
                    StopOutcome::NotRunning => {}
                    o => outcome = o,
                }
            }
            Ok(outcome)
        });
        match r {
            Ok(StopOutcome::Stopped) => println!("{c}"),
            Ok(StopOutcome::CleanedUp) => {
                eprintln!("skiff: container {c} had lost its supervisor; cleaned up");
                println!("{c}");
            }
            Ok(StopOutcome::NotRunning) => eprintln!("skiff: container {c} is not running"),
            Err(e) => {
                eprintln!("skiff: {}", super::error_chain(&e));
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

fn report_start(c: &str, r: Result<(), SupervisorError>) -> i32 {
    match r {
        Ok(()) => {
            println!("{c}");
            0
        }
        Err(e) => {
            eprintln!("skiff: {c}: {e}");
            e.exit_code()
        }
    }
}

pub fn start(root: &Path, a: StartArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let mut any = false;
        let mut r = Ok(());
        for id in resolve_all(&store, c)? {
            match ops::start(&store, &id) {
                Ok(started) => any |= started,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        if r.is_ok() && !any {
            eprintln!("skiff: container {c} is already running");
        }
        code = code.max(report_start(c, r));
    }
    Ok(code)
}

pub fn restart(root: &Path, a: RestartArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        if a.update_env {
            let id = resolve(&store, c)?;
            let opts = crate::deploy::Options {
                stop_timeout: a.time,
                ..Default::default()
            };
            match crate::deploy::rollout::recreate(
                &store,
                &id,
                &opts,
                &mut super::deploy::print_step,
            ) {
                Ok(()) => println!("{c}"),
                Err(e) => code = super::deploy::fail(e),
            }
            continue;
        }
        // A service restarts one replica at a time: the others serve.
        let r = resolve_all(&store, c)?
            .iter()
            .try_for_each(|id| ops::restart(&store, id, a.time));
        code = code.max(report_start(c, r));
    }
    Ok(code)
}

pub fn rm(root: &Path, a: RmArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let r = resolve_all(&store, c).and_then(|ids| {
            ids.iter()
                .try_for_each(|id| ops::remove(&store, id, a.force))
                .map_err(anyhow::Error::from)
        });
        match r {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("skiff: {}", super::error_chain(&e));
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

pub fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let id = resolve(&store, a.container())?;
    let i = ops::info(&store, &id)?;
    let (Observed::Up { .. }, Some(pid)) = (&i.observed, i.state.pid) else {
        bail!("container {} is not running", a.container());
    };
    let container = Container::open(&store, &id)?;
    let opts = ExecOptions {
        args: a.command().to_vec(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty,
        interactive: a.interactive,
    };
    let mut forwarder = signals::Forwarder::install()?;
    let joined = match join::spawn(container.spec(), nix::unistd::Pid::from_raw(pid), &opts) {
        Ok(j) => j,
        Err(e @ RuntimeError::Exec { .. }) => {
            eprintln!("skiff: {e}");
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e).context(format!("cannot exec in container {}", a.container())),
    };
    Ok(join::wait(joined, &mut forwarder, a.interactive)?)
}

/// `inspect`: containers first, then images, as docker.
pub fn inspect(root: &Path, a: InspectArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut out = Vec::new();
    for t in &a.targets {
        match lookup::resolve(&store, t) {
            Ok(id) => out.push(ops::inspect_json(&ops::info(&store, &id)?)),
            Err(SupervisorError::NotFound(_)) if !replicas::members(&store, t).is_empty() => {
                for (_, id) in replicas::members(&store, t) {
                    out.push(ops::inspect_json(&ops::info(&store, &id)?));
                }
            }
            Err(SupervisorError::NotFound(_)) => match LocalImage::load(&store, t) {
                Ok(img) => out.push(image_json(&store, &img)?),
                Err(crate::image::local::ImageError::NotFound(_)) => {
                    bail!("no such container or image: {t}")
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

pub fn boot(root: &Path, _a: BootArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for (name, r) in ops::boot(&store) {
        match r {
            Ok(()) => println!("started {name}"),
            Err(e) => {
                eprintln!("skiff: cannot start {name}: {e}");
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

pub fn supervise(root: &Path, a: SuperviseArgs) -> Result<i32> {
    Ok(daemon::main(root, &a.id))
}

/// `skiff __probe ID TIMEOUT_MS -- CMD...`: one health check, started by
/// the container's supervisor.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    pub id: String,
    pub timeout_ms: u64,
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn probe(root: &Path, a: ProbeArgs) -> Result<i32> {
    Ok(crate::supervisor::probe::run_in_container(
        root,
        &a.id,
        std::time::Duration::from_millis(a.timeout_ms),
        &a.command,
    ))
}
