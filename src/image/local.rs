//! Images in the local store: resolve a reference, read manifest and config,
//! write new images, and make sure their layers are unpacked.

use super::config::{canonical_json, ImageConfig};
use super::reference::ImageRef;
use crate::store::{Digest, Store, StoreError};
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] super::reference::BadReference),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("image id prefix {0} is ambiguous")]
    Ambiguous(String),
    #[error("{what} {digest} is not valid JSON: {msg}")]
    BadJson {
        what: &'static str,
        digest: Digest,
        msg: String,
    },
    #[error("manifest {0} is not a single-platform image manifest (media type {1})")]
    UnsupportedManifest(Digest, String),
    #[error("image {image}: layer {index} ({digest}): {msg}")]
    Layer {
        image: String,
        index: usize,
        digest: String,
        msg: String,
    },
    #[error("{0}")]
    Oci(String),
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Docker's v2 schema 2 image manifest, accepted alongside OCI's.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A stored image: its manifest and its config.
#[derive(Clone, Debug)]
pub struct LocalImage {
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl LocalImage {
    /// Resolve `name`, `name:tag`, `name@sha256:…`, `sha256:…` or an image id
    /// prefix (of the config digest, as docker shows it) to a stored image.
    pub fn load(store: &Store, reference: &str) -> Result<LocalImage> {
        let digest = resolve(store, reference)?;
        LocalImage::by_digest(store, &digest)
    }

    pub fn by_digest(store: &Store, manifest_digest: &Digest) -> Result<LocalImage> {
        let bytes = store.read_blob(manifest_digest)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::BadJson {
                what: "manifest",
                digest: manifest_digest.clone(),
                msg: e.to_string(),
            })?;
        if let Some(mt) = manifest.media_type() {
            // Docker's schema 2 manifest has the same shape; pulled and
            // loaded manifests are stored as they came, digest intact.
            if *mt != MediaType::ImageManifest && mt.to_string() != DOCKER_MANIFEST_MEDIA_TYPE {
                return Err(ImageError::UnsupportedManifest(
                    manifest_digest.clone(),
                    mt.to_string(),
                ));
            }
        }
        let config_digest = oci_to_digest(manifest.config().digest().as_ref())?;
        let cbytes = store.read_blob(&config_digest)?;
        let config: ImageConfig =
            serde_json::from_slice(&cbytes).map_err(|e| ImageError::BadJson {
                what: "config",
                digest: config_digest.clone(),
                msg: e.to_string(),
            })?;
        if config.rootfs.diff_ids.len() != manifest.layers().len() {
            return Err(ImageError::Oci(format!(
                "image {manifest_digest}: config lists {} layers but the manifest {}",
                config.rootfs.diff_ids.len(),
                manifest.layers().len()
            )));
        }
        Ok(LocalImage {
            manifest_digest: manifest_digest.clone(),
            manifest,
            config_digest,
            config,
        })
    }

    /// The image id as docker shows it: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// Compressed size of all blobs.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum::<u64>() + self.manifest.config().size()
    }

    /// The unpacked layer directories, bottom layer first, unpacking any
    /// that are not in `layers/` yet.
    pub fn layer_dirs(&self, store: &Store) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::with_capacity(self.config.rootfs.diff_ids.len());
        for (index, (desc, diff_id)) in self
            .manifest
            .layers()
            .iter()
            .zip(&self.config.rootfs.diff_ids)
            .enumerate()
        {
            if !store.has_layer(diff_id) {
                let blob = oci_to_digest(desc.digest().as_ref())?;
                unpack_blob(store, &blob, desc.media_type(), diff_id).map_err(|e| {
                    ImageError::Layer {
                        image: self.manifest_digest.to_string(),
                        index,
                        digest: blob.to_string(),
                        msg: e.to_string(),
                    }
                })?;
            }
            dirs.push(store.layer_dir(diff_id));
        }
        Ok(dirs)
    }
}

/// Unpack a stored layer blob into `layers/<diff_id>`, verifying the diff id.
pub fn unpack_blob(
    store: &Store,
    blob: &Digest,
    media_type: &MediaType,
    diff_id: &Digest,
) -> Result<PathBuf> {
    let file = store.open_blob(blob)?;
    let raw: Box<dyn Read> = match media_type {
        MediaType::ImageLayerGzip | MediaType::Other(_) => Box::new(
            super::unpack::decompressed(std::io::BufReader::with_capacity(256 * 1024, file))
                .map_err(|e| ImageError::Oci(e.to_string()))?,
        ),
        MediaType::ImageLayer => Box::new(std::io::BufReader::new(file)),
        other => {
            return Err(ImageError::Oci(format!(
                "unsupported layer media type {other}"
            )))
        }
    };
    let opts =
        super::unpack::UnpackOptions::from_env().map_err(|e| ImageError::Oci(e.to_string()))?;
    let mut hashed = crate::store::digest::HashingReader::new(raw);
    let staged = store.layer_staging_dir()?;
    let unpacked = super::unpack::unpack_layer(&mut hashed, &staged, &opts)
        .map_err(|e| ImageError::Oci(e.to_string()))
        .and_then(|_| {
            std::io::copy(&mut hashed, &mut std::io::sink())
                .map_err(|e| ImageError::Oci(e.to_string()))
        });
    if let Err(e) = unpacked {
        let _ = crate::store::layers::remove_tree(&staged);
        return Err(e);
    }
    let (actual, _) = hashed.finish();
    if &actual != diff_id {
        let _ = crate::store::layers::remove_tree(&staged);
        return Err(StoreError::DigestMismatch {
            expected: diff_id.clone(),
            actual,
        }
        .into());
    }
    Ok(store.publish_layer_dir(&staged, diff_id)?)
}

