//! Health checks as docker runs them: the image's HEALTHCHECK or
//! `--health-*`, run inside the container by its supervisor; `starting`,
//! `healthy`, `unhealthy` in ps and inspect; `--health-on-failure`; a
//! rollout waits for the new container to be healthy. Real containers from
//! the busybox fixture; ports on 127.0.0.1 only; every wait bounded.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

type Store = CleanStore;

fn busybox() -> Store {
    CleanStore(TestStore::new().with_busybox())
}

/// Build `tag` from a Dockerfile text over busybox:fixture.
fn build(s: &Store, tag: &str, dockerfile: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    s.ok(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()]);
}

fn inspect(s: &Store, c: &str) -> Value {
    let v: Value = serde_json::from_str(&s.ok(&["inspect", c])).unwrap();
    if v.is_array() {
        v[0].clone()
    } else {
        v
    }
}

fn health(s: &Store, c: &str) -> Value {
    inspect(s, c)["State"]["Health"].clone()
}

fn wait_for(s: &Store, c: &str, status: &str, limit: Duration) -> Value {
    let until = Instant::now() + limit;
    loop {
        let h = health(s, c);
        if h["Status"] == status {
            return h;
        }
        assert!(
            Instant::now() < until,
            "{c} did not become {status} within {limit:?}: {h:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps_line(s: &Store, c: &str) -> String {
    s.ok(&["ps"])
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(c))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_images_healthcheck_runs_starting_healthy_unhealthy() {
    let s = busybox();
    build(
        &s,
        "hc:1",
        "FROM busybox:fixture\n\
         HEALTHCHECK --interval=200ms --timeout=5s --retries=2 CMD test -f /tmp/ok && echo fine\n\
         CMD [\"sleep\", \"300\"]\n",
    );
    s.ok(&["run", "-d", "--name", "c", "hc:1"]);
    assert_eq!(health(&s, "c")["Status"], "starting");
    assert!(
        ps_line(&s, "c").contains("(health: starting)"),
        "{}",
        ps_line(&s, "c")
    );
    // Failing checks make it unhealthy after 2 in a row.
    let h = wait_for(&s, "c", "unhealthy", Duration::from_secs(20));
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h:#}");
    s.ok(&["exec", "c", "touch", "/tmp/ok"]);
    let h = wait_for(&s, "c", "healthy", Duration::from_secs(20));
    assert_eq!(h["FailingStreak"], 0);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5, "{h:#}");
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert!(
        ps_line(&s, "c").contains("(healthy)"),
        "{}",
        ps_line(&s, "c")
    );
    s.ok(&["exec", "c", "rm", "/tmp/ok"]);
    wait_for(&s, "c", "unhealthy", Duration::from_secs(20));
    // The supervisor notes it in the container's log, on its stderr stream.
    let logs = s.run(&["logs", "c"]);
    assert!(String::from_utf8_lossy(&logs.stderr).contains("the container is unhealthy"));
    // The log keeps five results, however many probes ran.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(health(&s, "c")["Log"].as_array().unwrap().len(), 5);
}

#[test]
fn flags_override_or_disable_the_images_check() {
    let s = busybox();
    build(
        &s,
        "hc:1",
        "FROM busybox:fixture\nHEALTHCHECK --interval=100ms CMD false\nCMD [\"sleep\", \"300\"]\n",
    );
    s.ok(&[
        "run",
        "-d",
        "--name",
        "over",
        "--health-cmd",
        "echo from-flag",
        "--health-interval",
        "100ms",
        "hc:1",
    ]);
    let h = wait_for(&s, "over", "healthy", Duration::from_secs(20));
    assert_eq!(h["Log"][0]["Output"], "from-flag\n");
    s.ok(&["run", "-d", "--name", "off", "--no-healthcheck", "hc:1"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(health(&s, "off").is_null(), "{}", health(&s, "off"));
    assert!(
        !ps_line(&s, "off").contains("health"),
        "{}",
        ps_line(&s, "off")
    );
    // No check at all: nothing in ps either.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    assert!(health(&s, "plain").is_null());
}

#[test]
fn hanging_noisy_and_missing_checks_fail_cleanly_and_leak_nothing() {
    let s = busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "hang",
        "--health-cmd",
        "sleep 60",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    let h = wait_for(&s, "hang", "unhealthy", Duration::from_secs(20));
    let out = h["Log"][0]["Output"].as_str().unwrap();
    assert!(out.contains("exceeded its timeout"), "{h:#}");
    // The timed-out commands were killed: no `sleep 60` piles up inside.
    std::thread::sleep(Duration::from_secs(2));
    let procs = s.ok(&["exec", "hang", "ps", "-o", "args"]);
    let sleeping = procs.lines().filter(|l| l.contains("sleep 60")).count();
    assert!(sleeping <= 1, "{procs}");

    // Megabytes of output are capped at 4 KiB per result.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "noisy",
        "--health-cmd",
        "yes 0123456789 | head -c 3000000",
        "--health-interval",
        "100ms",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    let h = wait_for(&s, "noisy", "healthy", Duration::from_secs(20));
    assert_eq!(h["Log"][0]["Output"].as_str().unwrap().len(), 4096);

    // A command that does not exist fails, saying so.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "missing",
        "--health-cmd",
        "/no/such/check",
        "--health-interval",
        "100ms",
        "--health-retries",
        "1",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    let h = wait_for(&s, "missing", "unhealthy", Duration::from_secs(20));
    assert!(h["Log"][0]["ExitCode"].as_i64().unwrap() != 0);
    assert!(
        h["Log"][0]["Output"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{h:#}"
    );

    // Many probes later, the supervisor holds as many descriptors as before.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "quick",
        "--health-cmd",
        "true",
        "--health-interval",
        "700ms",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    wait_for(&s, "quick", "healthy", Duration::from_secs(20));
    let sup = inspect(&s, "quick")["State"]["SupervisorPid"]
        .as_i64()
        .unwrap();
    // The fewest open over a second (a probe in flight holds its pipe).
    let fds = || {
        (0..20)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::read_dir(format!("/proc/{sup}/fd"))
                    .unwrap()
                    .count()
            })
            .min()
            .unwrap()
    };
    let before = fds();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fds(), before, "the supervisor leaks descriptors per probe");
    let children = std::fs::read_to_string(format!("/proc/{sup}/task/{sup}/children")).unwrap();
    assert!(
        children.split_whitespace().count() <= 2,
        "children: {children}"
    );
}

#[test]
fn health_on_failure_restart_restarts_the_container() {
    let s = busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "r",
        "--tmpfs",
        "/tmp",
        "--health-cmd",
        "test ! -f /tmp/bad",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "--health-on-failure",
        "restart",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    wait_for(&s, "r", "healthy", Duration::from_secs(20));
    let started = inspect(&s, "r")["State"]["StartedAt"].clone();
    s.ok(&["exec", "r", "touch", "/tmp/bad"]);
    let until = Instant::now() + Duration::from_secs(30);
    while inspect(&s, "r")["State"]["StartedAt"] == started {
        assert!(
            Instant::now() < until,
            "not restarted: {:#}",
            health(&s, "r")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A fresh /tmp: healthy again.
    wait_for(&s, "r", "healthy", Duration::from_secs(20));
}

#[test]
fn a_rollout_waits_for_the_new_container_to_be_healthy() {
    let s = busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let web = |check: &str| {
        format!(
            "FROM busybox:fixture\nRUN mkdir /www && echo {check} > /www/index.html\n\
             HEALTHCHECK --interval=100ms --retries=1 CMD {check}\n\
             CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
        )
    };
    build(&s, "web:1", &web("true"));
    s.ok(&["run", "-d", "--name", "web", "-p", &publish, "web:1"]);
    wait_for(&s, "web", "healthy", Duration::from_secs(20));
    let get = || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = c.read_to_string(&mut body);
        body
    };
    assert!(get().contains("true"));
    // A revision whose check fails: its port answers, but it never becomes
    // healthy, so the rollout fails and the old container keeps serving.
    build(&s, "web:1", &web("false"));
    let err = s.fails(&["rollout", "web:1", "--ready-timeout", "3s"], 125);
    assert!(err.contains("web"), "{err}");
    assert!(get().contains("true"));
    assert_eq!(health(&s, "web")["Status"], "healthy");
    // A healthy revision goes through.
    build(&s, "web:1", &web("echo"));
    s.ok(&["rollout", "web:1", "--ready-timeout", "20s"]);
    assert!(get().contains("echo"));
}

#[test]
fn bad_health_options_are_refused_before_anything_starts() {
    let s = busybox();
    let cases: &[(&[&str], &str)] = &[
        (&["--health-cmd", "true"], "need -d"),
        (
            &["-d", "--health-cmd", "true", "--health-interval", "soon"],
            "--health-interval",
        ),
        (
            &["-d", "--no-healthcheck", "--health-cmd", "true"],
            "conflicts",
        ),
        (
            &[
                "-d",
                "--health-cmd",
                "true",
                "--health-on-failure",
                "explode",
            ],
            "--health-on-failure",
        ),
        (
            &["-d", "--health-cmd", "true", "--health-retries", "0"],
            "at least 1",
        ),
        (&["-d", "--health-interval", "1s"], "--health-cmd"),
    ];
    for (opts, want) in cases {
        let mut args = vec!["run", "--name", "x"];
        args.extend_from_slice(opts);
        args.extend(["busybox:fixture", "sleep", "1"]);
        let err = s.fails(&args, 125);
        assert!(err.contains(want), "{opts:?}: {err}");
        assert!(
            s.ok(&["ps", "-a", "-q"]).is_empty(),
            "{opts:?} left a container"
        );
    }
}

/// The probe is as confined as the container's own processes: docker's
/// capabilities, no_new_privs, the seccomp filter, the container's pid
/// namespace (it cannot see the supervisor or the host).
#[test]
fn a_probe_runs_with_the_containers_confinement() {
    let s = busybox();
    let own = s.ok(&[
        "run",
        "--rm",
        "busybox:fixture",
        "grep",
        "-E",
        "CapEff|NoNewPrivs|Seccomp:",
        "/proc/self/status",
    ]);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "jail",
        "--health-cmd",
        "grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; ls /proc | grep -c '^[0-9]'",
        "--health-interval",
        "100ms",
        "busybox:fixture",
        "sleep",
        "300",
    ]);
    let h = wait_for(&s, "jail", "healthy", Duration::from_secs(20));
    let out = h["Log"][0]["Output"].as_str().unwrap();
    assert!(out.starts_with(&own), "probe: {out}\ncontainer: {own}");
    // Inside the container's pid namespace: sleep, the shell, grep/ls and
    // little else; the host has hundreds.
    let pids: u32 = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(pids < 10, "the probe sees {pids} processes: {out}");
}

/// `tests/health/sd_notify.c` built static (it runs in the busybox
/// fixture), once per test process.
fn sd_notify_sender() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/health/sd_notify.c");
        let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("sd_notify-{}", std::process::id()));
        let r = std::process::Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .expect("gcc (apt-get install gcc libc6-dev)");
        assert!(
            r.status.success(),
            "gcc -static {}: {}",
            src.display(),
            String::from_utf8_lossy(&r.stderr)
        );
        out
    })
    .clone()
}

