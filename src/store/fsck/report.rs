//! What fsck reports: findings, their severity, what `--repair` does about
//! each, and the counts of what was looked at.

use std::path::PathBuf;

/// How bad a finding is. Only problems make the store unsound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Problem,
    /// What a crash leaves behind (tmp/ entries of a killed process):
    /// always listed, removed by `--repair`, but the store is sound.
    Leftover,
    Note,
}

/// What `--repair` does about a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// fsck cannot fix it; the text says what can.
    Manual(String),
    /// Remove this file or directory tree (absolute path).
    Remove(PathBuf),
    /// Rewrite `oci/index.json` from the revision logs.
    RewriteIndex,
    /// Rewrite `oci/oci-layout`.
    RewriteLayout,
    /// Nothing to do; the text says why.
    Leave(String),
}

impl Action {
    /// What `--repair` would do, as a phrase.
    pub fn describe(&self) -> String {
        match self {
            Action::Manual(hint) => format!("--repair cannot fix this: {hint}"),
            Action::Remove(_) => "--repair removes it".to_string(),
            Action::RewriteIndex => "--repair rewrites index.json from the revision logs".into(),
            Action::RewriteLayout => "--repair rewrites oci-layout".into(),
            Action::Leave(why) => why.clone(),
        }
    }

    pub(super) fn is_repair(&self) -> bool {
        matches!(
            self,
            Action::Remove(_) | Action::RewriteIndex | Action::RewriteLayout
        )
    }
}

/// One thing fsck found.
#[derive(Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    /// A short stable identifier (`corrupt-blob`, `missing-blob`, …).
    pub kind: &'static str,
    /// Where, relative to the store root.
    pub path: String,
    /// What is wrong.
    pub message: String,
    pub action: Action,
    /// After a repair: `Ok` if it was done, `Err` with the reason if not.
    pub repaired: Option<std::result::Result<(), String>>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match (&self.severity, &self.repaired) {
            (_, Some(Ok(()))) => "repaired",
            (Severity::Problem, _) => "problem",
            (Severity::Leftover, _) => "leftover",
            (Severity::Note, _) => "note",
        };
        write!(
            f,
            "{label}: {}: {} [{}]",
            self.path, self.message, self.kind
        )?;
        match &self.repaired {
            Some(Ok(())) => write!(f, " ({})", done(&self.action)),
            Some(Err(e)) => write!(f, " (repair failed: {e})"),
            None => write!(f, " ({})", self.action.describe()),
        }
    }
}

fn done(a: &Action) -> String {
    match a {
        Action::Remove(_) => "removed".into(),
        Action::RewriteIndex => "index.json rewritten".into(),
        Action::RewriteLayout => "oci-layout rewritten".into(),
        other => other.describe(),
    }
}

/// Everything one pass of fsck found, with what it looked at.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub blobs: usize,
    pub tags: usize,
    pub revisions: usize,
    pub cache_entries: usize,
    pub layers: usize,
    pub containers: usize,
}

impl Report {
    /// No problem is left (notes do not count).
    pub fn is_sound(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity != Severity::Problem || matches!(f.repaired, Some(Ok(()))))
    }

    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem)
    }

    pub fn leftovers(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Leftover)
    }

    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Note)
    }
}

/// The result of `fsck`: the first pass and, after a repair, a second pass
/// showing what is left.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub report: Report,
    pub after_repair: Option<Report>,
}

impl Outcome {
    pub fn is_sound(&self) -> bool {
        match &self.after_repair {
            Some(r) => r.is_sound(),
            None => self.report.is_sound(),
        }
    }
}
