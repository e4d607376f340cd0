//! `fsck` for containers: each `containers/<id>/` holds the runtime's
//! record ([`ContainerRecord`], `spec.json`) whose layers and named volumes
//! exist, and, when its [`State`] says it runs, a live supervisor (the
//! same check `ps` makes, through [`observe`]).

use super::state::{observe, Observed, State, Status};
use crate::runtime::container::{ContainerRecord, RECORD_FILE};
use crate::store::fsck::scan::read_dir_sorted;
use crate::store::fsck::{Action, Scan, Severity};
use crate::store::{volumes, Result};
use std::fs;
use std::path::Path;

/// Check every container directory; tell the scan the layers they use.
pub fn check(scan: &mut Scan<'_>) -> Result<()> {
    let dir = scan.store().containers_dir();
    for entry in read_dir_sorted(&dir)? {
        let path = entry.path();
        let id = entry.file_name().to_string_lossy().to_string();
        let is_dir = fs::symlink_metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if !is_dir {
            scan.add(
                Severity::Note,
                "stray-container",
                &path,
                "not a container directory",
                Action::Leave("left alone".into()),
            );
            continue;
        }
        scan.counts().containers += 1;
        record(scan, &path, &id);
        state(scan, &path, &id);
    }
    Ok(())
}

/// `spec.json`: readable, and what it mounts and stacks exists.
fn record(scan: &mut Scan<'_>, dir: &Path, id: &str) {
    let spec_path = dir.join(RECORD_FILE);
    let parsed = fs::read(&spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<ContainerRecord>(&b).map_err(|e| e.to_string()));
    let record = match parsed {
        Ok(r) => r,
        Err(e) => {
            let hint = format!("remove {} by hand", scan.rel(dir));
            scan.add(
                Severity::Problem,
                "bad-container",
                &spec_path,
                format!("container {id} has no readable spec.json: {e}"),
                Action::Manual(hint),
            );
            return;
        }
    };
    for vol in record
        .spec
        .mounts
        .iter()
        .filter_map(|m| m.volume.as_deref())
    {
        let ok = volumes::check_volume_name(vol).is_ok()
            && scan
                .store()
                .volume_dir(vol)
                .join(volumes::DATA_DIR)
                .is_dir();
        if !ok {
            scan.add(
                Severity::Problem,
                "container-volume",
                &spec_path,
                format!("container {id} mounts volume {vol}, which is missing"),
                Action::Manual(format!(
                    "skiff volume create {vol} (empty), or remove the container"
                )),
            );
        }
    }
    for l in &record.layers {
        scan.use_layer_dir(l);
        if !l.is_dir() {
            scan.add(
                Severity::Problem,
                "container-layer",
                &spec_path,
                format!(
                    "container {id} uses layer {}, which is missing",
                    l.display()
                ),
                Action::Manual(
                    "run the image once more to unpack it, or remove the container".into(),
                ),
            );
        }
    }
}

/// `state.json`: a running or restarting container has a live supervisor.
fn state(scan: &mut Scan<'_>, dir: &Path, id: &str) {
    let state_path = State::path(dir);
    let Ok(bytes) = fs::read(&state_path) else {
        return;
    };
    let state = match serde_json::from_slice::<State>(&bytes) {
        Ok(s) => s,
        Err(e) => {
            scan.add(
                Severity::Problem,
                "bad-state",
                &state_path,
                format!("state of container {id} is not valid JSON: {e}"),
                Action::Manual(format!("`skiff rm -f {id}`")),
            );
            return;
        }
    };
    if !matches!(observe(&state), Observed::Dead { .. }) {
        return;
    }
    let status = match state.status {
        Status::Restarting => "restarting",
        _ => "running",
    };
    let message = match &state.supervisor {
        Some(p) => format!(
            "container {id} is marked {status} but its supervisor (pid {}) is gone",
            p.pid
        ),
        None => format!("container {id} is marked {status} but has no supervisor"),
    };
    scan.add(
        Severity::Problem,
        "dead-container",
        &state_path,
        message,
        Action::Manual(format!("`skiff start {id}` or `skiff rm {id}`")),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fsck::{scan, Report};
    use crate::store::Store;
    use crate::supervisor::state::ProcessRef;

    fn check(store: &Store) -> Result<Report> {
        let (mut scan, _) = scan::begin(store)?;
        super::check(&mut scan)?;
        scan.finish()
    }

    fn kinds(r: &Report) -> Vec<&'static str> {
        r.problems().map(|f| f.kind).collect()
    }

    #[test]
    fn dead_running_container_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let c = s.containers_dir().join("abc");
        fs::create_dir(&c).unwrap();
        let spec = crate::runtime::ContainerSpec::default();
        let record = serde_json::json!({"spec": spec, "layers": [], "created": "now"});
        fs::write(c.join(RECORD_FILE), record.to_string()).unwrap();
        let write = |status: Status, supervisor: Option<ProcessRef>| {
            let st = State {
                status,
                supervisor,
                ..State::default()
            };
            fs::write(State::path(&c), serde_json::to_vec(&st).unwrap()).unwrap();
        };
        let me = ProcessRef::current();
        write(Status::Running, Some(me.clone()));
        assert!(check(&s).unwrap().is_sound());
        let gone = ProcessRef {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        write(Status::Restarting, Some(gone.clone()));
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["dead-container"]);
        assert!(
            r.findings[0].message.contains("restarting"),
            "{}",
            r.findings[0]
        );
        write(Status::Running, None);
        assert_eq!(kinds(&check(&s).unwrap()), vec!["dead-container"]);
        write(Status::Exited, Some(gone));
        assert!(check(&s).unwrap().is_sound());
        fs::write(State::path(&c), b"{not json").unwrap();
        assert_eq!(kinds(&check(&s).unwrap()), vec!["bad-state"]);
        fs::remove_file(State::path(&c)).unwrap();
        fs::remove_file(c.join(RECORD_FILE)).unwrap();
        assert_eq!(kinds(&check(&s).unwrap()), vec!["bad-container"]);
    }
}
