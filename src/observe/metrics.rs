//! `skiff metrics`: the Prometheus text exposition (format 0.0.4) with
//! cAdvisor's names, as the kubelet exports them, so existing dashboards
//! work, plus skiff's own (`skiff_*`): restarts, the tag revision a
//! container runs against the tag's current one, and rollouts and
//! rollbacks by result, counted from the event log.
//!
//! A scrape reads state files, cgroup files and `/proc/<pid>/net/dev`:
//! no supervisor is asked anything. A container that vanishes mid-scrape
//! or a counter file that does not exist only leaves out those samples.

use super::cgroup::Host;
use super::events::{Line, Reader};
use super::netdev;
use super::stats;
use crate::store::Store;
use crate::supervisor::ops::{self, Info};
use crate::supervisor::state::Observed;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// Keeps what must survive between scrapes of `--listen`: where the event
/// log was read up to, and the deploy counts so far.
pub struct Collector {
    store: Store,
    host: Host,
    events: Reader,
    /// (metric, tag, result) → count
    deploys: BTreeMap<(&'static str, String, String), u64>,
}

/// One metric family being written: HELP and TYPE once, then samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out }
}

/// A label value with `\`, `"` and newlines escaped.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// What one container contributes to a scrape.
struct Row {
    info: Info,
    name: String,
    image: String,
    sample: Option<stats::Sample>,
}

impl Collector {
    pub fn new(store: &Store) -> Collector {
        Collector {
            store: store.clone(),
            host: Host::detect(),
            events: Reader::new(store).only_containing(b"\"Type\":\"deploy\""),
            deploys: BTreeMap::new(),
        }
    }

    fn read_deploys(&mut self) {
        let deploys = &mut self.deploys;
        self.events.read_new(&mut |l| {
            let Line::Event(e) = l else { return };
            let metric = match e.action.as_str() {
                "rollout" => "skiff_rollouts_total",
                "rollback" => "skiff_rollbacks_total",
                _ => return,
            };
            let tag = e.get("name").unwrap_or(&e.actor.id).to_string();
            let result = e.get("result").unwrap_or("unknown").to_string();
            *deploys.entry((metric, tag, result)).or_default() += 1;
        });
    }

    /// One scrape, as Prometheus text.
    pub fn render(&mut self) -> String {
        let started = std::time::Instant::now();
        self.read_deploys();
        let rows: Vec<Row> = ops::list(&self.store)
            .into_iter()
            .filter(|i| i.config.is_some())
            .map(|info| {
                let sample = stats::is_running(&info)
                    .then(|| stats::sample(&self.host, &info))
                    // Gone between the state file and its cgroup: no samples.
                    .filter(|s| !s.usage.is_empty());
                Row {
                    name: info.display_name(),
                    image: info.image_label(),
                    sample,
                    info,
                }
            })
            .collect();
        let mut out = String::with_capacity(256 + rows.len() * 1200);
        self.container_metrics(&mut out, &rows);
        self.skiff_metrics(&mut out, &rows);
        let mut f = family(
            &mut out,
            "skiff_scrape_duration_seconds",
            "gauge",
            "Time this scrape took to read the store and cgroup files.",
        );
        f.sample(
            "skiff_scrape_duration_seconds",
            &[],
            started.elapsed().as_secs_f64(),
        );
        out
    }

    fn container_metrics(&self, out: &mut String, rows: &[Row]) {
        let running: Vec<(&Row, &stats::Sample)> = rows
            .iter()
            .filter_map(|r| r.sample.as_ref().map(|s| (r, s)))
            .collect();
        let id_of = |r: &Row| format!("/{}/{}", crate::runtime::cgroups::PARENT, r.info.id);
        type Get = fn(&stats::Sample) -> Option<f64>;
        let gauges: [(&str, &str, &str, Get); 5] = [
            (
                "container_cpu_usage_seconds_total",
                "counter",
                "Cumulative cpu time consumed in seconds.",
                |s| s.usage.cpu_ns.map(|n| n as f64 / 1e9),
            ),
            (
                "container_memory_usage_bytes",
                "gauge",
                "Current memory usage in bytes, including all memory regardless of when it was accessed.",
                |s| s.usage.memory.map(|v| v as f64),
            ),
            (
                "container_memory_working_set_bytes",
                "gauge",
                "Current working set in bytes (usage minus inactive file cache).",
                |s| s.usage.working_set().map(|v| v as f64),
            ),
            (
                "container_spec_memory_limit_bytes",
                "gauge",
                "Memory limit for the container (0: none).",
                |s| Some(s.usage.memory_limit.unwrap_or(0) as f64),
            ),
            (
                "container_processes",
                "gauge",
                "Number of processes running inside the container.",
                |s| s.usage.pids.map(|v| v as f64),
            ),
        ];
        for (name, kind, help, get) in gauges {
            let mut f = family(out, name, kind, help);
            for (r, s) in &running {
                if let Some(v) = get(s) {
                    let id = id_of(r);
                    f.sample(
                        name,
                        &[("id", &id), ("image", &r.image), ("name", &r.name)],
                        v,
                    );
                }
            }
        }
        type Net = fn(&netdev::Iface) -> u64;
        let nets: [(&str, &str, Net); 2] = [
            (
                "container_network_receive_bytes_total",
                "Cumulative count of bytes received.",
                |i| i.rx_bytes,
            ),
            (
                "container_network_transmit_bytes_total",
                "Cumulative count of bytes transmitted.",
                |i| i.tx_bytes,
            ),
        ];
        for (name, help, get) in nets {
            let mut f = family(out, name, "counter", help);
            for (r, s) in &running {
                for iface in s.net.iter().flatten() {
                    let id = id_of(r);
                    f.sample(
                        name,
                        &[
                            ("id", &id),
                            ("image", &r.image),
                            ("interface", &iface.name),
                            ("name", &r.name),
                        ],
                        get(iface) as f64,
                    );
                }
            }
        }
        let mut f = family(
            out,
            "container_start_time_seconds",
            "gauge",
            "Start time of the container since unix epoch in seconds.",
        );
        for (r, _) in &running {
            let started = r
                .info
                .state
                .started_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if let Some(t) = started {
                let id = id_of(r);
                let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1e3;
                f.sample(
                    "container_start_time_seconds",
                    &[("id", &id), ("image", &r.image), ("name", &r.name)],
                    secs,
                );
            }
        }
    }

