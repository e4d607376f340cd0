//! The OCI layer format's whiteouts, as names in a tar: `dir/.wh.name`
//! deletes `name` from the layers below, `dir/.wh..wh..opq` hides all of
//! `dir`'s lower contents. On disk (overlayfs) they are a character device
//! 0:0 and `trusted.overlay.opaque=y` (`crate::sys::xattr`); unpacking turns
//! the first into the second, diffing an upper directory the other way.

/// `.wh.name`: `name` is deleted.
pub const PREFIX: &[u8] = b".wh.";
/// `.wh..wh.*`: reserved for whiteout metadata (only `OPAQUE` is known).
pub const META_PREFIX: &[u8] = b".wh..wh.";
/// The directory it is in is opaque.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
