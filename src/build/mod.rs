//! Dockerfile builds: parse, plan stages, execute steps with a layer cache.

pub mod builder;
pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod executor;
pub mod expand;
pub mod plan;
pub mod rootfs_view;
pub mod run_step;
