//! The OCI image layout under `oci/`: `oci-layout` and an `index.json`
//! rewritten atomically from the revision logs, so skopeo, umoci and podman
//! read the store directly (`oci:/var/lib/skiff/oci:NAME:TAG`).

use super::{Result, Store, StoreError};
use serde_json::json;

pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn ensure_layout(store: &Store) -> Result<()> {
    let layout = store.oci_dir().join("oci-layout");
    if !layout.exists() {
        store.write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    let index = store.oci_dir().join("index.json");
    if !index.exists() {
        let _lock = store.lock()?;
        if !index.exists() {
            store.write_index_locked()?;
        }
    }
    Ok(())
}

impl Store {
    /// The `mediaType` a manifest blob declares (a pulled docker image keeps
    /// docker's), OCI's when it declares none.
    fn manifest_media_type(&self, digest: &super::Digest) -> String {
        self.read_blob(digest)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| MANIFEST_MEDIA_TYPE.to_string())
    }

    /// Rewrite `oci/index.json` from the tags. Caller holds the store lock.
    pub(crate) fn write_index_locked(&self) -> Result<()> {
        let bytes = self.index_json()?;
        self.write_atomic(&self.oci_dir().join("index.json"), &bytes)
    }

    /// What `index.json` must hold according to the revision logs.
    pub(crate) fn index_json(&self) -> Result<Vec<u8>> {
        let mut manifests = Vec::new();
        for (name, tag, digest) in self.tags()? {
            // A tag whose manifest is gone (fsck reports it) must not make
            // the whole store unusable: the index lists what exists.
            let Ok(size) = self.blob_size(&digest) else {
                continue;
            };
            manifests.push(json!({
                "mediaType": self.manifest_media_type(&digest),
                "digest": digest.to_string(),
                "size": size,
                "annotations": { REF_NAME_ANNOTATION: format!("{name}:{tag}") },
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        serde_json::to_vec_pretty(&index).map_err(|e| StoreError::Invalid(e.to_string()))
    }
}
