//! `skiff pull`: manifest (through an index to one platform), config and
//! layers into the store, every blob verified on the way in; the config and
//! manifest are stored only once every layer is, and the tag last.

use super::client::Client;
use super::manifest::{self, Descriptor, ImageManifestDoc, IndexDoc, Kind, Platform};
use super::progress::{human, Progress, ProgressMode, ProgressReader};
use super::{parallel, Endpoint, RegistryError, Result, TransportOptions};
use crate::image::config::ImageConfig;
use crate::image::reference::ImageRef;
use crate::store::{Digest, Reason, Store, StoreError};
use std::io::{Read, Write};
use std::sync::atomic::AtomicBool;

#[derive(Clone, Debug)]
pub struct PullOptions {
    pub transport: TransportOptions,
    /// The platform to pick from an index; `None` means the host's, and a
    /// single-platform image for another one is then pulled with a warning
    /// (as docker does) instead of refused.
    pub platform: Option<Platform>,
    /// Blobs downloaded at once.
    pub jobs: usize,
    pub progress: ProgressMode,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            transport: TransportOptions::default(),
            platform: None,
            jobs: 3,
            progress: ProgressMode::Auto,
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug)]
pub struct PullReport {
    /// The image manifest now in the store (the platform's, for an index).
    pub digest: Digest,
    /// The image id (config digest).
    pub config_digest: Digest,
    /// The tag written, if the reference named one (or none: `latest`).
    pub tag: Option<(String, String)>,
    /// False when the tag already pointed at this image (no new revision).
    pub tag_changed: bool,
    pub blobs_fetched: usize,
    pub blobs_present: usize,
    pub bytes_fetched: u64,
}

/// Pull `r` into `store` and return its manifest digest. Used by `skiff
/// pull` and by `skiff build` for a missing FROM image.
pub fn pull(store: &Store, r: &ImageRef, opts: &PullOptions) -> Result<Digest> {
    Ok(pull_image(store, r, opts)?.digest)
}

fn unsupported(target: &str, msg: impl Into<String>) -> RegistryError {
    RegistryError::Unsupported {
        reference: target.to_string(),
        msg: msg.into(),
    }
}

/// Check fetched manifest bytes against the digest asked for, or else the
/// registry's `Docker-Content-Digest`; return their digest.
fn verify_manifest(
    client: &Client,
    reference: &str,
    expected: Option<&Digest>,
    bytes: &[u8],
    header_digest: Option<&str>,
) -> Result<Digest> {
    let actual = Digest::of_bytes(bytes);
    let claimed = match expected {
        Some(d) => Some(d.clone()),
        None => header_digest.and_then(|h| h.trim().parse::<Digest>().ok()),
    };
    match claimed {
        Some(c) if c != actual => Err(RegistryError::DigestMismatch {
            target: client.target(),
            what: format!("manifest {reference}"),
            expected: c,
            actual,
        }),
        _ => Ok(actual),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    client: &Client,
    what: &str,
    bytes: &[u8],
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Unsupported {
        reference: client.target(),
        msg: format!("{what} is not valid: {e}"),
    })
}

