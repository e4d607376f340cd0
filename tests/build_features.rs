//! End-to-end tests of the Dockerfile 1.4+ features of `skiff build`:
//! heredocs, RUN --mount (secret, cache, bind, tmpfs), ONBUILD, `--check`
//! and the warnings a build prints. Real builds over the busybox fixture.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let full = dir.path().join(p);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, c).unwrap();
    }
    dir
}

/// Builds; returns stderr (the log). Panics with the log on failure.
fn build(s: &TestStore, args: &[&str]) -> String {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    let out = s.run(&full);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build {args:?} failed: {err}");
    err
}

fn run_out(s: &TestStore, image: &str, cmd: &str) -> String {
    s.ok(&["run", "--rm", image, "sh", "-c", cmd])
}

fn inspect(s: &TestStore, r: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", r])).unwrap();
    v[0].clone()
}

fn p(d: &tempfile::TempDir) -> &str {
    d.path().to_str().unwrap()
}

/// Every file under `dir` (blobs, layers, cache, containers, tmp, ...).
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Does any file of the store (blobs gunzipped too) hold `needle`?
fn store_holds(s: &TestStore, needle: &[u8]) -> Vec<PathBuf> {
    use std::io::Read;
    let found = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let mut hits = Vec::new();
    for f in all_files(s.root()) {
        let Ok(bytes) = fs::read(&f) else { continue };
        let mut plain = Vec::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let _ = flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut plain);
        }
        if found(&bytes) || found(&plain) {
            hits.push(f);
        }
    }
    hits
}

#[test]
fn heredocs_in_run_copy_and_add() {
    let s = TestStore::new().with_busybox();
    let df = "FROM busybox:fixture\n\
ARG WHO=world\n\
RUN <<EOF\n\
mkdir -p /out\n\
echo \"hello $WHO\" > /out/run1\n\
EOF\n\
RUN cat > /out/run2 <<'EOT'\n\
literal $WHO\n\
EOT\n\
RUN <<-EOF\n\
\techo tabbed > /out/run3\n\
\tEOF\n\
RUN cat <<A > /out/a && cat <<B > /out/b\n\
first\n\
A\n\
second\n\
B\n\
COPY <<EOF /out/copied\n\
value=$WHO \"kept quotes\"\n\
EOF\n\
ADD <<\"EOF\" /out/raw\n\
value=$WHO\n\
EOF\n\
COPY <<one.txt <<two.txt /out/dir/\n\
1\n\
one.txt\n\
2\n\
two.txt\n\
RUN <<EOF\n\
#!/bin/sh\n\
echo shebang > /out/shebang\n\
EOF\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, &["-t", "here:1", p(&ctx)]);
    let out = run_out(
        &s,
        "here:1",
        "cd /out && cat run1 run2 run3 a b copied raw dir/one.txt dir/two.txt shebang; ls /dev/pipes 2>&1 | head -1",
    );
    assert_eq!(
        out,
        "hello world\nliteral $WHO\ntabbed\nfirst\nsecond\nvalue=world \"kept quotes\"\nvalue=$WHO\n1\n2\nshebang\nls: /dev/pipes: No such file or directory\n"
    );
    // Same heredocs: all cached; a changed body reruns its step.
    let log = build(&s, &["-t", "here:1", p(&ctx)]);
    assert!(log.contains("9 steps, 9 cached"), "{log}");
    fs::write(
        ctx.path().join("Dockerfile"),
        df.replace("second", "SECOND"),
    )
    .unwrap();
    let log = build(&s, &["-t", "here:2", p(&ctx)]);
    assert!(log.contains("9 steps, 4 cached"), "{log}");
    assert_eq!(run_out(&s, "here:2", "cat /out/b"), "SECOND\n");
}

#[test]
fn heredoc_never_closed_is_refused_with_its_line() {
    let s = TestStore::new().with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nRUN true\nRUN <<EOF\necho hi\n",
    )]);
    let before = tree_snapshot(s.root());
    let err = s.fails(&["build", "-t", "x:1", p(&ctx)], 125);
    assert!(
        err.contains("Dockerfile:3: the heredoc <<EOF is never closed"),
        "{err}"
    );
    assert_eq!(tree_snapshot(s.root()), before);
}

