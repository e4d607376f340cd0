//! See what runs: stats, top, events, metrics. They parse, call
//! `observe`, print.

use super::format::{print_table, table_string};
use super::images::{open_store, Format};
use crate::observe::cgroup::{self, Host};
use crate::observe::events::{self, Filter, Line, Reader};
use crate::observe::{metrics, serve, stats, top};
use crate::store::events::Event;
use crate::store::Store;
use crate::supervisor::log::parse_since;
use crate::supervisor::{lookup, ops};
use anyhow::{anyhow, bail, Result};
use clap::Args;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

/// Between the two reads that give CPU % for `--no-stream` (and the first
/// frame of the live table).
const FIRST_WINDOW: Duration = Duration::from_millis(200);
const REFRESH: Duration = Duration::from_secs(1);
const FOLLOW_POLL: Duration = Duration::from_millis(100);

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default: those that run)
    #[arg(short, long)]
    pub all: bool,
    /// Print one table and exit (default: refresh every second)
    #[arg(long)]
    pub no_stream: bool,
    /// Show full container ids (table and JSON)
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format (json: one object a line per container)
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Containers (default: all that run)
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    /// Container name or id
    pub container: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show events since a time (RFC 3339) or a duration ago (10m, 1h30m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stop at a time (RFC 3339) or a duration ago
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Filter: container=NAME|ID, type=container|image|deploy, event=ACTION, image=NAME (repeatable)
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output format (json: docker's event objects, one a line)
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Print the events logged so far and exit (default: follow until Ctrl-C)
    #[arg(long)]
    pub no_follow: bool,
    /// Run CMD (with sh -c) for each event, the event as JSON on its stdin
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
}

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// Serve /metrics over HTTP on ADDR (127.0.0.1:9323) instead of printing once
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// The containers `stats` shows now: those named, else those that run.
fn stats_targets(store: &Store, ids: &Option<Vec<String>>, all: bool) -> Vec<ops::Info> {
    match ids {
        Some(ids) => ids
            .iter()
            .filter_map(|id| ops::info(store, id).ok())
            .collect(),
        None if all => ops::list(store),
        None => stats::running(store),
    }
}

/// Write one frame; false once stdout is closed.
fn write_frame(out: &mut impl Write, text: &str) -> bool {
    out.write_all(text.as_bytes()).is_ok() && out.flush().is_ok()
}

pub fn stats(root: &Path, a: StatsArgs) -> Result<i32> {
    let store = open_store(root)?;
    let ids = if a.containers.is_empty() {
        None
    } else {
        Some(
            a.containers
                .iter()
                .map(|c| Ok(lookup::resolve(&store, c)?))
                .collect::<Result<Vec<String>>>()?,
        )
    };
    let host = Host::detect();
    let host_memory = cgroup::host_memory();
    let tty = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut prev: HashMap<String, stats::Sample> = stats_targets(&store, &ids, a.all)
        .iter()
        .map(|i| (i.id.clone(), stats::sample(&host, i)))
        .collect();
    let mut wait = FIRST_WINDOW;
    loop {
        std::thread::sleep(wait);
        wait = REFRESH;
        let now: Vec<stats::Sample> = stats_targets(&store, &ids, a.all)
            .iter()
            .map(|i| stats::sample(&host, i))
            .collect();
        let rows: Vec<stats::Stats> = now
            .iter()
            .map(|s| stats::compute(prev.get(&s.id), s, host_memory))
            .collect();
        let frame = match a.format {
            Format::Json => rows
                .iter()
                .map(|r| r.json(a.no_trunc).to_string() + "\n")
                .collect::<String>(),
            Format::Table => {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let mut row = r.row();
                        if a.no_trunc {
                            row[0] = r.id.clone();
                        }
                        row
                    })
                    .collect();
                let t = table_string(&stats::HEADER, &table);
                // A terminal gets the table redrawn in place.
                if tty && !a.no_stream {
                    format!("\x1b[2J\x1b[H{t}")
                } else {
                    t
                }
            }
        };
        if !write_frame(&mut out, &frame) || a.no_stream {
            return Ok(0);
        }
        prev = now.into_iter().map(|s| (s.id.clone(), s)).collect();
    }
}

