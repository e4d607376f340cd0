//! `version`, `info`, and docker's prunes: `container prune`, `image
//! prune`, `system prune`.

use super::format::human_size;
use super::images::open_store;
use crate::runtime::host::host_info;
use crate::supervisor::ops;
use anyhow::{bail, Result};
use clap::Args;
use std::io::BufRead;
use std::path::Path;

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Output: text or json
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Output: text or json
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Also drop the older revisions of every tag (only the current one and
    /// what containers use stay); default: keep the newest --keep
    #[arg(short, long)]
    pub all: bool,
    /// Revisions to keep per tag without -a
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub keep: usize,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Also drop the older revisions of every tag
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
}

fn text_or_json(f: &str) -> Result<bool> {
    match f {
        "text" | "table" | "" => Ok(false),
        "json" => Ok(true),
        _ => bail!("invalid --format {f:?}: text or json"),
    }
}

pub fn version(a: VersionArgs) -> Result<i32> {
    let json = text_or_json(&a.format)?;
    let h = host_info();
    let v = serde_json::json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Os": std::env::consts::OS,
        "Arch": h.arch,
        "KernelVersion": h.kernel,
        "CgroupVersion": h.cgroup_version.to_string(),
        "Daemon": false,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("skiff version {}", env!("CARGO_PKG_VERSION"));
        println!(" OS/Arch:        {}/{}", std::env::consts::OS, h.arch);
        println!(" Kernel:         {}", h.kernel);
        println!(" Cgroup version: {}", h.cgroup_version);
        println!(" Daemon:         none (one supervisor process per detached container)");
    }
    Ok(0)
}

pub fn info(root: &Path, a: InfoArgs) -> Result<i32> {
    let json = text_or_json(&a.format)?;
    let store = open_store(root)?;
    let h = host_info();
    let list = ops::list(&store);
    let running = list.iter().filter(|i| i.observed.is_live()).count();
    let tags = store.tags()?;
    let mut images: Vec<String> = tags.iter().map(|(_, _, d)| d.to_string()).collect();
    images.sort();
    images.dedup();
    let used = store.disk_usage();
    // What `run` picks without --network ($SKIFF_NETWORK, else docker's bridge).
    let network = std::env::var("SKIFF_NETWORK")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| crate::network::DEFAULT_NETWORK.to_string());
    let v = serde_json::json!({
        "Store": store.root().display().to_string(),
        "StoreBytes": used,
        "Containers": list.len(),
        "ContainersRunning": running,
        "ContainersStopped": list.len() - running,
        "Images": images.len(),
        "Tags": tags.len(),
        "Driver": "overlay",
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": h.cgroup_version.to_string(),
        "CgroupControllers": h.cgroup_controllers,
        "KernelVersion": h.kernel,
        "OperatingSystem": h.os,
        "Architecture": h.arch,
        "NCPU": h.cpus,
        "MemTotal": h.memory_bytes,
        "DefaultNetwork": network,
        "SecurityOptions": {
            "seccomp": "default (docker's profile)",
            "no-new-privileges": true,
            "capabilities": h.capabilities,
            "rootless": !nix::unistd::geteuid().is_root(),
        },
        "Daemon": false,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "Store:              {} ({})",
        store.root().display(),
        human_size(used)
    );
    println!(
        "Containers:         {} (running {running}, stopped {})",
        list.len(),
        list.len() - running
    );
    println!("Images:             {} ({} tags)", images.len(), tags.len());
    println!("Storage driver:     overlay");
    println!("Logging driver:     json-file");
    println!("Cgroup driver:      cgroupfs");
    println!("Cgroup version:     {}", h.cgroup_version);
    println!("Cgroup controllers: {}", h.cgroup_controllers.join(" "));
    println!("Kernel version:     {}", h.kernel);
    println!("Operating system:   {}", h.os);
    println!("Architecture:       {}", h.arch);
    println!("CPUs:               {}", h.cpus);
    println!("Total memory:       {}", human_size(h.memory_bytes));
    println!(
        "Default network:    {network} (each container in its own network namespace; -p publishes host ports)"
    );
    println!("Security options:   seccomp (docker's default profile), no-new-privileges");
    println!("Capabilities:       {}", h.capabilities.join(" "));
    println!("Daemon:             none (one supervisor process per detached container)");
    Ok(0)
}

/// docker's question before a prune; true to go on.
fn confirm(force: bool, what: &str) -> bool {
    if force {
        return true;
    }
    eprint!("WARNING! This will remove:\n{what}\nAre you sure you want to continue? [y/N] ");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
}

/// Remove every stopped container; the bytes their directories held.
fn prune_containers(root: &Path) -> Result<u64> {
    let store = open_store(root)?;
    let mut freed = 0;
    let mut first = true;
    for i in ops::list(&store) {
        if i.observed.is_live() {
            continue;
        }
        let size = crate::store::gc::dir_size(&i.dir);
        match ops::remove(&store, &i.id, false) {
            Ok(()) => {
                if first {
                    println!("Deleted Containers:");
                    first = false;
                }
                println!("{}", i.id);
                freed += size;
            }
            Err(e) => eprintln!("skiff: cannot remove container {}: {e}", i.display_name()),
        }
    }
    Ok(freed)
}

fn prune_images(root: &Path, keep: usize) -> Result<u64> {
    let store = open_store(root)?;
    let r = crate::deploy::prune::prune(&store, keep, false, false)?;
    if !r.gc.blobs.is_empty() {
        println!("Deleted Images:");
        for (d, _) in &r.gc.blobs {
            println!("deleted: {d}");
        }
    }
    Ok(r.gc.bytes_before.saturating_sub(r.gc.bytes_after))
}

pub fn container_prune(root: &Path, a: ContainerPruneArgs) -> Result<i32> {
    if !confirm(a.force, "  - all stopped containers") {
        return Ok(0);
    }
    let freed = prune_containers(root)?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn image_prune(root: &Path, a: ImagePruneArgs) -> Result<i32> {
    let what = if a.all {
        "  - every image but the current revision of each tag and those containers use"
    } else {
        "  - images no recent revision of a tag and no container uses"
    };
    if !confirm(a.force, what) {
        return Ok(0);
    }
    let freed = prune_images(root, if a.all { 1 } else { a.keep })?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn system_prune(root: &Path, a: SystemPruneArgs) -> Result<i32> {
    let what =
        "  - all stopped containers\n  - images no recent revision of a tag and no container uses";
    if !confirm(a.force, what) {
        return Ok(0);
    }
    let mut freed = prune_containers(root)?;
    freed += prune_images(root, if a.all { 1 } else { 3 })?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn builder_prune(root: &Path, a: BuilderPruneArgs) -> Result<i32> {
    if !confirm(a.force, "  - all build cache") {
        return Ok(0);
    }
    let store = open_store(root)?;
    // Every revision stays: only what the cache alone held goes.
    let r = crate::deploy::prune::prune(&store, usize::MAX, false, true)?;
    let mounts =
        crate::build::cache_mounts::prune(&store, &[], false).map_err(anyhow::Error::msg)?;
    let mount_bytes: u64 = mounts.iter().map(|c| c.size).sum();
    println!("Deleted build cache entries: {}", r.cache_entries);
    println!("Deleted cache mounts: {}", mounts.len());
    println!(
        "Total reclaimed space: {}",
        human_size(r.gc.bytes_before.saturating_sub(r.gc.bytes_after) + mount_bytes)
    );
    Ok(0)
}
