//! `skiff network create|ls|inspect|rm|connect|disconnect`: bridge networks.

use super::format::print_table;
use crate::network::{manage, Networks, Subnet};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::Path;

#[derive(Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Create a bridge network (its own subnet, NAT to the outside, names)
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show networks and the containers on them as JSON
    Inspect(NamesArgs),
    /// Remove networks no container uses
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Put a container on a network (at once if it runs; kept on restarts)
    Connect(ConnectArgs),
    /// Take a container off a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// A name the container is also found under on this network (repeatable)
    #[arg(long, value_name = "NAME")]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// IPv4 subnet in CIDR form (default: the first free /24 from 10.89.0.0)
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// Driver (only bridge)
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only names
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

pub fn network(root: &Path, a: NetworkArgs) -> Result<i32> {
    match a.command {
        NetworkCommand::Create(c) => create(root, c),
        NetworkCommand::Ls(l) => ls(root, l),
        NetworkCommand::Inspect(n) => inspect(root, n),
        NetworkCommand::Rm(n) => rm(root, n),
        NetworkCommand::Connect(c) => {
            let s = open(root)?;
            crate::supervisor::networks::connect(&s, &c.network, &c.container, &c.alias)?;
            Ok(0)
        }
        NetworkCommand::Disconnect(c) => {
            let s = open(root)?;
            crate::supervisor::networks::disconnect(&s, &c.network, &c.container)?;
            Ok(0)
        }
    }
}

/// The store must exist (and its tmp/ for atomic writes).
fn store(root: &Path) -> Result<()> {
    open(root).map(|_| ())
}

fn open(root: &Path) -> Result<crate::store::Store> {
    crate::store::Store::open(root)
        .with_context(|| format!("cannot open the store at {}", root.display()))
}

fn create(root: &Path, a: CreateArgs) -> Result<i32> {
    if a.driver != "bridge" {
        anyhow::bail!(
            "unsupported network driver {:?} (skiff has bridge networks)",
            a.driver
        );
    }
    let subnet = a.subnet.as_deref().map(str::parse::<Subnet>).transpose()?;
    store(root)?;
    let net = manage::create(root, &a.name, subnet)
        .with_context(|| format!("cannot create network {}", a.name))?;
    println!("{}", net.name);
    Ok(0)
}

fn ls(root: &Path, a: LsArgs) -> Result<i32> {
    store(root)?;
    let nets = Networks::at(root);
    {
        let _lock = nets.lock()?;
        nets.ensure_default()?;
    }
    let list = nets.list()?;
    if a.quiet {
        for n in &list {
            println!("{}", n.name);
        }
        return Ok(0);
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                "bridge".into(),
                n.subnet.to_string(),
                n.gateway.to_string(),
                n.bridge.clone(),
            ]
        })
        .collect();
    print_table(&["NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE"], &rows);
    Ok(0)
}

fn inspect(root: &Path, a: NamesArgs) -> Result<i32> {
    store(root)?;
    let mut out = Vec::new();
    for name in &a.names {
        let (net, members) = manage::inspect(root, name)?;
        let containers: serde_json::Map<String, serde_json::Value> = members
            .iter()
            .map(|(ip, id)| {
                let cname = std::fs::read_to_string(root.join("containers").join(id).join("name"))
                    .unwrap_or_default();
                (
                    id.clone(),
                    serde_json::json!({"Name": cname, "IPv4Address": format!("{ip}/{}", net.subnet.prefix)}),
                )
            })
            .collect();
        out.push(serde_json::json!({
            "Name": net.name,
            "Driver": "bridge",
            "Created": net.created,
            "Bridge": net.bridge,
            "IPAM": {"Config": [{"Subnet": net.subnet.to_string(), "Gateway": net.gateway.to_string()}]},
            "Containers": containers,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

fn rm(root: &Path, a: NamesArgs) -> Result<i32> {
    store(root)?;
    let mut failed = false;
    for name in &a.names {
        match manage::remove(root, name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("skiff: cannot remove network {name}: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { super::EXIT_SKIFF_ERROR } else { 0 })
}
