//! The public face of the runtime: create a container (its directory under
//! `containers/<id>/`), start it (cgroup + init, returns once the program
//! was exec'd), wait for it (exit status with the OOM flag; the cgroup is
//! removed then), remove it.

use super::cgroups::Cgroup;
use super::error::{Result, RuntimeError};
use super::process::init::InitContext;
use super::process::{parent, sealed_exe, Stdio};
use super::rootfs::{etc_files, RootfsPlan};
use super::skeleton;
use super::spec::{ContainerSpec, NetworkMode};
use crate::store::Store;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// What `containers/<id>/spec.json` holds: enough to start the container again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub spec: ContainerSpec,
    /// Unpacked layer directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    pub created: String,
}

pub const RECORD_FILE: &str = "spec.json";
pub const NAME_FILE: &str = "name";

#[derive(Debug)]
pub struct Container {
    record: ContainerRecord,
    plan: RootfsPlan,
}

/// A new random container id: 64 hex digits.
pub fn new_id() -> String {
    hex::encode(crate::sys::random::bytes::<32>())
}

/// Named volumes: created if missing (as docker does), filled from the
/// image's directory on first use, and mounted from the store.
fn attach_volumes(store: &Store, spec: &mut ContainerSpec, layers: &[PathBuf]) -> Result<()> {
    for m in spec.mounts.iter_mut() {
        let Some(name) = m.volume.clone() else {
            continue;
        };
        let err =
            |e: crate::store::StoreError| RuntimeError::Invalid(format!("volume {name}: {e}"));
        store
            .create_volume(&name, &Default::default())
            .map_err(err)?;
        store.fill_volume(&name, layers, &m.target).map_err(err)?;
        m.source = store.volume_data(&name);
    }
    Ok(())
}

impl Container {
    /// Check the spec against the host, create `containers/<id>/` with the
    /// overlay's upper and work directories and the /etc files.
    pub fn create(store: &Store, spec: ContainerSpec, layers: Vec<PathBuf>) -> Result<Container> {
        Container::create_with_files(store, spec, layers, &[])
    }

