//! End-to-end tests of `skiff build`: the Dockerfile subset, the cache,
//! reproducible digests, multi-stage, and errors that move no tag.

mod common;

use common::*;
use std::fs;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let full = dir.join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, c).unwrap();
    }
}

fn image_json(s: &TestStore, r: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", r])).unwrap();
    v[0].clone()
}

/// Build and return (stdout, stderr).
fn build(s: &TestStore, args: &[&str]) -> (String, String) {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    let out = s.run(&full);
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "build {args:?} failed: {e}");
    (o, e)
}

#[test]
fn node_api_builds_runs_and_rebuilds_only_what_changed() {
    let s = TestStore::new().with_node();
    let ctx = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("images/node-api/."))
        .arg(ctx.path())
        .status()
        .unwrap();
    assert!(status.success());
    let c = ctx.path().to_str().unwrap();
    let (id1, log) = build(&s, &["-t", "node-api:1.4", "-t", "node-api:latest", c]);
    assert!(log.contains("RUN npm ci"), "{log}");
    assert!(!log.contains("CACHED"), "cold build: {log}");
    let img = image_json(&s, "node-api:1.4");
    assert_eq!(
        img["Config"]["Cmd"],
        serde_json::json!(["node", "server.js"])
    );
    assert_eq!(img["Config"]["User"], "node");
    assert_eq!(img["Config"]["WorkingDir"], "/app");
    assert!(img["Config"]["ExposedPorts"]["3000/tcp"].is_object());
    assert_eq!(img["Config"]["Healthcheck"]["Interval"], 5_000_000_000i64);
    // The service's files are there, the ignored ones are not.
    let ls = s.ok(&["run", "--rm", "node-api:1.4", "ls", "-a", "/app"]);
    assert!(
        ls.contains("server.js") && ls.contains("package.json"),
        "{ls}"
    );
    assert!(
        !ls.contains("Dockerfile"),
        ".dockerignore lists Dockerfile*: {ls}"
    );

    // No change: everything cached, same image.
    let (id2, log) = build(&s, &["-t", "node-api", c]);
    assert_eq!(id1, id2);
    assert_eq!(log.matches("CACHED").count(), 9, "{log}");
    // A fresh copy with other mtimes still hits the cache.
    let ctx2 = tempfile::tempdir().unwrap();
    std::process::Command::new("cp")
        .arg("-r")
        .arg(format!("{c}/."))
        .arg(ctx2.path())
        .status()
        .unwrap();
    let (id3, _) = build(&s, &["-t", "node-api", ctx2.path().to_str().unwrap()]);
    assert_eq!(id1, id3, "mtimes must not change the cache key");

    // Edit server.js: only COPY . . and later steps run again.
    fs::write(ctx.path().join("server.js"), "console.log('v2')\n").unwrap();
    let (id4, log) = build(&s, &["-t", "node-api", c]);
    assert_ne!(id1, id4);
    let after_copy = log.split("COPY . .").nth(1).unwrap();
    assert!(!after_copy.contains("CACHED"), "{log}");
    assert!(
        log.split("COPY . .").next().unwrap().contains("CACHED"),
        "npm ci must be cached: {log}"
    );
    assert_eq!(log.matches("CACHED").count(), 4, "{log}");
    // Edit package.json: npm ci runs again.
    fs::write(
        ctx.path().join("package.json"),
        r#"{"name":"node-api","version":"1.0.1","private":true}"#,
    )
    .unwrap();
    fs::write(ctx.path().join("package-lock.json"), r#"{"name":"node-api","version":"1.0.1","lockfileVersion":3,"requires":true,"packages":{"":{"name":"node-api","version":"1.0.1"}}}"#).unwrap();
    let (_, log) = build(&s, &["-t", "node-api", c]);
    let npm = log
        .split("RUN npm ci")
        .nth(1)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap_or("");
    assert!(!npm.contains("CACHED"), "{log}");
    // --no-cache runs everything.
    let (_, log) = build(&s, &["--no-cache", "-t", "node-api", c]);
    assert!(!log.contains("CACHED"), "{log}");
    // Each build that moved the tag is a revision (reason build).
    let revs: serde_json::Value =
        serde_json::from_str(&s.ok(&["revisions", "node-api", "--format", "json"])).unwrap();
    assert!(revs.as_array().unwrap().len() >= 3);
    assert_eq!(revs[0]["reason"], "build");
    let hist = s.ok(&["history", "node-api"]);
    assert!(hist.contains("RUN npm ci"), "{hist}");
}