#[test]
fn secrets_reach_the_step_and_nothing_else() {
    let s = TestStore::new().with_busybox();
    let token = format!("skiff-secret-{:016x}", rand_u64());
    let ca = format!("skiff-ca-{:016x}", rand_u64());
    let files = tempfile::tempdir().unwrap();
    let npmrc = files.path().join("npmrc");
    fs::write(&npmrc, format!("//registry.example/:_authToken={token}\n")).unwrap();
    let df = "FROM busybox:fixture\n\
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc grep -q _authToken=skiff-secret- /root/.npmrc && test \"$(stat -c %a /root/.npmrc)\" = 400 && echo npm-ok > /npm-ok\n\
RUN --mount=type=secret,id=ca,mode=0444,uid=1000 test \"$(stat -c '%a %u' /run/secrets/ca)\" = '444 1000' && grep -q skiff-ca- /run/secrets/ca && echo ca-ok > /ca-ok\n\
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent-ok > /absent-ok\n";
    let ctx = context(&[("Dockerfile", df)]);
    let secret_arg = format!("id=npmrc,src={}", npmrc.display());
    let out = s
        .cmd()
        .env("SKIFF_TEST_CA", &ca)
        .args([
            "build",
            "--secret",
            &secret_arg,
            "--secret",
            "id=ca,env=SKIFF_TEST_CA",
        ])
        .args(["-t", "sec:1", p(&ctx)])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(&token) && !log.contains(&ca), "{log}");
    assert_eq!(
        run_out(&s, "sec:1", "cat /npm-ok /ca-ok /absent-ok; test ! -e /root/.npmrc && test ! -e /run/secrets && echo clean"),
        "npm-ok\nca-ok\nabsent-ok\nclean\n"
    );
    // Not in any blob, layer, cache entry or leftover of the store.
    for needle in [&token, &ca] {
        let hits = store_holds(&s, needle.as_bytes());
        assert!(hits.is_empty(), "{needle} found in {hits:?}");
    }
    // A changed secret is not part of the cache key (as buildkit).
    fs::write(
        &npmrc,
        "//registry.example/:_authToken=skiff-secret-changed\n",
    )
    .unwrap();
    let out = s
        .cmd()
        .env("SKIFF_TEST_CA", "skiff-ca-changed")
        .args([
            "build",
            "--secret",
            &secret_arg,
            "--secret",
            "id=ca,env=SKIFF_TEST_CA",
        ])
        .args(["-t", "sec:1", p(&ctx)])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(log.contains("3 steps, 3 cached"), "{log}");
}

#[test]
fn secret_errors_change_nothing() {
    let s = TestStore::new().with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nRUN --mount=type=secret,id=need,required=true true\n",
    )]);
    let before = tree_snapshot(s.root());
    let err = s.fails(&["build", "-t", "x:1", p(&ctx)], 125);
    assert!(
        err.contains("Dockerfile:2") && err.contains("--secret id=need"),
        "{err}"
    );
    let missing = ctx.path().join("no-such-file");
    let arg = format!("id=need,src={}", missing.display());
    let err = s.fails(&["build", "--secret", &arg, "-t", "x:1", p(&ctx)], 125);
    assert!(err.contains("no-such-file"), "{err}");
    assert!(s.run(&["inspect", "x:1"]).status.code() != Some(0));
    // Nothing of the store changed but what a failed build may leave in tmp/.
    let after: Vec<_> = tree_snapshot(s.root())
        .into_iter()
        .filter(|(p, _, _)| {
            !p.starts_with(s.root().join("tmp")) && !p.starts_with(s.root().join("containers"))
        })
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(p, _, _)| {
            !p.starts_with(s.root().join("tmp")) && !p.starts_with(s.root().join("containers"))
        })
        .collect();
    assert_eq!(after, before);
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    u64::from_le_bytes(b)
}

