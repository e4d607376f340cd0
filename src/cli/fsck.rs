//! `skiff fsck [--repair]`: check the store, one line per finding.
//!
//! The pass is put together here, above every module that owns files in
//! the store: the store checks its blobs, refs, layers, volumes and tmp/;
//! the image module the manifests and configs of every tag revision; the
//! build its cache; the supervisor its containers; the network its
//! records and kernel objects. Each reads its files through its own types.

use super::images::open_store;
use crate::store::fsck::{self, Report};
use crate::store::Store;
use anyhow::Result;
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct FsckArgs {
    /// Remove what is corrupt or orphaned and rewrite index.json from the
    /// revision logs (holds the store lock meanwhile)
    #[arg(long)]
    pub repair: bool,
    /// Also print notes (unused layers, pruned revisions, files in use)
    #[arg(short, long)]
    pub verbose: bool,
}

/// Exit 0 when the store is sound, 1 when problems are left.
pub fn fsck(root: &Path, a: FsckArgs) -> Result<i32> {
    let store = open_store(root)?;
    let outcome = fsck::fsck(&store, a.repair, check)?;
    print_findings(&outcome.report, a.verbose);
    let mut network = crate::network::fsck::check(root, a.repair)?;
    network.extend(crate::supervisor::forwarding::check(&store, a.repair)?);
    for p in &network {
        println!("{p}");
    }
    let network_left = if a.repair && !network.is_empty() {
        let mut left = crate::network::fsck::check(root, false)?;
        left.extend(crate::supervisor::forwarding::check(&store, false)?);
        left
    } else {
        network.clone()
    };
    for p in network
        .iter()
        .filter(|_| a.repair)
        .filter(|p| network_left.contains(p))
    {
        println!("left: {p}");
    }
    let last = outcome.after_repair.as_ref().unwrap_or(&outcome.report);
    if let Some(after) = &outcome.after_repair {
        for f in after.problems() {
            println!("left: {f}");
        }
    }
    let problems = outcome.report.problems().count();
    let notes = outcome.report.notes().count();
    let leftovers = outcome.report.leftovers().count();
    let left = last.problems().count();
    let r = &outcome.report;
    let mut summary = format!(
        "fsck: {}, {} ({}), {}, {}, {}: ",
        plural(r.blobs, "blob"),
        plural(r.tags, "tag"),
        plural(r.revisions, "revision"),
        plural(r.cache_entries, "cache entry"),
        plural(r.layers, "layer"),
        plural(r.containers, "container"),
    );
    if outcome.is_sound() && problems == 0 {
        summary.push_str("the store is sound");
    } else if outcome.is_sound() {
        summary.push_str(&format!("{problems} problems repaired, the store is sound"));
    } else if a.repair {
        summary.push_str(&format!("{problems} problems, {left} left after repair"));
    } else {
        summary.push_str(&format!(
            "{problems} problems (`skiff fsck --repair` fixes what it can)"
        ));
    }
    if leftovers > 0 {
        summary.push_str(&format!(
            "; {leftovers} leftovers of crashed processes in tmp/ (--repair removes them)"
        ));
    }
    if notes > 0 {
        summary.push_str(&format!(
            "; {notes} notes{}",
            if a.verbose { "" } else { " (-v shows them)" }
        ));
    }
    println!("{summary}");
    if !network.is_empty() {
        println!(
            "fsck: networks: {} problems{}",
            network.len(),
            if !a.repair {
                " (`skiff fsck --repair` fixes them)".to_string()
            } else {
                format!(", {} left after repair", network_left.len())
            }
        );
    }
    Ok(if outcome.is_sound() && network_left.is_empty() {
        0
    } else {
        1
    })
}

/// One pass over the store, changing nothing: each module checks what it
/// owns, in this order (the store's `finish` needs to know which layers
/// the others use).
fn check(store: &Store) -> crate::store::Result<Report> {
    let (mut scan, revisions) = fsck::scan::begin(store)?;
    crate::image::fsck::check(&mut scan, &revisions);
    crate::build::fsck::check(&mut scan)?;
    crate::supervisor::fsck::check(&mut scan)?;
    scan.finish()
}

fn plural(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

fn print_findings(report: &Report, verbose: bool) {
    for f in report.problems().chain(report.leftovers()) {
        println!("{f}");
    }
    if verbose {
        for f in report.notes() {
            println!("{f}");
        }
    }
}