    /// [`Container::create`], with extra files written into the container's
    /// directory before it appears. The directory is made under `tmp/` and
    /// renamed into `containers/`, so a crash never leaves half a container
    /// there (the `tmp/` leftover is swept).
    pub fn create_with_files(
        store: &Store,
        mut spec: ContainerSpec,
        layers: Vec<PathBuf>,
        extra: &[(&str, &[u8])],
    ) -> Result<Container> {
        attach_volumes(store, &mut spec, &layers)?;
        for m in &spec.mounts {
            if std::fs::symlink_metadata(&m.source).is_err() {
                return Err(RuntimeError::Invalid(format!(
                    "bind mount source {} does not exist",
                    m.source.display()
                )));
            }
        }
        for l in &layers {
            if !l.is_dir() {
                return Err(RuntimeError::Invalid(format!(
                    "image layer {} is missing; the image is incomplete (pull or import it again)",
                    l.display()
                )));
            }
        }
        let dir = store.containers_dir().join(&spec.id);
        let _lock = match &spec.name {
            Some(name) => {
                let lock = store
                    .lock()
                    .map_err(|e| RuntimeError::Init(e.to_string()))?;
                if find_by_name(store, name).is_some() {
                    return Err(RuntimeError::NameInUse(name.clone()));
                }
                Some(lock)
            }
            None => None,
        };
        let record = ContainerRecord {
            spec,
            layers,
            created: chrono::Utc::now().to_rfc3339(),
        };
        let plan = RootfsPlan {
            layers: record.layers.clone(),
            container_dir: dir.clone(),
            volatile: false,
        };
        let c = Container { record, plan };
        let staging = crate::store::atomic::tempfile_in(&store.tmp_dir()).map_err(
            RuntimeError::io("cannot create a directory in", &store.tmp_dir()),
        )?;
        // The rename makes the directory appear whole. No fsync: a
        // container's files are runtime state, not store content, and
        // `skiff run` is a hot path.
        let reused = skeleton::take(&store.spare_dir(), &staging);
        let published = c.populate(&staging, extra, reused).and_then(|()| {
            std::fs::rename(&staging, &dir).map_err(RuntimeError::io("cannot create", &dir))
        });
        if let Err(e) = published {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        Ok(c)
    }

    /// Fill `dir` (the future `containers/<id>/`): overlay directories
    /// (already there in a `reused` skeleton), /etc files, name, extra
    /// files, and spec.json last.
    fn populate(&self, dir: &Path, extra: &[(&str, &[u8])], reused: bool) -> Result<()> {
        if !reused {
            std::fs::create_dir(dir).map_err(RuntimeError::io("cannot create", dir))?;
            for name in skeleton::DIRS {
                let d = dir.join(name);
                std::fs::create_dir(&d).map_err(RuntimeError::io("cannot create", &d))?;
            }
        }
        for (name, bytes) in extra {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(RuntimeError::io("cannot write", &p))?;
        }
        etc_files::write(dir, &self.record.spec)?;
        if self.record.spec.notify_socket {
            let d = dir.join(crate::runtime::spec::NOTIFY_HOST_DIR);
            std::fs::create_dir(&d).map_err(RuntimeError::io("cannot create", &d))?;
        }
        if let Some(name) = &self.record.spec.name {
            std::fs::write(dir.join(NAME_FILE), name)
                .map_err(RuntimeError::io("cannot write", &dir.join(NAME_FILE)))?;
        }
        let json = serde_json::to_vec_pretty(&self.record)
            .map_err(|e| RuntimeError::Init(format!("serialize the container spec: {e}")))?;
        let p = dir.join(RECORD_FILE);
        std::fs::write(&p, json).map_err(RuntimeError::io("cannot write", &p))
    }

    /// An existing container, from its `spec.json`.
    pub fn open(store: &Store, id: &str) -> Result<Container> {
        let dir = store.containers_dir().join(id);
        let p = dir.join(RECORD_FILE);
        let bytes = std::fs::read(&p).map_err(RuntimeError::io("cannot read", &p))?;
        let record: ContainerRecord = serde_json::from_slice(&bytes)
            .map_err(|e| RuntimeError::Invalid(format!("{}: {e}", p.display())))?;
        let plan = RootfsPlan {
            layers: record.layers.clone(),
            container_dir: dir,
            volatile: false,
        };
        Ok(Container { record, plan })
    }

    /// The container will be removed after it runs (`--rm`): its writable
    /// layer needs no durability, so the overlay is mounted `volatile`
    /// (no sync of the upper filesystem at unmount — tens of ms saved).
    /// Never for a container whose upper directory is kept or reused.
    pub fn set_ephemeral(&mut self, ephemeral: bool) {
        self.plan.volatile = ephemeral;
    }

    pub fn id(&self) -> &str {
        &self.record.spec.id
    }
    pub fn spec(&self) -> &ContainerSpec {
        &self.record.spec
    }
    pub fn record(&self) -> &ContainerRecord {
        &self.record
    }
    pub fn dir(&self) -> &Path {
        &self.plan.container_dir
    }

    /// Create the cgroup and start the container's program. Returns once the
    /// program was exec'd; a program that cannot run gives
    /// `RuntimeError::Exec` (exit code 126/127). The calling process must be
    /// single-threaded and running from a sealed binary
    /// (`process::sealed_exe::ensure`). To forward signals without losing
    /// any, block them first (`signals::Forwarder::install`).
    pub fn start(&self, stdio: Stdio) -> Result<Running> {
        let exec_stub = sealed_exe::exec_stub_for_start()?;
        let spec = &self.record.spec;
        let ifaces = self.join_networks()?;
        let cgroup = Cgroup::create(&spec.id, &spec.resources)?;
        let mounts = cgroup.mounts();
        let ctx = InitContext {
            spec,
            plan: &self.plan,
            cgroups: Some(&mounts),
            stdio: &stdio,
            die_with_parent: true,
            wait_for_go: false,
            join_cgroup: None,
            ifaces: &ifaces,
            go_after_rootfs: false,
            exec_stub,
        };
        match parent::spawn(&ctx, &cgroup) {
            Ok(s) => Ok(Running {
                pid: s.pid,
                console: s.console,
                cgroup: Some(cgroup),
                status: None,
            }),
            Err(e) => {
                let _ = cgroup.remove();
                Err(e)
            }
        }
    }

    /// Bridge networks: an address on each (kept across restarts) and the
    /// interfaces to plug in once the namespace exists.
    fn join_networks(&self) -> Result<Vec<crate::network::Iface>> {
        let spec = &self.record.spec;
        if spec.network != NetworkMode::Bridge {
            return Ok(Vec::new());
        }
        // As spec.json says now: `network connect` may have changed it
        // since this supervisor loaded the container.
        let recorded = std::fs::read(self.plan.container_dir.join(RECORD_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<ContainerRecord>(&b).ok())
            .map(|r| r.spec.networks)
            .unwrap_or_else(|| spec.networks.clone());
        let default = [crate::network::DEFAULT_NETWORK.to_string()];
        let networks = if recorded.is_empty() {
            &default[..]
        } else {
            &recorded[..]
        };
        let req = crate::network::Request {
            container: &spec.id,
            hostname: &spec.hostname,
            networks,
            aliases: &spec.network_aliases,
            ip: spec.ip,
            extra_hosts: &spec.add_hosts,
        };
        Ok(crate::network::attach::prepare(
            &store_root(&self.plan.container_dir),
            &req,
        )?)
    }

    /// Delete `containers/<id>/` (the container must not be running).
    pub fn remove(self) -> Result<()> {
        let dir = &self.plan.container_dir;
        discard_dir(dir).map_err(RuntimeError::io("cannot remove", dir))
    }
}

/// Remove a container's directory so that a crash never leaves half of it
/// in `containers/`: it is first renamed into the store's `tmp/` (whose
/// leftovers are swept), then emptied there down to a skeleton kept for
/// the next container (`skeleton`), or deleted.
/// Its network addresses are freed once the directory is gone.
pub fn discard_dir(dir: &Path) -> std::io::Result<()> {
    let Some(root) = dir.parent().and_then(Path::parent) else {
        return std::fs::remove_dir_all(dir);
    };
    let tmp = crate::store::atomic::tempfile_in(&root.join("tmp"))?;
    let removed = match std::fs::rename(dir, &tmp) {
        Ok(()) if skeleton::keep(&Store::spare_dir_at(root), &tmp) => Ok(()),
        Ok(()) => std::fs::remove_dir_all(&tmp),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => std::fs::remove_dir_all(dir),
    };
    if let Some(id) = dir.file_name().and_then(|n| n.to_str()) {
        if let Err(e) = crate::network::attach::release(&store_root(dir), id) {
            eprintln!("skiff: container {id}: {e} (fsck --repair frees the address)");
        }
    }
    removed
}

/// The store's root, from a container's directory (`<root>/containers/<id>`).
fn store_root(container_dir: &Path) -> PathBuf {
    container_dir
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The id of the container named `name`, if any.
pub fn find_by_name(store: &Store, name: &str) -> Option<String> {
    let entries = std::fs::read_dir(store.containers_dir()).ok()?;
    entries.filter_map(|e| e.ok()).find_map(|e| {
        let n = std::fs::read_to_string(e.path().join(NAME_FILE)).ok()?;
        (n == name).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// How a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Exit code if it exited.
    pub code: Option<i32>,
    /// Signal number if it was killed.
    pub signal: Option<i32>,
    /// The kernel's OOM killer struck in the container's cgroup.
    pub oom_killed: bool,
}

impl ExitStatus {
    /// docker's convention: the exit code, or 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// A started container. Dropping it without `wait` kills it.
#[derive(Debug)]
pub struct Running {
    pid: Pid,
    console: Option<OwnedFd>,
    cgroup: Option<Cgroup>,
    status: Option<ExitStatus>,
}

impl Running {
    /// The init's pid, as seen from skiff.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The pty master (`Stdio::Pty`).
    pub fn take_console(&mut self) -> Option<OwnedFd> {
        self.console.take()
    }

    pub fn console(&self) -> Option<&OwnedFd> {
        self.console.as_ref()
    }

    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        kill(self.pid, sig).map_err(RuntimeError::sys(format!("send {sig} to the container")))
    }

    /// Send any signal by number (the real-time ones included).
    pub fn signal_num(&self, sig: super::Signum) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        crate::sys::signal::kill(self.pid, sig.raw()).map_err(|source| RuntimeError::Sys {
            what: format!("send {sig} to the container"),
            source,
        })
    }

    /// Non-blocking: the exit status if the container has ended.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.reap(WaitPidFlag::WNOHANG)
    }

    /// Block until the container ends. The cgroup is gone when this returns.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.reap(WaitPidFlag::empty())? {
                return Ok(s);
            }
        }
    }

    fn reap(&mut self, flags: WaitPidFlag) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let (code, signal) = match waitpid(self.pid, Some(flags)) {
            Ok(WaitStatus::Exited(_, c)) => (Some(c), None),
            Ok(WaitStatus::Signaled(_, s, _)) => (None, Some(s as i32)),
            Ok(_) => return Ok(None),
            Err(nix::Error::EINTR) => return Ok(None),
            Err(e) => {
                return Err(RuntimeError::Sys {
                    what: "wait for the container".into(),
                    source: e.into(),
                })
            }
        };
        let oom_killed = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        let status = ExitStatus {
            code,
            signal,
            oom_killed,
        };
        self.status = Some(status);
        if let Some(cg) = self.cgroup.take() {
            cg.remove()?;
        }
        Ok(Some(status))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = self.wait();
        }
    }
}
