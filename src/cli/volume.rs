//! `skiff volume create|ls|inspect|rm|prune`: named volumes in the store.

use super::format::print_table;
use super::images::open_store;
use crate::store::volumes::VolumeMeta;
use crate::store::Store;
use crate::supervisor::lookup;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Args, Debug)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCommand {
    /// Create a volume (nothing happens if it exists)
    Create {
        /// Set a label: KEY=VALUE
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        name: String,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only print names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show volumes' details as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes (never one a container uses)
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses
    Prune {
        /// Do not ask (kept for docker's habit; skiff never asks)
        #[arg(short, long)]
        force: bool,
    },
}

pub fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !l.is_empty() => Ok((l.clone(), String::new())),
            _ => bail!("invalid label {l:?} (expected KEY=VALUE)"),
        })
        .collect()
}

pub fn inspect_json(store: &Store, v: &VolumeMeta) -> serde_json::Value {
    serde_json::json!({
        "Name": v.name,
        "Driver": "local",
        "Mountpoint": store.volume_data(&v.name),
        "CreatedAt": v.created,
        "Labels": v.labels,
        "Scope": "local",
        "UsedBy": lookup::volume_users(store, &v.name),
    })
}

/// Remove a volume unless a container uses it.
pub fn remove(store: &Store, name: &str) -> Result<()> {
    Ok(lookup::remove_unused_volume(store, name)?)
}

pub fn volume(root: &Path, a: VolumeArgs) -> Result<i32> {
    let store = open_store(root)?;
    match a.command {
        VolumeCommand::Create { labels, name } => {
            store.create_volume(&name, &parse_labels(&labels)?)?;
            println!("{name}");
            Ok(0)
        }
        VolumeCommand::Ls { quiet } => {
            let vols = store.volumes()?;
            if quiet {
                vols.iter().for_each(|v| println!("{}", v.name));
            } else {
                let rows: Vec<Vec<String>> = vols
                    .iter()
                    .map(|v| vec!["local".to_string(), v.name.clone()])
                    .collect();
                print_table(&["DRIVER", "VOLUME NAME"], &rows);
            }
            Ok(0)
        }
        VolumeCommand::Inspect { names } => {
            let mut out = Vec::new();
            let mut code = 0;
            for n in &names {
                match store.volume(n)? {
                    Some(v) => out.push(inspect_json(&store, &v)),
                    None => {
                        eprintln!("skiff: no such volume: {n}");
                        code = super::EXIT_SKIFF_ERROR;
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(code)
        }
        VolumeCommand::Rm { names } => {
            let mut code = 0;
            for n in &names {
                match remove(&store, n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("skiff: {}", super::error_chain(&e));
                        code = super::EXIT_SKIFF_ERROR;
                    }
                }
            }
            Ok(code)
        }
        VolumeCommand::Prune { force: _ } => {
            for v in store.volumes()? {
                if lookup::volume_users(&store, &v.name).is_empty() {
                    store.remove_volume(&v.name)?;
                    println!("{}", v.name);
                }
            }
            Ok(0)
        }
    }
}