#[test]
fn same_inputs_give_the_same_digest_on_two_clean_stores() {
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), &[
        ("Dockerfile", "FROM busybox:fixture\nARG GREETING=hi\nRUN mkdir -p /out && echo $GREETING > /out/greeting && rm -rf /tmp/*\nCOPY a.txt /out/\nCMD [\"cat\", \"/out/greeting\"]\n"),
        ("a.txt", "a\n"),
    ]);
    let mut digests = Vec::new();
    for _ in 0..2 {
        let s = TestStore::new();
        let tar = fixtures().join("busybox.tar");
        let imp = s
            .cmd()
            .args(["import", tar.to_str().unwrap(), "busybox:fixture"])
            .env("SOURCE_DATE_EPOCH", "0")
            .output()
            .unwrap();
        assert!(imp.status.success());
        let out = s
            .cmd()
            .args(["build", "-t", "app", ctx.path().to_str().unwrap()])
            .env("SOURCE_DATE_EPOCH", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        digests.push(
            image_json(&s, "app")["Digest"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        assert_eq!(s.ok(&["run", "--rm", "app"]).trim(), "hi");
        // Touch the file: still the same digest with the epoch set.
        let f = fs::File::options()
            .write(true)
            .open(ctx.path().join("a.txt"))
            .unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn multi_stage_target_and_build_args() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                concat!(
                    "# escape=\\\n",
                    "ARG BASE=busybox:fixture\n",
                    "FROM ${BASE} AS build\n",
                    "ARG MODE=dev\n",
                    "WORKDIR /src\n",
                    "COPY src/ ./\n",
                    "RUN mkdir -p /dist && cat *.txt > /dist/all.txt \\\n",
                    "    && echo \"$MODE\" > /dist/mode\n",
                    "\n",
                    "FROM busybox:fixture AS unused\n",
                    "RUN exit 3\n",
                    "\n",
                    "FROM ${BASE} AS runtime\n",
                    "ENV APP_HOME=/app\n",
                    "WORKDIR ${APP_HOME}\n",
                    "COPY --from=build --chown=node:node /dist ./\n",
                    "LABEL org.example.mode=\"runtime image\"\n",
                    "USER node\n",
                    "ENTRYPOINT [\"cat\"]\n",
                    "CMD [\"all.txt\"]\n",
                ),
            ),
            ("src/a.txt", "A\n"),
            ("src/b.txt", "B\n"),
        ],
    );
    let c = ctx.path().to_str().unwrap();
    let (_, log) = build(&s, &["-t", "app", "--build-arg", "MODE=prod", c]);
    assert!(
        !log.contains("exit 3"),
        "the unused stage must not be built: {log}"
    );
    assert_eq!(s.ok(&["run", "--rm", "app"]), "A\nB\n");
    assert_eq!(s.ok(&["run", "--rm", "app", "mode"]).trim(), "prod");
    let ls = s.ok(&["run", "--rm", "--entrypoint", "ls", "app", "-ln", "/app"]);
    assert!(
        ls.contains(" 1000 ") && ls.contains(" 1000 "),
        "--chown=node:node: {ls}"
    );
    let img = image_json(&s, "app");
    assert_eq!(img["Config"]["Labels"]["org.example.mode"], "runtime image");
    assert_eq!(
        img["Config"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.as_str().unwrap().starts_with("APP_HOME="))
            .count(),
        1
    );
    // --target builds only up to that stage.
    let (_, log) = build(&s, &["-t", "b", "--target", "build", c]);
    assert!(!log.contains("runtime"), "{log}");
    assert_eq!(
        s.ok(&["run", "--rm", "b", "cat", "/dist/mode"]).trim(),
        "dev"
    );
}

