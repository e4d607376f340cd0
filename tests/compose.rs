//! End-to-end tests of `skiff compose` and named volumes: the seed's file
//! verbatim with images/node-api (built, published on its fixed port 3000
//! inside a network namespace the test creates, converged again after an
//! edit with no failed request), Redis data that survives `down` and `up`
//! through a named volume, depends_on conditions, two projects apart, and
//! bad input that names file, line and service and leaves nothing
//! half-started. Every wait is bounded.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A store, a project directory, and optionally a namespace; every
/// container is removed on drop, even when the test fails.
struct Project {
    s: TestStore,
    dir: tempfile::TempDir,
    ns: Option<Netns>,
}

impl Drop for Project {
    fn drop(&mut self) {
        let ids = self.skiff(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.skiff(&["rm", "-f", id]);
        }
    }
}

impl Project {
    fn new(s: TestStore, ns: bool) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("proj")).expect("mkdir");
        Project {
            s,
            dir,
            ns: ns.then(|| Netns::new("cmp")),
        }
    }

    /// The project directory (so the project is named `proj`).
    fn path(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write");
    }

    fn skiff(&self, args: &[&str]) -> Output {
        let mut c = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.path())).arg(skiff_bin());
                c
            }
            None => Command::new(skiff_bin()),
        };
        c.arg("--root")
            .arg(self.s.root())
            .args(args)
            .current_dir(self.path())
            .env_remove("SKIFF_ROOT")
            .output()
            .expect("run skiff")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.skiff(args);
        assert!(
            o.status.success(),
            "skiff {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Fails with skiff's own exit code; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.skiff(args);
        assert_eq!(
            o.status.code(),
            Some(125),
            "skiff {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn ps(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["compose"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["ps", "-a", "--format", "json"]);
        serde_json::from_str(&self.ok(&args)).expect("ps json")
    }
}

/// GET / inside the namespace (this thread only joins it).
fn get_in(path: &str, port: u16) -> Result<String, String> {
    let path = path.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        http_get_body(port, Duration::from_secs(10))
    })
    .join()
    .expect("thread")
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let t = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&t).expect("mkdir");
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).expect("copy");
        }
    }
}

/// The seed's file, exactly as the issue quotes it.
const SEED: &str = "version: '3'
services:
  app:
    build: .
    container_name: node-api
    ports:
      - \"3000:3000\"
    environment:
      NODE_ENV: production
    restart: always
";

#[test]
fn the_seeds_file_verbatim_builds_runs_and_converges_without_a_failed_request() {
    let p = Project::new(TestStore::new().with_node(), true);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("images/node-api"),
        &p.path(),
    );
    p.write("docker-compose.yml", SEED);
    let ns = p.ns.as_ref().expect("ns");
    let err =
        String::from_utf8_lossy(&p.skiff(&["compose", "up", "-d", "--build"]).stderr).into_owned();
    assert!(err.contains("Container node-api started"), "{err}");
    wait_for("node-api to answer on :3000", || {
        get_in(&ns.path(), 3000).is_ok_and(|b| b.contains("\"service\":\"node-api\""))
    });
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0]["name"], "node-api");
    assert_eq!(ps[0]["service"], "app");
    let project = p
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    assert_eq!(ps[0]["project"], Value::String(project.clone()));
    let id = ps[0]["id"].clone();
    // The image is tagged <project>-<service>, one revision per build.
    let revs = p.ok(&[
        "revisions",
        &format!("{}-app", ps[0]["project"].as_str().unwrap()),
    ]);
    assert!(revs.contains('1'), "{revs}");
    // Nothing changed: nothing recreated.
    let err = String::from_utf8_lossy(&p.skiff(&["compose", "up", "-d"]).stderr).into_owned();
    assert!(err.contains("node-api up to date"), "{err}");
    assert_eq!(p.ps(&[])[0]["id"], id);
    // An edit (a new variable) is rolled out with no refused request.
    let edited = SEED.replace(
        "NODE_ENV: production",
        "NODE_ENV: production\n      APP_VERSION: \"2.0.0\"",
    );
    p.write("docker-compose.yml", &edited);
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        let path = ns.path();
        std::thread::spawn(move || {
            let mut results = Vec::new();
            for _ in 0..4000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                results.push(get_in(&path, 3000));
                std::thread::sleep(Duration::from_millis(5));
            }
            results
        })
    };
    let err = String::from_utf8_lossy(&p.ok_err(&["compose", "up", "-d"])).into_owned();
    stop.store(true, Ordering::SeqCst);
    let results = hammer.join().expect("hammer");
    assert!(err.contains("node-api recreated"), "{err}");
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        results.len()
    );
    assert!(get_in(&ns.path(), 3000)
        .unwrap()
        .contains("\"version\":\"2.0.0\""));
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_ne!(ps[0]["id"], id);
    assert_eq!(ps[0]["name"], "node-api");
    // logs, then down: nothing of the project is left.
    let logs = p.ok(&["compose", "logs", "app"]);
    assert!(
        logs.contains("node-api | node-api 2.0.0 listening on :3000"),
        "{logs}"
    );
    p.ok(&["compose", "down"]);
    assert!(p.ps(&[]).is_empty());
    assert!(p.ok(&["ps", "-a", "-q"]).trim().is_empty());
}