#[test]
fn cache_mounts_survive_builds_and_go_only_when_pruned() {
    let s = TestStore::new().with_busybox();
    let df = "FROM busybox:fixture\n\
ARG N=1\n\
RUN --mount=type=cache,target=/root/.npm,id=npm,sharing=locked echo $N >> /root/.npm/log && cp /root/.npm/log /seen\n\
RUN --mount=type=cache,target=/c,id=owned,mode=0700,uid=1000,gid=1000 stat -c '%a %u %g' /c > /owned\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, &["--build-arg", "N=1", "-t", "cm:1", p(&ctx)]);
    build(&s, &["--build-arg", "N=2", "-t", "cm:2", p(&ctx)]);
    assert_eq!(
        run_out(&s, "cm:2", "cat /seen /owned; test -e /root/.npm || echo no-cache-in-image; test -e /c || echo no-c"),
        "1\n2\n700 1000 1000\nno-cache-in-image\nno-c\n"
    );
    assert!(s.root().join("cache-mounts/npm/log").is_file());
    // The store with cache mounts in it is sound.
    s.ok(&["fsck"]);
    let ls = s.ok(&["build-cache", "ls"]);
    assert!(ls.contains("npm") && ls.contains("owned"), "{ls}");
    // Ordinary prune keeps them.
    s.ok(&["prune"]);
    assert!(s.root().join("cache-mounts/npm/log").is_file());
    let out = s.ok(&["build-cache", "prune", "npm"]);
    assert!(out.contains("Removed cache npm"), "{out}");
    assert!(!s.root().join("cache-mounts/npm").exists());
    let out = s.ok(&["prune", "--build-cache"]);
    assert!(out.contains("cache mount owned"), "{out}");
    assert!(!s.ok(&["build-cache", "ls"]).contains("owned"));
}

#[test]
fn bind_and_tmpfs_mounts_leave_nothing_in_the_layer() {
    let s = TestStore::new().with_busybox();
    let df = "FROM busybox:fixture AS src\n\
RUN mkdir /data && echo from-stage > /data/f\n\
FROM busybox:fixture\n\
RUN --mount=type=bind,source=ctx.txt,target=/mnt/ctx.txt cp /mnt/ctx.txt /ctx-copy\n\
RUN --mount=type=bind,from=src,source=/data,target=/mnt/data cp /mnt/data/f /stage-copy\n\
RUN --mount=type=bind,target=/w,rw echo scratch > /w/new && test -f /w/new && ! touch /ro-check-skip 2>/dev/null || true\n\
RUN --mount=type=bind,target=/ro sh -c '! touch /ro/x 2>/dev/null' && echo ro-ok > /ro-ok\n\
RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/y && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs-ok > /tmpfs-ok\n";
    let ctx = context(&[("Dockerfile", df), ("ctx.txt", "from-context\n")]);
    build(&s, &["-t", "bind:1", p(&ctx)]);
    assert_eq!(
        run_out(
            &s,
            "bind:1",
            "cat /ctx-copy /stage-copy /ro-ok /tmpfs-ok; ls -d /mnt /w /ro /scratch 2>&1 | wc -l"
        ),
        "from-context\nfrom-stage\nro-ok\ntmpfs-ok\n4\n"
    );
    assert!(
        run_out(&s, "bind:1", "ls -d /mnt /w /ro /scratch 2>&1; true")
            .matches("No such file")
            .count()
            == 4,
        "mount points were left in the image"
    );
    // rw: the writes went nowhere.
    assert!(!ctx.path().join("new").exists());
}

