//! Deploy commands: rollout and rollback. They parse, call `deploy`, print
//! each step as it happens.

use super::images::{open_store, parse_tag};
use crate::deploy::{rollback, rollout, scale, DeployError, Options, Step};
use crate::runtime::process::sealed_exe;
use crate::supervisor::replicas;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RolloutArgs {
    /// NAME[:TAG] (tag defaults to latest)
    pub name: String,
    /// Recreate the containers already on the image too, reading their
    /// env files again (after editing an env file)
    #[arg(long)]
    pub force: bool,
    /// After the last container switched, watch the new revision this long
    /// (e.g. 30s); one that turns unhealthy, restarts or exits rolls every
    /// container and the tag back to what ran before
    #[arg(long, value_name = "DURATION")]
    pub monitor: Option<String>,
    /// Replace only N containers (the canaries); the others stay on what
    /// they run until `--promote` or `--abort`
    #[arg(long, value_name = "N", conflicts_with_all = ["promote", "abort"])]
    pub canary: Option<usize>,
    /// Containers replaced at a time (each new one ready before its old one
    /// is drained)
    #[arg(long, default_value_t = 1, value_name = "K")]
    pub parallel: usize,
    /// Roll the rest out after a canary (the same as a plain rollout)
    #[arg(long, conflicts_with = "abort")]
    pub promote: bool,
    /// Move the canaries, and the tag, back to what the others run
    #[arg(long)]
    pub abort: bool,
    #[command(flatten)]
    pub opts: ReplaceArgs,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// NAME[:TAG] (tag defaults to latest)
    pub name: String,
    /// Revision number or image digest to return to (default: the newest
    /// earlier revision with another image)
    #[arg(long, value_name = "REV|DIGEST")]
    pub to: Option<String>,
    /// Only move the tag; leave the containers as they are
    #[arg(long = "no-rollout")]
    pub no_rollout: bool,
    #[command(flatten)]
    pub opts: ReplaceArgs,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// SERVICE=N: the number of replicas each service should have
    #[arg(required = true, value_name = "SERVICE=N")]
    pub services: Vec<String>,
    #[command(flatten)]
    pub opts: ReplaceArgs,
}

#[derive(Args, Debug)]
pub struct ReplaceArgs {
    /// How long a new container with published ports may take to answer
    /// on them (e.g. 30s, 500ms, 2m)
    #[arg(long = "ready-timeout", default_value = "30s", value_name = "DURATION")]
    pub ready_timeout: String,
    /// Seconds an old container gets after its stop signal to finish
    /// requests in flight, before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10, value_name = "SECS")]
    pub time: u64,
}

/// `30s`, `500ms`, `2m`, `30` (seconds): a positive duration under a day.
fn parse_duration(s: &str) -> Option<Duration> {
    crate::units::parse_duration(s)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() < 86400)
}

impl ReplaceArgs {
    fn options(&self) -> Result<Options> {
        let ready_timeout = parse_duration(&self.ready_timeout).ok_or_else(|| {
            anyhow!(
                "invalid --ready-timeout {:?}: use a duration such as 30s, 500ms or 2m",
                self.ready_timeout
            )
        })?;
        Ok(Options {
            ready_timeout,
            stop_timeout: self.time,
            force: false,
            monitor: None,
            canary: None,
            parallel: 1,
            start_first: false,
        })
    }
}

pub(super) fn print_step(s: Step) {
    println!("{s}");
}

/// A deploy error: one line, then the failed container's last log lines.
pub(super) fn fail(e: DeployError) -> i32 {
    eprintln!("skiff: {e}");
    let logs = e.logs();
    if !logs.is_empty() {
        eprintln!("skiff: the last lines of the new container's log:");
        for l in logs {
            eprintln!("  | {l}");
        }
    }
    super::EXIT_SKIFF_ERROR
}

