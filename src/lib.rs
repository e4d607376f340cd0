//! skiff: a daemonless container runtime and image builder.
//!
//! The arrows go one way: `cli` → `compose` → `deploy` → `build`/`supervisor`/`registry`
//! → `runtime`/`image` → `store`; `units` (sizes) is a leaf anyone may use. See DESIGN.md.
//! [`sys`] is the bottom layer under all of them: the only module allowed
//! `unsafe` code (every raw system call lives there).

#![deny(unsafe_code)]

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
#[allow(unsafe_code)]
pub mod sys;
pub mod text;
pub mod units;
