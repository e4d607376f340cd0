//! What runs, gathered into apps: one app is one Deployment — a single
//! container, the replicas of a `run --replicas` service, or a compose
//! service with its containers. Read from each container's config.json
//! (the options as given) and, for compose, the project's file (env_file
//! variables, update_config, stop_grace_period).

use super::{KubeError, Result};
use crate::compose::model::Project;
use crate::store::Store;
use crate::supervisor::config::RunConfig;
use crate::supervisor::{lookup, replicas, SupervisorError};
use std::collections::BTreeMap;

/// How a rolling update replaces replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// Replicas replaced at once.
    pub parallel: u32,
    /// The new replica starts before the old one stops.
    pub start_first: bool,
}

/// One Deployment's worth of what runs.
#[derive(Clone, Debug)]
pub struct App {
    /// skiff's name: the container's, the service's, or compose's service.
    pub name: String,
    /// The compose project it belongs to.
    pub project: Option<String>,
    /// The recorded spec of (the first of) its containers.
    pub config: RunConfig,
    pub replicas: u32,
    /// Variables that came from env files (`--env-file`, `env_file:`).
    pub env_files: BTreeMap<String, String>,
    pub update: Update,
    /// compose's `stop_grace_period`, in seconds.
    pub grace_seconds: Option<u64>,
}

fn load(store: &Store, id: &str) -> Result<RunConfig> {
    Ok(RunConfig::load(&store.containers_dir().join(id))?)
}

/// `--env-file` lines as variables (docker's format: `KEY=VALUE`, comments
/// and blank lines skipped). A bare `KEY` (taken from the environment of
/// `skiff run`) cannot be known here; it is named in `warnings`.
fn env_file_vars(lines: &[String], warnings: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in lines.iter().map(|l| l.trim_start()) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => warnings.push(format!(
                "env file variable {:?} was taken from the environment of `skiff run`: left out",
                l.trim_end()
            )),
        }
    }
    out
}

/// The app `name` stands for: a container's name (or id), else a
/// replicated service's.
pub fn named(store: &Store, name: &str, warnings: &mut Vec<String>) -> Result<App> {
    let (config, replicas, app_name) = match lookup::resolve(store, name) {
        Ok(id) => {
            let n = lookup::name_of(store, &id).unwrap_or_else(|| name.to_string());
            (load(store, &id)?, 1, n)
        }
        Err(SupervisorError::NotFound(_)) => {
            let members = replicas::members(store, name);
            let Some((_, first)) = members.first() else {
                return Err(KubeError::Invalid(format!(
                    "no container or service named {name:?} (see `skiff ps -a`; for a compose project use --compose)"
                )));
            };
            (load(store, first)?, members.len() as u32, name.to_string())
        }
        Err(e) => return Err(e.into()),
    };
    let env_files = env_file_vars(&config.options.run.env_file_lines, warnings);
    let start_first = !config.ports.is_empty();
    Ok(App {
        name: app_name,
        project: None,
        replicas,
        env_files,
        update: Update {
            parallel: 1,
            start_first,
        },
        grace_seconds: None,
        config,
    })
}

/// The apps of a compose project: each service with containers in the
/// store (`only`: just these services).
pub fn compose(
    store: &Store,
    project: &Project,
    only: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<App>> {
    for o in only {
        if !project.services.iter().any(|s| &s.name == o) {
            return Err(KubeError::Invalid(format!(
                "no service {o:?} in project {:?} ({})",
                project.name,
                project.file.display()
            )));
        }
    }
    let mut apps = Vec::new();
    for s in &project.services {
        if !only.is_empty() && !only.contains(&s.name) {
            continue;
        }
        let containers = crate::compose::project::service_containers(store, &project.name, &s.name);
        let Some(config) = containers.iter().find_map(|i| i.config.clone()) else {
            warnings.push(format!(
                "service {:?} has no containers (run `skiff compose up` first): left out",
                s.name
            ));
            continue;
        };
        apps.push(App {
            name: s.name.clone(),
            project: Some(project.name.clone()),
            config,
            replicas: containers.len() as u32,
            env_files: s.env_file_vars.clone(),
            update: Update {
                parallel: s.update_config.parallelism.max(1),
                start_first: s.update_config.order == "start-first",
            },
            grace_seconds: s.stop_grace_period,
        });
    }
    if apps.is_empty() {
        return Err(KubeError::Invalid(format!(
            "project {:?} has no containers: run `skiff compose up` first",
            project.name
        )));
    }
    Ok(apps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_become_variables() {
        let mut w = Vec::new();
        let lines: Vec<String> = ["# c", "", "A=1", "  B=x=y", "HOME", "A=2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let v = env_file_vars(&lines, &mut w);
        assert_eq!(v.get("A").map(String::as_str), Some("2"));
        assert_eq!(v.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(v.len(), 2);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("HOME"));
    }
}
