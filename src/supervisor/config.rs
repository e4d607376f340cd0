//! `containers/<id>/config.json`: everything needed to recreate the
//! container — the image as the user named it and the tag revision it
//! resolved to, and the `run` options as given (not as expanded into the
//! spec), plus what only the supervisor uses: ports, restart policy, logs.
//! Written atomically once, at create.

use super::ports::PortSpec;
use super::restart::Policy;
use super::{Result, SupervisorError, CONFIG_FILE};
use crate::runtime::{NetworkMode, RunOptions};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The image a container runs: the reference as given and what it resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageUse {
    /// As the user wrote it (`node-api`, `node-api:latest`, `sha256:…`).
    pub reference: String,
    /// The tag it resolved through, if it named one (`node-api`, `latest`).
    pub name: Option<String>,
    pub tag: Option<String>,
    /// The tag's revision number that pointed at `digest` at create time.
    pub revision: Option<u64>,
    /// Manifest digest.
    pub digest: String,
}

impl ImageUse {
    /// `node-api:latest (rev 7)`, or the reference as given.
    pub fn display(&self) -> String {
        match (&self.name, &self.tag, self.revision) {
            (Some(n), Some(t), Some(r)) => format!("{n}:{t} (rev {r})"),
            (Some(n), Some(t), None) => format!("{n}:{t}"),
            _ => self.reference.clone(),
        }
    }
}

/// `--log-opt max-size=10m --log-opt max-file=3` (docker's json-file options).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOptions {
    /// Rotate when the log would grow past this many bytes; `None`: never.
    pub max_size: Option<u64>,
    /// Files kept, the current one included (≥ 1).
    pub max_file: u32,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            max_size: None,
            max_file: 1,
        }
    }
}

impl LogOptions {
    /// Parse `key=value` options.
    pub fn parse(opts: &[String]) -> Result<LogOptions> {
        let mut o = LogOptions::default();
        let mut max_file = None;
        for kv in opts {
            let bad =
                |why: &str| SupervisorError::Invalid(format!("invalid --log-opt {kv:?}: {why}"));
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("expected key=value"))?;
            match k {
                "max-size" => {
                    let n = parse_size(v).ok_or_else(|| bad("expected a size such as 10m"))?;
                    o.max_size = (n > 0).then_some(n);
                }
                "max-file" => {
                    let n: u32 = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad("expected a number ≥ 1"))?;
                    max_file = Some(n);
                }
                _ => return Err(bad("supported options are max-size and max-file")),
            }
        }
        if let Some(n) = max_file {
            if o.max_size.is_none() && n > 1 {
                return Err(SupervisorError::Invalid(
                    "--log-opt max-file needs max-size".into(),
                ));
            }
            o.max_file = n;
        }
        Ok(o)
    }
}

/// `10m`, `512k`, `1g`, `4096` (binary units, as docker's log options).
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult as f64) as u64)
}

/// The `run` options as given, in a form that can be stored and replayed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub env: Vec<String>,
    /// The `--env-file` paths, and their lines as read at create time.
    pub env_files: Vec<PathBuf>,
    pub env_file_lines: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub args: Vec<String>,
    pub network: NetworkMode,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub no_new_privileges: bool,
    pub tty: bool,
    pub publish: Vec<String>,
    pub log_opts: Vec<String>,
}

impl Options {
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            name: self.name.clone(),
            hostname: self.hostname.clone(),
            env: self.env.clone(),
            env_file_lines: self.env_file_lines.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            entrypoint: self.entrypoint.clone(),
            args: self.args.clone(),
            network: self.network,
            volumes: self.volumes.clone(),
            tmpfs: self.tmpfs.clone(),
            read_only: self.read_only,
            memory: self.memory.clone(),
            cpus: self.cpus.clone(),
            pids_limit: self.pids_limit,
            no_new_privileges: self.no_new_privileges,
            tty: self.tty,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub image: ImageUse,
    pub options: Options,
    pub ports: Vec<PortSpec>,
    pub restart: Policy,
    pub log: LogOptions,
    /// `--init`: a tiny init is PID 1.
    pub init: bool,
    /// The image's STOPSIGNAL (default SIGTERM).
    pub stop_signal: String,
    /// Started with `-d` (has a supervisor).
    pub detach: bool,
    /// `--rm`: removed once it ends for good.
    pub auto_remove: bool,
    /// Made by a rollout to replace another container; cleared once the
    /// replacement is done. A later rollout finishes or undoes a
    /// replacement left half-done by a killed command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaces>,
}

/// The container a rollout's new container replaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaces {
    pub id: String,
    /// Its name, which the new container takes at the end.
    pub name: Option<String>,
    /// It was running: the new one must run.
    pub running: bool,
}

impl RunConfig {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(CONFIG_FILE)
    }

    pub fn load(dir: &Path) -> Result<RunConfig> {
        let p = RunConfig::path(dir);
        let bytes = std::fs::read(&p).map_err(SupervisorError::io("cannot read", &p))?;
        serde_json::from_slice(&bytes).map_err(|e| SupervisorError::Corrupt {
            path: p,
            msg: e.to_string(),
        })
    }

    pub fn save(&self, store: &Store, dir: &Path) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        store.write_atomic(&RunConfig::path(dir), &bytes)?;
        Ok(())
    }
}

/// Resolve the tag revision of an image reference: (name, tag, revision)
/// of the newest revision of the tag that points at `digest`.
pub fn image_use(store: &Store, reference: &str, digest: &str) -> ImageUse {
    let mut u = ImageUse {
        reference: reference.to_string(),
        digest: digest.to_string(),
        ..Default::default()
    };
    let Ok(r) = reference.parse::<crate::image::reference::ImageRef>() else {
        return u;
    };
    if r.digest.is_some() {
        return u;
    }
    let tag = r.tag_or_latest().to_string();
    let Ok(revs) = store.revisions(&r.name, &tag) else {
        return u;
    };
    let rev = revs
        .iter()
        .rev()
        .find(|x| x.digest.as_ref().map(|d| d.to_string()).as_deref() == Some(digest));
    if let Some(rev) = rev {
        u.name = Some(r.name.clone());
        u.tag = Some(tag);
        u.revision = Some(rev.rev);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options() {
        let o = LogOptions::parse(&["max-size=10m".into(), "max-file=3".into()]).unwrap();
        assert_eq!(
            o,
            LogOptions {
                max_size: Some(10 << 20),
                max_file: 3
            }
        );
        assert_eq!(LogOptions::parse(&[]).unwrap(), LogOptions::default());
        assert!(LogOptions::parse(&["max-file=3".into()]).is_err());
        assert!(LogOptions::parse(&["max-size=ten".into()]).is_err());
        assert!(LogOptions::parse(&["compress=true".into()]).is_err());
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("1.5m"), Some(3 << 19));
    }

    #[test]
    fn image_display() {
        let u = ImageUse {
            reference: "node-api".into(),
            name: Some("node-api".into()),
            tag: Some("latest".into()),
            revision: Some(7),
            digest: "sha256:00".into(),
        };
        assert_eq!(u.display(), "node-api:latest (rev 7)");
    }
}
