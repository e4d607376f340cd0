//! See what runs, end to end: `stats`, `top`, `events` and `metrics` over
//! real containers in a temporary store, `promtool check metrics` on the
//! exposition, and a real Prometheus on 127.0.0.1 scraping
//! `skiff metrics --listen`. Traffic goes to loopback only.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn inspect(s: &TestStore, c: &str) -> Value {
    let v: Value = serde_json::from_str(&s.ok(&["inspect", c])).expect("inspect json");
    v[0].clone()
}

fn exited(s: &TestStore, c: &str) -> bool {
    inspect(s, c)["State"]["Status"] == "exited"
}

/// A child process killed (and reaped) when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of the sample `name{...needle...}` in Prometheus text.
fn metric(text: &str, name: &str, needle: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(needle))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

fn promtool_check(text: &str) {
    assert!(
        have("promtool"),
        "promtool missing: install Debian's prometheus package (scripts/test.sh does)"
    );
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn events_json(s: &TestStore, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["events", "--no-follow", "--format", "json"];
    args.extend_from_slice(extra);
    s.ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect()
}

fn actions(evs: &[Value], name: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["Actor"]["Attributes"]["name"] == name)
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

/// A plain HTTP GET on loopback: (status line, headers+body).
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.lines().next().unwrap_or("").to_string();
    (status, text)
}

