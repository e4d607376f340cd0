//! The compose-spec subset skiff understands, decoded from the YAML tree
//! with every value interpolated, checked and normalized (short and long
//! syntaxes become one form). A key outside the subset is an error naming
//! the file, line and key; keys that change nothing for skiff are warnings.

use super::interpolate::{interpolate, parse_env_file};
use super::yaml::{Key, Node, Value};
use super::{ComposeError, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Keys skiff ignores with a warning: they change nothing it does.
const HARMLESS: &[&str] = &[
    "logging",
    "tty",
    "stdin_open",
    "platform",
    "pull_policy",
    "extra_hosts",
    "dns",
    "domainname",
    "cap_drop",
    "security_opt",
    "ulimits",
    "sysctls",
    "shm_size",
    "expose",
    "oom_score_adj",
];

/// Decoding context: the file, the variables, the warnings so far.
pub struct Decoder<'a> {
    pub file: &'a Path,
    pub dir: &'a Path,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub warnings: Vec<String>,
}

impl Decoder<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> ComposeError {
        ComposeError::At {
            file: self.file.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    fn map<'n>(&self, n: &'n Node, what: &str) -> Result<&'n [(Key, Node)]> {
        match &n.value {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(&[]),
            _ => Err(self.err(
                n.line,
                format!("{what} must be a mapping, not {}", n.kind()),
            )),
        }
    }

    /// A scalar, interpolated.
    fn string(&self, n: &Node, what: &str) -> Result<String> {
        match &n.value {
            Value::Str(s) => interpolate(s, self.lookup)
                .map_err(|e| self.err(n.line, format!("{what}: {}", e.0))),
            _ => Err(self.err(n.line, format!("{what} must be a string, not {}", n.kind()))),
        }
    }

    fn opt_string(&self, n: &Node, what: &str) -> Result<Option<String>> {
        match n.value {
            Value::Null => Ok(None),
            _ => self.string(n, what).map(Some),
        }
    }

    fn boolean(&self, n: &Node, what: &str) -> Result<bool> {
        match self.string(n, what)?.as_str() {
            "true" | "True" | "TRUE" | "yes" => Ok(true),
            "false" | "False" | "FALSE" | "no" => Ok(false),
            o => Err(self.err(n.line, format!("{what} must be true or false, not {o:?}"))),
        }
    }

    fn number<T: std::str::FromStr>(&self, n: &Node, what: &str) -> Result<T> {
        let s = self.string(n, what)?;
        s.parse()
            .map_err(|_| self.err(n.line, format!("{what} must be a number, not {s:?}")))
    }

    fn list(&self, n: &Node, what: &str) -> Result<Vec<String>> {
        match &n.value {
            Value::Seq(items) => items.iter().map(|i| self.string(i, what)).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Ok(vec![self.string(n, what)?]),
        }
    }

    /// A command: a list as it is, a string split as a shell would
    /// (quotes, no expansion), as compose does.
    fn command(&self, n: &Node, what: &str) -> Result<Option<Vec<String>>> {
        match &n.value {
            Value::Null => Ok(None),
            Value::Seq(_) => self.list(n, what).map(Some),
            _ => {
                let s = self.string(n, what)?;
                split_words(&s)
                    .map(Some)
                    .ok_or_else(|| self.err(n.line, format!("{what}: unbalanced quotes in {s:?}")))
            }
        }
    }

    /// `KEY: value` mapping or `["KEY=value", "KEY"]` list; a key without
    /// a value takes it from the environment (dropped if unset).
    fn key_values(&self, n: &Node, what: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match &n.value {
            Value::Map(m) => {
                for (k, v) in m {
                    match v.value {
                        Value::Null => {
                            if let Some(x) = (self.lookup)(&k.name) {
                                out.push((k.name.clone(), x));
                            }
                        }
                        _ => out.push((k.name.clone(), self.string(v, what)?)),
                    }
                }
            }
            Value::Seq(items) => {
                for i in items {
                    let s = self.string(i, what)?;
                    match s.split_once('=') {
                        Some((k, v)) => out.push((k.to_string(), v.to_string())),
                        None => {
                            if let Some(x) = (self.lookup)(&s) {
                                out.push((s, x));
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            Value::Str(_) => {
                return Err(self.err(n.line, format!("{what} must be a mapping or a list")))
            }
        }
        for (k, _) in &out {
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(self.err(n.line, format!("{what}: invalid name {k:?}")));
            }
        }
        Ok(out)
    }

    /// Refuse keys outside `known`; warn about harmless ones.
    fn check_keys(&mut self, m: &[(Key, Node)], known: &[&str], what: &str) -> Result<()> {
        for (k, _) in m {
            if known.contains(&k.name.as_str()) || k.name.starts_with("x-") {
                continue;
            }
            if HARMLESS.contains(&k.name.as_str()) {
                self.warnings.push(format!(
                    "{}:{}: {what}: {:?} is not supported by skiff and is ignored",
                    self.file.display(),
                    k.line,
                    k.name
                ));
                continue;
            }
            return Err(self.err(
                k.line,
                format!(
                    "{what}: unsupported key {:?} (skiff supports: {})",
                    k.name,
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn path(&self, s: &str) -> PathBuf {
        let p = Path::new(s);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize(&self.dir.join(p))
        }
    }
}

/// `a/./b/../c` → `a/c` (lexically: a bind source need not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            o => out.push(o),
        }
    }
    out
}

/// Split like a POSIX shell (quotes and backslashes; no expansion).
pub fn split_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '"' => break,
                        '\\' => cur.push(it.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(it.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// Quote words for /bin/sh -c.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

const TOP: &[&str] = &["version", "name", "services", "volumes", "networks"];
const SERVICE: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "container_name",
    "working_dir",
    "user",
    "networks",
    "labels",
    "stop_signal",
    "stop_grace_period",
    "deploy",
    "profiles",
    "init",
    "read_only",
    "hostname",
    "tmpfs",
];

/// Decode the whole file. `name` is the project name already decided
/// by the caller (`-p`), else the file's `name:` is used, else `dir_name`.
pub fn decode(d: &mut Decoder, root: &Node, name: Option<&str>, dir_name: &str) -> Result<Project> {
    let top = d.map(root, "the file")?;
    d.check_keys(top, TOP, "top level")?;
    let file_name = match root.get("name") {
        Some(n) => d.opt_string(n, "name")?,
        None => None,
    };
    let name = match (name, file_name) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n,
        (None, None) => normalize_project_name(dir_name),
    };
    check_project_name(&name).map_err(|m| d.err(root.get("name").map_or(1, |n| n.line), m))?;
    let mut volumes = BTreeMap::new();
    if let Some(v) = root.get("volumes") {
        for (k, n) in d.map(v, "volumes")? {
            volumes.insert(k.name.clone(), volume_def(d, &name, k, n)?);
        }
    }
    let mut networks = BTreeMap::new();
    if let Some(v) = root.get("networks") {
        for (k, n) in d.map(v, "networks")? {
            let m = d.map(n, &format!("network {:?}", k.name))?;
            d.check_keys(
                m,
                &["name", "external", "driver", "labels"],
                &format!("network {:?}", k.name),
            )?;
            let external = match n.get("external") {
                Some(e) => d.boolean(e, "external")?,
                None => false,
            };
            let nname = match n.get("name") {
                Some(x) => d.string(x, "name")?,
                None if external => k.name.clone(),
                None => format!("{name}_{}", k.name),
            };
            networks.insert(
                k.name.clone(),
                NetworkDef {
                    name: nname,
                    external,
                },
            );
        }
    }
    let Some(svcs) = root.get("services") else {
        return Err(d.err(root.line, "the file has no services"));
    };
    let mut services = Vec::new();
    for (k, n) in d.map(svcs, "services")? {
        services.push(service(d, k, n, &volumes, &networks)?);
    }
    if services.is_empty() {
        return Err(d.err(svcs.line, "the file has no services"));
    }
    let project = Project {
        name,
        dir: d.dir.to_path_buf(),
        file: d.file.to_path_buf(),
        services,
        volumes,
        networks,
        warnings: std::mem::take(&mut d.warnings),
    };
    check_project(d, &project)?;
    Ok(project)
}

fn volume_def(d: &mut Decoder, project: &str, k: &Key, n: &Node) -> Result<VolumeDef> {
    let what = format!("volume {:?}", k.name);
    let m = d.map(n, &what)?;
    d.check_keys(m, &["name", "external", "driver", "labels"], &what)?;
    if let Some(drv) = n.get("driver") {
        let s = d.string(drv, "driver")?;
        if s != "local" {
            return Err(d.err(
                drv.line,
                format!("{what}: only the local driver is supported"),
            ));
        }
    }
    let external = match n.get("external") {
        Some(e) => d.boolean(e, "external")?,
        None => false,
    };
    let name = match n.get("name") {
        Some(x) => d.string(x, "name")?,
        None if external => k.name.clone(),
        None => format!("{project}_{}", k.name),
    };
    crate::store::volumes::check_volume_name(&name)
        .map_err(|e| d.err(n.line.max(k.line), format!("{what}: {e}")))?;
    let labels = match n.get("labels") {
        Some(l) => d.key_values(l, "labels")?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    Ok(VolumeDef {
        name,
        external,
        labels,
    })
}

fn service(
    d: &mut Decoder,
    k: &Key,
    n: &Node,
    volumes: &BTreeMap<String, VolumeDef>,
    networks: &BTreeMap<String, NetworkDef>,
) -> Result<Service> {
    let what = format!("service {:?}", k.name);
    let m = d.map(n, &what)?;
    d.check_keys(m, SERVICE, &what)?;
    if crate::supervisor::lookup::check_name(&k.name).is_err() {
        return Err(d.err(
            k.line,
            format!("{what}: invalid service name (use [a-zA-Z0-9][a-zA-Z0-9_.-]*)"),
        ));
    }
    let mut s = Service {
        name: k.name.clone(),
        line: k.line,
        restart: "no".into(),
        replicas: 1,
        ..Default::default()
    };
    let w = |f: &str| format!("{what}: {f}");
    for (key, v) in m {
        let f = key.name.as_str();
        match f {
            "image" => s.image = d.opt_string(v, &w(f))?,
            "build" => s.build = Some(build(d, v, &w(f))?),
            "command" => s.command = d.command(v, &w(f))?,
            "entrypoint" => s.entrypoint = d.command(v, &w(f))?,
            "env_file" => {
                for path in d.list(v, &w(f))? {
                    let p = d.path(&path);
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        d.err(
                            v.line,
                            format!("{}: cannot read env_file {}: {e}", w(f), p.display()),
                        )
                    })?;
                    let vars = parse_env_file(&text).map_err(|(line, m)| ComposeError::At {
                        file: p.clone(),
                        line,
                        msg: m,
                    })?;
                    for (k, val) in vars {
                        if let Some(val) = val.or_else(|| (d.lookup)(&k)) {
                            s.environment.insert(k, val);
                        }
                    }
                }
            }
            "environment" | "labels" | "ports" | "volumes" | "depends_on" | "networks" => {}
            "healthcheck" => s.healthcheck = Some(healthcheck(d, v, &w(f))?),
            "restart" => {
                let r = d.string(v, &w(f))?;
                if r.parse::<crate::supervisor::restart::Policy>().is_err() {
                    return Err(d.err(
                        v.line,
                        format!(
                            "{}: {r:?} is not no, always, on-failure[:N] or unless-stopped",
                            w(f)
                        ),
                    ));
                }
                s.restart = r;
            }
            "container_name" => {
                let c = d.string(v, &w(f))?;
                crate::supervisor::lookup::check_name(&c)
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.container_name = Some(c);
            }
            "working_dir" => s.working_dir = d.opt_string(v, &w(f))?,
            "user" => s.user = d.opt_string(v, &w(f))?,
            "hostname" => s.hostname = d.opt_string(v, &w(f))?,
            "stop_signal" => {
                let sig = d.string(v, &w(f))?;
                sig.parse::<crate::runtime::signum::Signum>()
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.stop_signal = Some(sig);
            }
            "stop_grace_period" => {
                let t = d.string(v, &w(f))?;
                let dur = crate::units::parse_duration(&t)
                    .map_err(|e| d.err(v.line, format!("{}: {e}", w(f))))?;
                s.stop_grace_period = Some(dur.as_secs());
            }
            "deploy" => deploy(d, v, &mut s, &what)?,
            "profiles" => s.profiles = d.list(v, &w(f))?,
            "init" => s.init = d.boolean(v, &w(f))?,
            "read_only" => s.read_only = d.boolean(v, &w(f))?,
            "tmpfs" => s.tmpfs = d.list(v, &w(f))?,
            _ => {}
        }
    }
    // After env_file, whatever the order in the file.
    if let Some(v) = n.get("environment") {
        for (k, val) in d.key_values(v, &w("environment"))? {
            s.environment.insert(k, val);
        }
    }
    if let Some(v) = n.get("labels") {
        s.labels = d.key_values(v, &w("labels"))?.into_iter().collect();
    }
    if let Some(v) = n.get("ports") {
        s.ports = ports(d, v, &w("ports"))?;
    }
    if let Some(v) = n.get("volumes") {
        s.volumes = mounts(d, v, &w("volumes"), volumes)?;
    }
    if let Some(v) = n.get("depends_on") {
        s.depends_on = depends_on(d, v, &w("depends_on"))?;
    }
    if let Some(v) = n.get("networks") {
        let names: Vec<(String, usize)> = match &v.value {
            Value::Map(m) => m.iter().map(|(k, _)| (k.name.clone(), k.line)).collect(),
            Value::Seq(items) => items
                .iter()
                .map(|i| Ok((d.string(i, &w("networks"))?, i.line)))
                .collect::<Result<_>>()?,
            _ => return Err(d.err(v.line, w("networks must be a list or a mapping"))),
        };
        for (nname, line) in names {
            if nname != "default" && !networks.contains_key(&nname) {
                return Err(d.err(
                    line,
                    format!(
                        "{what}: network {nname:?} is not declared under the top-level networks"
                    ),
                ));
            }
            s.networks.push(nname);
        }
    }
    if s.image.is_none() && s.build.is_none() {
        return Err(d.err(k.line, format!("{what}: has neither an image nor a build")));
    }
    if s.replicas > 1 && s.container_name.is_some() {
        return Err(d.err(
            k.line,
            format!("{what}: container_name cannot be used with more than one replica"),
        ));
    }
    Ok(s)
}

fn build(d: &mut Decoder, v: &Node, what: &str) -> Result<Build> {
    if let Value::Str(_) = v.value {
        return Ok(Build {
            context: d.path(&d.string(v, what)?),
            ..Default::default()
        });
    }
    let m = d.map(v, what)?;
    d.check_keys(m, &["context", "dockerfile", "args", "target"], what)?;
    let mut b = Build {
        context: d.path("."),
        ..Default::default()
    };
    if let Some(c) = v.get("context") {
        b.context = d.path(&d.string(c, what)?);
    }
    if let Some(f) = v.get("dockerfile") {
        b.dockerfile = d.opt_string(f, what)?;
    }
    if let Some(a) = v.get("args") {
        b.args = d.key_values(a, what)?.into_iter().collect();
    }
    if let Some(t) = v.get("target") {
        b.target = d.opt_string(t, what)?;
    }
    Ok(b)
}

fn healthcheck(d: &mut Decoder, v: &Node, what: &str) -> Result<Healthcheck> {
    let m = d.map(v, what)?;
    d.check_keys(
        m,
        &[
            "test",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "start_interval",
            "disable",
        ],
        what,
    )?;
    let mut h = Healthcheck::default();
    for (k, x) in m {
        let f = format!("{what}.{}", k.name);
        match k.name.as_str() {
            "test" => match &x.value {
                Value::Seq(_) => {
                    let t = d.list(x, &f)?;
                    match t.split_first() {
                        Some((k, rest)) if k == "CMD" && !rest.is_empty() => {
                            h.test = Some(format!("exec {}", shell_join(rest)))
                        }
                        Some((k, [cmd])) if k == "CMD-SHELL" => h.test = Some(cmd.clone()),
                        Some((k, [])) if k == "NONE" => h.disable = true,
                        _ => {
                            return Err(d.err(
                                x.line,
                                format!("{f}: expected [\"CMD\", args...], [\"CMD-SHELL\", \"command\"] or [\"NONE\"]"),
                            ))
                        }
                    }
                }
                _ => h.test = Some(d.string(x, &f)?),
            },
            "disable" => h.disable = d.boolean(x, &f)?,
            "retries" => h.retries = Some(d.number(x, &f)?),
            _ => {
                let s = d.string(x, &f)?;
                crate::units::parse_duration(&s).map_err(|e| d.err(x.line, format!("{f}: {e}")))?;
                match k.name.as_str() {
                    "interval" => h.interval = Some(s),
                    "timeout" => h.timeout = Some(s),
                    "start_period" => h.start_period = Some(s),
                    _ => h.start_interval = Some(s),
                }
            }
        }
    }
    if h.disable {
        h.test = None;
    }
    Ok(h)
}

fn deploy(d: &mut Decoder, v: &Node, s: &mut Service, service: &str) -> Result<()> {
    let what = format!("{service}: deploy");
    let m = d.map(v, &what)?;
    d.check_keys(
        m,
        &[
            "replicas",
            "resources",
            "update_config",
            "restart_policy",
            "mode",
            "labels",
        ],
        &what,
    )?;
    if let Some(r) = v.get("replicas") {
        s.replicas = d.number(r, &format!("{what}.replicas"))?;
    }
    if let Some(r) = v.get("resources") {
        let rm = d.map(r, &format!("{what}.resources"))?;
        d.check_keys(
            rm,
            &["limits", "reservations"],
            &format!("{what}.resources"),
        )?;
        if let Some(l) = r.get("limits") {
            let lw = format!("{what}.resources.limits");
            let lm = d.map(l, &lw)?;
            d.check_keys(lm, &["cpus", "memory", "pids"], &lw)?;
            for (k, x) in lm {
                let f = format!("{lw}.{}", k.name);
                match k.name.as_str() {
                    "cpus" => s.limits.cpus = Some(d.string(x, &f)?),
                    "memory" => s.limits.memory = Some(d.string(x, &f)?),
                    _ => s.limits.pids = Some(d.number(x, &f)?),
                }
            }
        }
    }
    if let Some(u) = v.get("update_config") {
        let uw = format!("{what}.update_config");
        let um = d.map(u, &uw)?;
        d.check_keys(
            um,
            &["parallelism", "order", "failure_action", "monitor", "delay"],
            &uw,
        )?;
        for (k, x) in um {
            let f = format!("{uw}.{}", k.name);
            match k.name.as_str() {
                "parallelism" => s.update_config.parallelism = d.number(x, &f)?,
                "order" => {
                    let o = d.string(x, &f)?;
                    if o != "stop-first" && o != "start-first" {
                        return Err(
                            d.err(x.line, format!("{f}: expected stop-first or start-first"))
                        );
                    }
                    s.update_config.order = o;
                }
                "failure_action" => {
                    let o = d.string(x, &f)?;
                    if !["pause", "continue", "rollback"].contains(&o.as_str()) {
                        return Err(
                            d.err(x.line, format!("{f}: expected pause, continue or rollback"))
                        );
                    }
                    s.update_config.failure_action = o;
                }
                "monitor" | "delay" => {
                    let t = d.string(x, &f)?;
                    crate::units::parse_duration(&t)
                        .map_err(|e| d.err(x.line, format!("{f}: {e}")))?;
                    if k.name == "monitor" {
                        s.update_config.monitor = Some(t);
                    } else {
                        s.update_config.delay = Some(t);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn ports(d: &mut Decoder, v: &Node, what: &str) -> Result<Vec<String>> {
    let Value::Seq(items) = &v.value else {
        return Err(d.err(v.line, format!("{what} must be a list")));
    };
    let mut out = Vec::new();
    for i in items {
        let p = match &i.value {
            Value::Map(m) => {
                d.check_keys(
                    m,
                    &[
                        "target",
                        "published",
                        "host_ip",
                        "protocol",
                        "mode",
                        "name",
                        "app_protocol",
                    ],
                    what,
                )?;
                let target = i
                    .get("target")
                    .ok_or_else(|| d.err(i.line, format!("{what}: a port needs a target")))?;
                let target = d.string(target, what)?;
                let published = match i.get("published") {
                    Some(p) => d.string(p, what)?,
                    None => {
                        return Err(d.err(
                            i.line,
                            format!("{what}: skiff needs a published port for {target}"),
                        ))
                    }
                };
                let mut s = match i.get("host_ip") {
                    Some(h) => format!("{}:{published}:{target}", d.string(h, what)?),
                    None => format!("{published}:{target}"),
                };
                if let Some(proto) = i.get("protocol") {
                    s = format!("{s}/{}", d.string(proto, what)?);
                }
                s
            }
            _ => d.string(i, what)?,
        };
        if !p.contains(':') {
            return Err(d.err(
                i.line,
                format!("{what}: {p:?} publishes no host port; skiff needs HOST:CONTAINER"),
            ));
        }
        let spec: crate::supervisor::ports::PortSpec = p
            .parse()
            .map_err(|e| d.err(i.line, format!("{what}: {e}")))?;
        out.push((spec.to_string(), i.line, p));
    }
    for (n, (spec, line, _)) in out.iter().enumerate() {
        if out[..n].iter().any(|(o, _, _)| o == spec) {
            return Err(d.err(*line, format!("{what}: port {spec} is published twice")));
        }
    }
    Ok(out.into_iter().map(|(_, _, p)| p).collect())
}

fn mounts(
    d: &mut Decoder,
    v: &Node,
    what: &str,
    volumes: &BTreeMap<String, VolumeDef>,
) -> Result<Vec<Mount>> {
    let Value::Seq(items) = &v.value else {
        return Err(d.err(v.line, format!("{what} must be a list")));
    };
    let mut out = Vec::new();
    for i in items {
        let (kind, source, target, read_only) = match &i.value {
            Value::Map(m) => {
                d.check_keys(
                    m,
                    &["type", "source", "target", "read_only", "volume", "bind"],
                    what,
                )?;
                let kind = match i.get("type") {
                    Some(t) => d.string(t, what)?,
                    None => "volume".into(),
                };
                let source = match i.get("source") {
                    Some(s) => d.string(s, what)?,
                    None => String::new(),
                };
                let target = match i.get("target") {
                    Some(t) => d.string(t, what)?,
                    None => return Err(d.err(i.line, format!("{what}: a mount needs a target"))),
                };
                let ro = match i.get("read_only") {
                    Some(r) => d.boolean(r, what)?,
                    None => false,
                };
                (kind, source, target, ro)
            }
            _ => {
                let s = d.string(i, what)?;
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, opts) = match parts.as_slice() {
                    [dst] => ("", *dst, ""),
                    [s, d] => (*s, *d, ""),
                    [s, d, o] => (*s, *d, *o),
                    _ => return Err(d.err(i.line, format!("{what}: invalid volume {s:?}"))),
                };
                let mut ro = false;
                for o in opts.split(',').filter(|o| !o.is_empty()) {
                    match o {
                        "ro" => ro = true,
                        "rw" | "z" | "Z" => {}
                        _ => {
                            return Err(d.err(
                                i.line,
                                format!("{what}: invalid volume option {o:?} in {s:?}"),
                            ))
                        }
                    }
                }
                let kind = if src.starts_with(['.', '/', '~']) {
                    "bind"
                } else {
                    "volume"
                };
                (kind.to_string(), src.to_string(), dst.to_string(), ro)
            }
        };
        if !target.starts_with('/') || target.split('/').any(|c| c == "..") {
            return Err(d.err(
                i.line,
                format!("{what}: the container path {target:?} must be absolute, without .."),
            ));
        }
        let source = match kind.as_str() {
            "bind" => {
                let s = if let Some(rest) = source.strip_prefix("~/") {
                    let home = (d.lookup)("HOME").unwrap_or_else(|| "/root".into());
                    format!("{home}/{rest}")
                } else {
                    source
                };
                d.path(&s).to_string_lossy().into_owned()
            }
            "volume" => {
                if source.is_empty() {
                    return Err(d.err(i.line, format!("{what}: anonymous volumes are not supported; name the volume (NAME:{target})")));
                }
                if !volumes.contains_key(&source) {
                    return Err(d.err(
                        i.line,
                        format!(
                            "{what}: volume {source:?} is not declared under the top-level volumes"
                        ),
                    ));
                }
                source
            }
            o => {
                return Err(d.err(
                    i.line,
                    format!("{what}: mount type {o:?} is not supported (volume or bind)"),
                ))
            }
        };
        out.push(Mount {
            kind,
            source,
            target,
            read_only,
        });
    }
    Ok(out)
}

fn depends_on(d: &mut Decoder, v: &Node, what: &str) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    match &v.value {
        Value::Seq(items) => {
            for i in items {
                out.push(Dependency {
                    service: d.string(i, what)?,
                    condition: Condition::ServiceStarted,
                    line: i.line,
                });
            }
        }
        Value::Map(m) => {
            for (k, x) in m {
                let xm = d.map(x, what)?;
                d.check_keys(xm, &["condition", "restart", "required"], what)?;
                let condition = match x.get("condition") {
                    None => Condition::ServiceStarted,
                    Some(c) => match d.string(c, what)?.as_str() {
                        "service_started" => Condition::ServiceStarted,
                        "service_healthy" => Condition::ServiceHealthy,
                        "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                        o => {
                            return Err(d.err(c.line, format!(
                                "{what}: condition {o:?} is not service_started, service_healthy or service_completed_successfully"
                            )))
                        }
                    },
                };
                out.push(Dependency {
                    service: k.name.clone(),
                    condition,
                    line: k.line,
                });
            }
        }
        _ => return Err(d.err(v.line, format!("{what} must be a list or a mapping"))),
    }
    Ok(out)
}

/// Checks across services: dependencies exist, host ports and container
/// names are not taken twice.
fn check_project(d: &Decoder, p: &Project) -> Result<()> {
    let mut host_ports: Vec<(String, &str)> = Vec::new();
    for s in &p.services {
        for dep in &s.depends_on {
            if !p.services.iter().any(|o| o.name == dep.service) {
                return Err(d.err(
                    dep.line,
                    format!(
                        "service {:?} depends on unknown service {:?}",
                        s.name, dep.service
                    ),
                ));
            }
        }
        for port in &s.ports {
            let spec: crate::supervisor::ports::PortSpec = port
                .parse()
                .map_err(|e: crate::supervisor::SupervisorError| d.err(s.line, e.to_string()))?;
            let key = format!("{:?}:{}", spec.host_ip, spec.host_port);
            if let Some((_, other)) = host_ports.iter().find(|(k, _)| *k == key) {
                return Err(d.err(
                    s.line,
                    format!(
                        "service {:?}: host port {} is already published by service {other:?}",
                        s.name, spec.host_port
                    ),
                ));
            }
            host_ports.push((key, &s.name));
            if s.replicas > 1 {
                return Err(d.err(
                    s.line,
                    format!(
                        "service {:?}: {} replicas cannot all publish host port {}",
                        s.name, s.replicas, spec.host_port
                    ),
                ));
            }
        }
        if let Some(c) = &s.container_name {
            if p.services
                .iter()
                .any(|o| o.name != s.name && o.container_name.as_ref() == Some(c))
            {
                return Err(d.err(
                    s.line,
                    format!("container_name {c:?} is used by two services"),
                ));
            }
        }
    }
    super::order::order(p)?;
    Ok(())
}

/// Compose's rule: lowercase, only [a-z0-9_-], starting with a letter or digit.
pub fn normalize_project_name(dir: &str) -> String {
    dir.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .collect()
}

pub fn check_project_name(n: &str) -> std::result::Result<(), String> {
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid project name {n:?}: use lowercase letters, digits, '_' and '-', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_text(text: &str, vars: &[(&str, &str)]) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        std::fs::write(dir.path().join("web.env"), "FROM_FILE=1\nOVERRIDDEN=file\n").unwrap();
        let root = super::super::yaml::parse(&file, text)?;
        let mut d = Decoder {
            file: &file,
            dir: dir.path(),
            lookup: &lookup,
            warnings: Vec::new(),
        };
        decode(&mut d, &root, None, "My_App")
    }

    #[test]
    fn the_subset_is_decoded_and_normalized() {
        let p = decode_text(
            r#"
services:
  web:
    build:
      context: ./web
      dockerfile: Dockerfile.prod
      args: [NODE_VERSION=20]
      target: runtime
    command: node "server main.js" --port=${PORT:-3000}
    entrypoint: ["tini", "--"]
    env_file: web.env
    environment: [OVERRIDDEN=env, FROM_HOST]
    ports:
      - "127.0.0.1:8080:3000"
      - target: 9229
        published: "9229"
    volumes:
      - data:/data:ro
      - ./src:/app/src
      - type: volume
        source: data
        target: /more
    depends_on:
      db:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "node", "-e", "it's"]
      interval: 5s
      retries: 2
    deploy:
      replicas: 1
      resources:
        limits: { cpus: "0.5", memory: 256m, pids: 100 }
      update_config: { order: start-first, failure_action: rollback, monitor: 30s }
    stop_grace_period: 1m30s
    labels: { team: api }
  db:
    image: postgres:16
    healthcheck:
      test: pg_isready
volumes:
  data:
"#,
            &[("FROM_HOST", "h")],
        )
        .unwrap();
        assert_eq!(p.name, "my_app");
        let w = &p.services[0];
        let b = w.build.as_ref().unwrap();
        assert!(b.context.ends_with("web"));
        assert_eq!(b.args.get("NODE_VERSION").unwrap(), "20");
        assert_eq!(
            w.command.as_deref().unwrap(),
            ["node", "server main.js", "--port=3000"]
        );
        assert_eq!(w.environment.get("OVERRIDDEN").unwrap(), "env");
        assert_eq!(w.environment.get("FROM_FILE").unwrap(), "1");
        assert_eq!(w.environment.get("FROM_HOST").unwrap(), "h");
        assert_eq!(w.ports, ["127.0.0.1:8080:3000", "9229:9229"]);
        assert_eq!(w.volumes[0].kind, "volume");
        assert!(w.volumes[0].read_only);
        assert_eq!(w.volumes[1].kind, "bind");
        assert!(w.volumes[1].source.ends_with("/src"));
        assert_eq!(w.volumes[2].target, "/more");
        assert_eq!(w.depends_on[0].condition, Condition::ServiceHealthy);
        assert_eq!(
            w.healthcheck.as_ref().unwrap().test.as_deref(),
            Some(r"exec 'node' '-e' 'it'\''s'")
        );
        assert_eq!(w.replicas, 1);
        assert_eq!(w.limits.memory.as_deref(), Some("256m"));
        assert_eq!(w.limits.pids, Some(100));
        assert_eq!(w.update_config.order, "start-first");
        assert_eq!(w.stop_grace_period, Some(90));
        assert_eq!(p.volumes.get("data").unwrap().name, "my_app_data");
        assert_eq!(
            p.services[1].healthcheck.as_ref().unwrap().test.as_deref(),
            Some("pg_isready")
        );
        // Services start after what they depend on.
        assert_eq!(super::super::order::order(&p).unwrap(), [1, 0]);
    }

    #[test]
    fn bad_values_name_their_line() {
        let cases = [
            (
                "services:\n  a:\n    image: x\n    restart: sometimes\n",
                4,
                "restart",
            ),
            (
                "services:\n  a:\n    image: x\n    ports: [\"80\"]\n",
                4,
                "no host port",
            ),
            (
                "services:\n  a:\n    image: x\n    volumes: [\"v:rel\"]\n",
                4,
                "absolute",
            ),
            (
                "services:\n  a:\n    image: x\n    stop_signal: SIGNOPE\n",
                4,
                "stop_signal",
            ),
            (
                "services:\n  a:\n    build: .\n    container_name: c\n    deploy: {replicas: 2}\n",
                2,
                "container_name",
            ),
            ("services:\n  a: {}\n", 2, "neither an image nor a build"),
            (
                "name: Bad Name\nservices:\n  a:\n    image: x\n",
                1,
                "invalid project name",
            ),
            (
                "services:\n  a:\n    image: x\n    healthcheck:\n      test: [\"WHAT\"]\n",
                5,
                "CMD",
            ),
            (
                "services:\n  a:\n    image: x\n    networks: [nope]\n",
                4,
                "not declared",
            ),
            ("volumes: {}\n", 1, "no services"),
            ("services:\n  a:\n    image: $\n", 3, "literal $"),
        ];
        for (text, line, needle) in cases {
            let e = decode_text(text, &[]).unwrap_err().to_string();
            assert!(e.contains(&format!("compose.yaml:{line}:")), "{text}: {e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            split_words(r#"a 'b c' "d\"e" f\ g"#).unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
        assert!(split_words("a 'b").is_none());
        assert_eq!(normalize_project_name("._My App-2"), "myapp-2");
    }
}
