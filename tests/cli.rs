//! The command line as a docker user types it: everything after IMAGE (and
//! after the container in `exec`) belongs to the container, whatever it
//! looks like; every option survives restart and rollout; an image's
//! STOPSIGNAL is the signal the container gets, real-time signals included;
//! a printing command ends quietly when its reader goes away. Real containers from the
//! busybox fixture, each test in its own temporary store.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// A store with `printer:1`: busybox whose entrypoint prints each argument
/// followed by `|`, so a test sees exactly the argv the container got.
fn printer() -> TestStore {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nENTRYPOINT [\"printf\", \"%s|\"]\nCMD [\"default\"]\n",
    )
    .unwrap();
    s.ok(&[
        "build",
        "-q",
        "-t",
        "printer:1",
        ctx.path().to_str().unwrap(),
    ]);
    s
}

/// The arguments that look like skiff's own flags (`-e`, `--name`, `-d`,
/// `--rm`, `-p`) when they come after the image.
const FLAGGY: [&str; 8] = ["-e", "A=1", "--name", "x", "-d", "--rm", "-p", "1:2"];

#[test]
fn run_passes_every_argument_after_the_image_to_the_container() {
    let s = printer();
    let mut args = vec!["run", "--rm", "printer:1"];
    args.extend(FLAGGY);
    assert_eq!(s.ok(&args), "-e|A=1|--name|x|-d|--rm|-p|1:2|");
    // Without arguments the image's CMD runs, and flags before the image
    // are still skiff's.
    assert_eq!(s.ok(&["run", "--rm", "-e", "A=1", "printer:1"]), "default|");
    assert!(
        s.run(&["ps", "-a", "-q"]).stdout.is_empty(),
        "--rm removed it"
    );
}

#[test]
fn run_detached_records_the_arguments_as_given() {
    let s = printer();
    let mut args = vec!["run", "-d", "--name", "p", "printer:1"];
    args.extend(FLAGGY);
    s.ok(&args);
    let until = Instant::now() + Duration::from_secs(20);
    let mut logs = String::new();
    while Instant::now() < until {
        logs = s.ok(&["logs", "p"]);
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(logs.trim_end(), "-e|A=1|--name|x|-d|--rm|-p|1:2|");
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && !s.ok(&["ps", "-a"]).contains("Exited") {
        std::thread::sleep(Duration::from_millis(20));
    }
    // start re-creates the container from its recorded config: same argv.
    s.ok(&["start", "p"]);
    let until = Instant::now() + Duration::from_secs(20);
    let argv = "-e|A=1|--name|x|-d|--rm|-p|1:2|";
    while Instant::now() < until && s.ok(&["logs", "p"]).matches(argv).count() < 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    // printf writes no newline: the two runs' output is one log line.
    let logs = s.ok(&["logs", "p"]);
    assert_eq!(logs.split_whitespace().collect::<String>(), argv.repeat(2));
    s.ok(&["rm", "-f", "p"]);
}

#[test]
fn exec_passes_every_argument_after_the_container_to_the_command() {
    let s = TestStore::new().with_busybox();
    s.ok(&["run", "-d", "--name", "e", "busybox:fixture", "sleep", "60"]);
    let out = s.ok(&[
        "exec", "e", "printf", "%s|", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "-it",
    ]);
    assert_eq!(out, "-e|A=1|-u|nobody|-w|/tmp|-it|");
    // exec's own flags still work before the container.
    assert_eq!(
        s.ok(&["exec", "-e", "A=7", "e", "sh", "-c", "echo $A"]),
        "7\n"
    );
    s.ok(&["rm", "-f", "e"]);
}

#[test]
fn a_realtime_stopsignal_is_the_signal_the_container_gets() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    // The container exits 0 on SIGRTMIN+3 (37) and ignores SIGTERM, so a
    // stop that sent SIGTERM would wait for the timeout and kill it (137).
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nSTOPSIGNAL SIGRTMIN+3\n\
         CMD [\"sh\", \"-c\", \"trap 'echo got-37; exit 0' 37; trap '' TERM; echo ready; while :; do sleep 0.1; done\"]\n",
    )
    .unwrap();
    s.ok(&["build", "-q", "-t", "rt:1", ctx.path().to_str().unwrap()]);
    s.ok(&["run", "-d", "--name", "rt", "rt:1"]);
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until && !s.ok(&["logs", "rt"]).contains("ready") {
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    s.ok(&["stop", "-t", "20", "rt"]);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "stop waited for its timeout: the stop signal was not SIGRTMIN+3"
    );
    assert!(s.ok(&["logs", "rt"]).contains("got-37"));
    let inspect = s.ok(&["inspect", "rt"]);
    assert!(inspect.contains("SIGRTMIN+3"), "{inspect}");
    s.ok(&["rm", "-f", "rt"]);
}