pub fn rollout(root: &Path, a: RolloutArgs) -> Result<i32> {
    let (name, tag) = parse_tag(&a.name)?;
    let mut opts = a.opts.options()?;
    opts.force = a.force;
    if let Some(m) = &a.monitor {
        opts.monitor = Some(parse_duration(m).ok_or_else(|| {
            anyhow!("invalid --monitor {m:?}: use a duration such as 30s, 500ms or 2m")
        })?);
    }
    if a.canary == Some(0) {
        return Err(anyhow!(
            "invalid --canary 0: give the number of containers to replace first"
        ));
    }
    opts.canary = a.canary;
    if a.parallel == 0 {
        return Err(anyhow!(
            "invalid --parallel 0: give how many containers to replace at a time"
        ));
    }
    opts.parallel = a.parallel;
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    if a.abort {
        return match rollout::abort(&store, &name, &tag, &opts, &mut print_step) {
            Ok(r) => {
                println!(
                    "{name}:{tag}: canary aborted; revision {} points at the image of revision {} again",
                    r.new.rev, r.target
                );
                Ok(0)
            }
            Err(e) => Ok(fail(e)),
        };
    }
    match rollout::rollout(&store, &name, &tag, &opts, &mut print_step) {
        Ok(s) => {
            if s.replaced + s.up_to_date + s.skipped > 0 {
                println!(
                    "{name}:{tag}: revision {}: {} replaced, {} already on it, {} skipped",
                    s.rev, s.replaced, s.up_to_date, s.skipped
                );
            }
            if s.held_back > 0 {
                println!(
                    "{name}:{tag}: canary: {} left on the previous revision; \
                     `skiff rollout {name}:{tag} --promote` rolls them out, --abort moves the canaries back",
                    s.held_back
                );
            }
            Ok(0)
        }
        Err(e) => Ok(fail(e)),
    }
}

pub fn rollback(root: &Path, a: RollbackArgs) -> Result<i32> {
    let (name, tag) = parse_tag(&a.name)?;
    let opts = a.opts.options()?;
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let r = rollback::rollback(
        &store,
        &name,
        &tag,
        a.to.as_deref(),
        a.no_rollout,
        &opts,
        &mut print_step,
    );
    match r {
        Ok(rolled) => {
            if let Some(s) = rolled.rollout {
                if s.replaced + s.up_to_date + s.skipped > 0 {
                    println!(
                        "{name}:{tag}: revision {}: {} replaced, {} already on it, {} skipped",
                        s.rev, s.replaced, s.up_to_date, s.skipped
                    );
                }
            } else {
                let now = rolled.digest.to_string();
                let n = rollout::users(&store, &name, &tag)
                    .iter()
                    .filter(|i| i.config.as_ref().is_some_and(|c| c.image.digest != now))
                    .count();
                if n > 0 {
                    println!(
                        "{n} container{} still run{} another image (--no-rollout); `skiff rollout {name}:{tag}` moves them",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "s" } else { "" }
                    );
                }
            }
            Ok(0)
        }
        Err(e) => Ok(fail(e)),
    }
}

pub fn scale(root: &Path, a: ScaleArgs) -> Result<i32> {
    let opts = a.opts.options()?;
    let mut wanted = Vec::new();
    for s in &a.services {
        let (service, n) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid {s:?}: expected SERVICE=N (e.g. api=4)"))?;
        wanted.push((service.to_string(), replicas::parse_count(n)?));
    }
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    for (service, n) in wanted {
        match scale::scale(&store, &service, n, &opts) {
            Ok(done) => {
                if let Some(what) = &done.recovered {
                    eprintln!("skiff: {what}");
                }
                for name in &done.added {
                    println!("{name} started");
                }
                for name in &done.removed {
                    println!("{name} drained and removed");
                }
                println!("{service} scaled to {n}");
            }
            Err(e) => return Ok(fail(e)),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        for bad in ["", "s", "0", "-1s", "25h", "1m30", "abc"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