impl Project {
    /// Run, require success, return stderr.
    fn ok_err(&self, args: &[&str]) -> Vec<u8> {
        let o = self.skiff(args);
        assert!(
            o.status.success(),
            "skiff {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stderr
    }
}

const REDIS: &str = r#"
name: cache
services:
  redis:
    image: redis:fixture
    user: redis
    command: redis-server --dir /data --appendonly yes --save "" --protected-mode no
    volumes:
      - data:/data
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      start_interval: 200ms
      start_period: 10s
      retries: 3
  api:
    build: ./api
    ports:
      - "8080:3000"
    depends_on:
      redis:
        condition: service_healthy
    stop_grace_period: 1s
volumes:
  data:
"#;

/// A Node API that counts visits in Redis, found by its service name.
const API: &str = r#"'use strict';
const http = require('http');
const net = require('net');
function incr() {
  return new Promise((resolve, reject) => {
    const s = net.connect(6379, 'redis');
    let buf = '';
    s.on('data', (d) => { buf += d; if (buf.endsWith('\r\n')) { s.end(); resolve(buf); } });
    s.on('error', reject);
    s.write('*2\r\n$4\r\nINCR\r\n$6\r\nvisits\r\n');
  });
}
http.createServer(async (req, res) => {
  try {
    res.end((await incr()).slice(1).trim() + '\n');
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
}).listen(3000, () => console.log('api listening'));
process.on('SIGTERM', () => process.exit(0));
"#;

#[test]
fn a_node_api_counts_in_redis_by_service_name_and_the_data_survives_down_and_up() {
    let p = Project::new(TestStore::new().with_node().with_redis(), true);
    let ns = p.ns.as_ref().expect("ns").path();
    std::fs::create_dir(p.path().join("api")).unwrap();
    p.write("api/server.js", API);
    p.write(
        "api/Dockerfile",
        "FROM node:fixture\nCOPY server.js /app/\nCMD [\"node\", \"/app/server.js\"]\n",
    );
    p.write("compose.yaml", REDIS);
    p.ok(&["compose", "up", "-d"]);
    let ps = p.ps(&[]);
    let names: Vec<&str> = ps.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cache-api-1", "cache-redis-1"], "{ps:?}");
    let answer = |want: &str| {
        let want = want.to_string();
        wait_for(&format!("the api to answer {want}"), || {
            get_in(&ns, 8080).is_ok_and(|b| b == want)
        })
    };
    answer("1");
    answer("2");
    // api waited for redis to be healthy before it started.
    let redis = ps.iter().find(|c| c["service"] == "redis").unwrap();
    assert_eq!(redis["health"], "healthy", "{ps:?}");
    // The volume was created for the project and filled from the image's
    // /data (owned by the redis user).
    let v: Value = serde_json::from_str(&p.ok(&["volume", "inspect", "cache_data"])).unwrap();
    assert_eq!(v[0]["Labels"]["com.docker.compose.project"], "cache");
    let mount = PathBuf::from(v[0]["Mountpoint"].as_str().unwrap());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&mount).unwrap().uid(), 999);
    let set = p.ok(&[
        "compose",
        "exec",
        "-T",
        "redis",
        "redis-cli",
        "set",
        "visits",
        "41",
    ]);
    assert_eq!(set.trim(), "OK");
    p.ok(&[
        "compose",
        "exec",
        "-T",
        "redis",
        "redis-cli",
        "incr",
        "visits",
    ]);
    // In use: never removed.
    let err = p.fails(&["volume", "rm", "cache_data"]);
    assert!(
        err.contains("in use by container(s) cache-redis-1"),
        "{err}"
    );
    p.ok(&["compose", "down"]);
    assert!(p.ps(&[]).is_empty());
    assert!(p.ok(&["volume", "ls", "-q"]).contains("cache_data"));
    p.ok(&["compose", "up", "-d"]);
    let got = p.ok(&[
        "compose",
        "exec",
        "-T",
        "redis",
        "redis-cli",
        "get",
        "visits",
    ]);
    assert_eq!(got.trim(), "42");
    // `fsck` is content with volumes; `down -v` removes the project's.
    p.ok(&["fsck"]);
    p.ok(&["compose", "down", "-v"]);
    assert!(!p.ok(&["volume", "ls", "-q"]).contains("cache_data"));
}