pub fn pull_image(store: &Store, r: &ImageRef, opts: &PullOptions) -> Result<PullReport> {
    let ep = Endpoint::of(r);
    // Blobs are stored before the tag names them: keep a sweep away.
    let _gc = store.gc_shared()?;
    let progress = Progress::new(opts.progress);
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let client = Client::connect(
        &ep,
        &opts.transport,
        vec![format!("repository:{}:pull", ep.repository)],
    )?;
    let target = client.target();
    let reference = match &r.digest {
        Some(d) => d.to_string(),
        None => r.tag_or_latest().to_string(),
    };
    progress.line(&format!("Pulling {r}"));

    // Manifest, through at most two levels of index.
    let (mut bytes, mut ct, dcd) = client.get_manifest(&reference)?;
    let mut digest = verify_manifest(
        &client,
        &reference,
        r.digest.as_ref(),
        &bytes,
        dcd.as_deref(),
    )?;
    let mut shown = reference.clone();
    let mut from_index = false;
    for depth in 0.. {
        let (kind, _) = manifest::classify(&bytes, ct.as_deref())
            .map_err(|m| unsupported(&format!("{target}@{digest}"), m))?;
        if kind == Kind::Image {
            break;
        }
        if depth == 2 {
            return Err(unsupported(
                &format!("{target}@{digest}"),
                "indexes nested more than two deep",
            ));
        }
        let index: IndexDoc = parse_json(&client, &format!("index {digest}"), &bytes)?;
        let chosen =
            manifest::choose(&index, &want).map_err(|available| RegistryError::NoPlatform {
                reference: format!("{target}:{shown}"),
                wanted: want.to_string(),
                available,
            })?;
        let d = chosen
            .digest()
            .map_err(|m| unsupported(&format!("{target}@{digest}"), m))?;
        (bytes, ct, _) = client.get_manifest(&d.to_string())?;
        digest = verify_manifest(&client, &d.to_string(), Some(&d), &bytes, None)?;
        shown = d.to_string();
        from_index = true;
    }
    let doc: ImageManifestDoc = parse_json(&client, &format!("manifest {digest}"), &bytes)?;
    // Refused now if the store could not read it back as an image.
    let _: oci_spec::image::ImageManifest =
        parse_json(&client, &format!("manifest {digest}"), &bytes)?;
    for l in &doc.layers {
        manifest::check_layer(l).map_err(|m| unsupported(&format!("{target}@{digest}"), m))?;
    }

    // Config: fetched into memory and checked now, stored at the end.
    let config_digest = doc
        .config
        .digest()
        .map_err(|m| unsupported(&format!("{target}@{digest}"), m))?;
    let (config_bytes, config_new) = if store.has_blob(&config_digest) {
        (store.read_blob(&config_digest)?, false)
    } else {
        (fetch_small(&client, &config_digest, doc.config.size)?, true)
    };
    let _: serde_json::Value =
        parse_json(&client, &format!("config {config_digest}"), &config_bytes)?;
    let config: ImageConfig =
        parse_json(&client, &format!("config {config_digest}"), &config_bytes)?;
    if config.rootfs.diff_ids.len() != doc.layers.len() {
        return Err(unsupported(
            &format!("{target}@{digest}"),
            format!(
                "the config lists {} layers but the manifest {}",
                config.rootfs.diff_ids.len(),
                doc.layers.len()
            ),
        ));
    }
    if !from_index && (config.os != want.os || config.architecture != want.architecture) {
        let has = format!("{}/{}", config.os, config.architecture);
        if opts.platform.is_some() {
            return Err(RegistryError::NoPlatform {
                reference: format!("{target}:{shown}"),
                wanted: want.to_string(),
                available: has,
            });
        }
        progress.line(&format!(
            "WARNING: the image's platform ({has}) does not match this host ({want})"
        ));
    }

    // Layers, a few at a time; those already stored are skipped.
    let mut todo: Vec<(Digest, &Descriptor)> = Vec::new();
    let mut present = 0;
    for l in &doc.layers {
        let d = l
            .digest()
            .map_err(|m| unsupported(&format!("{target}@{digest}"), m))?;
        if todo.iter().any(|(x, _)| *x == d) {
            continue;
        }
        if store.has_blob(&d) {
            let id = progress.bar(d.short(), "Downloading", l.size);
            progress.finish(id, "Already exists");
            present += 1;
        } else {
            todo.push((d, l));
        }
    }
    let cancel = AtomicBool::new(false);
    let bars: Vec<usize> = todo
        .iter()
        .map(|(d, l)| progress.bar(d.short(), "Downloading", l.size))
        .collect();
    let work: Vec<(usize, &(Digest, &Descriptor))> = bars.into_iter().zip(todo.iter()).collect();
    parallel::for_each(
        &work,
        opts.jobs,
        &cancel,
        |(bar, (d, l))| match fetch_layer(&client, store, d, l.size, &progress, *bar, &cancel) {
            Ok(()) => {
                progress.finish(*bar, &format!("Pull complete ({})", human(l.size)));
                Ok(())
            }
            Err(e) => {
                progress.finish(*bar, "Failed");
                Err(e)
            }
        },
    )?;
    progress.freeze();
    let bytes_fetched: u64 = todo.iter().map(|(_, l)| l.size).sum();

    if config_new {
        store.put_blob(&config_bytes[..], Some(&config_digest))?;
    }
    store.put_blob(&bytes[..], Some(&digest))?;

    let mut tag = None;
    let mut tag_changed = false;
    if r.digest.is_none() || r.tag.is_some() {
        let t = r.tag_or_latest();
        if store.resolve_tag(&r.name, t)?.as_ref() != Some(&digest) {
            store.set_tag(&r.name, t, Some(&digest), Reason::Pull, None)?;
            tag_changed = true;
        }
        tag = Some((r.name.clone(), t.to_string()));
    }
    progress.line(&format!("Digest: {digest}"));
    progress.line(&if tag_changed || tag.is_none() {
        format!("Status: Downloaded newer image for {r}")
    } else {
        format!("Status: Image is up to date for {r}")
    });
    Ok(PullReport {
        digest,
        config_digest,
        tag,
        tag_changed,
        blobs_fetched: todo.len() + usize::from(config_new),
        blobs_present: present,
        bytes_fetched,
    })
}

