//! `kube generate`: Kubernetes manifests from what runs (`src/kube/`).

use super::images::open_store;
use crate::compose::load::Source;
use crate::kube::{self, source, Options};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum KubeCommand {
    /// Print Kubernetes YAML (Deployment, Service, PersistentVolumeClaim,
    /// ConfigMap) for containers, replicated services or a compose project
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The compose project (in the current directory, or -f FILE); NAMEs
    /// then name some of its services
    #[arg(long)]
    pub compose: bool,
    /// Compose file (implies --compose)
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Compose project name (implies --compose)
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Write one file per object into this directory instead of printing
    #[arg(short = 'o', long = "output-dir")]
    pub output: Option<PathBuf>,
    /// Where the images were pushed (REGISTRY[/NAMESPACE]): images are
    /// named REGISTRY/NAME@DIGEST
    #[arg(long)]
    pub registry: Option<String>,
    /// Replicas a rolling update replaces at once (maxSurge, or
    /// maxUnavailable for containers without ports)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,
    /// Type of the Service for published ports
    #[arg(long, default_value = "ClusterIP", value_parser = ["ClusterIP", "NodePort", "LoadBalancer"])]
    pub service_type: String,
    /// Storage each PersistentVolumeClaim requests (Kubernetes quantity)
    #[arg(long, default_value = "1Gi")]
    pub volume_size: String,
    /// Containers or `run --replicas` services (with --compose: services)
    pub names: Vec<String>,
}

/// A Kubernetes quantity as `--volume-size` takes it: digits, an optional
/// fraction, an optional unit.
fn check_quantity(s: &str) -> Result<()> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(num_end);
    let units = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
    ];
    if n.is_empty() || n.parse::<f64>().is_err() || !units.contains(&unit) {
        bail!("invalid --volume-size {s:?}: give a Kubernetes quantity such as 512Mi or 10Gi");
    }
    Ok(())
}

pub fn kube(root: &std::path::Path, c: KubeCommand) -> Result<i32> {
    let KubeCommand::Generate(a) = c;
    check_quantity(&a.volume_size)?;
    if let Some(r) = &a.registry {
        if r.is_empty() || r.contains('@') || r.chars().any(char::is_whitespace) {
            bail!("invalid --registry {r:?}: give REGISTRY[/NAMESPACE], e.g. registry.example.com/team");
        }
    }
    let store = open_store(root)?;
    let mut warnings = Vec::new();
    let compose = a.compose || a.file.is_some() || a.project_name.is_some();
    let apps = if compose {
        let project = crate::compose::load::load(&Source {
            file: a.file.clone(),
            project_name: a.project_name.clone(),
            ..Default::default()
        })?;
        warnings.extend(project.warnings.iter().cloned());
        source::compose(&store, &project, &a.names, &mut warnings)?
    } else {
        if a.names.is_empty() {
            bail!("name a container or a `run --replicas` service (or give --compose for the compose project here)");
        }
        a.names
            .iter()
            .map(|n| source::named(&store, n, &mut warnings))
            .collect::<Result<Vec<_>, _>>()?
    };
    let opts = Options {
        registry: a.registry.clone(),
        parallel: a.parallel,
        service_type: a.service_type.clone(),
        volume_size: a.volume_size.clone(),
    };
    let mut m = kube::generate(&store, &apps, &opts)?;
    warnings.append(&mut m.warnings);
    warnings.sort();
    warnings.dedup();
    for w in &warnings {
        eprintln!("skiff: warning: {w}");
    }
    match &a.output {
        Some(dir) => {
            let written = m
                .write_dir(dir)
                .with_context(|| format!("cannot write the manifests to {}", dir.display()))?;
            for p in written {
                println!("{}", p.display());
            }
        }
        None => print!("{}", m.to_yaml()),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in ["1Gi", "512Mi", "10G", "1.5Gi", "1000"] {
            assert!(check_quantity(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Gi", "1GB", "x", "1 Gi"] {
            assert!(check_quantity(bad).is_err(), "{bad}");
        }
    }
}
