//! Daily commands as docker and PM2 users type them: version, info, the
//! container/image/system groups, ps filters and templates, logs -n, the
//! prunes, "did you mean", rmi and tag rules.

mod common;

use common::*;

/// Removes the store's containers when dropped (also when the test fails):
/// supervisors would outlive the test otherwise.
struct Reaper<'a>(&'a TestStore);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        let ids = self.0.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

fn run_d(s: &TestStore, name: &str, image: &str, cmd: &[&str]) {
    let mut a = vec!["run", "-d", "--name", name, image];
    a.extend_from_slice(cmd);
    s.ok(&a);
}

/// An image with a label, built from busybox (no RUN: fast).
fn labelled(s: &TestStore, tag: &str, label: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM busybox:fixture\nLABEL {label}\n"),
    )
    .unwrap();
    s.ok(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()]);
}

#[test]
fn version_and_info_in_text_and_json() {
    let s = TestStore::new();
    let _reaper = Reaper(&s);
    let v = s.ok(&["version"]);
    assert!(
        v.starts_with("skiff version ") && v.contains("Kernel:"),
        "{v}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&s.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(j["Version"], env!("CARGO_PKG_VERSION"));
    let text = s.ok(&["info"]);
    for k in [
        "Store:",
        "Cgroup version:",
        "Cgroup controllers:",
        "Kernel version:",
        "Default network:",
        "no-new-privileges",
    ] {
        assert!(text.contains(k), "{k} missing in {text}");
    }
    let j: serde_json::Value =
        serde_json::from_str(&s.ok(&["system", "info", "--format", "json"])).unwrap();
    assert_eq!(j["Store"], s.root().to_str().unwrap());
    let cg = j["CgroupVersion"].as_str().unwrap();
    assert!(cg == "1" || cg == "2", "{j}");
    assert!(
        !j["CgroupControllers"].as_array().unwrap().is_empty(),
        "{j}"
    );
    assert_eq!(
        j["SecurityOptions"]["capabilities"]
            .as_array()
            .unwrap()
            .len(),
        14
    );
    // The tests run with SKIFF_NETWORK=private (tests/common); else bridge.
    assert_eq!(j["DefaultNetwork"], "private");
    let e = s.fails(&["info", "--format", "yaml"], 125);
    assert!(e.contains("text or json"), "{e}");
}

#[test]
fn ps_filters_templates_and_the_groups() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    labelled(&s, "api:1", "team=payments");
    run_d(&s, "web-1", "busybox:fixture", &["sleep", "600"]);
    run_d(&s, "api-1", "api:1", &["sleep", "600"]);
    s.ok(&["run", "--name", "job-1", "busybox:fixture", "true"]);
    let names = |args: &[&str]| {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = s.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["api-1", "web-1"]);
    assert_eq!(names(&["-a"]), ["api-1", "job-1", "web-1"]);
    assert_eq!(names(&["--filter", "name=web"]), ["web-1"]);
    assert_eq!(
        names(&["--filter", "status=exited"]),
        ["job-1"],
        "status shows stopped ones without -a"
    );
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        ["job-1", "web-1"]
    );
    assert_eq!(names(&["--filter", "ancestor=api:1"]), ["api-1"]);
    assert_eq!(names(&["--filter", "label=team=payments"]), ["api-1"]);
    assert_eq!(names(&["--filter", "label=team"]), ["api-1"]);
    assert!(names(&["--filter", "label=team=other"]).is_empty());
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "name=web",
            "--filter",
            "name=job",
            "--filter",
            "status=running"
        ]),
        ["web-1"],
        "values of one key OR, keys AND"
    );
    // `run --label` on top of the image's labels.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "lab-1",
        "-l",
        "tier=edge",
        "-l",
        "team=web",
        "api:1",
        "sleep",
        "600",
    ]);
    assert_eq!(names(&["--filter", "label=tier=edge"]), ["lab-1"]);
    assert_eq!(
        names(&["--filter", "label=team=payments"]),
        ["api-1"],
        "the container's label wins"
    );
    assert_eq!(
        s.ok(&["ps", "--filter", "name=lab", "--format", "{{.Labels}}"]),
        "team=web,tier=edge\n"
    );
    s.ok(&["rm", "-f", "lab-1"]);
    assert_eq!(
        names(&["--filter", "health=none"]),
        ["api-1", "web-1"],
        "no health check"
    );
    assert!(names(&["--filter", "health=healthy"]).is_empty());
    let e = s.fails(&["ps", "--filter", "colour=red"], 125);
    assert!(
        e.contains("invalid filter \"colour\"") && e.contains("ancestor"),
        "{e}"
    );
    let e = s.fails(&["ps", "--filter", "status=up"], 125);
    assert!(e.contains("running"), "{e}");

    let out = s.ok(&[
        "ps",
        "--filter",
        "name=web",
        "--format",
        "{{.ID}} {{.Status}} {{.State}}",
    ]);
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f[0].len(), 12);
    assert_eq!((f[1], f.last().copied()), ("Up", Some("running")), "{out}");
    let out = s.ok(&[
        "container",
        "ls",
        "--format",
        "table {{.Names}}\\t{{.Image}}",
        "--filter",
        "name=api",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAMES") && lines[0].contains("IMAGE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("api-1") && lines[1].contains("api:1"),
        "{out}"
    );
    let e = s.fails(&["ps", "--format", "{{.Nmae}}"], 125);
    assert!(
        e.contains("unknown field \".Nmae\"") && e.contains(".Names"),
        "{e}"
    );
    let j: serde_json::Value = serde_json::from_str(
        s.ok(&["ps", "--filter", "name=web", "--format", "{{json .}}"])
            .trim(),
    )
    .unwrap();
    assert_eq!(j["Names"], "web-1");

    let imgs = s.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut imgs: Vec<&str> = imgs.lines().collect();
    imgs.sort();
    assert_eq!(imgs, ["api:1", "busybox:fixture"]);
    let e = s.fails(&["images", "--format", "{{.Names}}"], 125);
    assert!(e.contains(".Repository"), "{e}");
    assert_eq!(s.ok(&["image", "ls"]), s.ok(&["images"]));
    assert_eq!(
        s.ok(&["container", "ls", "-a", "-q"]),
        s.ok(&["ps", "-a", "-q"])
    );
}

