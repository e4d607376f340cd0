//! End-to-end tests of rollout and rollback: containers follow their tag
//! to another revision with every option kept; with published ports no
//! request fails while they do; a new container that never answers changes
//! nothing; a killed command leaves a running service and the next rollout
//! finishes its work. Real binary, node fixture, ports on 127.0.0.1 only,
//! every wait bounded.

mod common;

use common::*;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A store whose containers are removed when it is dropped, even when the
/// test fails: supervisors outlive the test process otherwise.
struct Store {
    s: TestStore,
    ctx: tempfile::TempDir,
}

impl std::ops::Deref for Store {
    type Target = TestStore;
    fn deref(&self) -> &TestStore {
        &self.s
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let ids = self.s.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.s.run(&["rm", "-f", id]);
        }
    }
}

/// The service: answers its version; `PORT` and `START_DELAY_MS` make a
/// broken or slow release; drains on SIGTERM like images/node-api.
const SERVER: &str = r#"'use strict';
const http = require('http');
const version = process.env.APP_VERSION || 'none';
const port = Number(process.env.PORT || 3000);
if (process.env.CRASH) { console.error('boom: ' + process.env.CRASH); process.exit(3); }
const server = http.createServer((req, res) => res.end(version + '\n'));
setTimeout(() => server.listen(port, () => console.log(`${version} listening on :${port}`)),
  Number(process.env.START_DELAY_MS || 0));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    console.log(`${sig}: draining`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
"#;

fn node() -> Store {
    let s = Store {
        s: TestStore::new().with_node(),
        ctx: tempfile::tempdir().expect("tempdir"),
    };
    std::fs::write(s.ctx.path().join("server.js"), SERVER).expect("server.js");
    s
}

impl Store {
    /// `build -t node-api` of the service with `ENV APP_VERSION=<version>`
    /// and more ENV lines; returns the image id.
    fn build(&self, version: &str, env: &[&str]) -> String {
        let mut df = format!("FROM node:fixture\nENV APP_VERSION={version}\n");
        for e in env {
            df.push_str(&format!("ENV {e}\n"));
        }
        df.push_str("WORKDIR /app\nCOPY server.js ./\nCMD [\"node\", \"server.js\"]\n");
        std::fs::write(self.ctx.path().join("Dockerfile"), df).expect("Dockerfile");
        let ctx = self.ctx.path().to_str().expect("utf8");
        self.ok(&["build", "-q", "-t", "node-api", ctx])
            .trim()
            .to_string()
    }

    fn inspect(&self, c: &str) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["inspect", c])).expect("inspect json");
        v[0].clone()
    }

    fn revisions(&self) -> Vec<Value> {
        let out = self.ok(&["revisions", "node-api", "--format", "json"]);
        let v: Value = serde_json::from_str(&out).expect("revisions json");
        v.as_array().cloned().unwrap_or_default()
    }

    /// `ps -a --format json`.
    fn ps(&self) -> Vec<Value> {
        let v: Value =
            serde_json::from_str(&self.ok(&["ps", "-a", "--format", "json"])).expect("ps json");
        v.as_array().cloned().unwrap_or_default()
    }

    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self
            .ps()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        n.sort();
        n
    }

    fn dir_of(&self, c: &str) -> PathBuf {
        let id = self.inspect(c)["Id"].as_str().expect("id").to_string();
        self.root().join("containers").join(id)
    }
}

/// GET / : the body, or why it failed.
fn get(port: u16) -> Result<String, String> {
    http_get_body(port, Duration::from_secs(10))
}

fn wait_answer(port: u16, want: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if get(port).is_ok_and(|b| b == want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A steady request loop: one GET every ~5 ms until stopped.
struct Hammer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Result<String, String>>>,
}

impl Hammer {
    fn start(port: u16) -> Hammer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            // Bounded: at most two minutes whatever happens.
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                out.push(get(port));
                std::thread::sleep(Duration::from_millis(5));
            }
            out
        });
        Hammer { stop, thread }
    }

    /// (answers in order, failures).
    fn finish(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let all = self.thread.join().expect("request loop");
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for r in all {
            match r {
                Ok(b) => ok.push(b),
                Err(e) => failed.push(e),
            }
        }
        (ok, failed)
    }
}

