//! `skiff build` and `skiff history`.

use super::format::{human_age, human_size, print_table};
use super::images::{open_store, parse_tag};
use crate::build::builder::{self, BuildOptions};
use crate::build::check::CheckOptions;
use crate::build::secrets::Secrets;
use crate::image::local::LocalImage;
use crate::runtime::process::sealed_exe;
use crate::store::events::Event;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (NAME[:TAG]); repeatable
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Set a build-time variable (K=V, or K to take it from the environment)
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// The stage to build (default: the last one)
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the build cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Do not use the build cache for these stages (names or indexes; repeatable, or comma-separated)
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Print only the image id
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Network for RUN steps: host (default, so npm can reach its registry),
    /// a bridge network's name (bridge: the default one), private or none
    #[arg(long, default_value = "host")]
    pub network: String,
    /// A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VARIABLE
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// Check the Dockerfile (parse, plan, expand every needed stage) without building
    #[arg(long)]
    pub check: bool,
    /// With --check: check every named stage as a target
    #[arg(long = "all-targets", requires = "check")]
    pub all_targets: bool,
    /// The build context directory
    pub context: PathBuf,
}

/// Put the build in its own mount namespace: the mounts it makes for
/// `COPY --from` vanish with it, even after kill -9.
fn private_mounts() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("cannot create a mount namespace for the build")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("cannot make the build's mounts private")?;
    Ok(())
}

/// `build --check`: every problem on stdout, exit 1 if the build would fail.
fn check(root: &Path, a: &BuildArgs) -> Result<i32> {
    let path = a
        .file
        .clone()
        .unwrap_or_else(|| a.context.join("Dockerfile"));
    let name = a
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "Dockerfile".into());
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let secrets = if a.secrets.is_empty() {
        None
    } else {
        Some(Secrets::from_cli(&a.secrets, |k| std::env::var(k).ok())?)
    };
    // Base images are read if the store holds them; a missing store is no error.
    let store = if root.join("oci").is_dir() {
        Some(open_store(root)?)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let report = crate::build::check::check(
        store.as_ref(),
        &CheckOptions {
            text: &text,
            file: &name,
            build_args: &a.build_args,
            target: a.target.as_deref(),
            all_targets: a.all_targets,
            secrets: secrets.as_ref(),
        },
    );
    for p in &report.problems {
        println!("{p}");
    }
    let errors = report.problems.iter().filter(|p| p.error).count();
    println!(
        "Check of {name}: {} stage(s), {errors} error(s), {} warning(s) in {:.0} ms",
        report.stages_checked,
        report.problems.len() - errors,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(if report.ok() { 0 } else { 1 })
}

pub fn build(root: &Path, a: BuildArgs) -> Result<i32> {
    if a.check {
        return check(root, &a);
    }
    // Read before anything in the store changes: a bad --secret changes nothing.
    let secrets = Secrets::from_cli(&a.secrets, |k| std::env::var(k).ok())?;
    sealed_exe::ensure().context("cannot protect the skiff binary before running build steps")?;
    let tags = a
        .tags
        .iter()
        .map(|t| parse_tag(t))
        .collect::<Result<Vec<_>>>()?;
    let (network, networks) = crate::runtime::spec::network_choice(&a.network);
    if !a.context.is_dir() {
        anyhow::bail!("build context {} is not a directory", a.context.display());
    }
    let store = open_store(root)?;
    for n in networks
        .iter()
        .filter(|n| *n != crate::network::DEFAULT_NETWORK)
    {
        crate::network::Networks::at(root).get(n)?;
    }
    // Blobs this build writes are named by no tag until it ends: keep prune off them.
    let _gc = store.gc_shared()?;
    // What a killed build left in tmp/ (staged layers, a COPY --from mount).
    store.sweep_tmp()?;
    crate::build::run_step::sweep_orphans(&store);
    private_mounts()?;
    let opts = BuildOptions {
        context: a.context.clone(),
        dockerfile: a.file.clone(),
        tags,
        build_args: a.build_args.clone(),
        target: a.target.clone(),
        no_cache: a.no_cache,
        no_cache_filter: a.no_cache_filter.clone(),
        quiet: a.quiet,
        network,
        secrets,
        networks,
    };
    let started = std::time::Instant::now();
    let mut sink = std::io::sink();
    let mut stderr = std::io::stderr();
    let log: &mut dyn std::io::Write = if a.quiet { &mut sink } else { &mut stderr };
    let out = match builder::build(&store, &opts, log) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skiff: build failed: {e}");
            return Ok(e.exit_code());
        }
    };
    let mut ev = Event::new("image", "build", &out.image_id.to_string())
        .attr("result", "success")
        .attr("steps", out.steps.to_string())
        .attr("cached", out.cached.to_string());
    for (name, tag, rev) in &out.tagged {
        ev = ev.attr(
            &format!("tag.{name}:{tag}"),
            rev.map(|r| r.to_string())
                .unwrap_or_else(|| "unchanged".into()),
        );
    }
    store.emit(ev);
    // What this build used of the cache stays through `prune`.
    let used = crate::build::cache::take_used();
    for (name, tag, _) in &out.tagged {
        if let Err(e) = crate::deploy::prune::record_build_cache(&store, name, tag, &used) {
            eprintln!("skiff: warning: cannot record the build cache {name}:{tag} used: {e}");
        }
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, out.image_id.to_string())
            .with_context(|| format!("cannot write {}", f.display()))?;
    }
    if !a.quiet {
        eprintln!(
            "Built {} in {:.2}s: {} steps, {} cached",
            out.image_id.short(),
            started.elapsed().as_secs_f64(),
            out.steps,
            out.cached
        );
        for (name, tag, rev) in &out.tagged {
            match rev {
                Some(r) => eprintln!("Tagged {name}:{tag} (revision {r})"),
                None => eprintln!("Tagged {name}:{tag} (unchanged)"),
            }
        }
    }
    println!("{}", out.image_id);
    Ok(0)
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The image
    pub image: String,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: super::images::Format,
    /// Show whole instructions
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