const TWO: &str = r#"
services:
  web:
    image: busybox:fixture
    command: sleep 300
    environment:
      GREETING: ${GREETING:-hello}
    stop_signal: SIGKILL
  job:
    image: busybox:fixture
    command: ["sh", "-c", "echo done $$HOSTNAME; exit 0"]
  after:
    image: busybox:fixture
    command: sleep 300
    stop_signal: SIGKILL
    depends_on:
      job:
        condition: service_completed_successfully
"#;

#[test]
fn two_projects_never_touch_each_other_and_only_what_changed_is_recreated() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    p.write("compose.yaml", TWO);
    p.ok(&["compose", "-p", "one", "up", "-d"]);
    p.ok(&["compose", "-p", "two", "up", "-d"]);
    let one = p.ps(&["-p", "one"]);
    let two = p.ps(&["-p", "two"]);
    assert_eq!(one.len(), 3, "{one:?}");
    assert_eq!(two.len(), 3, "{two:?}");
    let job = one.iter().find(|c| c["service"] == "job").unwrap();
    assert_eq!(job["state"], "exited", "{one:?}");
    let logs = p.ok(&["compose", "-p", "one", "logs", "job"]);
    assert!(logs.starts_with("one-job-1 | done "), "{logs}");
    // Interpolation from .env, and only `web` changes.
    p.write(".env", "GREETING=hi\n");
    let web_before = one.iter().find(|c| c["service"] == "web").unwrap()["id"].clone();
    let after_before = one.iter().find(|c| c["service"] == "after").unwrap()["id"].clone();
    p.ok(&["compose", "-p", "one", "up", "-d"]);
    let one2 = p.ps(&["-p", "one"]);
    let web = one2.iter().find(|c| c["service"] == "web").unwrap();
    assert_ne!(web["id"], web_before);
    assert_eq!(
        one2.iter().find(|c| c["service"] == "after").unwrap()["id"],
        after_before
    );
    let env = p.ok(&[
        "compose",
        "-p",
        "one",
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "echo $GREETING",
    ]);
    assert_eq!(env.trim(), "hi");
    // stop/start/restart one service of one project.
    p.ok(&["compose", "-p", "one", "stop", "web"]);
    let st = p.ps(&["-p", "one"]);
    assert_eq!(
        st.iter().find(|c| c["service"] == "web").unwrap()["state"],
        "exited"
    );
    assert_eq!(
        st.iter().find(|c| c["service"] == "after").unwrap()["state"],
        "running"
    );
    p.ok(&["compose", "-p", "one", "start", "web"]);
    p.ok(&["compose", "-p", "one", "restart", "web"]);
    assert_eq!(
        p.ps(&["-p", "one"])
            .iter()
            .find(|c| c["service"] == "web")
            .unwrap()["state"],
        "running"
    );
    // Replicas: two web containers, then back to one.
    p.write(
        "compose.yaml",
        &TWO.replace(
            "    stop_signal: SIGKILL\n  job:",
            "    stop_signal: SIGKILL\n    deploy: {replicas: 2}\n  job:",
        ),
    );
    p.ok(&["compose", "-p", "one", "up", "-d"]);
    let webs: Vec<String> = p
        .ps(&["-p", "one"])
        .iter()
        .filter(|c| c["service"] == "web")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(webs, ["one-web-1", "one-web-2"]);
    p.write("compose.yaml", TWO);
    let err =
        String::from_utf8_lossy(&p.ok_err(&["compose", "-p", "one", "up", "-d"])).into_owned();
    assert!(err.contains("one-web-2 removed (scaled down)"), "{err}");
    assert!(err.contains("one-web-1 up to date"), "{err}");
    // `down` of one leaves two running.
    p.ok(&["compose", "-p", "one", "down"]);
    assert!(p.ps(&["-p", "one"]).is_empty());
    let two2 = p.ps(&["-p", "two"]);
    assert_eq!(two2.len(), 3);
    assert_eq!(
        two2.iter().map(|c| c["id"].clone()).collect::<Vec<_>>(),
        two.iter().map(|c| c["id"].clone()).collect::<Vec<_>>()
    );
    p.ok(&["compose", "-p", "two", "down"]);
}

