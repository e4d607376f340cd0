//! The container's `/` for `skiff cp`: a running container's own mount
//! namespace; a stopped one's overlay, mounted privately while its
//! supervisor lock is held, so the container cannot start (and mount the
//! same upper directory) in the middle of the copy.

use super::ops;
use super::state::Observed;
use super::{Result, SupervisorError, LOCK_FILE};
use crate::runtime::copy::ContainerRoot;
use crate::runtime::rootfs::RootfsPlan;
use crate::store::Store;
use std::time::{Duration, Instant};

pub struct CopyRoot {
    pub root: ContainerRoot,
    /// The supervisor lock of a stopped container, held until dropped.
    _lock: Option<std::fs::File>,
}

/// Open the root of container `id` (see the module doc).
pub fn open(store: &Store, id: &str) -> Result<CopyRoot> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let i = ops::info(store, id)?;
        if let (Observed::Up { .. }, Some(pid)) = (&i.observed, i.state.pid) {
            let root =
                ContainerRoot::running(pid).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
            return Ok(CopyRoot { root, _lock: None });
        }
        let p = i.dir.join(LOCK_FILE);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(SupervisorError::io("cannot open", &p))?;
        if f.try_lock().is_ok() && !ops::info(store, id)?.observed.is_live() {
            let plan = RootfsPlan {
                layers: i.record.layers.clone(),
                container_dir: i.dir.clone(),
                volatile: false,
            };
            let root = ContainerRoot::stopped(&plan, &i.record.spec.mounts)
                .map_err(|e| SupervisorError::Invalid(e.to_string()))?;
            return Ok(CopyRoot {
                root,
                _lock: Some(f),
            });
        }
        if Instant::now() > until {
            return Err(SupervisorError::Invalid(format!(
                "container {} is starting or restarting; try again once it runs",
                i.display_name()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