#[test]
fn bad_mounts_are_refused_with_file_and_line() {
    let s = TestStore::new().with_busybox();
    for (line, needle) in [
        (
            "RUN --mount=type=ssh git clone x",
            "type=ssh is not supported",
        ),
        (
            "RUN --mount=type=cache,target=/ true",
            "cannot have / as its target",
        ),
        (
            "RUN --mount=type=cache,target=/x,colour=red true",
            "unexpected key \"colour\"",
        ),
        // .. stops at the context's root, as in buildkit.
        (
            "RUN --mount=type=bind,source=../../etc/passwd,target=/x true",
            "\"../../etc/passwd\" does not exist",
        ),
        // A symlink of the context that points out of it is refused.
        (
            "RUN --mount=type=bind,source=hostetc/passwd,target=/x true",
            "leads out of its root",
        ),
    ] {
        let ctx = context(&[("Dockerfile", &format!("FROM busybox:fixture\n{line}\n"))]);
        std::os::unix::fs::symlink("/etc", ctx.path().join("hostetc")).unwrap();
        let err = s.fails(&["build", "-t", "bad:1", p(&ctx)], 125);
        assert!(
            err.contains("Dockerfile:2") && err.contains(needle),
            "{line}: {err}"
        );
    }
}

#[test]
fn onbuild_triggers_are_stored_and_run_by_the_next_build() {
    let s = TestStore::new().with_busybox();
    let base = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nONBUILD RUN echo triggered > /onbuild-ran\nONBUILD COPY app.txt /app.txt\n",
    )]);
    build(&s, &["-t", "base:1", p(&base)]);
    assert_eq!(
        inspect(&s, "base:1")["Config"]["OnBuild"],
        serde_json::json!(["RUN echo triggered > /onbuild-ran", "COPY app.txt /app.txt"])
    );
    let child = context(&[
        (
            "Dockerfile",
            "FROM base:1\nCMD [\"cat\", \"/onbuild-ran\", \"/app.txt\"]\n",
        ),
        ("app.txt", "the app\n"),
    ]);
    let log = build(&s, &["-t", "child:1", p(&child)]);
    assert!(log.contains("ONBUILD RUN echo triggered"), "{log}");
    assert_eq!(s.ok(&["run", "--rm", "child:1"]), "triggered\nthe app\n");
    assert!(inspect(&s, "child:1")["Config"]["OnBuild"].is_null());
    // ONBUILD ONBUILD is refused.
    let bad = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nONBUILD ONBUILD RUN true\n",
    )]);
    let err = s.fails(&["build", "-t", "bad:1", p(&bad)], 125);
    assert!(
        err.contains("Dockerfile:2: ONBUILD ONBUILD is not allowed"),
        "{err}"
    );
}

