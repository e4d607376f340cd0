//! skiff: a daemonless container runtime and image builder.
//!
//! The arrows go one way: `cli` → `compose` → `deploy` → `build`/`supervisor`/`registry`
//! → `runtime`/`image` → `store`; `units` (sizes) is a leaf anyone may use. See DESIGN.md.

pub mod build;
pub mod cli;
pub mod compose;
pub mod deploy;
pub mod image;
pub mod kube;
pub mod network;
pub mod observe;
pub mod oci;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod supervisor;
pub mod text;
pub mod units;
