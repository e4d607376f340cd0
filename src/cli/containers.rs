//! Container commands: ps, logs, stop, start, restart, rm, exec, inspect
//! (a container first, then an image), boot, and the hidden `__supervise`.
//! They parse, call `supervisor::ops` (or the runtime for exec), print.

use super::format::{human_age, human_duration, print_table};
use super::images::{image_json, open_store, InspectArgs};
use super::template::{Output, Row};
use crate::image::local::LocalImage;
use crate::runtime::process::join::{self, ExecOptions};
use crate::runtime::process::sealed_exe;
use crate::runtime::{signals, Container, RuntimeError};
use crate::supervisor::filter::{Filters, ImageFacts};
use crate::supervisor::health::HealthStatus;
use crate::supervisor::log::{self as logs, Entry, Follower};
use crate::supervisor::ops::{self, Info, StopOutcome};
use crate::supervisor::state::Observed;
use crate::supervisor::{daemon, log_archive, lookup, replicas, SupervisorError};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: those that run or should)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Output: table, json, or a template such as '{{.Names}}' or 'table {{.ID}}\t{{.Status}}'
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Only containers that match KEY=VALUE: id, name, status, label, ancestor (repeatable)
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// `ps --format` template fields: (name, header).
pub const PS_FIELDS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Restarts", "RESTARTS"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow the log until the container stops
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end ("all" for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Only lines since a time (RFC 3339) or a duration ago (10m, 1h30m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Also the output of the containers this one replaced (rollouts), kept until prune
    #[arg(long)]
    pub history: bool,
    /// Tag each line with the revision of the image that printed it ("rev 3 | ...")
    #[arg(long)]
    pub prefix: bool,
    /// Container name or id
    pub container: String,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    /// Seconds to wait after the stop signal before SIGKILL
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    /// Recreate the container with its env files read again (PM2's
    /// --update-env), handing its ports over as a rollout does
    #[arg(long = "update-env")]
    pub update_env: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable (NAME=value)
    #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// User: NAME|UID[:GROUP|GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container (name or id), then the command and its arguments:
    /// everything after the container belongs to the command
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 2..,
        trailing_var_arg = true
    )]
    pub container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container as the user named it.
    pub fn container(&self) -> &str {
        self.container_and_command
            .first()
            .map_or("", String::as_str)
    }

    /// The command and its arguments.
    pub fn command(&self) -> &[String] {
        self.container_and_command.get(1..).unwrap_or(&[])
    }
}

#[derive(Args, Debug)]
pub struct BootArgs {}

#[derive(Args, Debug)]
pub struct SuperviseArgs {
    pub id: String,
}

pub(super) fn resolve(store: &crate::store::Store, c: &str) -> Result<String> {
    match lookup::resolve(store, c) {
        Err(SupervisorError::NotFound(_)) => {
            let names: Vec<String> = lookup::all_ids(store)
                .iter()
                .filter_map(|id| lookup::name_of(store, id))
                .collect();
            match super::suggest::closest(c, names.iter().map(String::as_str)) {
                Some(n) => bail!("no such container: {c} (did you mean {n}?)"),
                None => bail!("no such container: {c}"),
            }
        }
        r => Ok(r?),
    }
}

/// The container `c` names, or every replica of the service it names.
fn resolve_all(store: &crate::store::Store, c: &str) -> Result<Vec<String>> {
    match replicas::resolve_all(store, c) {
        // Not a container nor a service: the error with a suggestion.
        Err(SupervisorError::NotFound(_)) => resolve(store, c).map(|id| vec![id]),
        r => Ok(r?),
    }
}

