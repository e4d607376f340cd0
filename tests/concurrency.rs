//! Eight skiff processes at once on one store for a bounded time (20 s;
//! `SKIFF_CONCURRENCY_SECS=60` by hand): builds with RUN and COPY from
//! different contexts, tags, rollbacks, prunes, `run --rm` and `run -d` +
//! `rm -f`. Every command succeeds (the workload avoids refusals such as a
//! rollback with no earlier revision), prints at most "waiting for lock"
//! lines on stderr, and `skiff fsck` finds the store sound afterwards.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const THREADS: usize = 8;
/// Tags shared by pairs of threads, so builds, rollbacks and prunes of one
/// tag really overlap.
const TAGS: usize = 4;

fn secs() -> u64 {
    std::env::var("SKIFF_CONCURRENCY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// stderr holds nothing but lock waits.
fn quiet(stderr: &str) -> bool {
    stderr
        .lines()
        .all(|l| l.trim().is_empty() || l.to_lowercase().contains("waiting for"))
}

fn write_context(dir: &Path, thread: usize, gen: u64) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("data.txt"), format!("thread {thread} gen {gen}\n")).unwrap();
    fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM busybox:fixture\n\
             COPY data.txt /data.txt\n\
             RUN echo {thread}-{gen} > /version && cat /data.txt >> /version\n"
        ),
    )
    .unwrap();
}

#[test]
fn eight_processes_on_one_store() {
    let s = TestStore::new().with_busybox();
    let ctxs = tempfile::tempdir().unwrap();
    // Two revisions of every tag before the workload, so a rollback always
    // has an earlier one (prune --keep 2 keeps it).
    for t in 0..TAGS {
        for gen in 0..2 {
            let dir = ctxs.path().join(format!("setup-{t}"));
            write_context(&dir, t, gen);
            s.ok(&[
                "build",
                "-q",
                "-t",
                &format!("app{t}"),
                dir.to_str().unwrap(),
            ]);
        }
    }

    let deadline = Instant::now() + Duration::from_secs(secs());
    let failed = AtomicBool::new(false);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let ops = AtomicUsize::new(0);
    let counts: Mutex<std::collections::BTreeMap<&'static str, usize>> = Mutex::default();

    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let s = &s;
            let (failed, failures, ops, counts) = (&failed, &failures, &ops, &counts);
            let ctx = ctxs.path().join(format!("ctx-{t}"));
            scope.spawn(move || {
                let tag = format!("app{}", t % TAGS);
                let mut k: u64 = 0;
                while Instant::now() < deadline && !failed.load(Ordering::Relaxed) {
                    k += 1;
                    let name = format!("c{t}-{k}");
                    let snap = format!("snap{t}:v{}", k % 3);
                    let ctx_s = ctx.to_str().unwrap().to_string();
                    let (what, steps): (&'static str, Vec<Vec<String>>) =
                        match (t as u64 + k) % 6 {
                            0 => {
                                // A new context every other build: cache hits and misses.
                                write_context(&ctx, t, k / 2);
                                ("build", vec![vec!["build".into(), "-q".into(), "-t".into(), tag.clone(), ctx_s]])
                            }
                            1 => ("tag", vec![vec!["tag".into(), tag.clone(), snap]]),
                            2 => ("rollback", vec![vec!["rollback".into(), tag.clone(), "--no-rollout".into()]]),
                            3 => ("prune", vec![vec!["prune".into(), "--keep".into(), "2".into()]]),
                            4 => ("run --rm", vec![vec!["run".into(), "--rm".into(), tag.clone(), "cat".into(), "/version".into()]]),
                            _ => (
                                "run -d + rm -f",
                                vec![
                                    vec!["run".into(), "-d".into(), "--name".into(), name.clone(), tag.clone(), "sleep".into(), "1000".into()],
                                    vec!["rm".into(), "-f".into(), name],
                                ],
                            ),
                        };
                    for args in steps {
                        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                        let out = s.run(&argv);
                        let stderr = String::from_utf8_lossy(&out.stderr);
                        ops.fetch_add(1, Ordering::Relaxed);
                        if !out.status.success() || !quiet(&stderr) {
                            failed.store(true, Ordering::Relaxed);
                            failures.lock().unwrap().push(format!(
                                "thread {t}: skiff {argv:?} exited {:?}\nstdout: {}\nstderr: {stderr}",
                                out.status.code(),
                                String::from_utf8_lossy(&out.stdout)
                            ));
                            return;
                        }
                    }
                    *counts.lock().unwrap().entry(what).or_default() += 1;
                }
            });
        }
    });

    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} commands in {} s: {:?}",
        ops.load(Ordering::Relaxed),
        secs(),
        counts.into_inner().unwrap()
    );
    // Leave no supervisor behind, whatever happened.
    let left = s.ok(&["ps", "-aq"]);
    for id in left.split_whitespace() {
        s.run(&["rm", "-f", id]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let fsck = s.run(&["fsck"]);
    assert!(
        fsck.status.success(),
        "fsck after the workload:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    assert!(left.trim().is_empty(), "containers left behind: {left}");
}
