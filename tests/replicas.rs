//! `run --replicas`: several containers behind one published port, and the
//! commands that act on the whole service. Real containers, ports on
//! 127.0.0.1 only (free ones), bounded request loops.

mod common;

use common::{free_port, http_get_body, TestStore};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn busybox() -> TestStore {
    TestStore::new().with_busybox()
}

/// Build `tag` from a Dockerfile text over busybox:fixture.
fn build(s: &TestStore, tag: &str, dockerfile: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    s.ok(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()]);
}

/// A web server that answers with its host name (the replica's short id).
fn web(s: &TestStore) {
    build(
        s,
        "web:1",
        "FROM busybox:fixture\n\
         CMD [\"sh\", \"-c\", \"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n",
    );
}

fn inspect(s: &TestStore, c: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&s.ok(&["inspect", c])).unwrap();
    v.as_array().cloned().unwrap_or_default()
}

/// Short id (the host name) of container `c`.
fn host_of(s: &TestStore, c: &str) -> String {
    inspect(s, c)[0]["Id"].as_str().unwrap()[..12].to_string()
}

/// GET / : the body, or why it failed.
fn get(port: u16) -> Result<String, String> {
    http_get_body(port, Duration::from_secs(15))
}

/// `n` requests, one after the other: who answered how often. Every
/// request must succeed.
fn spread(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for i in 0..n {
        let body = get(port).unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        *seen.entry(body).or_insert(0) += 1;
    }
    seen
}

