//! `skiff push`: each blob is checked with HEAD first, mounted from another
//! repository of the same registry when a local tag shows one has it, else
//! uploaded (one PUT, or PATCH chunks then PUT for large blobs); the
//! manifest goes last, byte for byte as stored, so its digest is kept.

use super::client::{Body, Client, Upload};
use super::manifest::{self, Kind};
use super::progress::{human, Progress, ProgressMode};
use super::{parallel, Endpoint, RegistryError, Result, TransportOptions};
use crate::image::local::{oci_to_digest, LocalImage};
use crate::image::reference::ImageRef;
use crate::store::{Digest, Store};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Clone, Debug)]
pub struct PushOptions {
    pub transport: TransportOptions,
    /// Blobs uploaded at once.
    pub jobs: usize,
    pub progress: ProgressMode,
    /// Blobs larger than this go up in PATCH chunks of this size; smaller
    /// ones in a single PUT. 0: always a single PUT.
    pub chunk_size: u64,
}

pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            transport: TransportOptions::default(),
            jobs: 3,
            progress: ProgressMode::Auto,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

#[derive(Clone, Debug)]
pub struct PushReport {
    pub digest: Digest,
    pub size: u64,
    /// Blobs sent.
    pub pushed: usize,
    /// Blobs the repository already had.
    pub existed: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
}

struct Blob {
    digest: Digest,
    size: u64,
    mount_from: Option<String>,
}

/// Repositories on the same registry that, by the local tags, hold each blob.
fn mount_sources(store: &Store, ep: &Endpoint, wanted: &[Digest]) -> BTreeMap<Digest, String> {
    let mut out = BTreeMap::new();
    let Ok(tags) = store.tags() else {
        return out;
    };
    for (name, _, digest) in tags {
        let Ok(r) = name.parse::<ImageRef>() else {
            continue;
        };
        let other = Endpoint::of(&r);
        if other.registry != ep.registry || other.repository == ep.repository {
            continue;
        }
        let Ok(img) = LocalImage::by_digest(store, &digest) else {
            continue;
        };
        let blobs = std::iter::once(img.config_digest.clone()).chain(
            img.manifest
                .layers()
                .iter()
                .filter_map(|l| oci_to_digest(l.digest().as_ref()).ok()),
        );
        for b in blobs {
            if wanted.contains(&b) {
                out.entry(b).or_insert_with(|| other.repository.clone());
            }
        }
    }
    out
}