fn ready(s: &Store, c: &str) -> bool {
    inspect(s, c)["State"]["Ready"] == true
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < until, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sdnotify_container_is_ready_when_it_sends_ready() {
    let s = busybox();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    // httpd answers at once; READY=1 comes 3 s later, or never.
    let web = |version: &str, says_ready: bool| {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::copy(sd_notify_sender(), ctx.path().join("sd_notify")).unwrap();
        let ready = if says_ready {
            "/sd_notify READY=1; /sd_notify STATUS=serving"
        } else {
            "true"
        };
        let dockerfile = format!(
            "FROM busybox:fixture\nCOPY sd_notify /sd_notify\n\
             RUN mkdir /www && echo {version} > /www/index.html\n\
             CMD [\"sh\", \"-c\", \"httpd -p 8080 -h /www; /sd_notify STATUS=warming; \
             sleep 3; {ready}; exec sleep 3600\"]\n"
        );
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        s.ok(&["build", "-q", "-t", "web:1", ctx.path().to_str().unwrap()]);
    };
    let get = || {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut body = String::new();
        let _ = c.read_to_string(&mut body);
        body
    };

    // Refused without -d, and a mode skiff does not know.
    let e = s.fails(
        &["run", "--sdnotify", "container", "busybox:fixture", "true"],
        125,
    );
    assert!(e.contains("needs -d"), "{e}");
    let e = s.fails(
        &[
            "run",
            "-d",
            "--sdnotify",
            "healthy",
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(e.contains("invalid --sdnotify"), "{e}");

    web("v1", true);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--sdnotify",
        "container",
        "-p",
        &publish,
        "web:1",
    ]);
    // STATUS= arrived while the port already answers: not ready yet.
    wait_until("STATUS=warming", Duration::from_secs(10), || {
        inspect(&s, "web")["State"]["NotifyStatus"] == "warming"
    });
    assert!(!ready(&s, "web"), "ready before READY=1");
    wait_until("READY=1", Duration::from_secs(10), || ready(&s, "web"));
    assert!(get().contains("v1"));
    let env = s.ok(&["exec", "web", "sh", "-c", "echo $NOTIFY_SOCKET"]);
    assert_eq!(env.trim(), "/run/notify/notify.sock");
    // The socket's directory is read-only for the container.
    let out = s.run(&["exec", "web", "touch", "/run/notify/x"]);
    assert!(!out.status.success(), "/run/notify is writable");

    // A restart waits for the new run's READY=1 (the old one is forgotten).
    s.ok(&["restart", "web"]);
    assert!(!ready(&s, "web"), "ready after restart before READY=1");
    wait_until("READY=1 after restart", Duration::from_secs(10), || {
        ready(&s, "web")
    });

    // A revision that never says READY=1 fails its rollout although its
    // port answers: the old container keeps serving.
    web("v2", false);
    let e = s.fails(&["rollout", "web:1", "--ready-timeout", "4s"], 125);
    assert!(e.contains("web"), "{e}");
    assert!(get().contains("v1"));
    // One that does goes through, still with --sdnotify container.
    web("v3", true);
    s.ok(&["rollout", "web:1", "--ready-timeout", "20s"]);
    assert!(get().contains("v3"));
    let i = inspect(&s, "web");
    assert_eq!(i["Options"]["sdnotify"], "container");
    assert_eq!(i["State"]["NotifyStatus"], "serving");
}