/// The answers go from `from` to `to` (and only those), with no failure.
fn assert_switch(what: &str, (ok, failed): (Vec<String>, Vec<String>), from: &str, to: &str) {
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed: {:?}",
        failed.len(),
        ok.len() + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok.len() >= 20, "{what}: too few requests ({})", ok.len());
    assert_eq!(ok.first().map(String::as_str), Some(from), "{what}: {ok:?}");
    assert_eq!(ok.last().map(String::as_str), Some(to), "{what}");
    assert!(
        ok.iter().all(|b| b == from || b == to),
        "{what}: other answers: {ok:?}"
    );
}

fn run_api(s: &Store, port: u16) -> String {
    let p = format!("127.0.0.1:{port}:3000");
    s.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--restart",
        "always",
        "-p",
        &p,
        "-e",
        "GREETING=hi",
        "-m",
        "256m",
        "--log-opt",
        "max-size=1m",
        "node-api",
    ])
    .trim()
    .to_string()
}

#[test]
fn rollout_and_rollback_switch_versions_with_no_failed_request() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    let first = run_api(&s, port);
    assert!(wait_answer(port, "v1"), "v1 does not answer");
    s.build("v2", &[]);
    // ps shows the container behind its tag.
    let ps = s.ok(&["ps"]);
    assert!(ps.contains("node-api:latest (rev 1, behind 2)"), "{ps}");

    let h = Hammer::start(port);
    std::thread::sleep(Duration::from_millis(300));
    let out = s.ok(&["rollout", "node-api"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_switch("rollout", h.finish(), "v1", "v2");
    assert!(out.contains("no downtime"), "{out}");
    assert!(s.ok(&["ps"]).contains("node-api:latest (rev 2)"));

    // Every option stays; the name moves to the new container.
    let i = s.inspect("api");
    assert_ne!(i["Id"].as_str(), Some(first.as_str()), "a new container");
    assert_eq!(i["RestartPolicy"], "always");
    assert_eq!(i["Ports"][0], format!("127.0.0.1:{port}->3000/tcp"));
    assert_eq!(i["Options"]["memory"], "256m");
    assert_eq!(i["Options"]["log_opts"][0], "max-size=1m");
    assert_eq!(i["Image"]["revision"], 2);
    let env = i["Spec"]["env"].to_string();
    assert!(
        env.contains("GREETING=hi") && env.contains("APP_VERSION=v2"),
        "{env}"
    );
    assert_eq!(s.names(), vec!["api"], "the old container is gone");
    assert!(!s.root().join("containers").join(&first).exists());

    // Rollback: the tag moves (a new revision) and the container with it.
    let h = Hammer::start(port);
    std::thread::sleep(Duration::from_millis(300));
    let out = s.ok(&["rollback", "node-api"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_switch("rollback", h.finish(), "v2", "v1");
    assert!(out.contains("revision 3"), "{out}");
    let revs = s.revisions();
    assert_eq!(revs[0]["rev"], 3);
    assert_eq!(revs[0]["reason"], "rollback");
    assert_eq!(revs[0]["to"], 1);
    assert_eq!(s.inspect("api")["Image"]["revision"], 3);

    // Rolling back a rollback rolls forward; history is never rewritten.
    s.ok(&["rollback", "node-api"]);
    assert_eq!(get(port).as_deref(), Ok("v2"));
    let revs = s.revisions();
    assert_eq!((revs.len(), &revs[0]["to"]), (4, &Value::from(2)));
    // --to any earlier revision.
    s.ok(&["rollback", "node-api", "--to", "1"]);
    assert_eq!(get(port).as_deref(), Ok("v1"));
    assert_eq!(s.names(), vec!["api"]);
}

#[test]
fn a_new_container_that_never_answers_changes_nothing() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    let id = run_api(&s, port);
    assert!(wait_answer(port, "v1"));
    // v2 listens on the wrong port: it never becomes ready.
    s.build("v2", &["PORT=4000"]);
    let h = Hammer::start(port);
    let err = s.fails(&["rollout", "node-api", "--ready-timeout", "2s"], 125);
    let (ok, failed) = h.finish();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(ok.iter().all(|b| b == "v1"), "{ok:?}");
    assert!(
        err.contains("did not answer") && err.contains("keeps serving"),
        "{err}"
    );
    assert!(
        err.contains("v2 listening on :4000"),
        "its last log lines: {err}"
    );
    assert_eq!(s.inspect("api")["Id"].as_str(), Some(id.as_str()));
    assert_eq!(s.names(), vec!["api"], "the new container was removed");
    assert!(s.ok(&["ps"]).contains("(rev 1, behind 2)"));

    // A rollback to it: the tag moves back as a new revision.
    s.build("v3", &[]);
    s.ok(&["rollout", "node-api"]);
    assert_eq!(get(port).as_deref(), Ok("v3"));
    let err = s.fails(&["rollback", "node-api", "--ready-timeout", "2s"], 125);
    assert!(err.contains("moved back"), "{err}");
    let revs = s.revisions();
    // 5: rollback (to 3, reverting 4); 4: rollback (to 2, failed); 3: build v3.
    assert_eq!(revs[0]["rev"], 5);
    assert_eq!(revs[0]["to"], 3);
    assert_eq!(revs[1]["to"], 2);
    assert_eq!(get(port).as_deref(), Ok("v3"));
    assert_eq!(s.inspect("api")["Image"]["revision"], 5);
    assert!(!s.ok(&["ps"]).contains("behind"));
}

#[test]
fn a_new_container_that_crashes_ends_the_rollout_at_once() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    let id = run_api(&s, port);
    assert!(wait_answer(port, "v1"));
    // v2 exits at once; --restart always would restart it for ever.
    s.build("v2", &["CRASH=no-database"]);
    let h = Hammer::start(port);
    let t0 = Instant::now();
    let err = s.fails(&["rollout", "node-api", "--ready-timeout", "60s"], 125);
    let took = t0.elapsed();
    eprintln!("a crashing release failed the rollout in {took:?} (--ready-timeout 60s)");
    let (ok, failed) = h.finish();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(ok.iter().all(|b| b == "v1"), "{ok:?}");
    assert!(
        took < Duration::from_secs(20),
        "a crashing release must not wait for --ready-timeout: {took:?}"
    );
    assert!(
        err.contains("exited (code 3)") && err.contains("keeps serving"),
        "{err}"
    );
    assert!(
        err.contains("boom: no-database"),
        "its last log lines: {err}"
    );
    assert_eq!(s.inspect("api")["Id"].as_str(), Some(id.as_str()));
    assert_eq!(s.names(), vec!["api"], "the new container was removed");
    assert_eq!(get(port).as_deref(), Ok("v1"));
}

#[test]
fn logs_follow_a_name_across_rollouts_and_keep_the_replaced_output() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    run_api(&s, port);
    assert!(wait_answer(port, "v1"));
    let mut follow = s
        .cmd()
        .args(["logs", "-f", "--prefix", "api"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = follow.stdout.take().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    s.build("v2", &[]);
    s.ok(&["rollout", "node-api"]);
    assert_eq!(get(port).as_deref(), Ok("v2"));
    let until = Instant::now() + Duration::from_secs(15);
    while !seen.lock().unwrap().contains("rev 2 | v2 listening") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let _ = reader.join();
    let text = seen.lock().unwrap().clone();
    let v1 = text
        .find("rev 1 | v1 listening on :3000")
        .unwrap_or(usize::MAX);
    let v2 = text
        .find("rev 2 | v2 listening on :3000")
        .unwrap_or(usize::MAX);
    assert!(
        v1 < v2 && v2 != usize::MAX,
        "one stream across the rollout: {text}"
    );

    // The replaced container's output stays readable...
    let hist = s.ok(&["logs", "--history", "--prefix", "api"]);
    assert!(
        hist.contains("rev 1 | v1 listening") && hist.contains("rev 1 | SIGTERM: draining"),
        "{hist}"
    );
    assert!(hist.find("rev 1 |") < hist.find("rev 2 |"), "{hist}");
    assert!(
        !s.ok(&["logs", "api"]).contains("v1"),
        "without --history: this container only"
    );
    // ...until prune drops its revision.
    s.ok(&["prune", "--keep", "1"]);
    let hist = s.ok(&["logs", "--history", "api"]);
    assert!(
        !hist.contains("v1 listening") && hist.contains("v2 listening"),
        "{hist}"
    );
}

#[test]
fn rollout_force_and_restart_update_env_read_env_files_again() {
    let s = node();
    s.build("image-env", &[]);
    let port = free_port();
    let env = s.ctx.path().join("app.env");
    std::fs::write(&env, "APP_VERSION=file-1\n").unwrap();
    let p = format!("127.0.0.1:{port}:3000");
    let env_s = env.to_str().unwrap();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--restart",
        "always",
        "-p",
        &p,
        "--env-file",
        env_s,
        "node-api",
    ]);
    assert!(wait_answer(port, "file-1"));
    std::fs::write(&env, "APP_VERSION=file-2\n").unwrap();
    let out = s.ok(&["rollout", "node-api"]);
    assert!(out.contains("0 replaced, 1 already on it"), "{out}");
    assert_eq!(
        get(port).as_deref(),
        Ok("file-1"),
        "a plain rollout keeps the env"
    );
    let h = Hammer::start(port);
    s.ok(&["rollout", "--force", "node-api"]);
    assert_switch("rollout --force", h.finish(), "file-1", "file-2");
    std::fs::write(&env, "APP_VERSION=file-3\n").unwrap();
    let h = Hammer::start(port);
    s.ok(&["restart", "--update-env", "api"]);
    assert_switch("restart --update-env", h.finish(), "file-2", "file-3");
    assert_eq!(s.names(), vec!["api"]);
    // A broken env file is refused and the running one is left alone.
    std::fs::write(&env, "export APP_VERSION=4\n").unwrap();
    let err = s.fails(&["restart", "--update-env", "api"], 125);
    assert!(
        err.contains("line 1") && err.contains("whitespace"),
        "{err}"
    );
    assert_eq!(get(port).as_deref(), Ok("file-3"));
}

