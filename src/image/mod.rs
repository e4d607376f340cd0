//! OCI image model: references, manifests and configs, layer tars in and out,
//! import.

pub mod archive;
pub mod config;
pub mod fsck;
pub mod import;
pub mod layer_writer;
pub mod local;
pub mod reference;
pub mod unpack;
pub mod whiteout;

/// The PATH docker gives a container whose image sets none.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