pub fn top(root: &Path, a: TopArgs) -> Result<i32> {
    let store = open_store(root)?;
    let id = lookup::resolve(&store, &a.container)?;
    let info = ops::info(&store, &id)?;
    if !stats::is_running(&info) {
        bail!("container {} is not running", a.container);
    }
    let pids = Host::detect().pids(&id);
    let rows: Vec<Vec<String>> = top::processes(&pids).iter().map(|p| p.row()).collect();
    print_table(&top::HEADER, &rows);
    Ok(0)
}

fn parse_time(flag: &str, s: &Option<String>) -> Result<Option<i64>> {
    match s {
        None => Ok(None),
        Some(s) => {
            let t = parse_since(s, chrono::Utc::now()).ok_or_else(|| {
                anyhow!(
                    "invalid {flag} {s:?}: use RFC 3339 (2026-05-01T10:00:00Z), a Unix time or a duration ago (10m)"
                )
            })?;
            Ok(Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)))
        }
    }
}

/// `--exec`: run `cmd` with the event on stdin; failures are warnings.
fn run_hook(cmd: &str, e: &Event, json: &str) {
    let child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("SKIFF_EVENT_TYPE", &e.kind)
        .env("SKIFF_EVENT_ACTION", &e.action)
        .env("SKIFF_EVENT_ID", &e.actor.id)
        .stdin(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(err) => {
            eprintln!("skiff: warning: cannot run --exec {cmd:?}: {err}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(json.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    match child.wait() {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!(
            "skiff: warning: --exec {cmd:?} failed ({s}) for event {} {}",
            e.kind, e.action
        ),
        Err(err) => eprintln!("skiff: warning: --exec {cmd:?}: {err}"),
    }
}

pub fn events(root: &Path, a: EventsArgs) -> Result<i32> {
    let store = open_store(root)?;
    let filter = Filter::parse(&a.filter).map_err(|e| anyhow!(e))?;
    let since = parse_time("--since", &a.since)?;
    let until = parse_time("--until", &a.until)?;
    let now = || chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
    let follow = !a.no_follow && until.is_none_or(|u| u > now());
    let mut reader = Reader::new(&store);
    // As docker: following without --since shows only what happens next.
    if follow && since.is_none() {
        reader.skip_to_end();
    }
    let mut out = std::io::stdout().lock();
    let closed = std::cell::Cell::new(false);
    let mut on_line = |l: Line| {
        let e = match l {
            Line::Event(e) => e,
            Line::Corrupt(why) => {
                eprintln!("skiff: warning: skipped a corrupt event: {why}");
                return;
            }
        };
        if closed.get()
            || since.is_some_and(|s| e.time_nano < s)
            || until.is_some_and(|u| e.time_nano > u)
            || !filter.matches(&e)
        {
            return;
        }
        let json = serde_json::to_string(&e).unwrap_or_default();
        let text = match a.format {
            Format::Json => json.clone(),
            Format::Table => events::human(&e),
        };
        closed.set(writeln!(out, "{text}").and_then(|()| out.flush()).is_err());
        if let Some(cmd) = &a.exec {
            run_hook(cmd, &e, &json);
        }
    };
    reader.read_new(&mut on_line);
    if !follow {
        return Ok(0);
    }
    loop {
        std::thread::sleep(FOLLOW_POLL);
        reader.read_new(&mut on_line);
        if closed.get() || until.is_some_and(|u| now() > u) {
            return Ok(0);
        }
    }
}

pub fn metrics(root: &Path, a: MetricsArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut collector = metrics::Collector::new(&store);
    match &a.listen {
        None => {
            let text = collector.render();
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            Ok(0)
        }
        Some(addr) => {
            let listener = serve::bind(addr)?;
            let local = listener.local_addr()?;
            eprintln!("skiff: serving metrics on http://{local}/metrics");
            serve::serve(listener, &mut collector)
        }
    }
}
