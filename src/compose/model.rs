//! The compose-spec subset skiff understands, as decoded (`decode.rs`):
//! every value interpolated, checked and normalized (short and long
//! syntaxes become one form). `compose config` prints it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub name: String,
    /// The directory relative paths are resolved against.
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub file: PathBuf,
    pub services: Vec<Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeDef>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkDef>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VolumeDef {
    /// The volume's name in the store (`<project>_<key>` unless `name:`).
    pub name: String,
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetworkDef {
    pub name: String,
    pub external: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Build {
    pub context: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    #[serde(skip)]
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mount {
    /// `volume` (named, in the store) or `bind` (a host path).
    #[serde(rename = "type")]
    pub kind: String,
    /// The volume's key in the file, or the absolute host path.
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Healthcheck {
    /// Run with /bin/sh -c; `None` with `disable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    pub disable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpdateConfig {
    pub parallelism: u32,
    /// `stop-first` or `start-first`.
    pub order: String,
    /// `pause`, `continue` or `rollback`.
    pub failure_action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Between one batch of replicas and the next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
}

impl Default for UpdateConfig {
    fn default() -> UpdateConfig {
        UpdateConfig {
            parallelism: 1,
            order: "stop-first".into(),
            failure_action: "pause".into(),
            monitor: None,
            delay: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Service {
    pub name: String,
    #[serde(skip)]
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `env_file`s first, then `environment` over them, in order.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// The variables the `env_file`s gave (before `environment`): what
    /// `kube generate` puts in a ConfigMap.
    #[serde(skip)]
    pub env_file_vars: BTreeMap<String, String>,
    /// `[IP:]HOST:CONTAINER[/PROTO]`, as `skiff run -p` takes them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    pub restart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<u64>,
    pub replicas: u32,
    #[serde(skip_serializing_if = "is_default")]
    pub limits: Limits,
    #[serde(skip_serializing_if = "is_default")]
    pub update_config: UpdateConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    pub init: bool,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
}

impl Project {
    /// `compose config`: the project as compose prints it (services keyed
    /// by name).
    pub fn config_value(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let services: serde_json::Map<String, serde_json::Value> = self
            .services
            .iter()
            .map(|s| {
                let mut sv = serde_json::to_value(s).unwrap_or_default();
                if let Some(m) = sv.as_object_mut() {
                    m.remove("name");
                }
                (s.name.clone(), sv)
            })
            .collect();
        v["services"] = serde_json::Value::Object(services);
        v
    }
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}
