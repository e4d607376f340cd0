//! What an archive holds, checked before anything is written: for each
//! image its manifest, config and layers (OCI layout or docker's
//! `manifest.json`) and the tags it carries.

use super::tar_index::TarIndex;
use super::{
    ArchiveError, Result, CONTAINERD_NAME, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
    REF_NAME,
};
use crate::image::config::ImageConfig;
use crate::image::reference::ImageRef;
use crate::store::{Digest, Store, StoreError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io;
use std::io::Read;

/// A name from an archive as a store tag: docker's and podman's default
/// prefixes (`docker.io/library/`, `docker.io/`, `localhost/`) dropped.
pub(super) fn tag_of(s: &str) -> Option<(String, String)> {
    let r: ImageRef = s.parse().ok()?;
    if r.digest.is_some() && r.tag.is_none() {
        return None;
    }
    let mut name = r.name.clone();
    for p in ["docker.io/library/", "docker.io/", "localhost/"] {
        if let Some(rest) = name.strip_prefix(p) {
            name = rest.to_string();
            break;
        }
    }
    Some((name, r.tag_or_latest().to_string()))
}

/// One image, checked, ready to store.
pub(super) struct Plan {
    pub(super) manifest: ManifestPlan,
    pub(super) config_digest: Digest,
    pub(super) config_bytes: Vec<u8>,
    /// (archive entry, blob digest, how to store it)
    pub(super) layers: Vec<(String, Digest, LayerStore)>,
    pub(super) tags: Vec<(String, String)>,
}

pub(super) enum ManifestPlan {
    /// The archive's own manifest (OCI archive), stored byte for byte.
    Archived { digest: Digest, bytes: Vec<u8> },
    /// Made after the layers are stored (docker-archive).
    Made,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LayerStore {
    /// The entry is the blob: store it verified against its digest.
    AsBlob,
    /// A compressed docker-archive layer: its digest is learned while
    /// storing, after its uncompressed content is checked against the diff id.
    CompressedDiff,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescJson {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<PlatformJson>,
}

#[derive(Deserialize)]
pub(super) struct PlatformJson {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
pub(super) struct IndexJson {
    #[serde(default)]
    manifests: Vec<DescJson>,
}

#[derive(Deserialize)]
pub(super) struct ManifestJson {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    config: DescJson,
    layers: Vec<DescJson>,
}

pub(super) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(super) fn parse_digest(idx: &TarIndex, s: &str) -> Result<Digest> {
    s.parse()
        .map_err(|_| idx.invalid(format!("unsupported digest {s:?} (only sha256 is)")))
}

pub(super) fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

pub(super) fn plan_oci(store: &Store, idx: &TarIndex) -> Result<Vec<Plan>> {
    let index: IndexJson = idx.json("index.json", &idx.read_small("index.json")?)?;
    let mut plans: Vec<Plan> = Vec::new();
    for desc in &index.manifests {
        let name = desc
            .annotations
            .get(CONTAINERD_NAME)
            .or_else(|| desc.annotations.get(REF_NAME))
            .and_then(|n| tag_of(n));
        let mut digest = parse_digest(idx, &desc.digest)?;
        let mut media_type = desc.media_type.clone();
        let mut bytes = idx.read_blob(&blob_name(&digest), &digest)?;
        for depth in 0.. {
            // A generic parse first: it is the one with a recursion limit.
            let v: serde_json::Value = idx.json(&format!("manifest {digest}"), &bytes)?;
            let declared = v
                .get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string);
            if let Some(m) = declared {
                media_type = m;
            }
            if media_type != OCI_INDEX && media_type != DOCKER_LIST {
                break;
            }
            if depth == 2 {
                return Err(idx.invalid(format!("index {digest} is nested too deep")));
            }
            let inner: IndexJson = idx.json(&format!("index {digest}"), &bytes)?;
            let chosen = inner
                .manifests
                .iter()
                .find(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == host_arch())
                })
                .or_else(|| inner.manifests.iter().find(|m| m.platform.is_none()))
                .ok_or_else(|| {
                    idx.invalid(format!(
                        "index {digest} has no image for linux/{}",
                        host_arch()
                    ))
                })?;
            digest = parse_digest(idx, &chosen.digest)?;
            media_type = chosen.media_type.clone();
            bytes = idx.read_blob(&blob_name(&digest), &digest)?;
        }
        if !media_type.is_empty() && media_type != OCI_MANIFEST && media_type != DOCKER_MANIFEST {
            return Err(idx.invalid(format!(
                "manifest {digest} has unsupported media type {media_type}"
            )));
        }
        if let Some(p) = plans.iter_mut().find(
            |p| matches!(&p.manifest, ManifestPlan::Archived { digest: d, .. } if *d == digest),
        ) {
            if let Some(n) = name {
                if !p.tags.contains(&n) {
                    p.tags.push(n);
                }
            }
            continue;
        }
        let m: ManifestJson = idx.json(&format!("manifest {digest}"), &bytes)?;
        // Refused now if the store could not read it back as an image.
        let _: oci_spec::image::ImageManifest = idx.json(&format!("manifest {digest}"), &bytes)?;
        if let Some(mt) = &m.media_type {
            if mt != OCI_MANIFEST && mt != DOCKER_MANIFEST {
                return Err(
                    idx.invalid(format!("manifest {digest} has unsupported media type {mt}"))
                );
            }
        }
        let config_digest = parse_digest(idx, &m.config.digest)?;
        let config_bytes = idx.read_blob(&blob_name(&config_digest), &config_digest)?;
        let _: serde_json::Value = idx.json(&format!("config {config_digest}"), &config_bytes)?;
        let config: ImageConfig = idx.json(&format!("config {config_digest}"), &config_bytes)?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(idx.invalid(format!(
                "image {digest}: the config lists {} layers but the manifest {}",
                config.rootfs.diff_ids.len(),
                m.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for l in &m.layers {
            let d = parse_digest(idx, &l.digest)?;
            let entry = blob_name(&d);
            match idx.size(&entry) {
                Some(s) if s == l.size => {}
                Some(s) => {
                    return Err(idx.invalid(format!(
                        "{entry} is {s} bytes, the manifest says {}",
                        l.size
                    )))
                }
                None if store.has_blob(&d) => {}
                None => return Err(idx.missing(&entry)),
            }
            layers.push((entry, d, LayerStore::AsBlob));
        }
        plans.push(Plan {
            manifest: ManifestPlan::Archived { digest, bytes },
            config_digest,
            config_bytes,
            layers,
            tags: name.into_iter().collect(),
        });
    }
    Ok(plans)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Sniff an entry: "tar", "gzip" or an error for anything else.
pub(super) fn sniff(idx: &TarIndex, entry: &str) -> Result<&'static str> {
    let mut head = [0u8; 262];
    let mut s = idx.section(entry)?;
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(ArchiveError::Io {
                    what: "cannot read",
                    path: format!("{}: {entry}", idx.shown),
                    source: e,
                })
            }
        }
    }
    if head[..n].starts_with(&[0x1f, 0x8b]) {
        Ok("gzip")
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(idx.invalid(format!(
            "layer {entry} is zstd-compressed, which skiff does not read yet"
        )))
    } else {
        // A tar (an empty layer may be all zeros; ustar magic at 257 otherwise).
        Ok("tar")
    }
}

pub(super) fn plan_docker(idx: &TarIndex) -> Result<Vec<Plan>> {
    let entries: Vec<DockerEntry> = idx.json("manifest.json", &idx.read_small("manifest.json")?)?;
    let mut plans = Vec::new();
    for e in entries {
        let config_bytes = idx.read_small(&e.config)?;
        let config_digest = Digest::of_bytes(&config_bytes);
        let _: serde_json::Value = idx.json(&e.config, &config_bytes)?;
        let config: ImageConfig = idx.json(&e.config, &config_bytes)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(idx.invalid(format!(
                "{}: the config lists {} layers but manifest.json {}",
                e.config,
                config.rootfs.diff_ids.len(),
                e.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (entry, diff_id) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let how = match sniff(idx, entry)? {
                // The blob digest is learned while storing; see store_plan.
                "gzip" => LayerStore::CompressedDiff,
                _ => LayerStore::AsBlob,
            };
            layers.push((entry.clone(), diff_id.clone(), how));
        }
        let tags = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .filter_map(|t| tag_of(t))
            .collect();
        plans.push(Plan {
            manifest: ManifestPlan::Made,
            config_digest,
            config_bytes,
            layers,
            tags,
        });
    }
    Ok(plans)
}

pub(super) fn store_err(idx: &TarIndex, entry: &str, e: StoreError) -> ArchiveError {
    match e {
        StoreError::DigestMismatch { expected, actual } => ArchiveError::DigestMismatch {
            path: idx.shown.clone(),
            entry: entry.to_string(),
            expected,
            actual,
        },
        StoreError::Io { source, .. } if source.kind() == io::ErrorKind::UnexpectedEof => {
            ArchiveError::Io {
                what: "cannot read",
                path: format!("{}: {entry}", idx.shown),
                source,
            }
        }
        e => e.into(),
    }
}