#[test]
fn containers_without_ports_are_stopped_then_started_and_stopped_ones_stay_stopped() {
    let s = node();
    s.build("v1", &[]);
    let vol = tempfile::tempdir().expect("tempdir");
    let v = format!("{}:/data", vol.path().display());
    s.ok(&[
        "run",
        "-d",
        "--name",
        "worker",
        "--restart",
        "on-failure:3",
        "-e",
        "GREETING=hi",
        "-v",
        &v,
        "--pids-limit",
        "64",
        "node-api",
    ]);
    s.ok(&["run", "-d", "--name", "idle", "node-api"]);
    s.ok(&["stop", "idle"]);
    s.build("v2", &[]);
    let out = s.ok(&["rollout", "node-api"]);
    assert!(
        out.contains("worker") && out.contains("stop, then start"),
        "{out}"
    );
    assert!(out.contains("idle") && out.contains("stopped"), "{out}");
    let w = s.inspect("worker");
    assert_eq!(w["State"]["Status"], "running");
    assert_eq!(w["RestartPolicy"], "on-failure:3");
    assert_eq!(w["Options"]["volumes"][0], v.as_str());
    assert_eq!(w["Options"]["pids_limit"], 64);
    assert_eq!(w["Image"]["revision"], 2);
    let i = s.inspect("idle");
    assert_ne!(i["State"]["Status"], "running");
    assert_eq!(i["Image"]["revision"], 2);
    assert_eq!(s.names(), vec!["idle", "worker"]);
    // Nothing behind: a second rollout has nothing to do.
    let out = s.ok(&["rollout", "node-api"]);
    assert!(out.contains("already on revision 2"), "{out}");
}

