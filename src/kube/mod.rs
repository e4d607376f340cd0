//! `skiff kube generate`: Kubernetes manifests from what runs — a
//! container, a replicated service (`run --replicas`) or a compose
//! project. Only reads the store (and the compose file).
//!
//! | concern | file |
//! | --- | --- |
//! | what runs, gathered into apps (one per Deployment) | `source.rs` |
//! | the Deployment: pod template, strategy, resources | `deployment.rs` |
//! | readiness, liveness and startup probes from the health check | `probes.rs` |
//! | the securityContext of skiff's defaults | `security.rs` |
//! | Service, PersistentVolumeClaim and ConfigMap | `objects.rs` |
//! | valid, stable object names | `names.rs` |
//! | JSON values as a YAML stream (saphyr's emitter) | `yaml.rs` |

pub mod deployment;
pub mod names;
pub mod objects;
pub mod probes;
pub mod security;
pub mod source;
pub mod yaml;

use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::SupervisorError),
    #[error(transparent)]
    Compose(#[from] crate::compose::ComposeError),
}

pub type Result<T, E = KubeError> = std::result::Result<T, E>;

/// What the command line adds to what runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--registry`: where the images were pushed (`REGISTRY[/NAMESPACE]`);
    /// images are named `REGISTRY/NAME@DIGEST`.
    pub registry: Option<String>,
    /// `--parallel`: replicas replaced at once by a rolling update.
    pub parallel: Option<u32>,
    /// `--service-type` of Services for published ports.
    pub service_type: String,
    /// `--volume-size`: the storage each PersistentVolumeClaim requests.
    pub volume_size: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            registry: None,
            parallel: None,
            service_type: "ClusterIP".into(),
            volume_size: "1Gi".into(),
        }
    }
}

/// One Kubernetes object.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub kind: &'static str,
    pub name: String,
    pub value: Value,
}

/// The manifests, in the order `kubectl apply` wants them (what is
/// referenced before what references it), and what could not be said.
#[derive(Debug, Default)]
pub struct Manifests {
    pub objects: Vec<Object>,
    pub warnings: Vec<String>,
}

const ORDER: &[&str] = &[
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
];

impl Manifests {
    fn sort(&mut self) {
        let rank = |k: &str| ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len());
        self.objects
            .sort_by(|a, b| (rank(a.kind), &a.name).cmp(&(rank(b.kind), &b.name)));
        self.objects
            .dedup_by(|a, b| a.kind == b.kind && a.name == b.name);
        self.warnings.sort();
        self.warnings.dedup();
    }

    /// All objects as one YAML stream.
    pub fn to_yaml(&self) -> String {
        yaml::stream(self.objects.iter().map(|o| &o.value))
    }

    /// The file each object goes to under `-o DIR`.
    pub fn file_name(o: &Object) -> String {
        format!("{}-{}.yaml", o.kind.to_ascii_lowercase(), o.name)
    }

    /// One file per object in `dir` (made if missing), each written to a
    /// temporary file, synced and renamed into place. Returns the paths.
    pub fn write_dir(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KubeError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let mut out = Vec::new();
        for o in &self.objects {
            let path = dir.join(Manifests::file_name(o));
            let tmp = dir.join(format!(".{}.tmp", Manifests::file_name(o)));
            let text = yaml::stream([&o.value]);
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            if let Err(e) = write() {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(&path)(e));
            }
            out.push(path);
        }
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(out)
    }
}

/// The manifests for `apps`.
pub fn generate(
    store: &crate::store::Store,
    apps: &[source::App],
    opts: &Options,
) -> Result<Manifests> {
    if apps.is_empty() {
        return Err(KubeError::Invalid("nothing to generate".into()));
    }
    let mut m = Manifests::default();
    let mut names = names::Names::default();
    let claims = objects::claim_users(apps);
    for app in apps {
        deployment::objects(store, app, opts, &mut names, &claims, &mut m)?;
    }
    m.sort();
    Ok(m)
}