pub(super) fn status_text(i: &Info) -> String {
    let ago = |t: &Option<String>| t.as_deref().map(human_age).unwrap_or_default();
    let code = |c: &Option<i32>| c.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
    match &i.observed {
        Observed::Created => "Created".into(),
        Observed::Up { since } => {
            let secs = since
                .as_deref()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or(0);
            // docker: "Up 2 minutes (healthy)", "(health: starting)".
            let health = match i.state.health.as_ref().map(|h| h.status) {
                Some(HealthStatus::Starting) => " (health: starting)",
                Some(HealthStatus::Healthy) => " (healthy)",
                Some(HealthStatus::Unhealthy) => " (unhealthy)",
                None => "",
            };
            format!("Up {}{health}", human_duration(secs))
        }
        Observed::Restarting { exit_code, since } => {
            format!("Restarting ({}) {}", code(exit_code), ago(since))
        }
        Observed::Exited { exit_code, since } => {
            let oom = if i.state.oom_killed {
                " (out of memory)"
            } else {
                ""
            };
            format!("Exited ({}){oom} {}", code(exit_code), ago(since))
        }
        Observed::Dead { reason } => format!("Dead ({reason})"),
    }
}

pub(super) fn ports_text(i: &Info) -> String {
    i.config
        .as_ref()
        .map(|c| {
            c.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Each tag's current revision and digest, looked up once per `ps`.
type TagHeads = std::collections::HashMap<(String, String), Option<(u64, Option<String>)>>;

/// The tag's current revision when the container runs another image than
/// the tag's current one (it is behind its tag: `rollout` moves it).
fn behind(store: &crate::store::Store, i: &Info, cache: &mut TagHeads) -> Option<u64> {
    let img = &i.config.as_ref()?.image;
    let (name, tag) = (img.name.clone()?, img.tag.clone()?);
    let cur = cache
        .entry((name.clone(), tag.clone()))
        .or_insert_with(|| {
            let revs = store.revisions(&name, &tag).ok()?;
            let last = revs.last()?;
            Some((last.rev, last.digest.as_ref().map(|d| d.to_string())))
        })
        .clone()?;
    (cur.1.as_deref() != Some(img.digest.as_str())).then_some(cur.0)
}

/// `node-api:latest (rev 6, behind 7)`.
fn image_text(i: &Info, behind: Option<u64>) -> String {
    match (
        behind,
        i.config.as_ref().and_then(|c| {
            let u = &c.image;
            Some((u.name.clone()?, u.tag.clone()?, u.revision?))
        }),
    ) {
        (Some(cur), Some((n, t, r))) => format!("{n}:{t} (rev {r}, behind {cur})"),
        _ => i.image_display(),
    }
}

/// The labels and id of each container's image, read once per image.
type ImageCache = std::collections::HashMap<String, (Option<String>, BTreeMap<String, String>)>;

fn image_facts<'a>(
    store: &crate::store::Store,
    i: &Info,
    cache: &'a mut ImageCache,
) -> ImageFacts<'a> {
    let digest = i
        .config
        .as_ref()
        .map(|c| c.image.digest.clone())
        .or_else(|| i.record.spec.image_digest.clone())
        .unwrap_or_default();
    let (id, labels) = cache.entry(digest.clone()).or_insert_with(|| {
        match digest
            .parse()
            .ok()
            .and_then(|d| LocalImage::by_digest(store, &d).ok())
        {
            Some(img) => (
                Some(img.id().to_string()),
                img.config.config.labels.clone().unwrap_or_default(),
            ),
            None => (None, BTreeMap::new()),
        }
    });
    let mut labels = labels.clone();
    // The container's own labels over its image's, as docker merges them.
    for (k, v) in i.config.iter().flat_map(|c| c.labels.iter()) {
        labels.insert(k.clone(), v.clone());
    }
    ImageFacts {
        id: id.as_deref(),
        labels,
    }
}

fn quoted_command(i: &Info) -> String {
    let mut cmd = i.record.spec.args.join(" ");
    if cmd.chars().count() > 24 {
        cmd = cmd.chars().take(21).collect::<String>() + "...";
    }
    format!("\"{cmd}\"")
}

fn template_row(i: &Info, image: String, labels: &BTreeMap<String, String>) -> Row {
    let created = chrono::DateTime::parse_from_rfc3339(&i.record.created)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_else(|_| i.record.created.clone());
    let network = i
        .config
        .as_ref()
        .map(|c| format!("{:?}", c.options.run.network).to_lowercase())
        .unwrap_or_default();
    Row::from([
        ("ID", i.id[..12.min(i.id.len())].to_string()),
        ("Names", i.name.clone().unwrap_or_default()),
        ("Image", image),
        ("Command", quoted_command(i)),
        ("CreatedAt", created),
        ("RunningFor", human_age(&i.record.created)),
        ("Ports", ports_text(i)),
        ("State", i.observed.word().to_string()),
        ("Status", status_text(i)),
        ("Restarts", i.state.restart_count.to_string()),
        (
            "Labels",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "Mounts",
            i.record
                .spec
                .mounts
                .iter()
                .map(|m| m.target.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("Networks", network),
    ])
}

pub fn ps(root: &Path, a: PsArgs) -> Result<i32> {
    let output = Output::parse(&a.format, PS_FIELDS)?;
    let filters = Filters::parse(&a.filter)?;
    let store = open_store(root)?;
    let mut tags = TagHeads::new();
    let mut images = ImageCache::new();
    let all = a.all || filters.has_status();
    let shown: Vec<Info> = ops::list(&store)
        .into_iter()
        .filter(|i| all || i.observed.is_live() || matches!(i.observed, Observed::Dead { .. }))
        .filter(|i| filters.matches(i, &image_facts(&store, i, &mut images)))
        .collect();
    if a.quiet {
        for i in &shown {
            println!("{}", &i.id[..12.min(i.id.len())]);
        }
        return Ok(0);
    }
    match output {
        Output::Template { .. } => {
            let rows: Vec<Row> = shown
                .iter()
                .map(|i| {
                    let image = image_text(i, behind(&store, i, &mut tags));
                    let labels = image_facts(&store, i, &mut images).labels;
                    template_row(i, image, &labels)
                })
                .collect();
            output.print(PS_FIELDS, &rows);
        }
        Output::Json => {
            let v: Vec<serde_json::Value> = shown
                .iter()
                .map(|i| {
                    let behind = behind(&store, i, &mut tags);
                    serde_json::json!({
                        "id": i.id,
                        "name": i.name,
                        "image": image_text(i, behind),
                        "behind": behind,
                        "image_ref": i.config.as_ref().map(|c| c.image.clone()),
                        "command": i.record.spec.args,
                        "created": i.record.created,
                        "state": i.observed.word(),
                        "status": status_text(i),
                        "restarts": i.state.restart_count,
                        "ports": i.config.as_ref().map(|c| c.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
                        "pid": if matches!(i.observed, Observed::Up { .. }) { i.state.pid } else { None },
                        "exit_code": i.state.exit_code,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|i| {
                    vec![
                        i.id[..12.min(i.id.len())].to_string(),
                        i.name.clone().unwrap_or_default(),
                        image_text(i, behind(&store, i, &mut tags)),
                        quoted_command(i),
                        status_text(i),
                        i.state.restart_count.to_string(),
                        ports_text(i),
                    ]
                })
                .collect();
            print_table(
                &[
                    "CONTAINER ID",
                    "NAME",
                    "IMAGE",
                    "COMMAND",
                    "STATUS",
                    "RESTARTS",
                    "PORTS",
                ],
                &rows,
            );
        }
    }
    Ok(0)
}

/// Print one log entry; false once stdout is closed.
fn print_entry(
    e: &Entry,
    rev: Option<Option<u64>>,
    timestamps: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> bool {
    let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
    let tag = match rev {
        None => String::new(),
        Some(Some(r)) => format!("rev {r} | "),
        Some(None) => "- | ".to_string(),
    };
    let r = if timestamps {
        write!(w, "{tag}{} {}", e.time, e.log)
    } else {
        write!(w, "{tag}{}", e.log)
    };
    r.is_ok()
}

fn revision_of(store: &crate::store::Store, id: &str) -> Option<u64> {
    ops::info(store, id)
        .ok()
        .and_then(|i| i.config.and_then(|c| c.image.revision))
}

/// The container that took over from `id` in a rollout: the one whose
/// config says it replaces `id`, else the one that now has `name`. A
/// removed container's name may be between owners for a moment.
fn successor(store: &crate::store::Store, id: &str, name: Option<&str>) -> Option<String> {
    let until = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let by_config = ops::list(store).into_iter().find(|i| {
            i.config
                .as_ref()
                .and_then(|c| c.replaces.as_ref())
                .is_some_and(|r| r.id == id)
        });
        if let Some(i) = by_config {
            return Some(i.id);
        }
        if let Some(n) = name {
            if let Ok(other) = lookup::resolve(store, n) {
                if other != id {
                    return Some(other);
                }
            }
        }
        let removed = matches!(ops::info(store, id), Err(SupervisorError::NotFound(_)));
        if !removed || name.is_none() || std::time::Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `--tail` and `--since` of `logs`.
fn tail_and_since(a: &LogsArgs) -> Result<(Option<usize>, Option<chrono::DateTime<chrono::Utc>>)> {
    let tail = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow!("invalid --tail {n:?}: a number or \"all\""))?,
        ),
    };
    let since = match &a.since {
        None => None,
        Some(s) => Some(logs::parse_since(s, chrono::Utc::now()).ok_or_else(|| {
            anyhow!(
                "invalid --since {s:?}: use RFC 3339 (2026-05-01T10:00:00Z) or a duration (10m)"
            )
        })?),
    };
    Ok((tail, since))
}

/// `logs SERVICE`: every replica, each line prefixed with the replica's
/// name, the backlog merged by time; `-f` follows them all.
fn service_logs(store: &crate::store::Store, a: &LogsArgs, ids: &[String]) -> Result<i32> {
    let (tail, since) = tail_and_since(a)?;
    let mut followers = Vec::with_capacity(ids.len());
    let mut backlog: Vec<Entry> = Vec::new();
    for id in ids {
        let dir = store.containers_dir().join(id);
        let prefix = format!("{} | ", lookup::name_of(store, id).unwrap_or_default());
        let mut follower = Follower::new(&dir, true);
        let mut own: Vec<Entry> = logs::read_rotated(&dir, tail, since);
        follower.read_new(|e| {
            if since.is_none_or(|s| e.time().is_none_or(|t| t >= s)) {
                own.push(e);
            }
        });
        backlog.extend(own.into_iter().map(|mut e| {
            e.log.insert_str(0, &prefix);
            e
        }));
        followers.push((id.clone(), prefix, follower));
    }
    backlog.sort_by(|x, y| x.time.cmp(&y.time));
    if let Some(n) = tail {
        let drop = backlog.len().saturating_sub(n);
        backlog.drain(..drop);
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = stderr.lock();
    for e in &backlog {
        if !print_entry(e, None, a.timestamps, &mut out, &mut err) {
            return Ok(0);
        }
    }
    drop(backlog);
    if out.flush().is_err() || !a.follow {
        return Ok(0);
    }
    loop {
        let mut live = false;
        let mut ok = true;
        for (id, prefix, follower) in &mut followers {
            live |= ops::info(store, id).is_ok_and(|i| i.observed.is_live());
            follower.read_new(|mut e| {
                e.log.insert_str(0, prefix);
                ok &= print_entry(&e, None, a.timestamps, &mut out, &mut err)
            });
        }
        if !ok || out.flush().is_err() || !live {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn logs(root: &Path, a: LogsArgs) -> Result<i32> {
    let store = open_store(root)?;
    if let Err(SupervisorError::NotFound(_)) = lookup::resolve(&store, &a.container) {
        let members = replicas::members(&store, &a.container);
        if !members.is_empty() {
            let ids: Vec<String> = members.into_iter().map(|(_, id)| id).collect();
            return service_logs(&store, &a, &ids);
        }
    }
    let mut id = resolve(&store, &a.container)?;
    let name = lookup::name_of(&store, &id);
    let dir = store.containers_dir().join(&id);
    let (tail, since) = tail_and_since(&a)?;
    let keep = |e: &Entry| since.is_none_or(|s| e.time().is_none_or(|t| t >= s));
    let mut backlog: Vec<(Option<u64>, Entry)> = Vec::new();
    if a.history {
        for arc in name
            .as_deref()
            .map(|n| log_archive::list(&store, n))
            .unwrap_or_default()
        {
            backlog.extend(
                log_archive::entries(&arc)
                    .into_iter()
                    .filter(|e| keep(e))
                    .map(|e| (arc.rev, e)),
            );
        }
    }
    let mut rev = revision_of(&store, &id);
    // The current file through the follower (so -f goes on exactly where
    // the backlog ends), the rotated ones before it.
    let mut follower = Follower::new(&dir, true);
    backlog.extend(
        logs::read_rotated(&dir, tail, since)
            .into_iter()
            .map(|e| (rev, e)),
    );
    follower.read_new(|e| {
        if keep(&e) {
            backlog.push((rev, e));
        }
    });
    if let Some(n) = tail {
        let drop = backlog.len().saturating_sub(n);
        backlog.drain(..drop);
    }
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = stderr.lock();
    let tag = |r: Option<u64>| a.prefix.then_some(r);
    for (r, e) in &backlog {
        if !print_entry(e, tag(*r), a.timestamps, &mut out, &mut err) {
            return Ok(0);
        }
    }
    drop(backlog);
    if out.flush().is_err() || !a.follow {
        return Ok(0);
    }
    // Across restarts (the same container) and rollouts (its successor).
    let mut switched_at: Option<std::time::Instant> = None;
    loop {
        let observed = ops::info(&store, &id).map(|i| i.observed);
        let waiting_start = matches!(observed, Ok(Observed::Created))
            && switched_at.is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        let live = observed.is_ok_and(|o| o.is_live()) || waiting_start;
        let mut ok = true;
        follower.read_new(|e| ok &= print_entry(&e, tag(rev), a.timestamps, &mut out, &mut err));
        if !ok || out.flush().is_err() {
            return Ok(0);
        }
        if !live {
            let Some(next) = successor(&store, &id, name.as_deref()) else {
                return Ok(0);
            };
            id = next;
            rev = revision_of(&store, &id);
            follower = Follower::new(&store.containers_dir().join(&id), true);
            switched_at = Some(std::time::Instant::now());
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn stop(root: &Path, a: StopArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let r = resolve_all(&store, c).and_then(|ids| {
            let mut outcome = StopOutcome::NotRunning;
            for id in ids {
                match ops::stop(&store, &id, a.time)? {
                    StopOutcome::NotRunning => {}
                    o => outcome = o,
                }
            }
            Ok(outcome)
        });
        match r {
            Ok(StopOutcome::Stopped) => println!("{c}"),
            Ok(StopOutcome::CleanedUp) => {
                eprintln!("skiff: container {c} had lost its supervisor; cleaned up");
                println!("{c}");
            }
            Ok(StopOutcome::NotRunning) => eprintln!("skiff: container {c} is not running"),
            Err(e) => {
                eprintln!("skiff: {}", super::error_chain(&e));
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

fn report_start(c: &str, r: Result<(), SupervisorError>) -> i32 {
    match r {
        Ok(()) => {
            println!("{c}");
            0
        }
        Err(e) => {
            eprintln!("skiff: {c}: {e}");
            e.exit_code()
        }
    }
}

pub fn start(root: &Path, a: StartArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let mut any = false;
        let mut r = Ok(());
        for id in resolve_all(&store, c)? {
            match ops::start(&store, &id) {
                Ok(started) => any |= started,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        if r.is_ok() && !any {
            eprintln!("skiff: container {c} is already running");
        }
        code = code.max(report_start(c, r));
    }
    Ok(code)
}

pub fn restart(root: &Path, a: RestartArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        if a.update_env {
            let id = resolve(&store, c)?;
            let opts = crate::deploy::Options {
                stop_timeout: a.time,
                ..Default::default()
            };
            match crate::deploy::rollout::recreate(
                &store,
                &id,
                &opts,
                &mut super::deploy::print_step,
            ) {
                Ok(()) => println!("{c}"),
                Err(e) => code = super::deploy::fail(e),
            }
            continue;
        }
        // A service restarts one replica at a time: the others serve.
        let r = resolve_all(&store, c)?
            .iter()
            .try_for_each(|id| ops::restart(&store, id, a.time));
        code = code.max(report_start(c, r));
    }
    Ok(code)
}

pub fn rm(root: &Path, a: RmArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut code = 0;
    for c in &a.containers {
        let r = resolve_all(&store, c).and_then(|ids| {
            ids.iter()
                .try_for_each(|id| ops::remove(&store, id, a.force))
                .map_err(anyhow::Error::from)
        });
        match r {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("skiff: {}", super::error_chain(&e));
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

pub fn exec(root: &Path, a: ExecArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let id = resolve(&store, a.container())?;
    let i = ops::info(&store, &id)?;
    let (Observed::Up { .. }, Some(pid)) = (&i.observed, i.state.pid) else {
        bail!("container {} is not running", a.container());
    };
    let container = Container::open(&store, &id)?;
    let opts = ExecOptions {
        args: a.command().to_vec(),
        env: a.env.clone(),
        user: a.user.clone(),
        workdir: a.workdir.clone(),
        tty: a.tty,
        interactive: a.interactive,
    };
    let mut forwarder = signals::Forwarder::install()?;
    let joined = match join::spawn(container.spec(), nix::unistd::Pid::from_raw(pid), &opts) {
        Ok(j) => j,
        Err(e @ RuntimeError::Exec { .. }) => {
            eprintln!("skiff: {e}");
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e).context(format!("cannot exec in container {}", a.container())),
    };
    Ok(join::wait(joined, &mut forwarder, a.interactive)?)
}

/// `inspect`: containers first, then images, as docker.
pub fn inspect(root: &Path, a: InspectArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut out = Vec::new();
    for t in &a.targets {
        match lookup::resolve(&store, t) {
            Ok(id) => out.push(ops::inspect_json(&ops::info(&store, &id)?)),
            Err(SupervisorError::NotFound(_)) if !replicas::members(&store, t).is_empty() => {
                for (_, id) in replicas::members(&store, t) {
                    out.push(ops::inspect_json(&ops::info(&store, &id)?));
                }
            }
            Err(SupervisorError::NotFound(_)) => match LocalImage::load(&store, t) {
                Ok(img) => out.push(image_json(&store, &img)?),
                Err(crate::image::local::ImageError::NotFound(_)) => {
                    bail!("no such container or image: {t}")
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

pub fn boot(root: &Path, _a: BootArgs) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    let store = open_store(root)?;
    let mut code = 0;
    for (name, r) in ops::boot(&store) {
        match r {
            Ok(()) => println!("started {name}"),
            Err(e) => {
                eprintln!("skiff: cannot start {name}: {e}");
                code = super::EXIT_SKIFF_ERROR;
            }
        }
    }
    Ok(code)
}

pub fn supervise(root: &Path, a: SuperviseArgs) -> Result<i32> {
    Ok(daemon::main(root, &a.id))
}

/// `skiff __probe ID TIMEOUT_MS -- CMD...`: one health check, started by
/// the container's supervisor.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    pub id: String,
    pub timeout_ms: u64,
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn probe(root: &Path, a: ProbeArgs) -> Result<i32> {
    Ok(crate::supervisor::probe::run_in_container(
        root,
        &a.id,
        std::time::Duration::from_millis(a.timeout_ms),
        &a.command,
    ))
}