#[test]
fn check_runs_nothing_and_reports_every_problem() {
    let s = TestStore::new();
    // No base image, no context files: acceptable.
    let ok = context(&[(
        "Dockerfile",
        "# syntax=docker/dockerfile:1.7\nFROM node:22-alpine AS deps\nWORKDIR /app\nCOPY --link package*.json ./\nRUN --mount=type=cache,target=/root/.npm npm ci\nFROM deps AS build\nCOPY . .\nRUN npm run build\nFROM node:22-alpine\nCOPY --from=build /app/dist ./dist\nCMD [\"node\", \"dist/main.js\"]\n",
    )]);
    let out = s.run(&["build", "--check", p(&ok)]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 stage(s), 0 error(s)"), "{stdout}");
    assert!(
        stdout.contains("warning: Dockerfile:1: the syntax directive"),
        "{stdout}"
    );
    assert!(!s.root().join("oci").exists() || s.ok(&["images"]).lines().count() <= 1);
    // Several problems, each with its line and stage.
    let bad = context(&[(
        "Dockerfile.dev",
        "FROM node:22 AS development\nRUN --mount=type=bogus,target=/x true\nCOPY --chmod=99999 a b\nFROM node:22 AS production\nCOPY --from=developmnt /app /app\nCMD [\"node\", \"index.js\"\n",
    )]);
    let f = bad.path().join("Dockerfile.dev");
    let out = s.run(&[
        "build",
        "--check",
        "--target",
        "development",
        "-f",
        f.to_str().unwrap(),
        p(&bad),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(":2 (stage development): RUN --mount=type=bogus"),
        "{stdout}"
    );
    assert!(
        stdout.contains(":3 (stage development): COPY --chmod=99999"),
        "{stdout}"
    );
    // production is not the target: its warnings are shown, no error.
    let out = s.run(&[
        "build",
        "--check",
        "--target",
        "production",
        "-f",
        f.to_str().unwrap(),
        p(&bad),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("did you mean the stage \"development\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            ":6 (stage production): CMD [\"node\", \"index.js\" looks like the exec (JSON) form"
        ),
        "{stdout}"
    );
    let out = s.run(&[
        "build",
        "--check",
        "--all-targets",
        "-f",
        f.to_str().unwrap(),
        p(&bad),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn build_warns_about_exec_forms_that_are_not_json() {
    let s = TestStore::new().with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nCMD [\"sh\", \"-c\", \"true\"\n",
    )]);
    let log = build(&s, &["-t", "w:1", p(&ctx)]);
    assert!(log.contains("WARNING: Dockerfile:2: CMD [\"sh\", \"-c\", \"true\" looks like the exec (JSON) form but is not valid JSON"), "{log}");
}

#[test]
fn a_new_cache_mount_is_seeded_from_a_stage() {
    let s = TestStore::new().with_busybox();
    let df = "FROM busybox:fixture AS seed\nRUN mkdir -p /warm && echo warm > /warm/entry\nFROM busybox:fixture\nWORKDIR /app\nRUN --mount=type=cache,id=seeded,target=.cache,from=seed,source=/warm cat /app/.cache/entry > /seen && echo more >> /app/.cache/entry\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, &["-t", "seeded:1", p(&ctx)]);
    assert_eq!(
        run_out(
            &s,
            "seeded:1",
            "cat /seen; test -e /app/.cache || echo no-cache-dir"
        ),
        "warm\nno-cache-dir\n"
    );
    // Seeded once: the cache keeps what the step wrote.
    assert_eq!(
        fs::read_to_string(s.root().join("cache-mounts/seeded/entry")).unwrap(),
        "warm\nmore\n"
    );
}

#[test]
fn no_cache_filter_reruns_only_the_named_stage() {
    let s = TestStore::new().with_busybox();
    let df = "FROM busybox:fixture AS deps\nRUN echo deps > /d\nFROM busybox:fixture\nCOPY --from=deps /d /d\nRUN echo app > /a\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, &["-t", "ncf:1", p(&ctx)]);
    let log = build(&s, &["--no-cache-filter", "deps", "-t", "ncf:1", p(&ctx)]);
    // deps' RUN runs again; the final stage's steps hit (same result).
    assert!(log.contains("3 steps, 2 cached"), "{log}");
}

#[test]
fn run_network_none_has_only_loopback() {
    let s = TestStore::new().with_busybox();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:fixture\nRUN --network=none ls /sys/class/net > /links\nRUN --network=bogus true\n",
    )]);
    let err = s.fails(&["build", "-t", "net:1", p(&ctx)], 125);
    assert!(
        err.contains("Dockerfile:3: RUN --network=bogus: use default, none or host"),
        "{err}"
    );
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN --network=none ls /sys/class/net > /links\n",
    )
    .unwrap();
    build(&s, &["-t", "net:1", p(&ctx)]);
    assert_eq!(run_out(&s, "net:1", "cat /links"), "lo\n");
}

#[test]
fn concurrent_builds_follow_sharing_locked() {
    let s = TestStore::new().with_busybox();
    // Each step claims the cache (mkdir fails if another holds it), waits,
    // and lets go: with sharing=locked two builds never overlap.
    let df = "FROM busybox:fixture\nARG WHO\nRUN --mount=type=cache,id=shared-npm,target=/c,sharing=locked mkdir /c/busy && echo $WHO >> /c/log && sleep 1 && rmdir /c/busy && cp /c/log /log\n";
    let a = context(&[("Dockerfile", df)]);
    let b = context(&[("Dockerfile", df)]);
    let spawn = |ctx: &tempfile::TempDir, who: &str| {
        s.cmd()
            .args([
                "build",
                "--build-arg",
                &format!("WHO={who}"),
                "-t",
                &format!("conc:{who}"),
                p(ctx),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&a, "a"), spawn(&b, "b"));
    for c in [ca, cb] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = fs::read_to_string(s.root().join("cache-mounts/shared-npm/log")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines.sort();
    assert_eq!(lines, ["a", "b"]);
}
