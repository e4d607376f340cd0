//! Blobs: content-addressed files under `oci/blobs/sha256/`, written through
//! `tmp/`, hashed while streamed, fsynced and renamed into place.

use super::digest::{Digest, HashingWriter};
use super::{atomic, Result, Store, StoreError};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

impl Store {
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.oci_dir().join("blobs/sha256").join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Start writing a blob whose digest is known only at the end.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp = atomic::tempfile_in(&self.tmp_dir()).map_err(StoreError::io(
            "cannot create temporary file in",
            &self.tmp_dir(),
        ))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StoreError::io("cannot create", &tmp))?;
        Ok(BlobWriter {
            store: self.clone(),
            tmp,
            inner: Some(HashingWriter::new(io::BufWriter::with_capacity(
                256 * 1024,
                file,
            ))),
        })
    }

    /// Store everything `r` yields; if `expected` is given the content must hash to it.
    pub fn put_blob(&self, mut r: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut w = self.blob_writer()?;
        io::copy(&mut r, &mut w).map_err(|source| StoreError::Io {
            what: "cannot write blob from",
            path: w.tmp.clone(),
            source,
        })?;
        w.commit(expected)
    }

    pub fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        Ok(self.put_blob(bytes, None)?.0)
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let p = self.blob_path(d);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob(d.clone())
            } else {
                StoreError::Io {
                    what: "cannot open",
                    path: p,
                    source: e,
                }
            }
        })
    }

    /// Read a small blob (manifest, config) and verify its digest.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut buf)
            .map_err(StoreError::io("cannot read", &self.blob_path(d)))?;
        let actual = Digest::of_bytes(&buf);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(buf)
    }

    /// Size in bytes of a stored blob.
    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        let p = self.blob_path(d);
        Ok(std::fs::metadata(&p)
            .map_err(StoreError::io("cannot stat", &p))?
            .len())
    }
}

/// A blob being written. Dropping it without `commit` removes the temporary file.
pub struct BlobWriter {
    store: Store,
    tmp: PathBuf,
    inner: Option<HashingWriter<io::BufWriter<File>>>,
}

impl BlobWriter {
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// fsync, verify against `expected` if given, and rename into place.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let hw = self
            .inner
            .take()
            .ok_or_else(|| StoreError::Invalid("blob writer already committed".into()))?;
        let (buf, digest, len) = hw.finish();
        let file = buf.into_inner().map_err(|e| StoreError::Io {
            what: "cannot write",
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(StoreError::io("cannot fsync", &self.tmp))?;
        drop(file);
        if let Some(exp) = expected {
            if exp != &digest {
                let _ = std::fs::remove_file(&self.tmp);
                return Err(StoreError::DigestMismatch {
                    expected: exp.clone(),
                    actual: digest,
                });
            }
        }
        let dest = self.store.blob_path(&digest);
        if dest.exists() {
            // Same content is stored once; ours is redundant.
            let _ = std::fs::remove_file(&self.tmp);
        } else {
            atomic::publish(&self.tmp, &dest)
                .map_err(StoreError::io("cannot publish blob", &dest))?;
        }
        Ok((digest, len))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.inner.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("blob already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_verified() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.put_blob_bytes(b"abc").unwrap();
        let b = s.put_blob_bytes(b"abc").unwrap();
        assert_eq!(a, b);
        assert_eq!(s.read_blob(&a).unwrap(), b"abc");
        let wrong = Digest::of_bytes(b"xyz");
        let err = s.put_blob(&b"abc"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }));
        assert!(!s.has_blob(&wrong));
        assert_eq!(std::fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }
}