/// `compose config` on `text`: the error (stderr), which must name the
/// file and the line.
fn config_error(p: &Project, text: &str, line: usize) -> String {
    p.write("compose.yaml", text);
    let err = p.fails(&["compose", "config"]);
    let file = p.path().join("compose.yaml");
    assert!(
        err.contains(&format!("{}:{line}:", file.display())),
        "expected line {line} in: {err}"
    );
    err
}

#[test]
fn bad_input_names_file_line_and_service_and_starts_nothing() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    let e = config_error(&p, "services:\n  web:\n    image: [busybox\n", 4);
    assert!(e.contains("invalid YAML"), "{e}");
    let e = config_error(
        &p,
        "services:\n  web:\n    image: busybox:fixture\n    privileged: true\n",
        4,
    );
    assert!(
        e.contains("service \"web\": unsupported key \"privileged\""),
        "{e}"
    );
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        2,
    );
    assert!(e.contains("depends_on has a cycle: a -> b -> a"), "{e}");
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    depends_on: [nope]\n",
        4,
    );
    assert!(
        e.contains("service \"a\" depends on unknown service \"nope\""),
        "{e}"
    );
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: x\n    ports: [\"8080:81\"]\n",
        5,
    );
    assert!(
        e.contains("host port 8080 is already published by service \"a\""),
        "{e}"
    );
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    environment:\n      K: ${SKIFF_TEST_UNSET_VAR:?set it in .env}\n",
        5,
    );
    assert!(
        e.contains("SKIFF_TEST_UNSET_VAR") && e.contains("set it in .env"),
        "{e}"
    );
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    volumes: [\"v:/data\"]\nvolumes:\n  v:\n    name: ../etc\n",
        7,
    );
    assert!(e.contains("invalid volume name"), "{e}");
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    volumes: [\"undeclared:/d\"]\n",
        4,
    );
    assert!(e.contains("not declared"), "{e}");
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    deploy:\n      update_config:\n        delay: soon\n",
        6,
    );
    assert!(e.contains("update_config.delay"), "{e}");
    let e = config_error(
        &p,
        "services:\n  a:\n    image: x\n    deploy:\n      update_config: {failure_action: retry}\n",
        5,
    );
    assert!(e.contains("expected pause, continue or rollback"), "{e}");
    assert!(p
        .fails(&["run", "-d", "-l", "=x", "busybox:fixture", "true"])
        .contains("invalid --label \"=x\""));
    assert!(p
        .fails(&["volume", "create", "a/b"])
        .contains("invalid volume name"));
    assert!(p
        .fails(&["run", "-v", "a/b:/x", "busybox:fixture", "true"])
        .contains("invalid volume"));
    // A harmless key is a warning, and the obsolete version is accepted.
    p.write(
        "compose.yaml",
        "version: '3.8'\nservices:\n  a:\n    image: busybox:fixture\n    tty: true\n",
    );
    let o = p.skiff(&["compose", "config"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(":5: service \"a\": \"tty\" is not supported")
    );
    // A failed build names the service and lists what was started before.
    std::fs::create_dir_all(p.path().join("broken")).unwrap();
    p.write("broken/Dockerfile", "FROM busybox:fixture\nRUN exit 3\n");
    p.write(
        "compose.yaml",
        "services:\n  db:\n    image: busybox:fixture\n    command: sleep 300\n    stop_signal: SIGKILL\n  api:\n    build: ./broken\n    depends_on: [db]\n",
    );
    let e = p.fails(&["compose", "up", "-d"]);
    assert!(e.contains("service \"api\""), "{e}");
    assert!(e.contains("started before the failure: "), "{e}");
    assert!(e.contains("-db-1"), "{e}");
    p.ok(&["compose", "down"]);
    assert!(p.ps(&[]).is_empty());
    // A service that never becomes healthy: its dependant never starts.
    p.write(
        "compose.yaml",
        "services:\n  db:\n    image: busybox:fixture\n    command: sleep 300\n    stop_signal: SIGKILL\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 200ms\n      retries: 1\n  api:\n    image: busybox:fixture\n    command: sleep 300\n    depends_on:\n      db:\n        condition: service_healthy\n",
    );
    let e = p.fails(&["compose", "up", "-d", "--wait-timeout", "20s"]);
    assert!(
        e.contains("service \"api\": dependency \"db\" is unhealthy"),
        "{e}"
    );
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    p.ok(&["compose", "down"]);
    assert!(p.ok(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn rollback_moves_a_service_back_one_build_and_up_then_leaves_it_alone() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    p.write(
        "compose.yaml",
        "services:\n  w:\n    build: .\n    stop_signal: SIGKILL\n",
    );
    let version = |v: &str| {
        p.write(
            "Dockerfile",
            &format!("FROM busybox:fixture\nRUN echo {v} > /v\nCMD [\"sleep\", \"300\"]\n"),
        );
    };
    version("v1");
    p.ok(&["compose", "up", "-d", "--build"]);
    version("v2");
    let err = String::from_utf8_lossy(&p.ok_err(&["compose", "up", "-d", "--build"])).into_owned();
    assert!(err.contains("proj-w-1 recreated"), "{err}");
    assert_eq!(
        p.ok(&["compose", "exec", "-T", "w", "cat", "/v"]).trim(),
        "v2"
    );
    let t0 = Instant::now();
    p.ok(&["compose", "rollback", "w"]);
    // compose's stop_signal (SIGKILL) is kept by the rollout: no 10 s wait.
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(
        p.ok(&["compose", "exec", "-T", "w", "cat", "/v"]).trim(),
        "v1"
    );
    let err = String::from_utf8_lossy(&p.ok_err(&["compose", "up", "-d"])).into_owned();
    assert!(err.contains("proj-w-1 up to date"), "{err}");
    p.ok(&["compose", "down"]);
}

#[test]
fn a_change_that_fails_within_its_monitor_window_is_rolled_back() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    let file = |cmd: &str| {
        format!(
            "services:\n  w:\n    image: busybox:fixture\n    command: {cmd}\n    stop_signal: SIGKILL\n    deploy:\n      update_config: {{monitor: 3s, failure_action: rollback}}\n"
        )
    };
    p.write("compose.yaml", &file("sleep 300"));
    p.ok(&["compose", "up", "-d"]);
    p.write("compose.yaml", &file("sh -c 'sleep 1; exit 3'"));
    let err = p.fails(&["compose", "up", "-d"]);
    assert!(err.contains("service \"w\""), "{err}");
    assert!(
        err.contains("proj-w-1 exited (code 3) within its monitor window (3s)"),
        "{err}"
    );
    assert!(
        err.contains("rolled back (failure_action rollback): 1 container(s) on their previous configuration again"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0]["state"], "running", "{ps:?}");
    let cmd = p.ok(&["compose", "exec", "-T", "w", "cat", "/proc/1/cmdline"]);
    assert_eq!(cmd.replace('\0', " ").trim(), "sleep 300");
    p.ok(&["compose", "down"]);
}

impl Project {
    /// `skiff ARGS` started, not waited for; its stderr goes to `err`.
    fn spawn(&self, args: &[&str], err: &Path) -> std::process::Child {
        let ns = self.ns.as_ref().expect("ns");
        // nsenter execs skiff (no fork for a network namespace): the
        // child's pid is skiff's, so a signal to it reaches skiff.
        Command::new("nsenter")
            .arg(format!("--net={}", ns.path()))
            .arg(skiff_bin())
            .arg("--root")
            .arg(self.s.root())
            .args(args)
            .current_dir(self.path())
            .env_remove("SKIFF_ROOT")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(err).expect("stderr file"))
            .spawn()
            .expect("spawn skiff")
    }
}

