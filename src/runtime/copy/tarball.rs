//! Tar streams for `cp -` : entries out as a tar (docker's `cp CTR:SRC -`),
//! a tar in as entries (`cp - CTR:DST`). Device nodes and fifos in an
//! incoming stream are refused.

use super::{lossy, CopyError, Entry, Kind, Result, Sink, Stats};
use std::io::{Read, Write};
use tar::{Archive, EntryType, Header};

pub struct TarSink<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    pub fn new(out: W) -> TarSink<W> {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        TarSink { builder }
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn put(&mut self, e: &Entry, data: &mut dyn Read) -> Result<()> {
        let mut h = Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid.into());
        h.set_gid(e.gid.into());
        h.set_mtime(e.mtime.max(0) as u64);
        let path = super::os(&e.path);
        let r = match &e.kind {
            Kind::File { size } => {
                h.set_entry_type(EntryType::Regular);
                h.set_size(*size);
                self.builder.append_data(&mut h, path, data)
            }
            Kind::Dir => {
                h.set_entry_type(EntryType::Directory);
                h.set_size(0);
                self.builder.append_data(&mut h, path, std::io::empty())
            }
            Kind::Symlink(t) => {
                h.set_entry_type(EntryType::Symlink);
                h.set_size(0);
                self.builder.append_link(&mut h, path, super::os(t))
            }
            Kind::Hardlink(t) => {
                h.set_entry_type(EntryType::Link);
                h.set_size(0);
                self.builder.append_link(&mut h, path, super::os(t))
            }
        };
        r.map_err(CopyError::Tar)
    }

    fn finish(&mut self) -> Result<()> {
        self.builder.finish().map_err(CopyError::Tar)?;
        self.builder.get_mut().flush().map_err(CopyError::Tar)
    }
}

/// Send every entry of the tar stream `r` to `sink`.
pub fn read(r: impl Read, sink: &mut dyn Sink) -> Result<Stats> {
    let mut archive = Archive::new(r);
    let mut stats = Stats::default();
    for entry in archive.entries().map_err(CopyError::Tar)? {
        let mut entry = entry.map_err(CopyError::Tar)?;
        let path = entry.path_bytes().into_owned();
        let h = entry.header();
        let corrupt =
            |err: std::io::Error| CopyError::Invalid(format!("tar entry {}: {err}", lossy(&path)));
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| {
                CopyError::refused(lossy(&path), format!("{what} {v} is out of range"))
            })
        };
        let kind = match h.entry_type() {
            EntryType::Regular | EntryType::Continuous => Kind::File { size: entry.size() },
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink | EntryType::Link => {
                let t = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| CopyError::refused(lossy(&path), "link without a target"))?;
                if h.entry_type() == EntryType::Link {
                    Kind::Hardlink(t)
                } else {
                    Kind::Symlink(t)
                }
            }
            EntryType::XGlobalHeader => continue,
            EntryType::Char | EntryType::Block => {
                return Err(CopyError::refused(
                    lossy(&path),
                    "is a device node; skiff cp does not create devices",
                ))
            }
            EntryType::Fifo => {
                return Err(CopyError::refused(
                    lossy(&path),
                    "is a fifo; skiff cp does not create fifos",
                ))
            }
            other => {
                return Err(CopyError::refused(
                    lossy(&path),
                    format!(
                        "has the unsupported tar type '{}'",
                        char::from(other.as_byte()).escape_default()
                    ),
                ))
            }
        };
        let h = entry.header();
        let e = Entry {
            mode: h.mode().map_err(corrupt)? & 0o7777,
            uid: id(h.uid().map_err(corrupt)?, "uid")?,
            gid: id(h.gid().map_err(corrupt)?, "gid")?,
            mtime: i64::try_from(h.mtime().map_err(corrupt)?).unwrap_or(0),
            path,
            kind,
        };
        if let Kind::File { size } = e.kind {
            stats.bytes += size;
        }
        stats.entries += 1;
        sink.put(&e, &mut entry)?;
    }
    Ok(stats)
}