/// Store `config` and a manifest for it with `layers` (descriptors in order,
/// their blobs already stored). Returns the manifest digest.
pub fn write_image(store: &Store, config: &ImageConfig, layers: Vec<Descriptor>) -> Result<Digest> {
    let cbytes = canonical_json(config).map_err(|e| ImageError::Oci(e.to_string()))?;
    let cdigest = store.put_blob_bytes(&cbytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            cbytes.len() as u64,
            digest_to_oci(&cdigest)?,
        ))
        .layers(layers)
        .build()
        .map_err(|e| ImageError::Oci(e.to_string()))?;
    let mbytes = canonical_json(&manifest).map_err(|e| ImageError::Oci(e.to_string()))?;
    Ok(store.put_blob_bytes(&mbytes)?)
}

pub fn digest_to_oci(d: &Digest) -> Result<oci_spec::image::Digest> {
    oci_spec::image::Digest::from_str(&d.to_string()).map_err(|e| ImageError::Oci(e.to_string()))
}

pub fn oci_to_digest(d: &str) -> Result<Digest> {
    d.parse::<Digest>()
        .map_err(|e| ImageError::Oci(e.to_string()))
}

/// A reference to a manifest digest in the store.
pub fn resolve(store: &Store, reference: &str) -> Result<Digest> {
    if let Ok(d) = reference.parse::<Digest>() {
        return find_by_id(store, d.hex(), reference);
    }
    let is_hex = reference.len() >= 4
        && reference.len() <= 64
        && reference
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    match reference.parse::<ImageRef>() {
        Ok(r) => {
            if let Some(d) = &r.digest {
                if store.has_blob(d) {
                    return Ok(d.clone());
                }
                return Err(ImageError::NotFound(reference.to_string()));
            }
            if let Some(d) = store.resolve_tag(&r.name, r.tag_or_latest())? {
                return Ok(d);
            }
            if is_hex && r.tag.is_none() {
                return find_by_id(store, reference, reference);
            }
            Err(ImageError::NotFound(reference.to_string()))
        }
        Err(e) if is_hex => find_by_id(store, reference, reference).map_err(|_| e.into()),
        Err(e) => Err(e.into()),
    }
}

/// Find a manifest whose digest, or whose config digest (the image id), starts
/// with `prefix`, among every revision of every tag.
fn find_by_id(store: &Store, prefix: &str, shown: &str) -> Result<Digest> {
    let mut found: Vec<Digest> = Vec::new();
    for (_, _, rev) in store.all_revision_digests()? {
        let Some(m) = rev.digest else { continue };
        if found.contains(&m) {
            continue;
        }
        let matches = m.hex().starts_with(prefix)
            || LocalImage::by_digest(store, &m)
                .map(|i| i.config_digest.hex().starts_with(prefix))
                .unwrap_or(false);
        if matches {
            found.push(m);
        }
    }
    match found.len() {
        0 => Err(ImageError::NotFound(shown.to_string())),
        1 => Ok(found.remove(0)),
        _ => Err(ImageError::Ambiguous(shown.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        "[".repeat(depth) + &"]".repeat(depth)
    }

    /// Deep JSON is an error (serde_json's recursion limit, or skipped
    /// without recursion), never a stack overflow.
    #[test]
    fn deeply_nested_manifests_and_configs_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"ExposedPorts":{{"80/tcp":{}}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#,
            nested(100_000)
        );
        let cd = s.put_blob_bytes(config.as_bytes()).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[]}}"#,
            config.len()
        );
        let md = s.put_blob_bytes(manifest.as_bytes()).unwrap();
        let err = LocalImage::by_digest(&s, &md).unwrap_err();
        assert!(
            matches!(&err, ImageError::BadJson { what: "config", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("recursion limit"), "{err}");
        // Deep in a manifest: an unknown field (skipped) and a known one.
        for deep in [
            format!(r#"{{"schemaVersion":2,"x":{}}}"#, nested(1_000_000)),
            format!(
                r#"{{"schemaVersion":2,"config":{{"digest":{}}}}}"#,
                nested(1_000_000)
            ),
            nested(1_000_000),
        ] {
            let md = s.put_blob_bytes(deep.as_bytes()).unwrap();
            let err = LocalImage::by_digest(&s, &md).unwrap_err();
            assert!(
                matches!(
                    &err,
                    ImageError::BadJson {
                        what: "manifest",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    /// A blob whose content does not match its name is refused on read.
    #[test]
    fn lying_blobs_are_digest_mismatches() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let md = s.put_blob_bytes(br#"{"schemaVersion":2}"#).unwrap();
        std::fs::write(s.blob_path(&md), br#"{"schemaVersion":3}"#).unwrap();
        let err = LocalImage::by_digest(&s, &md).unwrap_err();
        assert!(
            matches!(err, ImageError::Store(StoreError::DigestMismatch { .. })),
            "{err}"
        );
    }
}
