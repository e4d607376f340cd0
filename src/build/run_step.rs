//! RUN: execute a command in a container over the current layers; the
//! container's overlay upper directory becomes the new layer and is moved
//! into `layers/` instead of being unpacked again.

use crate::runtime::spec::{BindMount, TmpfsMount};
use crate::runtime::{self, Container, ContainerSpec, NetworkMode, Stdio};
use crate::store::Store;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunStepError {
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error("the command returned a non-zero code: {code}")]
    Failed { code: i32, output: Option<String> },
}

/// What a RUN step runs and how.
pub struct RunStep<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: Option<String>,
    pub network: NetworkMode,
    /// Bridge networks (`NetworkMode::Bridge`).
    pub networks: Vec<String>,
    pub layers: &'a [PathBuf],
    /// `RUN --mount`s: binds (cache, secret, bind, heredoc scripts) and tmpfs.
    pub mounts: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    /// Send the command's output to a file (shown only on failure).
    pub quiet: bool,
}

/// A finished RUN: its upper directory, ready to become a layer; the
/// container's directory is removed when this is dropped.
pub struct RunOutput {
    container: Option<Container>,
    upper: PathBuf,
}

impl RunOutput {
    pub fn upper(&self) -> &Path {
        &self.upper
    }
}

impl Drop for RunOutput {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = c.remove();
        }
    }
}

pub fn run(store: &Store, step: RunStep<'_>) -> Result<RunOutput, RunStepError> {
    let id = runtime::new_id();
    let spec = ContainerSpec {
        id: id.clone(),
        image: "build".into(),
        hostname: id[..12].to_string(),
        args: step.args,
        env: step.env,
        cwd: step.cwd,
        user: step.user,
        network: step.network,
        mounts: step.mounts,
        tmpfs: step.tmpfs,
        networks: step.networks,
        hosts_snapshot: true,
        no_new_privileges: true,
        ..ContainerSpec::default()
    };
    // Who owns this build container: a later build removes it if we die.
    let pid = std::process::id().to_string();
    let c = Container::create_with_files(
        store,
        spec,
        step.layers.to_vec(),
        &[(OWNER_FILE, pid.as_bytes())],
    )?;
    let log = c.dir().join("build-output.log");
    let result = (|| {
        let stdio = if step.quiet {
            let f = std::fs::File::create(&log)
                .map_err(runtime::RuntimeError::io("cannot create", &log))?;
            let f2 = f
                .try_clone()
                .map_err(runtime::RuntimeError::io("cannot duplicate", &log))?;
            Stdio::Fds {
                stdin: None,
                stdout: f.into(),
                stderr: f2.into(),
            }
        } else {
            // Build output goes to stderr: stdout carries only the image id.
            let err = std::io::stderr();
            let dup = |what| {
                std::os::fd::AsFd::as_fd(&err)
                    .try_clone_to_owned()
                    .map_err(runtime::RuntimeError::io(what, Path::new("stderr")))
            };
            Stdio::Fds {
                stdin: None,
                stdout: dup("cannot duplicate")?,
                stderr: dup("cannot duplicate")?,
            }
        };
        let mut running = c.start(stdio)?;
        running.wait()
    })();
    let status = match result {
        Ok(s) => s,
        Err(runtime::RuntimeError::Exec { code, message }) => {
            let _ = c.remove();
            return Err(RunStepError::Failed {
                code,
                output: Some(message),
            });
        }
        Err(e) => {
            let _ = c.remove();
            return Err(e.into());
        }
    };
    let code = status.exit_code();
    if code != 0 {
        let output = step
            .quiet
            .then(|| std::fs::read_to_string(&log).unwrap_or_default());
        let _ = c.remove();
        return Err(RunStepError::Failed { code, output });
    }
    let _ = std::fs::remove_file(&log);
    let upper = c.dir().join("upper");
    prune_mountpoints(&upper);
    Ok(RunOutput {
        container: Some(c),
        upper,
    })
}

/// Marks a container as a build step's, with the pid of the build.
const OWNER_FILE: &str = "build-owner";

/// Remove the containers of RUN steps whose build was killed (their
/// directories and cgroups); returns how many.
pub fn sweep_orphans(store: &Store) -> usize {
    let Ok(entries) = std::fs::read_dir(store.containers_dir()) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let Ok(pid) = std::fs::read_to_string(e.path().join(OWNER_FILE)) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let alive = crate::store::tmp::pid_alive(pid.into());
        if alive {
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        let _ = runtime::cgroups::remove_stale(&id);
        if std::fs::remove_dir_all(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// The runtime creates mount targets (/etc/hosts, /proc, …) in the upper
/// directory when the image lacks them; they are not the command's output.
fn prune_mountpoints(upper: &Path) {
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        let p = upper.join(f);
        if std::fs::metadata(&p)
            .map(|m| m.is_file() && m.len() == 0)
            .unwrap_or(false)
        {
            let _ = std::fs::remove_file(&p);
        }
    }
    for d in ["etc", "proc", "sys", "dev"] {
        // Only removed when empty: a command that wrote there keeps its files.
        let _ = std::fs::remove_dir(upper.join(d));
    }
}