/// `inspect`'s recorded options, spec and restart policy: what a restart or
/// a rollout must keep.
fn recorded(s: &TestStore, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", name])).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    serde_json::json!({
        "options": v["Options"],
        "restart": v["RestartPolicy"],
        "ports": v["Ports"],
        "log": v["LogOptions"],
        "init": v["Init"],
        "env": v["Spec"]["env"],
        "resources": v["Spec"]["resources"],
        "mounts": v["Spec"]["mounts"],
        "user": v["Spec"]["user"],
        "cwd": v["Spec"]["cwd"],
        "seccomp": v["Spec"]["seccomp"],
    })
}

#[test]
fn every_option_survives_a_restart_and_a_rollout() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let df = ctx.path().join("Dockerfile");
    std::fs::write(&df, "FROM busybox:fixture\nENV V=1\n").unwrap();
    let c = ctx.path().to_str().unwrap();
    s.ok(&["build", "-q", "-t", "svc:1", c]);
    let env_file = ctx.path().join("env");
    std::fs::write(&env_file, "FROM_FILE=yes\n").unwrap();
    let vol = tempfile::tempdir().unwrap();
    let vol_arg = format!("{}:/data:ro", vol.path().display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let publish = format!("127.0.0.1:{port}:8080");
    s.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--hostname",
        "h1",
        "-e",
        "A=1",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--read-only",
        "--tmpfs",
        "/run",
        "-v",
        &vol_arg,
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "--restart",
        "always",
        "-p",
        &publish,
        "--init",
        "--security-opt",
        "no-new-privileges=false",
        "--security-opt",
        "seccomp=unconfined",
        "svc:1",
        "httpd",
        "-f",
        "-p",
        "8080",
    ]);
    let before = recorded(&s, "svc");
    assert_eq!(before["options"]["memory"], "64m", "{before}");
    assert_eq!(before["seccomp"], "unconfined", "{before}");
    s.ok(&["restart", "svc"]);
    assert_eq!(recorded(&s, "svc"), before, "restart changed an option");
    std::fs::write(&df, "FROM busybox:fixture\nENV V=2\n").unwrap();
    s.ok(&["build", "-q", "-t", "svc:1", c]);
    s.ok(&["rollout", "svc:1"]);
    let after = recorded(&s, "svc");
    // The rollout changes the image's ENV and nothing the user set.
    let mut expected = before.clone();
    expected["env"] = serde_json::json!(before["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| if e == "V=1" { "V=2".into() } else { e.clone() })
        .collect::<Vec<_>>());
    assert_eq!(after, expected, "rollout changed an option");
    s.ok(&["rm", "-f", "svc"]);
}

#[test]
fn a_closed_pipe_ends_a_printing_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let s = TestStore::new().with_busybox();
    // 2 MB of log: more than a pipe holds, so `logs` must write into a
    // pipe whose reader is gone.
    s.ok(&["run", "-d", "--name", "big", "busybox:fixture", "sh", "-c",
        "i=0; while [ $i -lt 20000 ]; do echo 'a line of the log that is about a hundred bytes long, to fill a pipe quickly: xxxxxxxxxx'; i=$((i+1)); done"]);
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until && !s.ok(&["ps", "-a"]).contains("Exited") {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut child = s
        .cmd()
        .args(["logs", "big"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.ok(&["rm", "-f", "big"]);
}
