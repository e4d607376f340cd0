//! `skiff compose`: parse the command line, load the project, call
//! `compose`, print.

use super::containers::{ports_text, status_text};
use super::format::print_table;
use super::images::open_store;
use crate::compose::converge::{self, UpOptions};
use crate::compose::load::{self, Source};
use crate::compose::model::Project;
use crate::compose::{project, service, yaml};
use crate::runtime::process::sealed_exe;
use crate::runtime::signals::{Event, Forwarder};
use crate::store::Store;
use crate::supervisor::log::Follower;
use crate::supervisor::ops::{self, Info};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use nix::sys::signal::Signal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// The compose file (default: compose.yaml, compose.yml,
    /// docker-compose.yaml or docker-compose.yml in the directory)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Project name (default: the file's name:, else the directory's name)
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Directory relative paths and .env are taken from
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Variables file (default: .env in the project directory)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Enable services of a profile
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ComposeCommand {
    /// Create and start the services (only what changed is recreated)
    Up {
        /// Return once everything is started (without it, follow the logs)
        #[arg(short = 'd', long)]
        detach: bool,
        /// Build images before starting
        #[arg(long)]
        build: bool,
        /// Remove containers of services that are no longer in the file
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// How long to wait for a dependency's condition (e.g. 2m)
        #[arg(long = "wait-timeout", default_value = "120s", value_name = "DURATION")]
        wait_timeout: String,
    },
    /// Stop and remove the project's containers (and volumes with -v)
    Down {
        /// Remove the project's named volumes too
        #[arg(short = 'v', long = "volumes")]
        volumes: bool,
    },
    /// List the project's containers
    Ps {
        /// Also stopped containers
        #[arg(short, long)]
        all: bool,
        /// Only print container names
        #[arg(short, long)]
        quiet: bool,
        #[arg(long, value_enum, default_value_t)]
        format: super::images::Format,
    },
    /// Show the services' output
    Logs {
        #[arg(short, long)]
        follow: bool,
        /// Lines to show from the end of each log ("all" for every line)
        #[arg(long, default_value = "all")]
        tail: String,
        services: Vec<String>,
    },
    /// Stop services
    Stop {
        #[arg(short = 't', long = "timeout")]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Start stopped services
    Start { services: Vec<String> },
    /// Restart services
    Restart {
        #[arg(short = 't', long = "timeout")]
        timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Print the file as skiff understood it (interpolated, normalized)
    Config {
        /// Only the service names
        #[arg(long)]
        services: bool,
        /// Only the volume names
        #[arg(long)]
        volumes: bool,
    },
    /// Build the services that have a build:
    Build { services: Vec<String> },
    /// Pull the services' images (those without a build:)
    Pull { services: Vec<String> },
    /// Run a command in a service's running container
    Exec {
        /// Do not allocate a terminal
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        #[arg(short = 'u', long)]
        user: Option<String>,
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        #[arg(short = 'w', long = "workdir")]
        workdir: Option<String>,
        /// Which replica (1-based)
        #[arg(long, default_value_t = 1)]
        index: u32,
        /// The service, then the command and its arguments
        #[arg(required = true, num_args = 2.., trailing_var_arg = true, value_name = "SERVICE COMMAND [ARG...]")]
        service_and_command: Vec<String>,
    },
    /// Move the service's image tag back one revision, and its containers with it
    Rollback {
        /// Revision number or digest to return to
        #[arg(long)]
        to: Option<String>,
        service: String,
    },
}

fn source(a: &ComposeArgs) -> Source {
    Source {
        file: a.file.clone(),
        project_name: a.project_name.clone(),
        dir: a.project_directory.clone(),
        env_file: a.env_file.clone(),
        profiles: a.profiles.clone(),
    }
}

fn say(s: String) {
    eprintln!("{s}");
}

/// The services named (all when none), checked against the file.
fn selected<'a>(p: &'a Project, names: &[String]) -> Result<Vec<&'a str>> {
    for n in names {
        if !p.services.iter().any(|s| &s.name == n) {
            bail!("no such service: {n}");
        }
    }
    Ok(p.services
        .iter()
        .map(|s| s.name.as_str())
        .filter(|s| names.is_empty() || names.iter().any(|n| n == s))
        .collect())
}

fn containers_of(store: &Store, p: &Project, names: &[String]) -> Result<Vec<Info>> {
    let wanted = selected(p, names)?;
    Ok(project::containers(store, &p.name)
        .into_iter()
        .filter(|i| project::service_of(i).is_some_and(|s| wanted.contains(&s)))
        .collect())
}

fn grace(p: &Project, i: &Info, given: Option<u64>) -> u64 {
    given
        .or_else(|| {
            let s = project::service_of(i)?;
            p.services.iter().find(|x| x.name == s)?.stop_grace_period
        })
        .unwrap_or(10)
}