#[test]
fn logs_n_and_the_prunes() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    run_d(
        &s,
        "printer",
        "busybox:fixture",
        &["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"],
    );
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s
        .ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"])
        .is_empty()
    {
        assert!(std::time::Instant::now() < until, "printer never exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(s.ok(&["logs", "-n", "2", "printer"]), "line4\nline5\n");
    assert_eq!(
        s.ok(&["container", "logs", "--tail", "1", "printer"]),
        "line5\n"
    );
    run_d(&s, "keeper", "busybox:fixture", &["sleep", "600"]);
    // Without -f, a prune asks; no answer means no.
    let out = s.ok(&["container", "prune"]);
    assert!(!out.contains("Deleted"), "{out}");
    assert!(s
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .contains("printer"));
    let out = s.ok(&["container", "prune", "-f"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(s.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keeper\n");

    // image prune -a keeps only the current revision of each tag (and what
    // containers use); system prune also removes stopped containers.
    labelled(&s, "app:1", "v=1");
    labelled(&s, "app:1", "v=2");
    s.ok(&["run", "--name", "done", "busybox:fixture", "true"]);
    let revs = s.ok(&["revisions", "app:1", "--format", "json"]);
    let old = serde_json::from_str::<serde_json::Value>(&revs).unwrap()[1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = s
        .root()
        .join("oci/blobs/sha256")
        .join(old.trim_start_matches("sha256:"));
    assert!(blob.is_file());
    let out = s.ok(&["system", "prune", "-a", "-f"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Deleted Images:"),
        "{out}"
    );
    assert!(!blob.exists(), "the old revision's image is gone");
    assert_eq!(s.ok(&["ps", "-a", "--format", "{{.Names}}"]), "keeper\n");
    s.ok(&["run", "--rm", "app:1", "true"]);
    s.ok(&["run", "--rm", "busybox:fixture", "true"]);
    s.ok(&["image", "prune", "-f"]);
}

#[test]
fn mistyped_commands_and_names_suggest_what_was_meant() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    let e = s.fails(&["list"], 125);
    assert!(e.contains("did you mean: skiff ps"), "{e}");
    let e = s.fails(&["reload"], 125);
    assert!(e.contains("did you mean: skiff rollout"), "{e}");
    // PM2's `monit` is skiff's `stats` (a real command), never `start`.
    let e = s.fails(&["monit"], 125);
    assert!(e.contains("did you mean: skiff stats"), "{e}");
    let e = s.fails(&["sytem", "prune"], 125);
    assert!(e.contains("did you mean: skiff system"), "{e}");
    let e = s.fails(&["image", "lss"], 125);
    assert!(e.contains("did you mean: skiff image ls"), "{e}");
    let e = s.fails(&["frobnicate"], 125);
    assert!(!e.contains("did you mean"), "{e}");
    run_d(&s, "node-api", "busybox:fixture", &["sleep", "600"]);
    let e = s.fails(&["logs", "node-apu"], 125);
    assert!(
        e.contains("no such container: node-apu (did you mean node-api?)"),
        "{e}"
    );
    let e = s.fails(&["run", "--rm", "busybox:fixtures", "true"], 125);
    assert!(e.contains("did you mean busybox:fixture?"), "{e}");
    let e = s.fails(&["run", "--rm", "busybx", "true"], 125);
    assert!(e.contains("did you mean busybox?"), "{e}");
}

#[test]
fn rmi_refuses_the_last_tag_of_a_used_image_and_tag_is_idempotent() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    s.ok(&["tag", "busybox:fixture", "base:1"]);
    s.ok(&["tag", "busybox:fixture", "base:1"]);
    let revs: serde_json::Value =
        serde_json::from_str(&s.ok(&["revisions", "base:1", "--format", "json"])).unwrap();
    assert_eq!(
        revs.as_array().unwrap().len(),
        1,
        "tag to the same image adds no revision"
    );
    run_d(&s, "user", "base:1", &["sleep", "600"]);
    // Another tag still names the image: removing this one is fine.
    s.ok(&["rmi", "busybox:fixture"]);
    let e = s.fails(&["rmi", "base:1"], 125);
    assert!(
        e.contains("used by container user") && e.contains("-f"),
        "{e}"
    );
    s.ok(&["rmi", "-f", "base:1"]);
    assert!(
        s.ok(&["ps", "--format", "{{.Names}}"]).contains("user"),
        "the container keeps running"
    );
}

#[test]
fn relative_volumes_and_env_file_rules() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("data")).unwrap();
    std::fs::write(cwd.path().join("data/hello"), "from the host\n").unwrap();
    let out = s
        .cmd()
        .current_dir(cwd.path())
        .args([
            "run",
            "--rm",
            "-v",
            "./data:/data:ro",
            "busybox:fixture",
            "cat",
            "/data/hello",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the host\n");
    let e = s.fails(
        &[
            "run",
            "--rm",
            "-v",
            "data/x:/data",
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(e.contains("invalid volume name") && e.contains("./"), "{e}");

    let env = cwd.path().join("app.env");
    std::fs::write(&env, "# settings\nA=1\nexport B=2\n").unwrap();
    let e = s.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            env.to_str().unwrap(),
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(
        e.contains("line 3") && e.contains("\"export B\"") && e.contains("whitespace"),
        "{e}"
    );
    std::fs::write(&env, "A=1\nSPACED = x\n").unwrap();
    let e = s.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            env.to_str().unwrap(),
            "busybox:fixture",
            "true",
        ],
        125,
    );
    assert!(e.contains("line 2") && e.contains("\"SPACED \""), "{e}");
    std::fs::write(&env, "# ok\nA=1\nB=two words\n").unwrap();
    let out = s.ok(&[
        "run",
        "--rm",
        "--env-file",
        env.to_str().unwrap(),
        "busybox:fixture",
        "sh",
        "-c",
        "echo $A-$B",
    ]);
    assert_eq!(out, "1-two words\n");
    assert!(s.ok(&["ps", "-a", "-q"]).is_empty());
}

fn state(s: &TestStore, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", name])).unwrap();
    let id = v[0]["Id"].as_str().unwrap().to_string();
    let p = s.root().join("containers").join(id).join("state.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Wait until `name` runs under the supervisor `pid` (any, with None).
fn wait_up(s: &TestStore, name: &str, pid: Option<i64>) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while std::time::Instant::now() < until {
        let st = state(s, name);
        let running = st["status"] == "running" && st["pid"].is_i64();
        let by = st["supervisor"]["pid"].as_i64();
        if running
            && (pid.is_none() || by == pid)
            && s.run(&["exec", name, "true"]).status.success()
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

#[test]
fn a_keeper_adopts_a_container_whose_supervisor_was_killed() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--restart",
        "always",
        "busybox:fixture",
        "sleep",
        "600",
    ]);
    let unit = s.ok(&["generate", "systemd", "svc"]);
    assert!(
        unit.contains(" supervise svc\n") && unit.contains("Restart=on-failure"),
        "{unit}"
    );
    let mut keeper = s.cmd().args(["supervise", "svc"]).spawn().unwrap();
    // Wait until the keeper blocks on the supervisor's lock.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{}/wchan", keeper.id()))
        .unwrap_or_default()
        .contains("lock")
        && std::time::Instant::now() < until
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sup = state(&s, "svc")["supervisor"]["pid"].as_i64().unwrap();
    assert_ne!(sup, keeper.id() as i64, "run -d's supervisor owns it first");
    // kill -9 of the supervisor: the waiting keeper adopts within seconds.
    let t0 = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_up(&s, "svc", Some(keeper.id() as i64)),
        "not restarted: {}",
        state(&s, "svc")
    );
    eprintln!("restarted by the keeper in {:?}", t0.elapsed());
    // The keeper itself killed: the next one (Restart= in the unit) starts it again.
    keeper.kill().unwrap();
    keeper.wait().unwrap();
    let mut keeper = s.cmd().args(["supervise", "svc"]).spawn().unwrap();
    assert!(
        wait_up(&s, "svc", Some(keeper.id() as i64)),
        "{}",
        state(&s, "svc")
    );
    // A user's stop ends the keeper with 0 (no restart by the unit).
    s.ok(&["stop", "-t", "1", "svc"]);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let code = loop {
        if let Some(st) = keeper.try_wait().unwrap() {
            break st.code();
        }
        assert!(std::time::Instant::now() < until, "the keeper did not end");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let e = s.fails(&["generate", "systemd", "nosuch"], 125);
    assert!(e.contains("no such container"), "{e}");
}

/// `build` (not quiet): the "N steps, M cached" line.
fn build_cached(s: &TestStore, ctx: &std::path::Path) -> (usize, usize) {
    let out = s.run(&["build", "-t", "app", ctx.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.starts_with("Built "))
        .unwrap_or_else(|| panic!("{err}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let n = nums.len();
    (nums[n - 2], nums[n - 1])
}

#[test]
fn prune_keeps_the_build_cache_of_the_newest_build_until_asked() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture AS deps\nRUN echo installed > /deps.txt\n\
         FROM busybox:fixture\nCOPY --from=deps /deps.txt /deps.txt\nCMD [\"cat\", \"/deps.txt\"]\n",
    )
    .unwrap();
    let (steps, cached) = build_cached(&s, ctx.path());
    assert!(steps >= 3 && cached < steps, "{steps} {cached}");
    let out = s.ok(&["prune", "--keep", "1"]);
    assert!(
        out.contains("Kept ") && out.contains("build cache entries"),
        "{out}"
    );
    let (steps, cached) = build_cached(&s, ctx.path());
    assert_eq!(cached, steps, "a rebuild after prune is still warm");
    let out = s.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Deleted build cache entries:"), "{out}");
    assert_eq!(s.ok(&["run", "--rm", "app"]), "installed\n", "images stay");
    let (_, cached) = build_cached(&s, ctx.path());
    assert!(
        cached < steps,
        "the cache was dropped: {cached} of {steps} cached"
    );
    s.ok(&["prune", "--build-cache"]);
    let out = s.ok(&["prune", "--keep", "1", "--build-cache"]);
    assert!(!out.contains("Kept "), "{out}");
}

#[test]
fn logs_follow_a_container_across_its_restarts() {
    use std::io::Read;
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "flappy",
        "--restart",
        "always",
        "busybox:fixture",
        "sh",
        "-c",
        "echo run; sleep 0.3; exit 1",
    ]);
    let mut child = s
        .cmd()
        .args(["logs", "-f", "flappy"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while seen.lock().unwrap().matches("run").count() < 3 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let still_following = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    s.ok(&["rm", "-f", "flappy"]);
    let text = seen.lock().unwrap().clone();
    assert!(text.matches("run").count() >= 3, "{text:?}");
    assert!(still_following, "logs -f ended at a restart");
}
