//! `skiff load`: read the archive's index, plan every image, then store
//! each blob verified against its digest, the manifest after its blobs,
//! and the tags last.

use super::plan::{plan_docker, plan_oci, store_err, LayerStore, ManifestPlan, Plan};
use super::save::TempFile;
use super::tar_index::TarIndex;
use super::{io_err, ArchiveError, Loaded, Result};
use crate::image::config::canonical_json;
use crate::image::local::{digest_to_oci, ImageError, LocalImage};
use crate::store::digest::HashingReader;
use crate::store::{Reason, Store};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use std::fs::File;
use std::io;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Load the archive at `path` (a tar, or a gzipped tar) into `store`.
pub fn load(store: &Store, path: &Path) -> Result<Vec<Loaded>> {
    let file = File::open(path).map_err(io_err("cannot open", path))?;
    load_file(store, file, &path.display().to_string())
}

/// Load an archive from a stream (stdin): copied to `tmp/` first.
pub fn load_reader(store: &Store, mut r: impl Read, shown: &str) -> Result<Vec<Loaded>> {
    let tmp = TempFile(
        crate::store::atomic::tempfile_in(&store.tmp_dir()).map_err(io_err(
            "cannot create a temporary file in",
            &store.tmp_dir(),
        ))?,
    );
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp.0)
        .map_err(io_err("cannot create", &tmp.0))?;
    io::copy(&mut r, &mut f).map_err(io_err("cannot read", Path::new(shown)))?;
    f.seek(SeekFrom::Start(0))
        .map_err(io_err("cannot read", &tmp.0))?;
    load_file(store, f, shown)
}

pub(super) fn load_file(store: &Store, mut file: File, shown: &str) -> Result<Vec<Loaded>> {
    // Blobs are stored before the tags name them: keep a sweep away.
    let _gc = store.gc_shared()?;
    let mut magic = [0u8; 4];
    let n = file
        .read(&mut magic)
        .map_err(io_err("cannot read", Path::new(shown)))?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_err("cannot read", Path::new(shown)))?;
    let _plain;
    let idx =
        if n >= 2 && magic[..2] == [0x1f, 0x8b] {
            // Decompress once into tmp/ so entries can be read at their offsets.
            let tmp = TempFile(crate::store::atomic::tempfile_in(&store.tmp_dir()).map_err(
                io_err("cannot create a temporary file in", &store.tmp_dir()),
            )?);
            let mut out = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp.0)
                .map_err(io_err("cannot create", &tmp.0))?;
            let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, file));
            // A gzip bomb stops at the layer size limit, as in unpacking.
            let limit = crate::image::unpack::UnpackOptions::from_env()
                .map_err(|e| ArchiveError::NotAnImage {
                    path: shown.to_string(),
                    why: e.to_string(),
                })?
                .max_bytes;
            let copied = io::copy(
                &mut gz.take(limit.map_or(u64::MAX, |l| l.saturating_add(1))),
                &mut out,
            )
            .map_err(|e| ArchiveError::NotAnImage {
                path: shown.to_string(),
                why: format!("cannot decompress: {e}"),
            })?;
            if let Some(l) = limit.filter(|l| copied > *l) {
                return Err(ArchiveError::NotAnImage {
                    path: shown.to_string(),
                    why: format!(
                        "it expands to more than {l} bytes ({} sets the limit)",
                        crate::image::unpack::MAX_LAYER_BYTES_ENV
                    ),
                });
            }
            out.seek(SeekFrom::Start(0))
                .map_err(io_err("cannot read", &tmp.0))?;
            _plain = tmp;
            TarIndex::build(out, shown)?
        } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(ArchiveError::NotAnImage {
                path: shown.to_string(),
                why: "zstd-compressed archives are not supported; decompress it first".into(),
            });
        } else {
            TarIndex::build(file, shown)?
        };
    let plans = if idx.has("index.json") && idx.has("oci-layout") {
        plan_oci(store, &idx)?
    } else if idx.has("manifest.json") {
        plan_docker(&idx)?
    } else {
        return Err(ArchiveError::NotAnImage {
            path: shown.to_string(),
            why: "it has neither index.json and oci-layout (OCI) nor manifest.json (docker)".into(),
        });
    };
    if plans.is_empty() {
        return Err(ArchiveError::NotAnImage {
            path: shown.to_string(),
            why: "it lists no images".into(),
        });
    }
    plans.iter().map(|p| store_plan(store, &idx, p)).collect()
}

pub(super) fn store_plan(store: &Store, idx: &TarIndex, p: &Plan) -> Result<Loaded> {
    let docker = matches!(p.manifest, ManifestPlan::Made);
    let mut layer_descs = Vec::new();
    for (i, (entry, digest, how)) in p.layers.iter().enumerate() {
        match how {
            LayerStore::AsBlob => {
                if !store.has_blob(digest) {
                    store
                        .put_blob(idx.section(entry)?, Some(digest))
                        .map_err(|e| store_err(idx, entry, e))?;
                }
                if docker {
                    let size = store.blob_size(digest)?;
                    layer_descs.push(Descriptor::new(
                        MediaType::ImageLayer,
                        size,
                        digest_to_oci(digest)?,
                    ));
                }
            }
            LayerStore::CompressedDiff => {
                // First the uncompressed content against the diff id, then
                // the compressed bytes as the blob.
                let raw = crate::image::unpack::decompressed(idx.section(entry)?)
                    .map_err(|e| idx.invalid(format!("{entry}: {e}")))?;
                let mut h = HashingReader::new(raw);
                io::copy(&mut h, &mut io::sink()).map_err(|e| ArchiveError::Io {
                    what: "cannot decompress",
                    path: format!("{}: {entry}", idx.shown),
                    source: e,
                })?;
                let (actual, _) = h.finish();
                if &actual != digest {
                    return Err(ArchiveError::DigestMismatch {
                        path: idx.shown.clone(),
                        entry: format!("{entry} (layer {i}, uncompressed)"),
                        expected: digest.clone(),
                        actual,
                    });
                }
                let (blob, size) = store
                    .put_blob(idx.section(entry)?, None)
                    .map_err(|e| store_err(idx, entry, e))?;
                layer_descs.push(Descriptor::new(
                    MediaType::ImageLayerGzip,
                    size,
                    digest_to_oci(&blob)?,
                ));
            }
        }
    }
    if !store.has_blob(&p.config_digest) {
        store.put_blob(&p.config_bytes[..], Some(&p.config_digest))?;
    }
    let digest = if let ManifestPlan::Archived { digest, bytes } = &p.manifest {
        store.put_blob(&bytes[..], Some(digest))?;
        digest.clone()
    } else {
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                p.config_bytes.len() as u64,
                digest_to_oci(&p.config_digest)?,
            ))
            .layers(layer_descs)
            .build()
            .map_err(|e| ImageError::Oci(e.to_string()))?;
        let bytes = canonical_json(&manifest).map_err(|e| ImageError::Oci(e.to_string()))?;
        store.put_blob_bytes(&bytes)?
    };
    // The image must read back as one before any tag points at it.
    let img = LocalImage::by_digest(store, &digest)?;
    for (name, tag) in &p.tags {
        store.set_tag(name, tag, Some(&digest), Reason::Load, None)?;
    }
    Ok(Loaded {
        digest,
        config_digest: img.config_digest,
        tags: p.tags.clone(),
    })
}
