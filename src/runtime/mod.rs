//! Running one container once: spec, namespaces, rootfs, cgroups, security.
//!
//! Read it in the order a container starts:
//!
//! | step | file |
//! | --- | --- |
//! | options + image config → [`spec::ContainerSpec`] | `spec.rs` |
//! | `containers/<id>/`, start, wait, remove | `container.rs` |
//! | re-exec from a read-only view of skiff (CVE-2019-5736) | `process/sealed_exe.rs` |
//! | cgroup v1/v2 with limits and device rules | `cgroups/` |
//! | clone into namespaces, join cgroup, sync | `process/parent.rs`, `process/channel.rs` |
//! | the container init, step by step | `process/init.rs` |
//! | overlay of the layers, /proc, /dev, /sys, binds, pivot_root, masked paths | `rootfs/` (`overlay.rs` has the overlay mount) |
//! | loopback; bridge interfaces' address and route (`crate::network` plugs them in) | `network.rs` |
//! | pty | `terminal.rs` |
//! | `-u` lookup in the image's passwd/group | `user.rs` |
//! | docker's capabilities | `capabilities.rs` |
//! | seccomp filter | `seccomp.rs` |
//! | fds closed, stdio installed | `fds.rs` |
//! | find the program and execve (126/127) | `process/exec.rs` |
//! | signal forwarding, attached foreground | `signals.rs`, `attach.rs` |
//!
//! Usage (what `skiff run` does):
//!
//! ```ignore
//! runtime::process::sealed_exe::ensure()?;          // first thing in the process
//! let c = Container::create(&store, spec, layer_dirs)?;
//! let mut sig = runtime::signals::Forwarder::install()?;
//! let mut running = c.start(Stdio::Inherit { stdin: false })?;
//! let status = runtime::attach::attach(&mut running, &mut sig, false)?; // or running.wait()
//! c.remove()?;                                       // --rm
//! ```

pub mod attach;
pub mod capabilities;
pub mod cgroups;
pub mod container;
pub mod copy;
pub mod error;
pub mod fds;
pub mod host;
pub mod network;
pub mod oci;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod signum;
pub mod skeleton;
pub mod spec;
pub mod terminal;
pub mod user;

pub use container::{new_id, Container, ExitStatus, Running};
pub use error::RuntimeError;
pub use process::Stdio;
pub use signum::Signum;
pub use spec::{ContainerSpec, NetworkMode, RunOptions};