/// Wait (bounded) for a child to end; its exit status.
fn wait_child(c: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(st) = c.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= until {
            let _ = c.kill();
            let _ = c.wait();
            panic!("skiff did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two replicas, their update_config and command given; each container
/// writes `start V` to ./shared/log when it starts and `stop V` on SIGTERM.
fn replicated(update: &str, v: &str, health: &str) -> String {
    format!(
        "services:\n  w:\n    image: busybox:fixture\n    environment: {{V: {v}}}\n    command: [\"sh\", \"-c\", \"echo start $$V >> /shared/log; {health}trap 'echo stop $$V >> /shared/log; exit 0' TERM; sleep 300 & wait\"]\n    volumes: [\"./shared:/shared\"]\n    healthcheck:\n      test: test -f /tmp/ok\n      interval: 300ms\n      retries: 1\n    deploy:\n      replicas: 2\n      update_config: {update}\n"
    )
}

#[test]
fn update_config_drives_the_replicas_rollout_and_a_failing_health_check_rolls_back() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    std::fs::create_dir(p.path().join("shared")).expect("mkdir");
    let log = || std::fs::read_to_string(p.path().join("shared/log")).unwrap_or_default();
    let ids = || -> Vec<Value> { p.ps(&[]).iter().map(|c| c["id"].clone()).collect() };
    let healthy = "touch /tmp/ok; ";
    // start-first, both at once: the new ones start before the old ones stop.
    let first = "{parallelism: 2, order: start-first}";
    p.write("compose.yaml", &replicated(first, "v1", healthy));
    p.ok(&["compose", "up", "-d"]);
    wait_for("two v1 starts", || log().matches("start v1").count() == 2);
    p.write("compose.yaml", &replicated(first, "v2", healthy));
    let err = String::from_utf8_lossy(&p.ok_err(&["compose", "up", "-d"])).into_owned();
    assert!(err.contains("proj-w-1 recreated"), "{err}");
    assert!(err.contains("proj-w-2 recreated"), "{err}");
    wait_for("two v1 stops", || log().matches("stop v1").count() == 2);
    let lines: Vec<String> = log().lines().map(str::to_string).collect();
    assert_eq!(
        lines[2..],
        ["start v2", "start v2", "stop v1", "stop v1"],
        "{lines:?}"
    );
    // One at a time, rollback on failure: v3 never turns healthy, so the
    // first replica is put back on v2 and the second is never touched.
    let second = "{parallelism: 1, monitor: 5s, failure_action: rollback}";
    p.write("compose.yaml", &replicated(second, "v2", healthy));
    p.ok(&["compose", "up", "-d"]);
    let before = ids();
    let n = log().lines().count();
    p.write("compose.yaml", &replicated(second, "v3", ""));
    let t0 = Instant::now();
    let err = p.fails(&["compose", "up", "-d"]);
    assert!(err.contains("service \"w\""), "{err}");
    assert!(err.contains("proj-w-1 turned unhealthy"), "{err}");
    assert!(
        err.contains("rolled back (failure_action rollback)"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let lines: Vec<String> = log().lines().skip(n).map(str::to_string).collect();
    // stop-first (compose's default order) without published ports.
    assert_eq!(
        lines,
        ["stop v2", "start v3", "stop v3", "start v2"],
        "the second replica must not have been touched: {lines:?}"
    );
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert!(ps.iter().all(|c| c["state"] == "running"), "{ps:?}");
    assert_eq!(ps[1]["id"], before[1], "{ps:?}");
    for i in ["1", "2"] {
        let v = p.ok(&[
            "compose", "exec", "-T", "--index", i, "w", "sh", "-c", "echo $V",
        ]);
        assert_eq!(v.trim(), "v2");
    }
    p.ok(&["compose", "down"]);
}

#[test]
fn two_ups_of_one_project_at_once_never_both_create() {
    let p = Project::new(TestStore::new().with_busybox(), true);
    // `slow` holds the first `up` for about two seconds (its dependant
    // waits for its health check), long enough for the second to meet it.
    p.write(
        "compose.yaml",
        "services:\n  slow:\n    image: busybox:fixture\n    command: sh -c 'sleep 2; touch /tmp/ok; sleep 300'\n    stop_signal: SIGKILL\n    healthcheck: {test: test -f /tmp/ok, interval: 200ms, retries: 1, start_period: 20s}\n  web:\n    image: busybox:fixture\n    command: sleep 300\n    stop_signal: SIGKILL\n    depends_on: {slow: {condition: service_healthy}}\n    deploy: {replicas: 2}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (e1, e2) = (dir.path().join("1"), dir.path().join("2"));
    let mut a = p.spawn(&["compose", "up", "-d"], &e1);
    std::thread::sleep(Duration::from_millis(500));
    let mut b = p.spawn(&["compose", "up", "-d"], &e2);
    let (sa, sb) = (
        wait_child(&mut a, Duration::from_secs(60)),
        wait_child(&mut b, Duration::from_secs(60)),
    );
    let (ea, eb) = (
        std::fs::read_to_string(&e1).unwrap_or_default(),
        std::fs::read_to_string(&e2).unwrap_or_default(),
    );
    assert!(sa.success() && sb.success(), "first: {ea}\nsecond: {eb}");
    assert!(
        eb.contains("Waiting for another skiff compose command on project proj"),
        "{eb}"
    );
    assert!(ea.contains("Container proj-web-2 started"), "{ea}");
    assert!(eb.contains("Container proj-web-2 up to date"), "{eb}");
    assert!(!eb.contains("started"), "{eb}");
    let ps = p.ps(&[]);
    assert_eq!(ps.len(), 3, "{ps:?}");
    // `down` waits for an `up` as well, then removes all it made.
    p.ok(&["compose", "down"]);
    let mut a = p.spawn(&["compose", "up", "-d"], &e1);
    std::thread::sleep(Duration::from_millis(500));
    let down = String::from_utf8_lossy(&p.ok_err(&["compose", "down"])).into_owned();
    assert!(wait_child(&mut a, Duration::from_secs(60)).success());
    assert!(down.contains("Waiting for another"), "{down}");
    assert!(down.contains("Container proj-web-2 removed"), "{down}");
    assert!(p.ps(&[]).is_empty());
}

#[test]
fn ctrl_c_of_an_attached_up_stops_the_project_and_a_second_one_kills() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let p = Project::new(TestStore::new().with_busybox(), true);
    std::fs::create_dir(p.path().join("shared")).expect("mkdir");
    // `polite` ends on SIGTERM (and says so); `stubborn` ignores it.
    p.write(
        "compose.yaml",
        "services:\n  polite:\n    image: busybox:fixture\n    command: [\"sh\", \"-c\", \"trap 'echo graceful >> /shared/log; exit 0' TERM; echo up; sleep 300 & wait\"]\n    volumes: [\"./shared:/shared\"]\n  stubborn:\n    image: busybox:fixture\n    command: [\"sh\", \"-c\", \"trap '' TERM; echo up; while true; do sleep 1; done\"]\n    stop_grace_period: 60s\n    profiles: [stubborn]\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("err");
    let running = |n: usize| {
        let ps = p.ps(&["--profile", "stubborn"]);
        ps.len() == n && ps.iter().all(|c| c["state"] == "running")
    };
    // SIGTERM: the container gets its stop signal and ends by itself.
    let mut up = p.spawn(&["compose", "up"], &err);
    wait_for("polite to run", || running(1));
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(up.id() as i32), Signal::SIGTERM).expect("kill");
    let st = wait_child(&mut up, Duration::from_secs(30));
    let text = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(st.code(), Some(143), "{text}");
    assert!(text.contains("Gracefully stopping"), "{text}");
    assert!(text.contains("Container proj-polite-1 stopped"), "{text}");
    let log = std::fs::read_to_string(p.path().join("shared/log")).unwrap_or_default();
    assert_eq!(log.trim(), "graceful");
    assert!(p.ps(&[]).iter().all(|c| c["state"] == "exited"));
    // Ctrl-C twice: the second kills what ignores its stop signal.
    let mut up = p.spawn(&["compose", "--profile", "stubborn", "up"], &err);
    wait_for("both to run", || running(2));
    std::thread::sleep(Duration::from_millis(300));
    let pid = Pid::from_raw(up.id() as i32);
    kill(pid, Signal::SIGINT).expect("kill");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        up.try_wait().expect("try_wait").is_none(),
        "stopped too soon"
    );
    let t0 = Instant::now();
    kill(pid, Signal::SIGINT).expect("kill");
    let st = wait_child(&mut up, Duration::from_secs(30));
    let text = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(st.code(), Some(130), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert!(text.contains("Killing"), "{text}");
    let ps = p.ps(&["--profile", "stubborn"]);
    assert!(ps.iter().all(|c| c["state"] == "exited"), "{ps:?}");
    p.ok(&["compose", "--profile", "stubborn", "down"]);
}