/// A Prometheus instant query through its HTTP API (Null if no answer).
fn prom_query(port: u16, promql: &str) -> Value {
    let enc: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return Value::Null;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "GET /api/v1/query?query={enc} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    if c.write_all(req.as_bytes()).is_err() {
        return Value::Null;
    }
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    // The body may be chunked: take the JSON object inside it.
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[test]
fn stats_top_and_metrics_read_running_containers() {
    let s = TestStore::new().with_busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "busybox:fixture",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "gone",
        "busybox:fixture",
        "sleep",
        "1000",
    ]);

    // --no-stream --format json: docker's fields, memory against the limit.
    let out = s.ok(&["stats", "--no-stream", "--format", "json", "busy"]);
    let v: Value = serde_json::from_str(out.trim()).expect("one json line");
    assert_eq!(v["Name"], "busy");
    assert!(v["MemUsage"].as_str().unwrap().ends_with(" / 64MiB"), "{v}");
    assert!(v["Raw"]["memory_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["Raw"]["pids"].as_u64().unwrap() >= 1, "{v}");
    // A busy loop: far more than 1 % of a core over the sampling window.
    assert!(v["Raw"]["cpu_percent"].as_f64().unwrap() > 1.0, "{v}");

    let table = s.ok(&["stats", "--no-stream"]);
    assert!(table.starts_with("CONTAINER ID   NAME"), "{table}");
    assert!(table.contains("MEM USAGE / LIMIT") && table.contains("BLOCK I/O"));
    assert!(
        table.contains(" busy ") && table.contains(" gone "),
        "{table}"
    );

    // Streaming into a pipe: plain tables, one per second, no escapes.
    let mut live = Killed(
        s.cmd()
            .args(["stats", "busy"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(live.0.stdout.take().unwrap()).lines();
    let mut headers = 0;
    let started = Instant::now();
    while headers < 2 && started.elapsed() < Duration::from_secs(15) {
        let l = lines.next().expect("a line").unwrap();
        assert!(!l.contains('\x1b'), "escape codes in a pipe: {l:?}");
        headers += usize::from(l.starts_with("CONTAINER ID"));
    }
    assert_eq!(headers, 2, "two frames");
    drop(live);
    // On a terminal (script(1) gives it one): each frame redraws in place.
    let tty = Command::new("timeout")
        .args(["3", "script", "-q", "-e", "-c"])
        .arg(format!(
            "{} --root {} stats busy",
            skiff_bin(),
            s.root().display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        screen.matches("\x1b[2J\x1b[H").count() >= 2,
        "no redraw on a terminal: {screen:?}"
    );

    let top = s.ok(&["top", "busy"]);
    assert!(top.starts_with("UID"), "{top}");
    assert!(top.contains("while true; do :; done"), "{top}");
    assert!(s.fails(&["top", "nope"], 125).contains("nope"));

    // The supervisor and the container of "gone" vanish without a word.
    let gone = inspect(&s, "gone");
    let pid = gone["State"]["Pid"].as_i64().unwrap();
    let sup = gone["State"]["SupervisorPid"].as_i64().unwrap();
    for p in [sup, pid] {
        let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
    }
    assert!(wait_until(Duration::from_secs(10), || inspect(&s, "gone")
        ["State"]["Status"]
        == "dead"));

    let text = s.ok(&["metrics"]);
    let busy = "name=\"busy\"";
    assert!(metric(&text, "container_memory_working_set_bytes", busy).unwrap() > 0.0);
    assert!(
        metric(&text, "container_memory_usage_bytes", busy).unwrap()
            >= metric(&text, "container_memory_working_set_bytes", busy).unwrap()
    );
    assert_eq!(
        metric(&text, "container_spec_memory_limit_bytes", busy),
        Some(67108864.0)
    );
    assert!(metric(&text, "container_cpu_usage_seconds_total", busy).unwrap() > 0.0);
    let start = metric(&text, "container_start_time_seconds", busy).unwrap();
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(start <= now && start > now - 600.0, "{start}");
    assert_eq!(
        metric(&text, "skiff_container_running", "name=\"gone\""),
        Some(0.0),
        "a dead container is reported, not scraped:\n{text}"
    );
    assert!(metric(&text, "container_memory_usage_bytes", "name=\"gone\"").is_none());
    promtool_check(&text);
    s.ok(&["rm", "-f", "busy", "gone"]);
}

#[test]
fn events_record_the_lifecycle_of_containers_and_images() {
    let s = TestStore::new().with_busybox();
    // A policy restart, then a final exit.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:1",
        "busybox:fixture",
        "sh",
        "-c",
        "sleep 0.2; exit 1",
    ]);
    // Out of memory: dd's 64 MiB buffer under a 16 MiB limit.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "hog",
        "-m",
        "16m",
        "busybox:fixture",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    // Foreground, removed afterwards.
    let o = s.run(&[
        "run",
        "--rm",
        "--name",
        "fg",
        "busybox:fixture",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3));
    s.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox:fixture",
        "sleep",
        "1000",
    ]);
    s.ok(&["stop", "-t", "1", "web"]);
    s.ok(&["rm", "web"]);
    s.ok(&["tag", "busybox:fixture", "app:v1"]);
    assert!(wait_until(Duration::from_secs(20), || exited(&s, "flaky")
        && exited(&s, "hog")));

    let evs = events_json(&s, &[]);
    assert_eq!(
        actions(&evs, "flaky"),
        ["create", "start", "die", "restart", "start", "die"]
    );
    assert_eq!(actions(&evs, "fg"), ["create", "start", "die", "destroy"]);
    assert_eq!(
        actions(&evs, "web"),
        ["create", "start", "die", "stop", "destroy"]
    );
    assert_eq!(actions(&evs, "hog"), ["create", "start", "oom", "die"]);
    let die = |name: &str| {
        evs.iter()
            .find(|e| e["Action"] == "die" && e["Actor"]["Attributes"]["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(die("fg")["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(die("flaky")["Actor"]["Attributes"]["exitCode"], "1");
    // docker's shape.
    let e = die("fg");
    assert_eq!(e["Type"], "container");
    assert_eq!(e["status"], "die");
    assert_eq!(e["from"], "busybox:fixture");
    assert_eq!(e["scope"], "local");
    assert!(e["timeNano"].as_i64().unwrap() / 1_000_000_000 == e["time"].as_i64().unwrap());
    assert!(evs.iter().any(|e| e["Type"] == "image"
        && e["Action"] == "tag"
        && e["Actor"]["Attributes"]["name"] == "app:v1"));

    // Filters: one key's values are alternatives, keys must all match.
    let f = events_json(
        &s,
        &["--filter", "container=flaky", "--filter", "event=die"],
    );
    assert_eq!(f.len(), 2);
    let f = events_json(&s, &["--filter", "event=oom", "--filter", "event=restart"]);
    assert_eq!(f.len(), 2);
    assert_eq!(
        events_json(&s, &["--filter", "type=image"]).len(),
        2,
        "import, tag"
    );
    assert_eq!(events_json(&s, &["--since", "1h"]).len(), evs.len());
    assert!(events_json(&s, &["--until", "1h"]).is_empty());
    let human = s.ok(&[
        "events",
        "--no-follow",
        "--filter",
        "container=fg",
        "--filter",
        "event=die",
    ]);
    assert!(
        human
            .trim_end()
            .ends_with("(exitCode=3, image=busybox:fixture, name=fg)"),
        "{human}"
    );
    assert!(s
        .fails(&["events", "--filter", "colour=red"], 125)
        .contains("colour=red"));
    assert!(s
        .fails(&["events", "--since", "yesterday"], 125)
        .contains("--since"));
}

#[test]
fn events_follow_runs_the_hook_and_stops_at_until() {
    let s = TestStore::new().with_busybox();
    let hook = s.root().join("hook.out");
    let until = (chrono::Utc::now() + chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cmd = format!(
        "cat >> {}; echo \"$SKIFF_EVENT_ACTION\" >> {}.env",
        hook.display(),
        hook.display()
    );
    let child = s
        .cmd()
        .args([
            "events", "--format", "json", "--until", &until, "--exec", &cmd,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["run", "--rm", "--name", "once", "busybox:fixture", "true"]);
    // It ends by itself at --until.
    assert!(
        wait_until(Duration::from_secs(20), || child
            .0
            .try_wait()
            .unwrap()
            .is_some()),
        "events --until did not stop"
    );
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Only what happened after it started (the import before is history).
    assert_eq!(actions(&got, "once"), ["create", "start", "die", "destroy"]);
    assert_eq!(got.len(), 4, "{out}");
    let hooked: Vec<Value> = std::fs::read_to_string(&hook)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(hooked, got);
    let env = std::fs::read_to_string(format!("{}.env", hook.display())).unwrap();
    assert_eq!(
        env.lines().collect::<Vec<_>>(),
        ["create", "start", "die", "destroy"]
    );
}

#[test]
fn deploy_outcomes_and_revisions_reach_the_metrics() {
    let s = TestStore::new().with_busybox();
    s.ok(&["tag", "busybox:fixture", "app:v1"]);
    s.ok(&["run", "-d", "--name", "a1", "app:v1", "sleep", "1000"]);
    s.ok(&["rollout", "app:v1"]);
    // Bad input is refused before anything is recorded.
    s.fails(&["rollback", "app:v1"], 125);
    s.fails(&["rollout", "nosuch:v1"], 125);
    // Revision 2: another image, so a1 is behind its tag.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nENV RELEASE=2\n",
    )
    .unwrap();
    s.ok(&["build", "-q", "-t", "app:v1", ctx.path().to_str().unwrap()]);
    let text = s.ok(&["metrics"]);
    assert_eq!(
        metric(&text, "skiff_tag_revision", "image=\"app:v1\""),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "skiff_container_revision", "name=\"a1\""),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "skiff_container_behind_tag", "name=\"a1\""),
        Some(1.0)
    );
    // The rollout replaces a1: a new container under a temporary name,
    // renamed once the old one is gone.
    s.ok(&["rollout", "-t", "1", "app:v1"]);
    let text = s.ok(&["metrics"]);
    assert_eq!(
        metric(&text, "skiff_container_revision", "name=\"a1\""),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "skiff_container_behind_tag", "name=\"a1\""),
        Some(0.0)
    );
    let evs = events_json(&s, &["--filter", "type=container"]);
    assert_eq!(actions(&evs, "a1.next"), ["create", "start"]);
    assert_eq!(
        actions(&evs, "a1"),
        ["create", "start", "die", "stop", "destroy", "rename"]
    );
    // Back to revision 1's image, the container with it.
    s.ok(&["rollback", "-t", "1", "app:v1"]);

    let evs = events_json(&s, &["--filter", "type=deploy"]);
    let got: Vec<(&str, &str)> = evs
        .iter()
        .map(|e| {
            (
                e["Action"].as_str().unwrap(),
                e["Actor"]["Attributes"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("rollout", "success"),
            ("rollout", "success"),
            ("rollback", "success")
        ]
    );
    assert_eq!(evs[2]["Actor"]["Attributes"]["revision"], "3");
    let text = s.ok(&["metrics"]);
    assert_eq!(
        metric(&text, "skiff_rollouts_total", "result=\"success\""),
        Some(2.0)
    );
    assert_eq!(
        metric(&text, "skiff_rollbacks_total", "result=\"success\""),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "skiff_tag_revision", "image=\"app:v1\""),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "skiff_container_revision", "name=\"a1\""),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "skiff_container_behind_tag", "name=\"a1\""),
        Some(0.0)
    );
    promtool_check(&text);
    s.ok(&["rm", "-f", "a1"]);
}

#[test]
fn prometheus_scrapes_metrics_listen() {
    assert!(
        have("prometheus"),
        "prometheus missing: install Debian's prometheus package (scripts/test.sh does)"
    );
    let s = TestStore::new().with_busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "prom",
        "-m",
        "32m",
        "busybox:fixture",
        "sleep",
        "1000",
    ]);

    let mut server = Killed(
        s.cmd()
            .args(["metrics", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(server.0.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches("/metrics").parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));

    let (status, body) = http_get(port, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(body.contains("container_memory_working_set_bytes{"));
    assert!(http_get(port, "/nope").0.contains("404"));
    // Hostile clients: an endless header, garbage, a client that leaves.
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(&vec![b'A'; 64 << 10]);
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"\xff\xfe\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(
        http_get(port, "/metrics").0.contains("200"),
        "still serving"
    );

    // The same port again: a clear error, exit 125.
    let err = s.fails(&["metrics", "--listen", &format!("127.0.0.1:{port}")], 125);
    assert!(err.contains("another process listens there"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: skiff\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let web = free_port();
    let _prom = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut last = Value::Null;
    let found = wait_until(Duration::from_secs(60), || {
        last = prom_query(web, "container_spec_memory_limit_bytes{name=\"prom\"}");
        last["data"]["result"][0]["value"][1] == "33554432"
    });
    assert!(
        found,
        "Prometheus never had the value; last answer:\n{last}"
    );

    // The Grafana dashboard: every query is valid PromQL over names skiff exports.
    let exported = s.ok(&["metrics"]);
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/grafana/skiff.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("container_") || word.starts_with("skiff_") {
                    assert!(
                        exported.contains(&format!("# TYPE {word} ")),
                        "dashboard panel {} uses {word}, which skiff does not export",
                        panel["title"]
                    );
                }
            }
            let q = expr
                .replace("$name", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "1h");
            let v = prom_query(web, &q);
            assert_eq!(v["status"], "success", "panel {}: {q}: {v}", panel["title"]);
            checked += 1;
        }
    }
    assert!(checked >= 10);
    s.ok(&["rm", "-f", "prom"]);
}

#[test]
fn health_changes_are_events_and_metrics() {
    let s = TestStore::new().with_busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "h",
        "--health-cmd",
        "test ! -e /tmp/sick",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox:fixture",
        "sleep",
        "1000",
    ]);
    let health = |s: &TestStore| -> Vec<String> {
        events_json(
            s,
            &["--filter", "container=h", "--filter", "event=health_status"],
        )
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
    };
    assert!(
        wait_until(Duration::from_secs(30), || health(&s)
            == ["health_status: healthy"]),
        "{:?}",
        health(&s)
    );
    let text = s.ok(&["metrics"]);
    let h = |status: &str| {
        metric(
            &text,
            "skiff_container_health_status",
            &format!("name=\"h\",status=\"{status}\""),
        )
    };
    assert_eq!((h("healthy"), h("unhealthy")), (Some(1.0), Some(0.0)));
    s.ok(&["exec", "h", "touch", "/tmp/sick"]);
    assert!(
        wait_until(Duration::from_secs(30), || health(&s)
            == ["health_status: healthy", "health_status: unhealthy"]),
        "{:?}",
        health(&s)
    );
    promtool_check(&s.ok(&["metrics"]));
    s.ok(&["rm", "-f", "h"]);
}