#[test]
fn add_unpacks_local_tars_and_refuses_urls() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let inner = tempfile::tempdir().unwrap();
    write(inner.path(), &[("x/y.txt", "inside\n")]);
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ctx.path().join("bundle.tar.gz"))
        .arg("-C")
        .arg(inner.path())
        .arg("x")
        .status()
        .unwrap();
    assert!(st.success());
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox:fixture\nADD bundle.tar.gz /opt/\nADD plain.txt /opt/plain.txt\n",
            ),
            ("plain.txt", "p\n"),
        ],
    );
    build(&s, &["-t", "add", ctx.path().to_str().unwrap()]);
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "add",
            "cat",
            "/opt/x/y.txt",
            "/opt/plain.txt"
        ]),
        "inside\np\n"
    );
    write(
        ctx.path(),
        &[(
            "Dockerfile",
            "FROM busybox:fixture\nADD https://example.com/x.tgz /opt/\n",
        )],
    );
    let err = s.fails(&["build", "-t", "add", ctx.path().to_str().unwrap()], 125);
    assert!(
        err.contains("Dockerfile:2") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn errors_name_file_and_line_and_move_no_tag() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path().to_str().unwrap().to_string();
    write(
        ctx.path(),
        &[("Dockerfile", "FROM busybox:fixture\nRUN echo one > /one\n")],
    );
    build(&s, &["-t", "app", &c]);
    let before = s.ok(&["revisions", "app", "--format", "json"]);
    let cases: &[(&str, i32, &str)] = &[
        ("FROM busybox:fixture\nCOPY onlyone\n", 125, "Dockerfile:2"),
        (
            "FROM busybox:fixture\nFORM x\n",
            125,
            "Dockerfile:2: unknown instruction",
        ),
        (
            "FROM busybox:fixture\nCOPY ../outside /x\n",
            125,
            "outside the build context",
        ),
        (
            "FROM busybox:fixture\nCOPY missing.txt /x\n",
            125,
            "missing.txt",
        ),
        ("FROM nosuch:image\n", 125, "Dockerfile:1"),
        (
            "FROM busybox:fixture\nONBUILD ONBUILD RUN x\n",
            125,
            "Dockerfile:2",
        ),
        (
            "FROM busybox:fixture\nCOPY --from=nostage /x /y\n",
            125,
            "nostage",
        ),
        (
            "FROM busybox:fixture\n\nRUN echo failing-output; exit 7\n",
            7,
            "Dockerfile:3",
        ),
        (
            "FROM busybox:fixture\nRUN no-such-command\n",
            127,
            "Dockerfile:2",
        ),
    ];
    for (df, code, needle) in cases {
        fs::write(ctx.path().join("Dockerfile"), df).unwrap();
        let err = s.fails(&["build", "-t", "app", &c], *code);
        assert!(err.contains(needle), "{df:?}: {err}");
    }
    let err = s.fails(&["build", "-t", "app", "--target", "nope", &c], 125);
    assert!(err.contains("nope"), "{err}");
    assert_eq!(
        before,
        s.ok(&["revisions", "app", "--format", "json"]),
        "no tag moved"
    );
    // No container or staging directory is left behind by the failures.
    assert_eq!(
        fs::read_dir(s.root().join("containers")).unwrap().count(),
        0
    );
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_killed_build_leaves_a_valid_store_and_the_next_one_reuses_finished_steps() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        &[
            (
                "Dockerfile",
                "FROM busybox:fixture\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN sleep 30\n",
            ),
            ("a.txt", "a"),
        ],
    );
    let c = ctx.path().to_str().unwrap();
    let mut child = s
        .cmd()
        .args(["build", "-t", "slow", c])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the slow RUN's container exists, then kill -9 the build.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n = fs::read_dir(s.root().join("containers"))
            .map(|d| d.count())
            .unwrap_or(0);
        if n > 0 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let orphans: Vec<String> = fs::read_dir(s.root().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(orphans.len(), 1);
    s.fails(&["inspect", "slow"], 125);
    // The next build: the finished steps are cached, the orphans are gone.
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN echo done > /done\n",
    )
    .unwrap();
    let (_, log) = build(&s, &["-t", "slow", c]);
    assert_eq!(log.matches("CACHED").count(), 2, "{log}");
    assert_eq!(
        s.ok(&["run", "--rm", "slow", "cat", "/first", "/done"]),
        "first\ndone\n"
    );
    assert_eq!(
        fs::read_dir(s.root().join("containers")).unwrap().count(),
        0,
        "orphaned build container removed"
    );
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    let cg_left = std::process::Command::new("sh")
        .arg("-c")
        .arg("ls /sys/fs/cgroup/*/skiff/ /sys/fs/cgroup/skiff/ 2>/dev/null")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&cg_left.stdout);
    assert!(
        !listing.contains(&orphans[0]),
        "the orphan's cgroup is removed: {listing}"
    );
}