/// Wait until `n` requests in a row are answered by exactly `hosts`.
fn wait_spread(port: u16, hosts: usize) -> BTreeMap<String, usize> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = spread(port, 40);
        if seen.len() == hosts || Instant::now() > until {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn names(s: &TestStore) -> Vec<String> {
    let v: Value = serde_json::from_str(&s.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    n.sort();
    n
}

#[test]
fn bad_replica_counts_and_names_are_refused_and_create_nothing() {
    let s = busybox();
    for (args, want) in [
        (vec!["--replicas", "0"], "from 1 to 256"),
        (vec!["--replicas", "10000"], "from 1 to 256"),
        (vec!["--replicas", "two"], "from 1 to 256"),
    ] {
        let mut a = vec!["run", "-d", "--name", "api"];
        a.extend(args);
        a.extend(["busybox:fixture", "sleep", "30"]);
        let e = s.fails(&a, 125);
        assert!(e.contains(want), "{a:?}: {e}");
    }
    let e = s.fails(
        &[
            "run",
            "--replicas",
            "2",
            "--name",
            "api",
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(e.contains("needs -d"), "{e}");
    let e = s.fails(
        &["run", "-d", "--replicas", "2", "busybox:fixture", "true"],
        125,
    );
    assert!(e.contains("needs --name"), "{e}");
    let e = s.fails(
        &[
            "run",
            "-d",
            "--replicas",
            "2",
            "--name",
            "api.1",
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(e.contains("name of a replica"), "{e}");
    assert!(names(&s).is_empty(), "nothing was created");

    // A service name in use, and a scale of an unknown name.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    let e = s.fails(
        &[
            "run",
            "-d",
            "--replicas",
            "2",
            "--name",
            "api",
            "busybox:fixture",
            "sleep",
            "30",
        ],
        125,
    );
    assert!(e.contains("already in use"), "{e}");
    assert_eq!(names(&s), vec!["api"]);
    s.ok(&["rm", "-f", "api"]);

    // A replica that cannot start: all or nothing.
    let e = s.fails(
        &[
            "run",
            "-d",
            "--replicas",
            "2",
            "--name",
            "api",
            "busybox:fixture",
            "/nope",
        ],
        127,
    );
    assert!(e.contains("api.1"), "{e}");
    assert!(names(&s).is_empty(), "{:?}", names(&s));
}

#[test]
fn replicas_share_one_port_and_an_unhealthy_or_crashed_one_gets_nothing() {
    let s = busybox();
    web(&s);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let out = s.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--replicas",
        "3",
        "--restart",
        "always",
        "-m",
        "64m",
        "--health-cmd",
        "test ! -f /tmp/sick",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "-p",
        &publish,
        "web:1",
    ]);
    assert_eq!(out.lines().count(), 3, "one id per replica: {out}");
    assert_eq!(names(&s), vec!["api.1", "api.2", "api.3"]);
    let hosts: Vec<String> = ["api.1", "api.2", "api.3"]
        .iter()
        .map(|c| host_of(&s, c))
        .collect();
    // Each replica is its own container with the options given.
    for c in ["api.1", "api.2", "api.3"] {
        let i = &inspect(&s, c)[0];
        assert_eq!(i["RestartPolicy"], "always", "{c}");
        assert_eq!(i["Options"]["memory"], "64m", "{c}");
        assert_eq!(i["Ports"][0], format!("127.0.0.1:{port}->8080/tcp"));
    }

    // One port, every ready replica answers.
    let seen = wait_spread(port, 3);
    assert_eq!(seen.len(), 3, "all three replicas serve: {seen:?}");
    for h in seen.keys() {
        assert!(hosts.contains(h), "{h} is not a replica ({hosts:?})");
    }

    // An unhealthy replica gets no new connections; the others serve.
    s.ok(&["exec", "api.2", "touch", "/tmp/sick"]);
    let until = Instant::now() + Duration::from_secs(20);
    while !s.ok(&["ps"]).contains("(unhealthy)") {
        assert!(Instant::now() < until, "api.2 never turned unhealthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = spread(port, 60);
    assert!(
        !seen.contains_key(&hosts[1]),
        "the unhealthy one served: {seen:?}"
    );
    assert_eq!(seen.len(), 2, "{seen:?}");
    // Healthy again: it is back in.
    s.ok(&["exec", "api.2", "rm", "/tmp/sick"]);
    let seen = wait_spread(port, 3);
    assert!(seen.contains_key(&hosts[1]), "back after healthy: {seen:?}");

    // A crashed replica (kill -9 of its program): no request fails, the
    // others answer while its supervisor restarts it.
    let pid = inspect(&s, "api.3")[0]["State"]["Pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // (A connection its supervisor accepted in the instant before it saw
    // the crash shares the crash; from then on it takes none.)
    std::thread::sleep(Duration::from_millis(100));
    let seen = spread(port, 60);
    assert!(seen.len() >= 2, "{seen:?}");
    let seen = wait_spread(port, 3);
    assert!(seen.contains_key(&hosts[2]), "api.3 is back: {seen:?}");

    // A replica's supervisor killed: the shared port stays with the others.
    let sup = inspect(&s, "api.1")[0]["State"]["SupervisorPid"].as_i64();
    if let Some(sup) = sup {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(sup as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let seen = spread(port, 40);
        assert!(!seen.contains_key(&hosts[0]), "{seen:?}");
    }
    s.ok(&["rm", "-f", "api"]);
    assert!(names(&s).is_empty());
}

#[test]
fn a_service_is_stopped_started_logged_and_removed_as_one() {
    let s = busybox();
    web(&s);
    let port = start_api(&s, "web:1", 2, &[]);
    for c in ["api.1", "api.2"] {
        s.ok(&[
            "exec",
            c,
            "sh",
            "-c",
            "echo hello from $(hostname) > /proc/1/fd/1",
        ]);
    }
    // ps: one line per replica, with its status.
    let ps = s.ok(&["ps"]);
    for c in ["api.1", "api.2"] {
        assert!(
            ps.lines().any(|l| l.contains(c) && l.contains("Up")),
            "{ps}"
        );
    }
    // logs: all replicas, prefixed; or one.
    let logs = s.ok(&["logs", "api"]);
    for c in ["api.1", "api.2"] {
        assert!(
            logs.contains(&format!("{c} | hello from {}", host_of(&s, c))),
            "{logs}"
        );
    }
    let one = s.ok(&["logs", "api.2"]);
    assert!(
        one.contains(&format!("hello from {}", host_of(&s, "api.2"))),
        "{one}"
    );
    assert!(!one.contains(&host_of(&s, "api.1")), "{one}");
    // inspect: every replica.
    assert_eq!(inspect(&s, "api").len(), 2);
    // One replica stopped and started again: it shares the port again.
    s.ok(&["stop", "-t", "1", "api.1"]);
    let seen = spread(port, 20);
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec![&host_of(&s, "api.2")]);
    s.ok(&["start", "api.1"]);
    assert_eq!(wait_spread(port, 2).len(), 2, "api.1 is back on the port");
    // stop, start, restart the whole service.
    s.ok(&["stop", "-t", "1", "api"]);
    let ps = s.ok(&["ps", "-a"]);
    assert_eq!(
        ps.lines().filter(|l| l.contains("Exited")).count(),
        2,
        "{ps}"
    );
    assert!(get(port).is_err(), "nothing listens once stopped");
    s.ok(&["start", "api"]);
    assert_eq!(wait_spread(port, 2).len(), 2, "both serve after start");
    s.ok(&["restart", "-t", "1", "api"]);
    assert_eq!(wait_spread(port, 2).len(), 2, "both serve after restart");
    s.ok(&["rm", "-f", "api"]);
    assert!(names(&s).is_empty());
    s.fails(&["rm", "-f", "api"], 125);
}

/// A steady request loop in a thread (one GET every ~5 ms) until stopped:
/// every answer, in order.
struct Hammer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Result<String, String>>>,
}

impl Hammer {
    fn start(port: u16) -> Hammer {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            // Bounded: stops by itself after 2 minutes.
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                out.push(get(port));
                std::thread::sleep(Duration::from_millis(5));
            }
            out
        });
        Hammer { stop, thread }
    }

    fn finish(self) -> Vec<Result<String, String>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn no_failures(what: &str, answers: &[Result<String, String>]) {
    let failed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(answers.len() > 10, "{what}: too few requests");
}

#[test]
fn scale_up_and_down_without_a_failed_request() {
    let s = busybox();
    web(&s);
    let port = start_api(&s, "web:1", 2, &[]);

    let h = Hammer::start(port);
    std::thread::sleep(Duration::from_millis(200));
    let out = s.ok(&["scale", "api=4"]);
    std::thread::sleep(Duration::from_millis(200));
    no_failures("scale up", &h.finish());
    assert!(
        out.contains("api.3 started") && out.contains("api.4 started"),
        "{out}"
    );
    assert_eq!(names(&s), vec!["api.1", "api.2", "api.3", "api.4"]);
    let i = &inspect(&s, "api.4")[0];
    assert_eq!(i["Ports"][0], format!("127.0.0.1:{port}->8080/tcp"));
    assert_eq!(
        i["Image"]["digest"],
        inspect(&s, "api.1")[0]["Image"]["digest"]
    );
    assert_eq!(wait_spread(port, 4).len(), 4, "the new ones serve");

    let h = Hammer::start(port);
    std::thread::sleep(Duration::from_millis(200));
    let out = s.ok(&["scale", "-t", "2", "api=1"]);
    std::thread::sleep(Duration::from_millis(200));
    no_failures("scale down", &h.finish());
    assert!(out.contains("api.4 drained and removed"), "{out}");
    assert_eq!(names(&s), vec!["api.1"]);
    let seen = spread(port, 20);
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec![&host_of(&s, "api.1")]);

    let e = s.fails(&["scale", "nope=2"], 125);
    assert!(e.contains("no service named"), "{e}");
    let e = s.fails(&["scale", "api=0"], 125);
    assert!(e.contains("from 1 to 256"), "{e}");
    let e = s.fails(&["scale", "api"], 125);
    assert!(e.contains("SERVICE=N"), "{e}");
    s.ok(&["rm", "-f", "api"]);
}

/// `web:latest` answering `<version> <host name>`, healthy until
/// /tmp/bad exists; `bad_after` seconds after start it makes it.
fn web_version(s: &TestStore, version: &str, bad_after: Option<u32>) {
    let sick = bad_after
        .map(|n| format!("(sleep {n}; touch /tmp/bad) & "))
        .unwrap_or_default();
    build(
        s,
        "web",
        &format!(
            "FROM busybox:fixture\n\
             HEALTHCHECK --interval=200ms --retries=1 CMD test ! -f /tmp/bad\n\
             CMD [\"sh\", \"-c\", \"{sick}mkdir -p /www && echo {version} $(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n"
        ),
    );
}

fn versions(answers: &[Result<String, String>]) -> Vec<String> {
    let mut v: Vec<String> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok())
        .filter_map(|b| b.split_whitespace().next().map(str::to_string))
        .collect();
    v.dedup();
    v
}

#[test]
fn a_rollout_of_replicas_goes_k_at_a_time_without_a_failed_request() {
    let s = busybox();
    web_version(&s, "v1", None);
    let port = start_api(&s, "web", 4, &[]);
    web_version(&s, "v2", None);
    let h = Hammer::start(port);
    std::thread::sleep(Duration::from_millis(200));
    let out = s.ok(&["rollout", "web", "-t", "2", "--parallel", "2"]);
    std::thread::sleep(Duration::from_millis(200));
    let answers = h.finish();
    no_failures("rollout", &answers);
    assert!(out.contains("4 replaced"), "{out}");
    // Two at a time: two starts, their two switches, then the next two.
    let kinds: Vec<char> = out
        .lines()
        .filter_map(|l| {
            if l.contains("starting the new container") {
                Some('s')
            } else if l.contains("no downtime") {
                Some('d')
            } else {
                None
            }
        })
        .collect();
    assert_eq!(kinds.iter().collect::<String>(), "ssddssdd", "{out}");
    let v = versions(&answers);
    assert_eq!(v.first().map(String::as_str), Some("v1"), "{v:?}");
    assert_eq!(v.last().map(String::as_str), Some("v2"), "{v:?}");
    // Every replica keeps its name and options, on the new revision.
    assert_eq!(names(&s), vec!["api.1", "api.2", "api.3", "api.4"]);
    for i in inspect(&s, "api") {
        assert_eq!(i["Image"]["revision"], 2, "{}", i["Name"]);
        assert_eq!(i["Options"]["service"], "api");
    }
    let seen = wait_spread(port, 4);
    assert!(seen.keys().all(|k| k.starts_with("v2 ")), "{seen:?}");
    // The service still scales after a rollout.
    s.ok(&["scale", "api=2"]);
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    s.fails(&["rollout", "web", "--parallel", "0"], 125);
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_revision_that_turns_unhealthy_in_the_monitor_window_is_rolled_back() {
    let s = busybox();
    web_version(&s, "v1", None);
    let port = start_api(&s, "web", 2, &[]);
    // v2 is healthy at first (the rollout switches to it), then not.
    web_version(&s, "v2", Some(2));
    let h = Hammer::start(port);
    let e = s.fails(&["rollout", "web", "-t", "1", "--monitor", "20s"], 125);
    std::thread::sleep(Duration::from_millis(300));
    let answers = h.finish();
    assert!(
        e.contains("turned unhealthy") && e.contains("rolled back"),
        "{e}"
    );
    no_failures("rollout and automatic rollback", &answers);
    // The tag says which revision serves: a rollback revision to rev 1.
    let revs: Value =
        serde_json::from_str(&s.ok(&["revisions", "web", "--format", "json"])).unwrap();
    assert_eq!(revs[0]["reason"], "rollback", "{revs:#}");
    assert_eq!(revs[0]["to"], 1, "{revs:#}");
    let seen = wait_spread(port, 2);
    assert!(seen.keys().all(|k| k.starts_with("v1 ")), "{seen:?}");
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_canary_waits_for_promote_or_abort() {
    let s = busybox();
    web_version(&s, "v1", None);
    let port = start_api(&s, "web", 3, &[]);
    let revision_of = |s: &TestStore| -> Vec<i64> {
        let mut v: Vec<i64> = inspect(s, "api")
            .iter()
            .map(|i| i["Image"]["revision"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };

    web_version(&s, "v2", None);
    let out = s.ok(&["rollout", "web", "--canary", "1", "-t", "1"]);
    assert!(out.contains("2 left on the previous revision"), "{out}");
    assert_eq!(revision_of(&s), vec![1, 1, 2]);
    let seen = wait_spread(port, 3);
    let v2 = seen.keys().filter(|k| k.starts_with("v2 ")).count();
    assert_eq!(v2, 1, "one canary serves: {seen:?}");

    // --abort: the canary goes back, and the tag with it.
    let h = Hammer::start(port);
    let out = s.ok(&["rollout", "web", "--abort", "-t", "1"]);
    no_failures("abort", &h.finish());
    assert!(out.contains("canary aborted"), "{out}");
    let revs: Value =
        serde_json::from_str(&s.ok(&["revisions", "web", "--format", "json"])).unwrap();
    assert_eq!(
        (&revs[0]["reason"], &revs[0]["to"]),
        (&"rollback".into(), &1.into())
    );
    let seen = wait_spread(port, 3);
    assert!(seen.keys().all(|k| k.starts_with("v1 ")), "{seen:?}");
    let e = s.fails(&["rollout", "web", "--abort"], 125);
    assert!(e.contains("no canary"), "{e}");

    // A new canary, then --promote: every replica moves.
    web_version(&s, "v3", None);
    s.ok(&["rollout", "web", "--canary", "1", "-t", "1"]);
    let h = Hammer::start(port);
    let out = s.ok(&["rollout", "web", "--promote", "-t", "1"]);
    no_failures("promote", &h.finish());
    assert!(out.contains("2 replaced, 1 already on it"), "{out}");
    let seen = wait_spread(port, 3);
    assert!(seen.keys().all(|k| k.starts_with("v3 ")), "{seen:?}");
    s.fails(&["rollout", "web", "--canary", "0"], 125);
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_monitor_window_cut_by_a_kill_is_finished_by_the_next_command() {
    let s = busybox();
    web_version(&s, "v1", None);
    let port = start_api(&s, "web", 2, &[]);
    web_version(&s, "v2", Some(4));
    let mut child = s
        .cmd()
        .args(["rollout", "web", "-t", "1", "--monitor", "30s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed while it watches the new revision.
    let record = s.root().join("deploy/web/:latest.monitor.json");
    let until = Instant::now() + Duration::from_secs(30);
    while !record.exists() {
        assert!(Instant::now() < until, "the rollout never started watching");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let seen = wait_spread(port, 2);
    assert!(seen.keys().all(|k| k.starts_with("v2 ")), "{seen:?}");

    // The next command watches the rest of the window and rolls back.
    let h = Hammer::start(port);
    let e = s.fails(&["rollout", "web", "-t", "1"], 125);
    let answers = h.finish();
    assert!(
        e.contains("turned unhealthy") && e.contains("rolled back"),
        "{e}"
    );
    no_failures("rollback after a killed monitor", &answers);
    assert!(!record.exists());
    let seen = wait_spread(port, 2);
    assert!(seen.keys().all(|k| k.starts_with("v1 ")), "{seen:?}");
    let revs: Value =
        serde_json::from_str(&s.ok(&["revisions", "web", "--format", "json"])).unwrap();
    assert_eq!(revs[0]["reason"], "rollback", "{revs:#}");
    s.ok(&["rm", "-f", "api"]);
}

/// A replica server (answers its host name) that is ready 2 s after it
/// starts: its health check passes once /tmp/up exists.
fn slow_web(s: &TestStore) {
    build(
        s,
        "slow:1",
        "FROM busybox:fixture\n\
         CMD [\"sh\", \"-c\", \"mkdir -p /www; hostname > /www/index.html; \
         (sleep 2; touch /tmp/up) & exec httpd -f -p 8080 -h /www\"]\n",
    );
}

fn slow_args(publish: &str) -> Vec<String> {
    [
        "--health-cmd",
        "test -e /tmp/up",
        "--health-interval",
        "200ms",
        "--health-start-period",
        "10s",
        "-p",
        publish,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn output(c: std::process::Child) -> (bool, String, String) {
    let o = c.wait_with_output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_scale_run_replicas_and_scale_of_one_service_at_once_wait_for_each_other() {
    let s = busybox();
    slow_web(&s);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let mut run = vec!["run", "-d", "--name", "api", "--replicas", "1"];
    let extra = slow_args(&publish);
    run.extend(extra.iter().map(String::as_str));
    run.push("slow:1");
    s.ok(&run);
    let piped = |args: &[&str]| {
        s.cmd()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Two new replicas, each ready after 2 s: the first scale holds the
    // deploy lock for 4 s or more.
    let up = piped(&["scale", "api=3"]);
    // Once api.2 exists, the first scale holds the lock.
    let until = Instant::now() + Duration::from_secs(30);
    while !names(&s).contains(&"api.2".to_string()) {
        assert!(Instant::now() < until, "scale api=3 made no api.2");
        std::thread::sleep(Duration::from_millis(20));
    }
    let down = piped(&["scale", "-t", "2", "api=1"]);
    let mut again = vec!["run", "-d", "--name", "api", "--replicas", "2"];
    again.extend(extra.iter().map(String::as_str));
    again.push("slow:1");
    let rerun = piped(&again);
    let (ok, out, err) = output(up);
    assert!(ok && out.contains("api.3 started"), "{out}{err}");
    let (ok, out, err) = output(down);
    assert!(ok, "{out}{err}");
    assert!(err.contains("waiting for lock"), "scale waited: {err}");
    assert!(
        out.contains("api.3 drained and removed") && out.contains("api.2 drained and removed"),
        "{out}"
    );
    // The second run --replicas waited too, then found the name taken.
    let (ok, out, err) = output(rerun);
    assert!(!ok, "{out}");
    assert!(err.contains("waiting for lock"), "run waited: {err}");
    assert!(err.contains("already in use"), "{err}");
    assert_eq!(names(&s), vec!["api.1"]);
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_scale_killed_while_draining_is_finished_by_the_next_one() {
    let s = busybox();
    // The program ignores SIGTERM: a drain waits for its stop timeout.
    build(
        &s,
        "stubborn:1",
        "FROM busybox:fixture\n\
         CMD [\"sh\", \"-c\", \"mkdir -p /www && hostname > /www/index.html && \
         trap '' TERM && exec httpd -f -p 8080 -h /www\"]\n",
    );
    let port = start_api(&s, "stubborn:1", 2, &[]);
    let old2 = host_of(&s, "api.2");
    let mut scale = s
        .cmd()
        .args(["scale", "-t", "60", "api=1"])
        .spawn()
        .unwrap();
    // Past its StopAccepting (api.2 answers no more) and into the 60 s
    // stop: kill -9 the command.
    let until = Instant::now() + Duration::from_secs(30);
    while spread(port, 20).len() != 1 {
        assert!(Instant::now() < until, "api.2 was never drained");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(scale.try_wait().unwrap().is_none(), "scale ended early");
    scale.kill().unwrap();
    scale.wait().unwrap();
    // Left half done: api.2 still runs but takes no connections.
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    let seen = spread(port, 20);
    assert_eq!(seen.keys().collect::<Vec<_>>(), vec![&host_of(&s, "api.1")]);
    // The next scale first finishes the killed one (api.2 drained and
    // removed), then makes a new api.2 that serves.
    let out = s
        .cmd()
        .args(["scale", "-t", "1", "api=2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("killed scale api=1 was finished"), "{err}");
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    assert_ne!(host_of(&s, "api.2"), old2, "api.2 was made again");
    assert_eq!(wait_spread(port, 2).len(), 2, "both serve");
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_run_replicas_killed_halfway_is_undone_by_the_next_one() {
    let s = busybox();
    web(&s);
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let args = |n: &'static str| {
        vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            "api".into(),
            "--replicas".into(),
            n.into(),
            "-p".into(),
            publish.clone(),
            "web:1".into(),
        ]
    };
    let mut run = s
        .cmd()
        .args(args("8"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill -9 once the first replica exists, before the eighth.
    let containers = s.root().join("containers");
    let count = || {
        std::fs::read_dir(&containers)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("config.json").exists())
                    .count()
            })
            .unwrap_or(0)
    };
    let until = Instant::now() + Duration::from_secs(30);
    while count() < 1 {
        assert!(Instant::now() < until, "no replica was made");
        std::thread::sleep(Duration::from_millis(5));
    }
    run.kill().unwrap();
    run.wait().unwrap();
    let made = names(&s).len();
    assert!((1..8).contains(&made), "killed halfway: {made} made");
    // The same command again: the killed one is undone first.
    let out = s.cmd().args(args("2")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("was undone"), "{err}");
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    assert_eq!(wait_spread(port, 2).len(), 2);
    s.ok(&["rm", "-f", "api"]);
}

/// `web:latest` answering `<version> <host name>`; with `dies_after`, its
/// program exits with code 3 that many seconds after it starts (0: at
/// once, before it serves: a crash loop under --restart always).
fn web_dying(s: &TestStore, version: &str, dies_after: Option<u32>) {
    let end = match dies_after {
        None => "exec sleep 3600".to_string(),
        Some(0) => {
            return build(
                s,
                "web",
                "FROM busybox:fixture
CMD [\"sh\", \"-c\", \"echo boom: no database; exit 3\"]\n",
            )
        }
        Some(n) => format!("sleep {n}; exit 3"),
    };
    build(
        s,
        "web",
        &format!(
            "FROM busybox:fixture\n\
             CMD [\"sh\", \"-c\", \"mkdir -p /www && echo {version} $(hostname) > /www/index.html && \
             httpd -p 8080 -h /www && {end}\"]\n"
        ),
    );
}

/// `run -d --name api --replicas N [OPTIONS] -p 127.0.0.1:PORT:8080 IMAGE`
/// on a free port, once every replica answers there; the port.
fn start_api(s: &TestStore, image: &str, replicas: usize, options: &[&str]) -> u16 {
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let n = replicas.to_string();
    let mut args = vec!["run", "-d", "--name", "api", "--replicas", &n];
    args.extend_from_slice(options);
    args.extend_from_slice(&["-p", &publish, image]);
    s.ok(&args);
    assert_eq!(wait_spread(port, replicas).len(), replicas);
    port
}

#[test]
fn a_revision_that_crash_loops_fails_its_rollout_at_once_and_v1_serves() {
    let s = busybox();
    web_dying(&s, "v1", None);
    let port = start_api(&s, "web", 2, &["--restart", "always"]);
    let before: Vec<String> = ["api.1", "api.2"].iter().map(|c| host_of(&s, c)).collect();
    web_dying(&s, "v2", Some(0));
    let h = Hammer::start(port);
    let t0 = Instant::now();
    let e = s.fails(
        &["rollout", "web", "-t", "1", "--ready-timeout", "60s"],
        125,
    );
    let took = t0.elapsed();
    // The loop goes on a little after the refused rollout: v1 still serves
    // (and a fast refusal still leaves enough answers to judge).
    std::thread::sleep(Duration::from_millis(500));
    let answers = h.finish();
    assert!(e.contains("exited (code 3)") && e.contains("boom"), "{e}");
    assert!(
        took < Duration::from_secs(30),
        "a crash loop must not wait for --ready-timeout: {took:?}"
    );
    no_failures("a crash-looping rollout", &answers);
    assert_eq!(versions(&answers), vec!["v1"]);
    // The same two replicas, on revision 1, and nothing of v2 left.
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    let after: Vec<String> = ["api.1", "api.2"].iter().map(|c| host_of(&s, c)).collect();
    assert_eq!(before, after, "{e}");
    for i in inspect(&s, "api") {
        assert_eq!(i["Image"]["revision"], 1, "{}", i["Name"]);
    }
    s.ok(&["rm", "-f", "api"]);
}

#[test]
fn a_revision_that_dies_in_the_monitor_window_is_rolled_back() {
    let s = busybox();
    web_dying(&s, "v1", None);
    let port = start_api(&s, "web", 2, &["--restart", "always"]);
    // v2 answers (the rollout switches to it), then exits 3 s after start.
    web_dying(&s, "v2", Some(3));
    let h = Hammer::start(port);
    let e = s.fails(&["rollout", "web", "-t", "1", "--monitor", "20s"], 125);
    std::thread::sleep(Duration::from_millis(300));
    let answers = h.finish();
    assert!(
        (e.contains("restarted") || e.contains("exited") || e.contains("stopped running"))
            && e.contains("rolled back"),
        "{e}"
    );
    // Requests a dying replica had accepted die with it (as with any
    // crash); report them, do not require none.
    let failed = answers.iter().filter(|a| a.is_err()).count();
    eprintln!(
        "died in the monitor window: {failed} of {} requests failed",
        answers.len()
    );
    let v = versions(&answers);
    assert_eq!(v.last().map(String::as_str), Some("v1"), "{v:?}");
    // The tag says which revision serves: a rollback revision to rev 1.
    let revs: Value =
        serde_json::from_str(&s.ok(&["revisions", "web", "--format", "json"])).unwrap();
    assert_eq!(revs[0]["reason"], "rollback", "{revs:#}");
    assert_eq!(revs[0]["to"], 1, "{revs:#}");
    let seen = wait_spread(port, 2);
    assert!(seen.keys().all(|k| k.starts_with("v1 ")), "{seen:?}");
    assert_eq!(names(&s), vec!["api.1", "api.2"]);
    s.ok(&["rm", "-f", "api"]);
}
