//! Dockerfile builds: parse, plan stages, execute steps with a layer cache.

pub mod builder;
pub mod cache;
pub mod cache_mounts;
pub mod check;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod dockerignore;
pub mod executor;
pub mod expand;
pub mod fsck;
pub mod heredoc;
pub mod plan;
pub mod rootfs_view;
pub mod run_mount;
pub mod run_mounts;
pub mod run_step;
pub mod secrets;
