//! BuildKit's own parser test files (`tests/data/buildkit-parser/`, sources
//! in its INDEX.md) as a conformance test: every file buildkit builds is
//! parsed to the instructions its `result` file lists (buildkit's AST
//! dump), and every file buildkit refuses is refused with file and line.

use skiff::build::dockerfile::parse;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/buildkit-parser")
}

fn dirs(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Files buildkit's parser reads but its next stage (and so every build)
/// refuses; skiff refuses them while parsing: (dir, line, message start).
const REFUSED: &[(&str, usize, &str)] = &[
    ("flags", 3, "unknown flag: --user (on COPY)"),
    ("health", 4, "HEALTHCHECK needs at least one argument"),
    (
        "jeztah-invalid-json-json-inside-string",
        1,
        "CMD comes before the first FROM",
    ),
    (
        "jeztah-invalid-json-json-inside-string-double",
        1,
        "CMD comes before the first FROM",
    ),
    (
        "jeztah-invalid-json-single-quotes",
        1,
        "CMD comes before the first FROM",
    ),
    (
        "jeztah-invalid-json-unterminated-bracket",
        1,
        "CMD comes before the first FROM",
    ),
    (
        "jeztah-invalid-json-unterminated-string",
        1,
        "CMD comes before the first FROM",
    ),
    ("json", 1, "CMD comes before the first FROM"),
    // The moby-era copy writes the directive `# escape = ``` (moby took its
    // first character); buildkit refuses a token that is not ` or \.
    (
        "escape-nonewline",
        1,
        "invalid escape token '``' does not match ` or \\",
    ),
];

#[test]
fn every_valid_file_parses_to_buildkits_result() {
    let mut matched = 0;
    let mut failures = Vec::new();
    for dir in dirs("testfiles") {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(dir.join("result")).unwrap();
        let file = format!("{name}/Dockerfile");
        if let Some((_, line, msg)) = REFUSED.iter().find(|(d, _, _)| *d == name) {
            let e = parse(&text, &file).expect_err(&name);
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("{file}:{line}: {msg}")),
                "{name}: {shown}"
            );
            // Files without a FROM: their instructions still match buildkit's
            // once a FROM is put in front of them.
            if name == "escape-nonewline" {
                let fixed = text.replacen("``", "`", 1);
                assert_eq!(parse(&fixed, &file).unwrap().dump(), want, "{name}");
                matched += 1;
            } else if !want.starts_with("(from") {
                let df = parse(&format!("FROM scratch\n{text}"), &file).unwrap();
                assert_eq!(df.dump(), format!("(from \"scratch\")\n{want}"), "{name}");
                matched += 1;
            }
            continue;
        }
        match parse(&text, &file) {
            Ok(df) if df.dump() == want => matched += 1,
            Ok(df) => failures.push(format!("{name}:\n got: {}\nwant: {want}", df.dump())),
            Err(e) => failures.push(format!("{name}: refused: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(matched >= 28, "only {matched} files matched");
}

#[test]
fn every_negative_file_is_refused_with_file_and_line() {
    let cases = [("env_no_value", 3), ("shykes-nested-json", 1)];
    let found = dirs("testfiles-negative");
    assert_eq!(found.len(), cases.len());
    for (name, line) in cases {
        let text = std::fs::read_to_string(
            data()
                .join("testfiles-negative")
                .join(name)
                .join("Dockerfile"),
        )
        .unwrap();
        let file = format!("{name}/Dockerfile");
        let e = parse(&text, &file).expect_err(name);
        assert_eq!(e.line, Some(line), "{name}: {e}");
        assert!(
            e.to_string().starts_with(&format!("{file}:{line}: ")),
            "{e}"
        );
    }
}

#[test]
fn escaped_backslash_at_line_end_is_no_continuation() {
    let df = parse(
        "FROM scratch\nENV C trailing\\\\backslash\\\\\nENV D next\n",
        "Dockerfile",
    )
    .unwrap();
    assert_eq!(df.stages[0].instructions.len(), 2);
    assert_eq!(
        df.dump(),
        "(from \"scratch\")\n(env \"C\" \"trailing\\\\\\\\backslash\\\\\\\\\")\n(env \"D\" \"next\")\n"
    );
}
