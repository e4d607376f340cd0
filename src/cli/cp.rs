//! `skiff cp`: copy files between a container and the host, as `docker cp`.

use super::format::human_size;
use super::images::open_store;
use crate::runtime::copy::{self, Owner, PathArg, Side};
use crate::supervisor::copy_root;
use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args, Debug)]
#[command(
    after_help = "CONTAINER:SRC_PATH DEST_PATH|-   or   SRC_PATH|- CONTAINER:DEST_PATH\n\n\
    Paths in the container are relative to its /. A directory destination receives the \
    source under its own name (SRC_PATH/. copies a directory's contents); a missing one \
    becomes the copy. `-` reads or writes a tar stream. Symlinks are copied as symlinks, \
    never followed; device nodes are refused."
)]
pub struct CpArgs {
    /// Keep the source's owners (default: root in the container, you on the host)
    #[arg(short, long)]
    pub archive: bool,
    /// Source: CONTAINER:PATH, a host path, or - (a tar stream on stdin)
    pub source: String,
    /// Destination: CONTAINER:PATH, a host path, or - (a tar stream to stdout)
    pub dest: String,
}

/// `CONTAINER:PATH` when a colon comes before any slash (as docker reads it;
/// write `./a:b` for a host file with a colon in its name).
fn split_container(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.contains('/') && !c.is_empty()).then_some((c, p))
}

/// A host path made absolute against the working directory (the copy of a
/// stopped container changes directory while it mounts).
fn host_path(p: &str) -> Result<String> {
    if p.starts_with('/') {
        return Ok(p.to_string());
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let mut s = cwd.to_string_lossy().into_owned();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s + p)
}

pub fn cp(root: &std::path::Path, a: CpArgs) -> Result<i32> {
    let (src_c, dst_c) = (split_container(&a.source), split_container(&a.dest));
    let (name, cpath) = match (src_c, dst_c) {
        (Some(_), Some(_)) => bail!("copying between containers is not supported: copy to the host first"),
        (None, None) => bail!("one of SRC and DEST must be CONTAINER:PATH (write ./NAME:X for a host file with a colon)"),
        (Some(c), None) | (None, Some(c)) => c,
    };
    let store = open_store(root)?;
    let id = super::containers::resolve(&store, name)?;
    let opened = copy_root::open(&store, &id)?;
    let ctr = Side::Container(&opened.root);
    let cpath = if cpath.is_empty() { "/" } else { cpath };
    let container = PathArg::parse(cpath, true);
    let mut warn = |m: &str| eprintln!("skiff: warning: {m}");
    let owner = |host: bool| match (a.archive, host) {
        (true, _) => Owner::Keep,
        (false, false) => Owner::Set(0, 0),
        (false, true) => Owner::Set(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ),
    };
    let target = format!("{name}:{}", container.clean.display());
    let (stats, to) = if src_c.is_some() {
        if a.dest == "-" {
            let out = std::io::stdout().lock();
            copy::copy_to_tar(&ctr, &container, std::io::BufWriter::new(out), &mut warn)
                .with_context(|| format!("cannot copy {target}"))?;
            return Ok(0);
        }
        let host = PathArg::parse(&host_path(&a.dest)?, false);
        let s = copy::copy(&ctr, &container, &Side::Host, &host, owner(true), &mut warn)
            .with_context(|| format!("cannot copy {target} to {}", a.dest))?;
        (s, a.dest.clone())
    } else if a.source == "-" {
        let input = std::io::stdin().lock();
        // The stream's owners are kept, as docker does: that is how a
        // caller sets them on purpose.
        let s = copy::copy_from_tar(
            std::io::BufReader::new(input),
            &ctr,
            &container,
            Owner::Keep,
        )
        .with_context(|| format!("cannot extract the tar stream into {target}"))?;
        (s, target)
    } else {
        let host = PathArg::parse(&host_path(&a.source)?, false);
        let s = copy::copy(
            &Side::Host,
            &host,
            &ctr,
            &container,
            owner(false),
            &mut warn,
        )
        .with_context(|| format!("cannot copy {} to {target}", a.source))?;
        (s, target)
    };
    eprintln!("Successfully copied {} to {to}", human_size(stats.bytes));
    Ok(0)
}