    fn skiff_metrics(&self, out: &mut String, rows: &[Row]) {
        let mut f = family(
            out,
            "skiff_container_running",
            "gauge",
            "1 if the container runs, 0 if it is created, restarting, exited or dead.",
        );
        for r in rows {
            let up = matches!(r.info.observed, Observed::Up { .. });
            f.sample(
                "skiff_container_running",
                &[
                    ("image", &r.image),
                    ("name", &r.name),
                    ("state", r.info.observed.word()),
                ],
                if up { 1.0 } else { 0.0 },
            );
        }
        let mut f = family(
            out,
            "skiff_container_health_status",
            "gauge",
            "1 for the container's health check status (starting, healthy, unhealthy), 0 for the others.",
        );
        for r in rows
            .iter()
            .filter(|r| matches!(r.info.observed, Observed::Up { .. }))
        {
            let Some(h) = &r.info.state.health else {
                continue;
            };
            for word in ["starting", "healthy", "unhealthy"] {
                f.sample(
                    "skiff_container_health_status",
                    &[("image", &r.image), ("name", &r.name), ("status", word)],
                    if h.status.word() == word { 1.0 } else { 0.0 },
                );
            }
        }
        let mut f = family(
            out,
            "skiff_container_restarts_total",
            "counter",
            "Restarts done by the restart policy since the container was last started by hand.",
        );
        for r in rows {
            f.sample(
                "skiff_container_restarts_total",
                &[("image", &r.image), ("name", &r.name)],
                f64::from(r.info.state.restart_count),
            );
        }
        // Revisions: what each container runs, and what its tag says now.
        // image label → the tag's current (revision, digest), read once.
        let mut current: HashMap<String, Option<(u64, String)>> = HashMap::new();
        let mut f = family(
            out,
            "skiff_container_revision",
            "gauge",
            "The tag revision the container's image was at when it was created.",
        );
        let mut behind = Vec::new();
        for r in rows {
            let Some(img) = r.info.config.as_ref().map(|c| &c.image) else {
                continue;
            };
            let (Some(n), Some(t), Some(rev)) = (&img.name, &img.tag, img.revision) else {
                continue;
            };
            f.sample(
                "skiff_container_revision",
                &[("image", &r.image), ("name", &r.name)],
                rev as f64,
            );
            let cur = current.entry(r.image.clone()).or_insert_with(|| {
                let revs = self.store.revisions(n, t).ok()?;
                let last = revs.last()?;
                // An untagged tag has no current image: nothing is behind it.
                Some((last.rev, last.digest.as_ref()?.to_string()))
            });
            if let Some((_, digest)) = cur {
                behind.push((r, *digest != img.digest));
            }
        }
        let mut f = family(
            out,
            "skiff_tag_revision",
            "gauge",
            "The current revision of each tag that containers were started from.",
        );
        let mut tags: Vec<(&String, u64)> = current
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|(rev, _)| (k, *rev)))
            .collect();
        tags.sort();
        for (image, rev) in tags {
            f.sample("skiff_tag_revision", &[("image", image)], rev as f64);
        }
        let mut f = family(
            out,
            "skiff_container_behind_tag",
            "gauge",
            "1 if the container runs another image than its tag's current one (`skiff rollout` moves it).",
        );
        for (r, is_behind) in behind {
            f.sample(
                "skiff_container_behind_tag",
                &[("image", &r.image), ("name", &r.name)],
                if is_behind { 1.0 } else { 0.0 },
            );
        }
        for (metric, help) in [
            (
                "skiff_rollouts_total",
                "Rollouts by tag and result, from the event log.",
            ),
            (
                "skiff_rollbacks_total",
                "Rollbacks by tag and result, from the event log.",
            ),
        ] {
            let mut f = family(out, metric, "counter", help);
            for ((m, tag, result), n) in &self.deploys {
                if *m == metric {
                    f.sample(metric, &[("image", tag), ("result", result)], *n as f64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_details() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        let mut out = String::new();
        family(&mut out, "x_total", "counter", "X.").sample("x_total", &[("name", "a")], 2.0);
        assert_eq!(
            out,
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{name=\"a\"} 2\n"
        );
    }

    #[test]
    fn counts_deploys_from_the_event_log_incrementally() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let ev = |action: &str, result: &str| {
            crate::store::events::Event::new("deploy", action, "api:latest")
                .attr("name", "api:latest")
                .attr("result", result)
        };
        store.append_event(&ev("rollout", "success")).unwrap();
        store.append_event(&ev("rollback", "failure")).unwrap();
        let mut c = Collector::new(&store);
        let text = c.render();
        assert!(text.contains("skiff_rollouts_total{image=\"api:latest\",result=\"success\"} 1"));
        assert!(text.contains("skiff_rollbacks_total{image=\"api:latest\",result=\"failure\"} 1"));
        store.append_event(&ev("rollout", "success")).unwrap();
        let text = c.render();
        assert!(text.contains("skiff_rollouts_total{image=\"api:latest\",result=\"success\"} 2"));
    }
}