pub fn compose(root: &Path, a: ComposeArgs) -> Result<i32> {
    let src = source(&a);
    // `down -p NAME` works without the file, as docker compose's does.
    if let (ComposeCommand::Down { volumes }, Some(name)) = (&a.command, &a.project_name) {
        if load::load(&src).is_err() {
            let store = open_store(root)?;
            let _lock = project::lock(&store, name, &mut say)?;
            converge::down(&store, name, None, *volumes, &mut say)?;
            return Ok(0);
        }
    }
    let p = load::load(&src)?;
    match a.command {
        ComposeCommand::Config { services, volumes } => {
            if services {
                p.services.iter().for_each(|s| println!("{}", s.name));
            } else if volumes {
                p.volumes.keys().for_each(|v| println!("{v}"));
            } else {
                for w in &p.warnings {
                    say(format!("WARNING: {w}"));
                }
                print!("{}", yaml::emit(&p.config_value()));
            }
            Ok(0)
        }
        ComposeCommand::Up {
            detach,
            build,
            remove_orphans,
            wait_timeout,
        } => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            let store = open_store(root)?;
            let opts = UpOptions {
                build,
                wait_timeout: crate::units::parse_duration(&wait_timeout)?,
                remove_orphans,
            };
            let lock = project::lock(&store, &p.name, &mut say)?;
            converge::up(&store, &p, &opts, &mut say)?;
            drop(lock);
            if detach {
                return Ok(0);
            }
            // Attached: Ctrl-C (or SIGTERM) stops the project's
            // containers, a second one kills them, as docker compose does.
            let mut signals = Forwarder::install().context("cannot watch for Ctrl-C")?;
            let cs = project::containers(&store, &p.name);
            match follow_logs(&store, &cs, None, true, Some(&mut signals))? {
                None => Ok(0),
                Some(first) => stop_on_signal(&store, &p, &mut signals, first),
            }
        }
        ComposeCommand::Down { volumes } => {
            let store = open_store(root)?;
            let _lock = project::lock(&store, &p.name, &mut say)?;
            converge::down(&store, &p.name, Some(&p), volumes, &mut say)?;
            Ok(0)
        }
        ComposeCommand::Ps { all, quiet, format } => {
            let store = open_store(root)?;
            let cs: Vec<Info> = project::containers(&store, &p.name)
                .into_iter()
                .filter(|i| all || i.observed.is_live())
                .collect();
            if quiet {
                cs.iter().for_each(|i| println!("{}", i.display_name()));
                return Ok(0);
            }
            match format {
                super::images::Format::Json => {
                    let v: Vec<serde_json::Value> = cs
                        .iter()
                        .map(|i| {
                            serde_json::json!({
                                "id": i.id,
                                "name": i.name,
                                "service": project::service_of(i),
                                "project": p.name,
                                "image": i.image_display(),
                                "state": i.observed.word(),
                                "status": status_text(i),
                                "health": i.state.health.as_ref().map(|h| h.status),
                                "ports": ports_text(i),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                super::images::Format::Table => {
                    let rows: Vec<Vec<String>> = cs
                        .iter()
                        .map(|i| {
                            vec![
                                i.display_name(),
                                i.image_display(),
                                project::service_of(i).unwrap_or_default().to_string(),
                                status_text(i),
                                ports_text(i),
                            ]
                        })
                        .collect();
                    print_table(&["NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"], &rows);
                }
            }
            Ok(0)
        }
        ComposeCommand::Logs {
            follow,
            tail,
            services,
        } => {
            let store = open_store(root)?;
            let cs = containers_of(&store, &p, &services)?;
            let tail = match tail.as_str() {
                "all" | "-1" => None,
                n => Some(
                    n.parse::<usize>()
                        .with_context(|| format!("invalid --tail {n:?}"))?,
                ),
            };
            follow_logs(&store, &cs, tail, follow, None)?;
            Ok(0)
        }
        ComposeCommand::Stop { timeout, services } => {
            let store = open_store(root)?;
            let mut cs = containers_of(&store, &p, &services)?;
            cs.reverse();
            for i in cs {
                ops::stop(&store, &i.id, grace(&p, &i, timeout))?;
                say(format!("Container {} stopped", i.display_name()));
            }
            Ok(0)
        }
        ComposeCommand::Start { services } => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            let store = open_store(root)?;
            for i in containers_of(&store, &p, &services)? {
                ops::start(&store, &i.id)?;
                say(format!("Container {} started", i.display_name()));
            }
            Ok(0)
        }
        ComposeCommand::Restart { timeout, services } => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            let store = open_store(root)?;
            for i in containers_of(&store, &p, &services)? {
                ops::restart(&store, &i.id, grace(&p, &i, timeout))?;
                say(format!("Container {} restarted", i.display_name()));
            }
            Ok(0)
        }
        ComposeCommand::Build { services } => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            let store = open_store(root)?;
            selected(&p, &services)?;
            converge::build(&store, &p, &services, &mut say)?;
            Ok(0)
        }
        ComposeCommand::Pull { services } => {
            let store = open_store(root)?;
            let mut code = 0;
            for name in selected(&p, &services)? {
                let Some(s) = p.services.iter().find(|s| s.name == name) else {
                    continue;
                };
                let (Some(image), None) = (&s.image, &s.build) else {
                    continue;
                };
                if let Err(e) = converge::pull(&store, image, &mut say) {
                    eprintln!("skiff: service {name:?}: {e}");
                    code = super::EXIT_SKIFF_ERROR;
                }
            }
            Ok(code)
        }
        ComposeCommand::Exec {
            no_tty,
            user,
            env,
            workdir,
            index,
            service_and_command,
        } => {
            let store = open_store(root)?;
            let svc = &service_and_command[0];
            let s = p
                .services
                .iter()
                .find(|s| &s.name == svc)
                .with_context(|| format!("no such service: {svc}"))?;
            let name = service::container_name(&p, s, index);
            drop(store);
            let tty = !no_tty && nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
            let mut container_and_command = vec![name];
            container_and_command.extend(service_and_command[1..].iter().cloned());
            super::containers::exec(
                root,
                super::containers::ExecArgs {
                    interactive: tty,
                    tty,
                    env,
                    user,
                    workdir,
                    container_and_command,
                },
            )
        }
        ComposeCommand::Rollback { to, service: svc } => {
            let s = p
                .services
                .iter()
                .find(|s| s.name == svc)
                .with_context(|| format!("no such service: {svc}"))?;
            let image = service::image_name(&p, s);
            let code = super::deploy::rollback(
                root,
                super::deploy::RollbackArgs {
                    name: image,
                    to,
                    no_rollout: false,
                    opts: super::deploy::ReplaceArgs {
                        ready_timeout: "30s".into(),
                        time: s.stop_grace_period.unwrap_or(10),
                    },
                },
            )?;
            if code == 0 {
                converge::refresh_hashes(&open_store(root)?, &p, s)?;
            }
            Ok(code)
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM of an attached `up`: stop the project's
/// containers (each with its stop_grace_period, last service first); a
/// second one kills those still running. Exit 128 + the first signal.
fn stop_on_signal(
    store: &Store,
    p: &Project,
    signals: &mut Forwarder,
    first: Signal,
) -> Result<i32> {
    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
    let _lock = project::lock(store, &p.name, &mut say)?;
    let mut cs = project::containers(store, &p.name);
    cs.reverse();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stopper = scope.spawn(|| {
            for i in &cs {
                match ops::stop(store, &i.id, grace(p, i, None)) {
                    Ok(_) => say(format!("Container {} stopped", i.display_name())),
                    Err(e) => say(format!("WARNING: container {}: {e}", i.display_name())),
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        let mut forced = false;
        while !done.load(Ordering::SeqCst) {
            let again = matches!(
                signals.next_event(),
                Ok(Some(Event::Forward(Signal::SIGINT | Signal::SIGTERM)))
            );
            if again && !forced {
                forced = true;
                eprintln!("Killing the project's containers");
                for i in &cs {
                    let _ = ops::stop(store, &i.id, 0);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = stopper.join();
    });
    Ok(128 + first as i32)
}

/// Print the logs of `cs`, each line prefixed with its container's name;
/// with `follow`, go on until every container has stopped, or until
/// SIGINT or SIGTERM arrives on `signals` (returned).
fn follow_logs(
    store: &Store,
    cs: &[Info],
    tail: Option<usize>,
    follow: bool,
    mut signals: Option<&mut Forwarder>,
) -> Result<Option<Signal>> {
    let width = cs.iter().map(|i| i.display_name().len()).max().unwrap_or(0);
    let mut followers: Vec<(String, Follower, String)> = cs
        .iter()
        .map(|i| {
            (
                format!("{:width$} | ", i.display_name()),
                Follower::new(&i.dir, true),
                i.id.clone(),
            )
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (prefix, f, _) in followers.iter_mut() {
        let mut lines = Vec::new();
        f.read_new(|e| lines.push(e.log));
        let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
        for l in &lines[skip..] {
            if write!(out, "{prefix}{l}").is_err() {
                return Ok(None);
            }
        }
    }
    if !follow {
        return Ok(None);
    }
    loop {
        let _ = out.flush();
        let mut any_live = false;
        for (prefix, f, id) in followers.iter_mut() {
            any_live |= ops::info(store, id).is_ok_and(|i| i.observed.is_live());
            let mut ok = true;
            f.read_new(|e| ok &= write!(out, "{prefix}{}", e.log).is_ok());
            if !ok {
                return Ok(None);
            }
        }
        if !any_live {
            return Ok(None);
        }
        while let Some(sig) = signals
            .as_deref_mut()
            .map(Forwarder::next_event)
            .transpose()?
        {
            match sig {
                Some(Event::Forward(s @ (Signal::SIGINT | Signal::SIGTERM))) => {
                    let _ = out.flush();
                    return Ok(Some(s));
                }
                Some(_) => {}
                None => break,
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