#[test]
fn bad_input_is_one_clear_line_and_moves_nothing() {
    let s = node();
    s.build("v1", &[]);
    let err = s.fails(&["rollback", "node-api"], 125);
    assert!(err.contains("no earlier revision"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = s.fails(&["rollout", "nosuch"], 125);
    assert!(err.contains("no such tag nosuch:latest"), "{err}");
    let err = s.fails(&["rollback", "node-api", "--to", "42"], 125);
    assert!(err.contains("no revision 42"), "{err}");
    let err = s.fails(&["rollout", "node-api", "--ready-timeout", "soon"], 125);
    assert!(err.contains("--ready-timeout"), "{err}");
    assert_eq!(s.revisions().len(), 1);

    // A tag no container uses: only the tag moves, and the command says so.
    s.build("v2", &[]);
    let out = s.ok(&["rollback", "node-api"]);
    assert!(out.contains("no container uses node-api:latest"), "{out}");
    assert_eq!(s.revisions().len(), 3);

    // A revision whose image was pruned.
    s.build("v3", &[]);
    s.build("v4", &[]);
    s.build("v5", &[]);
    s.ok(&["prune", "--keep", "2"]);
    let err = s.fails(&["rollback", "node-api", "--to", "1"], 125);
    assert!(err.contains("pruned"), "{err}");
    assert_eq!(s.revisions().len(), 6, "no revision was added");
}

/// `skiff rollback` killed with SIGKILL at many points: the service keeps
/// answering, every container is on the old or the new revision, and the
/// next rollout finishes the work.
#[test]
fn kill_9_of_rollback_at_any_point_leaves_a_running_service() {
    let s = node();
    s.build("v1", &[]);
    s.build("v2", &[]);
    let port = free_port();
    run_api(&s, port);
    assert!(wait_answer(port, "v2"));
    for delay_ms in [
        0u64, 10, 20, 30, 45, 60, 80, 100, 130, 160, 200, 250, 300, 400, 600,
    ] {
        let h = Hammer::start(port);
        std::thread::sleep(Duration::from_millis(50));
        let mut child = s
            .cmd()
            .args(["rollback", "node-api"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn rollback");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_millis(100));
        // Whatever state it is in, some container serves.
        let served = get(port);
        assert!(served.is_ok(), "after a kill at {delay_ms} ms: {served:?}");
        let revs: Vec<u64> = s
            .ps()
            .iter()
            .filter(|c| c["state"] == "running")
            .filter_map(|c| c["image_ref"]["revision"].as_u64())
            .collect();
        assert!(
            !revs.is_empty(),
            "nothing runs after a kill at {delay_ms} ms"
        );
        // The next rollout finishes (or undoes, then redoes) the work.
        let out = s.ok(&["rollout", "node-api"]);
        eprintln!("kill at {delay_ms} ms, then rollout:\n{out}");
        let (ok, failed) = h.finish();
        assert!(
            failed.is_empty(),
            "kill at {delay_ms} ms: failed requests {failed:?}"
        );
        assert!(ok.iter().all(|b| b == "v1" || b == "v2"), "{ok:?}");
        let revs = s.revisions();
        let current = revs[0].clone();
        // Revision 1 is v1's image, 2 v2's; rollbacks alternate between them.
        let v1 = revs.last().map(|r| r["digest"].clone());
        let expect = if Some(&current["digest"]) == v1.as_ref() {
            "v1"
        } else {
            "v2"
        };
        assert_eq!(
            get(port).as_deref(),
            Ok(expect),
            "kill at {delay_ms} ms, then rollout: {out}"
        );
        assert_eq!(s.names(), vec!["api"], "kill at {delay_ms} ms: {out}");
        assert_eq!(
            s.inspect("api")["Image"]["revision"],
            current["rev"],
            "kill at {delay_ms} ms"
        );
        assert!(!s.root().join("deploy/node-api/:latest.json").exists());
    }
}

/// The old container removed while its replacement starts: the
/// replacement goes too, and the rollout says so.
#[test]
fn a_container_removed_halfway_is_not_brought_back() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    run_api(&s, port);
    assert!(wait_answer(port, "v1"));
    s.build("v2", &["START_DELAY_MS=1500"]);
    let remover = {
        let root = s.root().to_path_buf();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            std::process::Command::new(skiff_bin())
                .arg("--root")
                .arg(&root)
                .args(["rm", "-f", "api"])
                .output()
        })
    };
    let child = s.cmd().args(["rollout", "node-api"]).output();
    let out = child.expect("rollout");
    let _ = remover.join();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("removed during the rollout"), "{text}");
    assert!(s.names().is_empty(), "{:?}", s.names());
}

#[test]
fn rename_keeps_the_logs_and_the_control_socket_of_the_new_container() {
    let s = node();
    s.build("v1", &[]);
    let port = free_port();
    run_api(&s, port);
    assert!(wait_answer(port, "v1"));
    s.build("v2", &[]);
    s.ok(&["rollout", "node-api"]);
    let logs = s.ok(&["logs", "api"]);
    assert!(logs.contains("v2 listening on :3000"), "{logs}");
    assert!(Path::new(&s.dir_of("api")).join("control.sock").exists());
    s.ok(&["restart", "api"]);
    assert!(wait_answer(port, "v2"));
    s.ok(&["stop", "api"]);
    assert!(get(port).is_err(), "the port is released");
}
