//! Safe extraction of an OCI layer tar into a directory used as an overlayfs
//! lowerdir.
//!
//! The tar crate only parses; all filesystem work is done with `*at()`
//! system calls (`crate::sys::fs`) relative to directory fds. An entry's
//! parent directory is reached by walking its (lexically normalised) path
//! from the destination root one component at a time with
//! `O_DIRECTORY|O_NOFOLLOW` (`walk.rs`): a symlink anywhere in a parent path
//! is refused, and the entry itself is created with `O_EXCL`/`O_NOFOLLOW`
//! after removing whatever was there (`apply.rs`). Nothing outside `dest` can
//! be reached, whatever the archive holds.
//!
//! OCI whiteouts become overlayfs whiteouts: `dir/.wh.name` is a character
//! device 0:0 named `name`, `dir/.wh..wh..opq` sets `trusted.overlay.opaque=y`
//! on `dir`. Entry metadata (PAX times, xattrs) is read in `meta.rs`; the
//! stream is sniffed and gunzipped in `decompress.rs`.

mod apply;
mod decompress;
mod error;
mod meta;
mod walk;

pub use decompress::{decompressed, LayerReader};
pub use error::UnpackError;

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use crate::sys::fs as at;
use apply::Unpacker;
use tar::Archive;

/// The environment variable that sets the limit on a layer's uncompressed
/// size: bytes, or with a K, M, G or T suffix (binary units); 0 lifts it.
pub const MAX_LAYER_BYTES_ENV: &str = "SKIFF_MAX_LAYER_BYTES";
/// The default limit on a layer's uncompressed size: 64 GiB.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;

/// Options for [`unpack_layer`].
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Refuse the layer once its uncompressed tar stream exceeds this many
    /// bytes (a defence against gzip bombs).
    pub max_bytes: Option<u64>,
}

impl UnpackOptions {
    /// The options for unpacking images' layers: the size limit from
    /// `$SKIFF_MAX_LAYER_BYTES`, else [`DEFAULT_MAX_LAYER_BYTES`].
    pub fn from_env() -> Result<UnpackOptions, UnpackError> {
        let max_bytes = match std::env::var(MAX_LAYER_BYTES_ENV) {
            Err(std::env::VarError::NotPresent) => Some(DEFAULT_MAX_LAYER_BYTES),
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(UnpackError::BadLimit(v.to_string_lossy().into_owned()))
            }
            Ok(v) => match crate::units::parse_size(&v) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(UnpackError::BadLimit(v)),
            },
        };
        Ok(UnpackOptions { max_bytes })
    }
}

/// What [`unpack_layer`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries applied, whiteouts included (PAX global headers not).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Bytes of uncompressed tar stream read, trailing padding included.
    pub tar_bytes: u64,
}

/// Counts the uncompressed stream and enforces `max_bytes`.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    limit: Option<u64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get().saturating_add(n as u64);
        self.count.set(total);
        match self.limit {
            Some(limit) if total > limit => {
                Err(io::Error::other(format!("layer exceeds {limit} bytes")))
            }
            _ => Ok(n),
        }
    }
}

/// Unpack the plain (already decompressed) layer tar `r` into the existing
/// directory `dest`. The whole input is consumed, so a caller hashing the
/// stream sees every byte. On error, `dest` may hold part of the layer and
/// must be discarded; nothing outside `dest` is ever touched.
pub fn unpack_layer(
    r: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let root = at::open_dir(dest).map_err(|source| UnpackError::Dest {
        path: dest.to_path_buf(),
        source,
    })?;
    let count = Rc::new(Cell::new(0u64));
    let reader = Counted {
        inner: r,
        count: count.clone(),
        limit: opts.max_bytes,
    };
    let mut archive = Archive::new(reader);
    let mut u = Unpacker::new(root);
    let result = run(&mut archive, &mut u).and_then(|()| {
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(UnpackError::Corrupt)?;
        u.finish_dirs()
    });
    match (result, opts.max_bytes) {
        (Err(_), Some(limit)) if count.get() > limit => Err(UnpackError::TooLarge { limit }),
        (Err(e), _) => Err(e),
        (Ok(()), _) => {
            u.stats.tar_bytes = count.get();
            Ok(u.stats)
        }
    }
}

fn run<R: Read>(archive: &mut Archive<R>, u: &mut Unpacker) -> Result<(), UnpackError> {
    for entry in archive.entries().map_err(UnpackError::Corrupt)? {
        let mut entry = entry.map_err(UnpackError::Corrupt)?;
        u.apply(&mut entry)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