fn trunc(s: &str, keep: bool) -> String {
    if keep || s.chars().count() <= 60 {
        s.to_string()
    } else {
        s.chars().take(59).collect::<String>() + "…"
    }
}

pub fn history(root: &Path, a: HistoryArgs) -> Result<i32> {
    let store = open_store(root)?;
    let img = LocalImage::load(&store, &a.image)?;
    let mut layers = img.manifest.layers().iter();
    let mut rows = Vec::new();
    for h in &img.config.history {
        let size = if h.empty_layer {
            0
        } else {
            layers.next().map(|l| l.size()).unwrap_or(0)
        };
        rows.push((
            h.created.clone().unwrap_or_default(),
            h.created_by.clone().unwrap_or_default(),
            size,
            h.empty_layer,
        ));
    }
    rows.reverse();
    match a.format {
        super::images::Format::Json => {
            let v: Vec<_> = rows.iter().map(|(c, by, s, e)| serde_json::json!({"Created": c, "CreatedBy": by, "Size": s, "EmptyLayer": e})).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        super::images::Format::Table => {
            let t: Vec<Vec<String>> = rows
                .iter()
                .map(|(c, by, s, _)| vec![human_age(c), trunc(by, a.no_trunc), human_size(*s)])
                .collect();
            print_table(&["CREATED", "CREATED BY", "SIZE"], &t);
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct BuildCacheArgs {
    #[command(subcommand)]
    pub command: BuildCacheCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum BuildCacheCommand {
    /// List the cache mounts (RUN --mount=type=cache) kept in the store
    Ls,
    /// Remove cache mounts no build is using (all, or the ids given)
    Prune {
        /// Cache ids to remove (default: every one not in use)
        ids: Vec<String>,
        /// List what would be removed, remove nothing
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
}

/// `skiff build-cache ls|prune`.
pub fn build_cache(root: &Path, a: BuildCacheArgs) -> Result<i32> {
    use crate::build::cache_mounts;
    let store = open_store(root)?;
    match a.command {
        BuildCacheCommand::Ls => {
            let rows: Vec<Vec<String>> = cache_mounts::list(&store)
                .into_iter()
                .map(|c| {
                    vec![
                        c.id,
                        human_size(c.size),
                        if c.in_use { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            print_table(&["ID", "SIZE", "IN USE"], &rows);
        }
        BuildCacheCommand::Prune { ids, dry_run } => {
            let gone = cache_mounts::prune(&store, &ids, dry_run).map_err(anyhow::Error::msg)?;
            let verb = if dry_run { "Would remove" } else { "Removed" };
            let total: u64 = gone.iter().map(|c| c.size).sum();
            for c in &gone {
                println!("{verb} cache {} ({})", c.id, human_size(c.size));
            }
            println!(
                "{verb} {} cache mount(s), {}",
                gone.len(),
                human_size(total)
            );
        }
    }
    Ok(0)
}