/// Push `image` to `dest` (its tag, else its digest, else `latest`).
pub fn push(
    store: &Store,
    image: &LocalImage,
    dest: &ImageRef,
    opts: &PushOptions,
) -> Result<PushReport> {
    let ep = Endpoint::of(dest);
    let progress = Progress::new(opts.progress);
    let bytes = store.read_blob(&image.manifest_digest)?;
    let (kind, media_type) =
        manifest::classify(&bytes, None).map_err(|m| RegistryError::Unsupported {
            reference: image.manifest_digest.to_string(),
            msg: m,
        })?;
    if kind != Kind::Image {
        return Err(RegistryError::Unsupported {
            reference: image.manifest_digest.to_string(),
            msg: "only single-platform images can be pushed".into(),
        });
    }
    let digest = image.manifest_digest.clone();
    if let Some(d) = &dest.digest {
        if *d != digest {
            return Err(RegistryError::Invalid(format!(
                "{dest}: the image's digest is {digest}, not the one in the reference"
            )));
        }
    }

    let mut digests = vec![image.config_digest.clone()];
    for l in image.manifest.layers() {
        let d = oci_to_digest(l.digest().as_ref())?;
        if !digests.contains(&d) {
            digests.push(d);
        }
    }
    let sources = mount_sources(store, &ep, &digests);
    let mut blobs = Vec::new();
    for d in digests {
        if !store.has_blob(&d) {
            return Err(crate::store::StoreError::MissingBlob(d).into());
        }
        let size = store.blob_size(&d)?;
        blobs.push(Blob {
            mount_from: sources.get(&d).cloned(),
            digest: d,
            size,
        });
    }
    let mut scopes = vec![format!("repository:{}:pull,push", ep.repository)];
    for from in sources.values() {
        let s = format!("repository:{from}:pull");
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let client = Client::connect(&ep, &opts.transport, scopes)?;
    let reference = match (&dest.tag, &dest.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_string(),
    };
    progress.line(&format!(
        "Pushing {} to {}:{reference}",
        image.manifest_digest.short(),
        client.target()
    ));

    let cancel = AtomicBool::new(false);
    let (pushed, existed, mounted) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let work: Vec<(usize, &Blob)> = blobs
        .iter()
        .map(|b| (progress.bar(b.digest.short(), "Pushing", b.size), b))
        .collect();
    parallel::for_each(&work, opts.jobs, &cancel, |(bar, b)| {
        let r = push_blob(&client, store, b, opts.chunk_size, &progress, *bar, &cancel);
        let status = match &r {
            Ok(Outcome::Existed) => {
                existed.fetch_add(1, Ordering::Relaxed);
                "Layer already exists".to_string()
            }
            Ok(Outcome::Mounted) => {
                mounted.fetch_add(1, Ordering::Relaxed);
                format!("Mounted from {}", b.mount_from.as_deref().unwrap_or("?"))
            }
            Ok(Outcome::Pushed) => {
                pushed.fetch_add(1, Ordering::Relaxed);
                format!("Pushed ({})", human(b.size))
            }
            Err(_) => "Failed".to_string(),
        };
        progress.finish(*bar, &status);
        r.map(|_| ())
    })?;

    progress.freeze();
    let answered = client.put_manifest(&reference, &media_type, &bytes)?;
    if let Some(a) = answered.and_then(|a| a.trim().parse::<Digest>().ok()) {
        if a != digest {
            return Err(RegistryError::DigestMismatch {
                target: client.target(),
                what: format!("manifest {reference}"),
                expected: digest,
                actual: a,
            });
        }
    }
    progress.line(&format!(
        "{reference}: digest: {digest} size: {}",
        bytes.len()
    ));
    Ok(PushReport {
        digest,
        size: bytes.len() as u64,
        pushed: pushed.into_inner(),
        existed: existed.into_inner(),
        mounted: mounted.into_inner(),
    })
}

enum Outcome {
    Existed,
    Mounted,
    Pushed,
}

fn push_blob(
    client: &Client,
    store: &Store,
    b: &Blob,
    chunk_size: u64,
    progress: &Progress,
    bar: usize,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    if client.blob_exists(&b.digest)? {
        return Ok(Outcome::Existed);
    }
    let (mut location, min_chunk) = match client.start_upload(&b.digest, b.mount_from.as_deref())? {
        Upload::Mounted => return Ok(Outcome::Mounted),
        Upload::Session {
            location,
            min_chunk,
        } => (location, min_chunk),
    };
    let path = store.blob_path(&b.digest);
    if chunk_size == 0 || b.size <= chunk_size {
        let body = Body::File {
            path: &path,
            offset: 0,
            len: b.size,
            progress: Some((progress, bar, cancel)),
        };
        client.put_monolithic(&location, &b.digest, &body)?;
        return Ok(Outcome::Pushed);
    }
    let chunk = chunk_size.max(min_chunk);
    let mut offset = 0;
    while offset < b.size {
        if cancel.load(Ordering::Relaxed) {
            return Err(RegistryError::Cancelled);
        }
        let len = chunk.min(b.size - offset);
        let body = Body::File {
            path: &path,
            offset,
            len,
            progress: Some((progress, bar, cancel)),
        };
        location = client.patch_chunk(&location, &b.digest, offset, &body)?;
        offset += len;
    }
    client.finish_upload(&location, &b.digest)?;
    Ok(Outcome::Pushed)
}
