//! `pause` and `resume`: the container's cgroup frozen and thawed, as
//! runc does — cgroup v2's `cgroup.freeze` (done when `cgroup.events` says
//! `frozen 1`), or the v1 freezer hierarchy's `freezer.state` (FREEZING
//! until every task is stopped, then FROZEN).

use super::{io, OciError, Result};
use crate::runtime::cgroups::{host_is_unified, CGROUP_ROOT};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a freeze may take before it is reported as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

enum Freezer {
    V2(PathBuf),
    V1(PathBuf),
}

fn freezer(cgroup: &Path) -> Freezer {
    let base = Path::new(CGROUP_ROOT);
    if host_is_unified() {
        Freezer::V2(base.join(cgroup))
    } else {
        Freezer::V1(base.join("freezer").join(cgroup))
    }
}

/// Is the cgroup frozen (v1: FROZEN or still FREEZING)?
pub fn is_frozen(cgroup: &Path) -> bool {
    match freezer(cgroup) {
        Freezer::V2(d) => std::fs::read_to_string(d.join("cgroup.events"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "frozen 1")),
        Freezer::V1(d) => std::fs::read_to_string(d.join("freezer.state"))
            .is_ok_and(|t| matches!(t.trim(), "FROZEN" | "FREEZING")),
    }
}

fn done(f: &Freezer, frozen: bool) -> Result<bool> {
    Ok(match f {
        Freezer::V2(d) => {
            let p = d.join("cgroup.events");
            let t = std::fs::read_to_string(&p).map_err(io("cannot read", &p))?;
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            t.lines().any(|l| l.trim() == want)
        }
        Freezer::V1(d) => {
            let p = d.join("freezer.state");
            let t = std::fs::read_to_string(&p).map_err(io("cannot read", &p))?;
            t.trim() == if frozen { "FROZEN" } else { "THAWED" }
        }
    })
}

/// Freeze (`true`) or thaw the cgroup, and wait until the kernel says so.
pub fn set(cgroup: &Path, frozen: bool) -> Result<()> {
    let f = freezer(cgroup);
    let (file, value) = match &f {
        Freezer::V2(d) => (d.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        Freezer::V1(d) => (
            d.join("freezer.state"),
            if frozen { "FROZEN" } else { "THAWED" },
        ),
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // v1 may stay FREEZING (a task in uninterruptible sleep): write again.
        std::fs::write(&file, value).map_err(io("cannot write", &file))?;
        if done(&f, frozen)? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if frozen {
                let _ = std::fs::write(
                    &file,
                    if matches!(f, Freezer::V2(_)) {
                        "0"
                    } else {
                        "THAWED"
                    },
                );
            }
            return Err(OciError::Invalid(format!(
                "the cgroup did not {} within {}s ({})",
                if frozen { "freeze" } else { "thaw" },
                TIMEOUT.as_secs(),
                file.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
