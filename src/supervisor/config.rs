//! `containers/<id>/config.json`: everything needed to recreate the
//! container — the image as the user named it and the tag revision it
//! resolved to, and the `run` options as given (not as expanded into the
//! spec), plus what only the supervisor uses: ports, restart policy, logs.
//! Written atomically once, at create.

use super::health::{HealthConfig, HealthOptions};
use super::ports::PortSpec;
use super::restart::Policy;
use super::{Result, SupervisorError, CONFIG_FILE};
use crate::runtime::RunOptions;
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

    /// `node-api:latest`, or the reference as given: the `image` of
    /// events and metrics.
    pub fn label(&self) -> String {
        match (&self.name, &self.tag) {
            (Some(n), Some(t)) => format!("{n}:{t}"),
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
                    let n = crate::units::parse_size(v).map_err(|e| bad(&e.to_string()))?;
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

/// The `run` options as given, in a form that can be stored and replayed:
/// the runtime's [`RunOptions`] (flattened, so config.json keeps one flat
/// object) plus what only the supervisor and `restart --update-env` use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    #[serde(flatten)]
    pub run: RunOptions,
    /// The `--env-file` paths (their lines, as read at create time, are in
    /// `run.env_file_lines`).
    pub env_files: Vec<PathBuf>,
    pub publish: Vec<String>,
    pub log_opts: Vec<String>,
    /// `--health-*` as given.
    #[serde(default)]
    pub health: HealthOptions,
    /// `--replicas`: this container is a replica of this service (its name
    /// is `<service>.<n>`, its published ports shared with the others).
    #[serde(default)]
    pub service: Option<String>,
    /// The stop signal asked for (compose's `stop_signal`), over the
    /// image's STOPSIGNAL; kept by rollouts.
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--sdnotify`: the container says when it is ready (READY=1).
    #[serde(default)]
    pub sdnotify: super::notify::SdNotify,
}

impl Options {
    pub fn run_options(&self) -> RunOptions {
        self.run.clone()
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
    /// The health check, decided from the image's HEALTHCHECK and
    /// `--health-*` at create time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthConfig>,
    /// Made by a rollout to replace another container; cleared once the
    /// replacement is done. A later rollout finishes or undoes a
    /// replacement left half-done by a killed command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Replaces>,
    /// The container's labels, decided once at create time (the one place
    /// they are kept): `run --label KEY=VALUE` (KEY alone: an empty value,
    /// as docker does), compose's `labels:` and compose's own
    /// (`com.docker.compose.project`, `.service`, `.config-hash`). The
    /// image's labels are not copied here; readers put these over them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A config.json of an older skiff kept `run --label` as a list in
/// `options.labels` too: it becomes the labels map (read only; the file is
/// rewritten in the new form the next time it is saved).
fn upgrade_labels(v: &mut serde_json::Value) {
    let Some(list) = v
        .get_mut("options")
        .and_then(|o| o.as_object_mut())
        .and_then(|o| o.remove("labels"))
    else {
        return;
    };
    let have = v
        .get("labels")
        .and_then(|l| l.as_object())
        .is_some_and(|m| !m.is_empty());
    if have {
        return;
    }
    let map: serde_json::Map<String, serde_json::Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .map(|l| {
            let (k, val) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), serde_json::Value::String(val.to_string()))
        })
        .collect();
    v["labels"] = serde_json::Value::Object(map);
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
        let corrupt = |e: serde_json::Error| SupervisorError::Corrupt {
            path: p.clone(),
            msg: e.to_string(),
        };
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        upgrade_labels(&mut v);
        serde_json::from_value(v).map_err(corrupt)
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
    use crate::runtime::NetworkMode;
    use crate::supervisor::health::OnFailure;

    /// Every option set to something other than its default.
    fn all_options() -> Options {
        Options {
            run: RunOptions {
                name: Some("api".into()),
                hostname: Some("h".into()),
                env: vec!["A=1".into()],
                env_file_lines: vec!["B=2".into()],
                workdir: Some("/app".into()),
                user: Some("node".into()),
                entrypoint: Some("".into()),
                args: vec!["-e".into(), "x".into()],
                network: NetworkMode::Host,
                networks: vec!["shop".into()],
                network_aliases: vec!["cache".into()],
                ip: Some("198.51.100.7".parse().unwrap()),
                dns: vec!["192.0.2.53".into()],
                add_hosts: vec!["db:192.0.2.10".into()],
                volumes: vec!["/a:/b:ro".into()],
                tmpfs: vec!["/tmp".into()],
                read_only: true,
                memory: Some("64m".into()),
                cpus: Some("0.5".into()),
                pids_limit: Some(10),
                no_new_privileges: true,
                tty: true,
                seccomp: crate::runtime::seccomp::Seccomp::Unconfined,
            },
            env_files: vec!["/env".into()],
            publish: vec!["3000:3000".into()],
            log_opts: vec!["max-size=1m".into()],
            health: HealthOptions {
                cmd: Some("true".into()),
                interval: Some("1s".into()),
                timeout: Some("2s".into()),
                start_period: Some("3s".into()),
                start_interval: Some("100ms".into()),
                retries: Some(2),
                none: false,
                on_failure: OnFailure::Restart,
            },
            service: Some("api".into()),
            stop_signal: Some("SIGQUIT".into()),
            sdnotify: crate::supervisor::notify::SdNotify::Container,
        }
    }

    /// The spec round-trips through config.json: what `run` records is what
    /// restart and rollout read back, field for field. A field added to
    /// `RunOptions` or `Options` fails here until this test sets it.
    #[test]
    fn every_option_round_trips_through_config_json() {
        let o = all_options();
        let json = serde_json::to_value(&o).unwrap();
        let defaults = serde_json::to_value(Options::default()).unwrap();
        let (serde_json::Value::Object(set), serde_json::Value::Object(def)) = (&json, &defaults)
        else {
            panic!("options are a JSON object");
        };
        assert_eq!(set.len(), def.len());
        for (k, v) in set {
            assert_ne!(
                Some(v),
                def.get(k),
                "{k} is left at its default in all_options()"
            );
        }
        // One flat object, as config.json always had.
        assert_eq!(json["memory"], "64m");
        let back: Options = serde_json::from_value(json).unwrap();
        assert_eq!(back, o);
        assert_eq!(back.run_options(), o.run);
    }

    #[test]
    fn labels_of_an_older_config_json_become_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = serde_json::to_value(RunConfig::default()).unwrap();
        v["options"]["labels"] = serde_json::json!(["tier=edge", "bare", "a=b=c"]);
        v.as_object_mut().unwrap().remove("labels");
        std::fs::write(RunConfig::path(dir.path()), v.to_string()).unwrap();
        let c = RunConfig::load(dir.path()).unwrap();
        assert_eq!(c.labels.get("tier").unwrap(), "edge");
        assert_eq!(c.labels.get("bare").unwrap(), "");
        assert_eq!(c.labels.get("a").unwrap(), "b=c");
    }

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
