//! `skiff logs`: a container's log, a service's replicas interleaved, and
//! the logs of containers a rollout replaced.

use super::resolve;
use crate::cli::images::open_store;
use crate::supervisor::log::{self as logs, Entry, Follower};
use crate::supervisor::state::Observed;
use crate::supervisor::{log_archive, lookup, ops, replicas, SupervisorError};
use anyhow::{anyhow, Result};
use clap::Args;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

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

pub(super) fn revision_of(store: &crate::store::Store, id: &str) -> Option<u64> {
    ops::info(store, id)
        .ok()
        .and_then(|i| i.config.and_then(|c| c.image.revision))
}

/// The container that took over from `id` in a rollout: the one whose
/// config says it replaces `id`, else the one that now has `name`. A
/// removed container's name may be between owners for a moment.
pub(super) fn successor(
    store: &crate::store::Store,
    id: &str,
    name: Option<&str>,
) -> Option<String> {
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
pub(super) fn tail_and_since(
    a: &LogsArgs,
) -> Result<(Option<usize>, Option<chrono::DateTime<chrono::Utc>>)> {
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
pub(super) fn service_logs(
    store: &crate::store::Store,
    a: &LogsArgs,
    ids: &[String],
) -> Result<i32> {
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
    keep_last(&mut backlog, tail);
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
    keep_last(&mut backlog, tail);
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

/// `--tail N`: only the last `n` entries (all without `n`).
fn keep_last<T>(v: &mut Vec<T>, n: Option<usize>) {
    if let Some(n) = n {
        let drop = v.len().saturating_sub(n);
        v.drain(..drop);
    }
}
