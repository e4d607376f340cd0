//! `skiff build --check` over a corpus of real-world Node Dockerfiles
//! (`tests/data/node-dockerfiles/`, sources in its INDEX.md): every one is
//! accepted, with no context files and no base images.

mod common;

use common::*;
use std::path::Path;

#[test]
fn build_check_accepts_every_dockerfile_of_the_corpus() {
    let s = TestStore::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/node-dockerfiles");
    let empty = tempfile::tempdir().unwrap();
    let index = std::fs::read_to_string(dir.join("INDEX.md")).unwrap();
    let mut n = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for f in entries {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".Dockerfile") {
            continue;
        }
        assert!(
            index.contains(&format!("| {name} |")),
            "{name} has no source in INDEX.md"
        );
        let out = s.run(&[
            "build",
            "--check",
            "--all-targets",
            "-f",
            f.to_str().unwrap(),
            empty.path().to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() != Some(0) || !stdout.contains(" 0 error(s)") {
            failures.push(format!(
                "{name}:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        n += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(n >= 30, "only {n} Dockerfiles in the corpus");
    // --check wrote nothing: no image, no layer, no cache entry.
    assert!(
        !s.root().join("layers").exists()
            || std::fs::read_dir(s.root().join("layers")).unwrap().count() == 0
    );
}
