//! `skiff compose`: a project of services from a compose file, converged
//! onto containers.
//!
//! | concern | file |
//! | --- | --- |
//! | the YAML tree with line numbers (saphyr), merge keys | `yaml.rs` |
//! | `${VAR}` substitution and `.env` files | `interpolate.rs` |
//! | the compose-spec subset, as decoded (what `compose config` prints) | `model.rs` |
//! | scalars: interpolated strings, lists, commands, unknown keys | `decoder.rs` |
//! | the whole file: top level, name, volumes, networks, checks across services | `decode.rs` |
//! | one service's keys (build, healthcheck, deploy, depends_on) | `decode_service.rs` |
//! | a service's ports and volumes, short and long syntax | `decode_mounts.rs` |
//! | finding the file, the project name, `.env` | `load.rs` |
//! | depends_on order (cycles, unknown services) | `order.rs` |
//! | what a service's containers are made from, and its hash | `service.rs` |
//! | the project's containers and volumes in the store (labels) | `project.rs` |
//! | up (build, create, wait for conditions, roll out what changed), down | `converge.rs` |
//!
//! Every project has a default bridge network `<project>_default` (and
//! those it declares); each container joins its service's networks with
//! the service name as an alias, so `redis:6379` reaches the redis service.

pub mod converge;
pub mod decode;
mod decode_mounts;
mod decode_service;
pub mod decoder;
pub mod interpolate;
pub mod load;
pub mod model;
pub mod order;
pub mod project;
pub mod service;
pub mod yaml;

use std::path::PathBuf;

/// Labels on everything a project owns (docker compose's names, so a
/// user's scripts that filter on them keep working).
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Bad input, at a line of the file.
    #[error("{}:{line}: {msg}", file.display())]
    At {
        file: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// A service failed during `up`; what was started before is listed.
    #[error("service {service:?}: {msg}{}", started_list(started))]
    Service {
        service: String,
        msg: String,
        started: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Deploy(#[from] crate::deploy::DeployError),
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::SupervisorError),
    #[error(transparent)]
    Image(#[from] crate::image::local::ImageError),
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
}

fn started_list(started: &[String]) -> String {
    if started.is_empty() {
        "; nothing was started".into()
    } else {
        format!(
            "; started before the failure: {} (`skiff compose down` removes them)",
            started.join(", ")
        )
    }
}

pub type Result<T, E = ComposeError> = std::result::Result<T, E>;
