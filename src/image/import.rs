//! `skiff import`: a rootfs tarball (plain or gzip) or a directory becomes a
//! one-layer image. A tarball is read once: the same pass hashes it (diff id),
//! compresses it into a blob and unpacks it into `layers/`.

use super::config::{creation_time, History, ImageConfig};
use super::local::{digest_to_oci, write_image, ImageError, Result};
use super::{layer_writer, unpack};
use crate::store::digest::HashingReader;
use crate::store::{Digest, Store};
use flate2::write::GzEncoder;
use oci_spec::image::{Descriptor, MediaType};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// Import `source` and return the new image's manifest digest (untagged).
pub fn import(store: &Store, source: &Path) -> Result<Digest> {
    let meta = std::fs::metadata(source)
        .map_err(|e| ImageError::Oci(format!("cannot read {}: {e}", source.display())))?;
    let (diff_id, blob, size) = if meta.is_dir() {
        import_dir(store, source)?
    } else {
        import_tar(store, source)?
    };
    let mut config = ImageConfig::empty(Some(creation_time()));
    config.config.env = Some(vec![crate::image::DEFAULT_PATH_ENV.to_string()]);
    config.rootfs.diff_ids.push(diff_id);
    config.history.push(History {
        created: config.created.clone(),
        created_by: Some(format!(
            "skiff import {}",
            source
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        )),
        ..History::default()
    });
    let layer = Descriptor::new(MediaType::ImageLayerGzip, size, digest_to_oci(&blob)?);
    write_image(store, &config, vec![layer])
}

/// Tee: everything read from `inner` is also written to `sink`.
struct Tee<R, W> {
    inner: R,
    sink: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn import_tar(store: &Store, source: &Path) -> Result<(Digest, Digest, u64)> {
    let file = File::open(source)
        .map_err(|e| ImageError::Oci(format!("cannot open {}: {e}", source.display())))?;
    let raw = unpack::decompressed(BufReader::with_capacity(256 * 1024, file))
        .map_err(|e| ImageError::Oci(format!("{}: {e}", source.display())))?;
    let blob = store.blob_writer()?;
    let gz = GzEncoder::new(blob, flate2::Compression::fast());
    let mut tee = Tee {
        inner: HashingReader::new(raw),
        sink: gz,
    };
    let opts = unpack::UnpackOptions::from_env().map_err(|e| ImageError::Oci(e.to_string()))?;
    let staged = store.layer_staging_dir()?;
    let result = unpack::unpack_layer(&mut tee, &staged, &opts)
        .map_err(|e| ImageError::Oci(format!("{}: {e}", source.display())))
        .and_then(|_| {
            io::copy(&mut tee, &mut io::sink())
                .map_err(|e| ImageError::Oci(format!("{}: {e}", source.display())))
        });
    if let Err(e) = result {
        let _ = crate::store::layers::remove_tree(&staged);
        return Err(e);
    }
    let Tee { inner, sink } = tee;
    let (diff_id, _) = inner.finish();
    let finished = sink
        .finish()
        .map_err(|e| ImageError::Oci(format!("cannot compress {}: {e}", source.display())));
    let committed = finished.and_then(|blob| blob.commit(None).map_err(ImageError::from));
    let (blob_digest, size) = match committed {
        Ok(v) => v,
        Err(e) => {
            let _ = crate::store::layers::remove_tree(&staged);
            return Err(e);
        }
    };
    store.publish_layer_dir(&staged, &diff_id)?;
    Ok((diff_id, blob_digest, size))
}

fn import_dir(store: &Store, source: &Path) -> Result<(Digest, Digest, u64)> {
    let blob = store.blob_writer()?;
    let opts = layer_writer::WriteOptions {
        source_date_epoch: super::config::source_date_epoch(),
        from_overlay_upper: false,
    };
    let layer = layer_writer::write_gzip_layer(source, blob, &opts)
        .map_err(|e| ImageError::Oci(format!("{}: {e}", source.display())))?;
    let diff_id = layer.diff_id;
    let (blob_digest, size) = layer.out.commit(Some(&layer.digest))?;
    super::local::unpack_blob(store, &blob_digest, &MediaType::ImageLayerGzip, &diff_id)?;
    Ok((diff_id, blob_digest, size))
}
