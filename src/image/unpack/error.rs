//! What can go wrong unpacking a layer, by entry.

use super::MAX_LAYER_BYTES_ENV;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open layer destination {}: {source}", path.display())]
    Dest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer tar is corrupt or truncated: {0}")]
    Corrupt(#[source] io::Error),
    #[error("layer tar is corrupt or truncated at entry {entry:?}: {source}")]
    CorruptEntry {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("layer tar entry {entry:?} is truncated: its header says {expected} bytes, the archive has {got}")]
    Truncated {
        entry: String,
        expected: u64,
        got: u64,
    },
    #[error("layer tar entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("layer tar entry {entry:?} has unsupported type {kind}")]
    Unsupported { entry: String, kind: String },
    #[error("layer tar entry {entry:?}: {what}: {source}")]
    Io {
        entry: String,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("layer expands to more than the limit of {limit} bytes (set {MAX_LAYER_BYTES_ENV} to raise it)")]
    TooLarge { limit: u64 },
    #[error("{MAX_LAYER_BYTES_ENV}={0:?} is not a size (bytes, or a number with K, M, G or T; 0 for no limit)")]
    BadLimit(String),
    #[error("layer is {0}-compressed, which is not supported (only gzip or plain tar)")]
    UnsupportedCompression(&'static str),
}

pub(super) fn refused(entry: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Refused {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn io_err(
    entry: &str,
    what: impl Into<String>,
) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    let what = what.into();
    move |source| UnpackError::Io {
        entry: entry.to_string(),
        what,
        source,
    }
}