/// Fetch a small blob (a config) into memory and verify it.
fn fetch_small(client: &Client, digest: &Digest, size: u64) -> Result<Vec<u8>> {
    let what = format!("blob {digest}");
    if size > manifest::MAX_CONFIG_BYTES {
        return Err(unsupported(
            &client.target(),
            format!("config {digest} is {size} bytes, more than skiff accepts"),
        ));
    }
    let resp = client.get_blob(digest)?;
    let bytes = super::client::read_limited(resp, manifest::MAX_CONFIG_BYTES)
        .map_err(|e| client.transfer(&what, &e))?;
    let actual = Digest::of_bytes(&bytes);
    if &actual != digest {
        return Err(RegistryError::DigestMismatch {
            target: client.target(),
            what,
            expected: digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Stream one layer blob into the store through `tmp/`, verifying its size
/// and digest; on any failure the temporary file is removed.
fn fetch_layer(
    client: &Client,
    store: &Store,
    digest: &Digest,
    size: u64,
    progress: &Progress,
    bar: usize,
    cancel: &AtomicBool,
) -> Result<()> {
    let what = format!("blob {digest}");
    let resp = client.get_blob(digest)?;
    // A server that sends more than the manifest says is cut off: the
    // digest could never match anyway.
    let body = resp
        .into_body()
        .into_with_config()
        .limit(size.max(1))
        .reader();
    let mut reader = ProgressReader {
        inner: body,
        progress,
        id: bar,
        cancel,
    };
    let mut w = store.blob_writer()?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) if cancel.load(std::sync::atomic::Ordering::Relaxed) => {
                return Err(RegistryError::Cancelled)
            }
            Err(e) => {
                return Err(RegistryError::Transfer {
                    target: client.target(),
                    what,
                    reason: format!("download failed after {got} of {size} bytes: {e}"),
                })
            }
        };
        got += n as u64;
        w.write_all(&buf[..n]).map_err(|source| StoreError::Io {
            what: "cannot write",
            path: w.tmp_path().to_path_buf(),
            source,
        })?;
    }
    if got != size {
        return Err(RegistryError::Transfer {
            target: client.target(),
            what,
            reason: format!("the registry sent {got} bytes, the manifest says {size} (truncated?)"),
        });
    }
    match w.commit(Some(digest)) {
        Ok(_) => Ok(()),
        Err(StoreError::DigestMismatch { expected, actual }) => {
            Err(RegistryError::DigestMismatch {
                target: client.target(),
                what,
                expected,
                actual,
            })
        }
        Err(e) => Err(e.into()),
    }
}
