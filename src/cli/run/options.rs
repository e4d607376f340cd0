//! `skiff run`'s flags into what is recorded and run: the runtime's
//! options, the supervisor's (`-d` only) and the labels, checked before
//! anything is created.

use crate::runtime::seccomp::Seccomp;
use crate::runtime::{spec, NetworkMode, RunOptions};
use crate::supervisor::config::{LogOptions, Options};
use crate::supervisor::health::{HealthOptions, OnFailure};
use crate::supervisor::notify::SdNotify;
use crate::supervisor::ports::PortSpec;
use crate::supervisor::restart::Policy;
use crate::supervisor::SupervisorError;
use anyhow::{bail, Context, Result};

use super::RunArgs;

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

pub(super) fn options(a: &RunArgs) -> Result<RunOptions> {
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
pub(super) struct Detached {
    pub(super) policy: Policy,
    pub(super) ports: Vec<PortSpec>,
    pub(super) log: LogOptions,
    pub(super) health: HealthOptions,
    pub(super) sdnotify: SdNotify,
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

pub(super) fn detached_options(a: &RunArgs, network: NetworkMode) -> Result<Detached> {
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
pub(super) fn labels(given: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
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

pub(super) fn recorded_options(a: &RunArgs, opts: &RunOptions, health: &HealthOptions) -> Options {
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
