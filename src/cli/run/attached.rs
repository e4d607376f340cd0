//! A foreground `skiff run`: start, attach, record the state for `ps`
//! and the events, report an OOM kill.

use crate::runtime::{self, attach, signals, Container, Stdio};
use crate::store::events::Event;
use crate::store::Store;
use crate::supervisor::config::RunConfig;
use crate::supervisor::state::{ProcessRef, State, Status};
use anyhow::Result;

use super::RunArgs;

/// The foreground command owns the container: it records the state for
/// `ps` (unless the container goes away with `--rm`).
fn record(store: &Store, container: &Container, a: &RunArgs, f: impl FnOnce(&mut State)) {
    if a.rm || !container.dir().is_dir() {
        return;
    }
    let mut s = State::load(container.dir()).unwrap_or_default();
    f(&mut s);
    let _ = s.save(store, container.dir());
}

pub(super) fn run_attached(store: &Store, container: &Container, a: &RunArgs) -> Result<i32> {
    let mut forwarder = signals::Forwarder::install()?;
    let stdio = if a.tty {
        Stdio::Pty
    } else {
        Stdio::Inherit {
            stdin: a.interactive,
        }
    };
    let mut running = match container.start(stdio) {
        Ok(r) => r,
        Err(e @ runtime::RuntimeError::Exec { .. }) => {
            eprintln!("skiff: {e}");
            record(store, container, a, |s| {
                s.status = Status::Exited;
                s.exit_code = Some(e.exit_code());
                s.error = Some(e.to_string());
            });
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e.into()),
    };
    let event = |action: &str| {
        let image = RunConfig::load(container.dir())
            .map(|c| c.image.label())
            .unwrap_or_else(|_| a.image().to_string());
        Event::container(action, container.id(), a.name.as_deref(), &image)
    };
    store.emit(event("start").attr("pid", running.pid().as_raw().to_string()));
    record(store, container, a, |s| {
        s.status = Status::Running;
        s.supervisor = Some(ProcessRef::current());
        s.pid = Some(running.pid().as_raw());
        s.started_at = Some(crate::supervisor::now_rfc3339());
    });
    let status = attach::attach(&mut running, &mut forwarder, a.interactive)?;
    drop(running);
    if status.oom_killed {
        store.emit(event("oom"));
    }
    store.emit(event("die").attr("exitCode", status.exit_code().to_string()));
    record(store, container, a, |s| {
        s.status = Status::Exited;
        s.pid = None;
        s.exit_code = Some(status.exit_code());
        s.oom_killed = status.oom_killed;
        s.finished_at = Some(crate::supervisor::now_rfc3339());
    });
    if status.oom_killed {
        let limit = container
            .spec()
            .resources
            .memory
            .map(|m| format!(" (memory limit {m} bytes)"))
            .unwrap_or_default();
        eprintln!(
            "skiff: container {} was killed: out of memory{limit}",
            container.spec().short_id()
        );
    }
    Ok(status.exit_code())
}
