//! OCI distribution client: pull and push against registries that speak the
//! distribution API (docker's registry, distribution, Harbor, ghcr, …), with
//! basic and Bearer token auth and docker-compatible credentials.
//!
//! Blocking HTTP only (ureq): no async runtime is ever started, so nothing
//! here can leave threads behind on the `run` path. Pull and push use a few
//! scoped threads for blobs and join them before returning.
//!
//! Rules kept here:
//! - every blob is verified against its digest before it enters the store
//!   (`Store::put_blob` with the expected digest, through `tmp/`);
//! - a pull writes the config and the manifest only after every layer is
//!   stored, and the tag last, so a failed pull never leaves an image or a
//!   tag behind; whole verified layer blobs stay, and a later pull skips them;
//! - manifests are stored as the registry sent them, so their digests match
//!   the registry's (docker's media type included).

pub mod auth;
mod client;
pub mod manifest;
mod parallel;
pub mod progress;
mod pull;
mod push;

pub use auth::Credentials;
pub use manifest::Platform;
pub use progress::ProgressMode;
pub use pull::{pull, pull_image, PullOptions, PullReport};
pub use push::{push, PushOptions, PushReport};

use crate::image::local::ImageError;
use crate::image::reference::ImageRef;
use crate::store::{Digest, StoreError};

/// Docker Hub, as a reference without a registry host means.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API really lives.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{target}: cannot reach the registry: {reason}")]
    Unreachable { target: String, reason: String },
    #[error("{target}: {msg}")]
    Protocol { target: String, msg: String },
    #[error("{target}: {what}: authentication required ({detail}){hint}")]
    Unauthorized {
        target: String,
        what: String,
        detail: String,
        hint: String,
    },
    #[error("{target}: {what}: access denied (403){detail}")]
    Denied {
        target: String,
        what: String,
        detail: String,
    },
    #[error("{target}: {what} not found (404){detail}")]
    NotFound {
        target: String,
        what: String,
        detail: String,
    },
    #[error("{target}: {what}: registry answered {status}{detail}")]
    Status {
        target: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{target}: {what}: {reason}")]
    Transfer {
        target: String,
        what: String,
        reason: String,
    },
    #[error(
        "{target}: {what}: digest mismatch: expected {expected}, the content hashes to {actual}"
    )]
    DigestMismatch {
        target: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference}: no image for platform {wanted} (the registry has {available})")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("{reference}: {msg}")]
    Unsupported { reference: String, msg: String },
    #[error("auth file {path}: {msg}")]
    AuthFile { path: String, msg: String },
    #[error("interrupted")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Where a reference lives: the registry as the user named it (for messages
/// and the auth file), the host its API answers on, and the repository path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub registry: String,
    pub host: String,
    pub repository: String,
}

impl Endpoint {
    /// Docker's rules: no registry host means Docker Hub, and a one-component
    /// name there lives under `library/`.
    pub fn of(r: &ImageRef) -> Endpoint {
        match r.registry() {
            Some(h) if h != DOCKER_HUB && h != "index.docker.io" => Endpoint {
                registry: h.to_string(),
                host: h.to_string(),
                repository: r.repository().to_string(),
            },
            _ => {
                let repo = r.repository();
                Endpoint {
                    registry: DOCKER_HUB.to_string(),
                    host: DOCKER_HUB_API.to_string(),
                    repository: if repo.contains('/') {
                        repo.to_string()
                    } else {
                        format!("library/{repo}")
                    },
                }
            }
        }
    }

    /// `registry/repository`, as errors name it (the registry alone for login).
    pub fn target(&self) -> String {
        if self.repository.is_empty() {
            self.registry.clone()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }
}

/// Settings shared by pull, push and login.
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// Verify TLS certificates and require https. `false` also allows plain
    /// http (tried after https fails), as `--tls-verify=false` does in podman.
    pub tls_verify: bool,
    /// Credentials to use instead of the auth file's.
    pub credentials: Option<Credentials>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            tls_verify: true,
            credentials: None,
        }
    }
}

/// Check that the registry at `registry` accepts `creds` (GET /v2/, with the
/// token flow when it asks for one). Used by `skiff login`.
pub fn check_login(registry: &str, creds: &Credentials, tls_verify: bool) -> Result<()> {
    client::check_login(registry, creds, tls_verify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_docker() {
        let e = Endpoint::of(&"busybox".parse().unwrap());
        assert_eq!(
            (e.registry.as_str(), e.host.as_str(), e.repository.as_str()),
            ("docker.io", "registry-1.docker.io", "library/busybox")
        );
        let e = Endpoint::of(&"docker.io/team/app:1".parse().unwrap());
        assert_eq!(e.repository, "team/app");
        let e = Endpoint::of(&"127.0.0.1:5000/team/node-api:1.4".parse().unwrap());
        assert_eq!(e.host, "127.0.0.1:5000");
        assert_eq!(e.repository, "team/node-api");
        assert_eq!(e.target(), "127.0.0.1:5000/team/node-api");
    }
}
