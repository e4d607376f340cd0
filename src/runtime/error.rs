//! The runtime's error type. Every variant says what was being done and to
//! which path or object, so one line on stderr is enough to act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A system call failed; `what` names the operation and its object.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad user input (a -m value, a -v spec, ...).
    #[error("{0}")]
    Invalid(String),
    /// The container's command could not be executed (exit code 126 or 127).
    #[error("{message}")]
    Exec { code: i32, message: String },
    /// The container init failed while setting up (reported over the channel).
    #[error("container init: {0}")]
    Init(String),
    #[error("cgroup {path}: {msg}")]
    Cgroup { path: PathBuf, msg: String },
    #[error("user {user}: {msg}")]
    User { user: String, msg: String },
    #[error("a container named {0} already exists")]
    NameInUse(String),
    /// A `--security-opt seccomp=` profile that cannot be used.
    #[error(transparent)]
    Seccomp(#[from] super::seccomp::ProfileError),

    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
}

impl RuntimeError {
    pub fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> RuntimeError {
        let what = what.into();
        move |e| RuntimeError::Sys {
            what,
            source: std::io::Error::from_raw_os_error(e as i32),
        }
    }
    /// For the `io::Error` of a `crate::sys` call.
    pub fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let what = what.into();
        move |source| RuntimeError::Sys { what, source }
    }
    pub fn last_os(what: impl Into<String>) -> RuntimeError {
        RuntimeError::Sys {
            what: what.into(),
            source: std::io::Error::last_os_error(),
        }
    }
    pub fn io<'a>(
        what: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
        move |source| RuntimeError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
    /// The exit code `skiff run` should return for this error: 126/127 for a
    /// command that cannot run, 125 for skiff's own failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Exec { code, .. } => *code,
            _ => 125,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
