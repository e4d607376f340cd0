//! `skiff save` and `skiff load`: image archives both ways.
//!
//! - OCI archive: a tar of an OCI image layout (`oci-layout`, `index.json`
//!   whose descriptors carry `org.opencontainers.image.ref.name`, and
//!   `blobs/sha256/…`), as `podman save --format oci-archive` and skopeo's
//!   `oci-archive:` write it. Blobs are copied as stored: digests are kept.
//! - docker-archive: `manifest.json` (`Config`, `RepoTags`, `Layers`), the
//!   config as `<id>.json` and each layer as an uncompressed tar, as
//!   `docker save`, `podman save` and skopeo's `docker-archive:` write it
//!   (legacy `<id>/layer.tar` symlinks included). Loading one makes an OCI
//!   manifest over the archive's config (kept byte for byte, so the image id
//!   is docker's) and its layers.
//!
//! Load reads the archive's index first (a seekable tar; a gzipped archive
//! or stdin is first copied, decompressed, to the store's `tmp/`), checks
//! every manifest, config and layer entry before writing anything, then
//! stores each blob verified against its digest, the manifest after its
//! blobs, and the tags last (reason `load`).

use super::config::{canonical_json, ImageConfig};
use super::local::{digest_to_oci, oci_to_digest, ImageError, LocalImage};
use super::reference::ImageRef;
use crate::store::digest::{HashingReader, HashingWriter};
use crate::store::{Digest, Reason, Store, StoreError};
use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const MAX_JSON: u64 = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout.
    Oci,
    /// docker's `manifest.json` layout, for `docker load`.
    Docker,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: not an image archive ({why})")]
    NotAnImage { path: String, why: String },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: {entry}: digest mismatch: expected {expected}, the content hashes to {actual}"
    )]
    DigestMismatch {
        path: String,
        entry: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArchiveError + 'a {
    move |source| ArchiveError::Io {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// One image to save and the names (`name:tag`) to record for it.
pub struct SaveItem {
    pub image: LocalImage,
    pub names: Vec<String>,
}

/// One image a load stored.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub digest: Digest,
    pub config_digest: Digest,
    /// Tags written (reason `load`).
    pub tags: Vec<(String, String)>,
}

// ---------------------------------------------------------------- save

fn tar_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = tar_header(bytes.len() as u64, 0o644);
    b.append_data(&mut h, name, bytes)
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = tar_header(0, 0o755);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, name, io::empty())
}

/// Append a stored blob, checking while copying that it still hashes to its
/// digest (a damaged store must not produce a damaged archive silently).
fn append_blob<W: Write>(
    b: &mut tar::Builder<W>,
    store: &Store,
    name: &str,
    digest: &Digest,
) -> Result<()> {
    let path = store.blob_path(digest);
    let size = store.blob_size(digest)?;
    let file = store.open_blob(digest)?;
    let mut reader = HashingReader::new(BufReader::with_capacity(256 * 1024, file).take(size));
    let mut h = tar_header(size, 0o644);
    b.append_data(&mut h, name, &mut reader)
        .map_err(io_err("cannot archive", &path))?;
    let (actual, _) = reader.finish();
    if &actual != digest {
        return Err(StoreError::DigestMismatch {
            expected: digest.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}

/// The media type a stored manifest declares (OCI when it says none).
fn manifest_media_type(store: &Store, digest: &Digest) -> Result<String> {
    let bytes = store.read_blob(digest)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| ImageError::BadJson {
        what: "manifest",
        digest: digest.clone(),
        msg: e.to_string(),
    })?;
    Ok(v.get("mediaType")
        .and_then(|m| m.as_str())
        .unwrap_or(OCI_MANIFEST)
        .to_string())
}

/// Write `items` as an archive of `format` to `out`.
pub fn save(
    store: &Store,
    items: &[SaveItem],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let archive = Path::new("archive");
    match format {
        ArchiveFormat::Oci => save_oci(store, items, &mut b)?,
        ArchiveFormat::Docker => save_docker(store, items, &mut b)?,
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io_err("cannot write", archive))?;
    Ok(())
}

fn save_oci<W: Write>(store: &Store, items: &[SaveItem], b: &mut tar::Builder<W>) -> Result<()> {
    let here = Path::new("archive");
    let mut manifests = Vec::new();
    let mut blobs: Vec<Digest> = Vec::new();
    for it in items {
        let img = &it.image;
        let media_type = manifest_media_type(store, &img.manifest_digest)?;
        let size = store.blob_size(&img.manifest_digest)?;
        let desc = |name: Option<&String>| {
            let mut d = serde_json::json!({
                "mediaType": media_type,
                "digest": img.manifest_digest.to_string(),
                "size": size,
            });
            if let Some(n) = name {
                d["annotations"] = serde_json::json!({ REF_NAME: n });
            }
            d
        };
        if it.names.is_empty() {
            manifests.push(desc(None));
        }
        for n in &it.names {
            manifests.push(desc(Some(n)));
        }
        let mut add = |d: Digest| {
            if !blobs.contains(&d) {
                blobs.push(d);
            }
        };
        for l in img.manifest.layers() {
            add(oci_to_digest(l.digest().as_ref())?);
        }
        add(img.config_digest.clone());
        add(img.manifest_digest.clone());
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    let index_bytes = serde_json::to_vec(&index).map_err(|e| ArchiveError::Invalid {
        path: "index.json".into(),
        msg: e.to_string(),
    })?;
    append_bytes(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .and_then(|_| append_bytes(b, "index.json", &index_bytes))
        .and_then(|_| append_dir(b, "blobs/"))
        .and_then(|_| append_dir(b, "blobs/sha256/"))
        .map_err(io_err("cannot write", here))?;
    for d in &blobs {
        append_blob(b, store, &format!("blobs/sha256/{}", d.hex()), d)?;
    }
    Ok(())
}

fn save_docker<W: Write>(store: &Store, items: &[SaveItem], b: &mut tar::Builder<W>) -> Result<()> {
    let mut entries = Vec::new();
    let mut written: Vec<String> = Vec::new();
    for it in items {
        let img = &it.image;
        let config_name = format!("{}.json", img.config_digest.hex());
        if !written.contains(&config_name) {
            append_blob(b, store, &config_name, &img.config_digest)?;
            written.push(config_name.clone());
        }
        let mut layers = Vec::new();
        for (desc, diff_id) in img
            .manifest
            .layers()
            .iter()
            .zip(&img.config.rootfs.diff_ids)
        {
            let name = format!("{}.tar", diff_id.hex());
            if !written.contains(&name) {
                let blob = oci_to_digest(desc.digest().as_ref())?;
                append_layer_tar(b, store, &name, &blob, diff_id)?;
                written.push(name.clone());
            }
            layers.push(name);
        }
        entries.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": it.names,
            "Layers": layers,
        }));
    }
    let bytes = serde_json::to_vec(&entries).map_err(|e| ArchiveError::Invalid {
        path: "manifest.json".into(),
        msg: e.to_string(),
    })?;
    append_bytes(b, "manifest.json", &bytes)
        .map_err(io_err("cannot write", Path::new("archive")))?;
    Ok(())
}

/// Removes a temporary file when dropped.
struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Append a layer as an uncompressed tar named `name`. A plain tar blob is
/// copied as it is; a compressed one is first decompressed (and its diff id
/// checked) into `tmp/`, since a tar header needs the size up front.
fn append_layer_tar<W: Write>(
    b: &mut tar::Builder<W>,
    store: &Store,
    name: &str,
    blob: &Digest,
    diff_id: &Digest,
) -> Result<()> {
    if blob == diff_id {
        return append_blob(b, store, name, blob);
    }
    let file = store.open_blob(blob)?;
    let mut raw = super::unpack::decompressed(BufReader::with_capacity(256 * 1024, file))
        .map_err(|e| ImageError::Oci(format!("layer {blob}: {e}")))?;
    let tmp = TempFile(
        crate::store::atomic::tempfile_in(&store.tmp_dir()).map_err(io_err(
            "cannot create a temporary file in",
            &store.tmp_dir(),
        ))?,
    );
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp.0)
        .map_err(io_err("cannot create", &tmp.0))?;
    let mut w = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, out));
    io::copy(&mut raw, &mut w)
        .map_err(io_err("cannot decompress layer", &store.blob_path(blob)))?;
    let (buf, actual, len) = w.finish();
    let mut out = buf
        .into_inner()
        .map_err(|e| io_err("cannot write", &tmp.0)(e.into_error()))?;
    if &actual != diff_id {
        return Err(ArchiveError::DigestMismatch {
            path: store.blob_path(blob).display().to_string(),
            entry: format!("layer {blob} (uncompressed)"),
            expected: diff_id.clone(),
            actual,
        });
    }
    out.seek(SeekFrom::Start(0))
        .map_err(io_err("cannot read", &tmp.0))?;
    let mut h = tar_header(len, 0o644);
    b.append_data(&mut h, name, BufReader::with_capacity(256 * 1024, out))
        .map_err(io_err("cannot archive", &tmp.0))?;
    Ok(())
}

/// Save to `path` atomically: written beside it, fsynced, then renamed.
pub fn save_to_file(
    store: &Store,
    items: &[SaveItem],
    format: ArchiveFormat,
    path: &Path,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fname = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "archive".into());
    let tmp = TempFile(dir.join(format!(".{fname}.skiff-{}", std::process::id())));
    let file = File::create(&tmp.0).map_err(io_err("cannot create", &tmp.0))?;
    save(
        store,
        items,
        format,
        io::BufWriter::with_capacity(256 * 1024, &file),
    )?;
    file.sync_all().map_err(io_err("cannot fsync", &tmp.0))?;
    std::fs::rename(&tmp.0, path).map_err(io_err("cannot write", path))?;
    Ok(())
}

// ---------------------------------------------------------------- load

/// Where an entry's data is in the (uncompressed) archive file.
#[derive(Clone, Debug)]
enum Entry {
    File { offset: u64, size: u64 },
    HardLink(String),
    Symlink(String),
}

/// A seekable tar archive's table of contents.
struct TarIndex {
    file: File,
    shown: String,
    entries: HashMap<String, Entry>,
}

/// An error's text up to its first line break, at most 200 characters.
fn one_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("");
    first.chars().take(200).collect()
}

/// `./a//b/` -> `a/b`; `..` resolved, never above the root.
fn normalize(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl TarIndex {
    fn build(file: File, shown: &str) -> Result<TarIndex> {
        let bad = |msg: String| ArchiveError::NotAnImage {
            path: shown.to_string(),
            why: msg,
        };
        let mut entries = HashMap::new();
        let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, &file));
        let iter = archive
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {}", one_line(&e))))?;
        for (i, e) in iter.enumerate() {
            let e = e.map_err(|e| {
                bad(if i == 0 {
                    "not a tar archive".to_string()
                } else {
                    format!(
                        "the tar archive is damaged after {i} entries: {}",
                        one_line(&e)
                    )
                })
            })?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
            let Some(path) = normalize(&raw) else {
                continue;
            };
            let entry = match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Entry::File {
                    offset: e.raw_file_position(),
                    size: e.size(),
                },
                tar::EntryType::Link => match e.link_name_bytes() {
                    Some(l) => match normalize(&String::from_utf8_lossy(&l)) {
                        Some(t) => Entry::HardLink(t),
                        None => continue,
                    },
                    None => continue,
                },
                tar::EntryType::Symlink => match e.link_name_bytes() {
                    Some(l) => {
                        let target = String::from_utf8_lossy(&l).to_string();
                        let joined = if target.starts_with('/') {
                            target
                        } else {
                            match path.rsplit_once('/') {
                                Some((dir, _)) => format!("{dir}/{target}"),
                                None => target,
                            }
                        };
                        match normalize(&joined) {
                            Some(t) => Entry::Symlink(t),
                            None => continue,
                        }
                    }
                    None => continue,
                },
                _ => continue,
            };
            entries.insert(path, entry);
        }
        Ok(TarIndex {
            file,
            shown: shown.to_string(),
            entries,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.locate(name).is_some()
    }

    /// (offset, size) of `name`, following links (a few hops at most).
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = normalize(name)?;
        for _ in 0..16 {
            match self.entries.get(&n)? {
                Entry::File { offset, size } => return Some((*offset, *size)),
                Entry::HardLink(t) | Entry::Symlink(t) => n = t.clone(),
            }
        }
        None
    }

    fn missing(&self, name: &str) -> ArchiveError {
        ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: format!("the archive has no {name}"),
        }
    }

    fn section(&self, name: &str) -> Result<Section<'_>> {
        let (offset, size) = self.locate(name).ok_or_else(|| self.missing(name))?;
        Ok(Section {
            file: &self.file,
            pos: offset,
            end: offset + size,
        })
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.locate(name).map(|(_, s)| s)
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let size = self.size(name).ok_or_else(|| self.missing(name))?;
        if size > MAX_JSON {
            return Err(ArchiveError::Invalid {
                path: self.shown.clone(),
                msg: format!("{name} is {size} bytes, too large"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.section(name)?
            .read_to_end(&mut buf)
            .map_err(|e| ArchiveError::Io {
                what: "cannot read",
                path: format!("{}: {name}", self.shown),
                source: e,
            })?;
        Ok(buf)
    }

    /// A blob's bytes, checked against its digest.
    fn read_blob(&self, name: &str, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self.read_small(name)?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(ArchiveError::DigestMismatch {
                path: self.shown.clone(),
                entry: name.to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: format!("{name} is not valid: {e}"),
        })
    }

    fn invalid(&self, msg: impl Into<String>) -> ArchiveError {
        ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: msg.into(),
        }
    }
}

/// A byte range of the archive file, read with pread.
struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry (truncated?)",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A name from an archive as a store tag: docker's and podman's default
/// prefixes (`docker.io/library/`, `docker.io/`, `localhost/`) dropped.
fn tag_of(s: &str) -> Option<(String, String)> {
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
struct Plan {
    manifest: ManifestPlan,
    config_digest: Digest,
    config_bytes: Vec<u8>,
    /// (archive entry, blob digest, how to store it)
    layers: Vec<(String, Digest, LayerStore)>,
    tags: Vec<(String, String)>,
}

enum ManifestPlan {
    /// The archive's own manifest (OCI archive), stored byte for byte.
    Archived { digest: Digest, bytes: Vec<u8> },
    /// Made after the layers are stored (docker-archive).
    Made,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LayerStore {
    /// The entry is the blob: store it verified against its digest.
    AsBlob,
    /// A compressed docker-archive layer: its digest is learned while
    /// storing, after its uncompressed content is checked against the diff id.
    CompressedDiff,
}

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

fn load_file(store: &Store, mut file: File, shown: &str) -> Result<Vec<Loaded>> {
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
            let limit = super::unpack::UnpackOptions::from_env()
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
                        super::unpack::MAX_LAYER_BYTES_ENV
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescJson {
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
struct PlatformJson {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<DescJson>,
}

#[derive(Deserialize)]
struct ManifestJson {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    config: DescJson,
    layers: Vec<DescJson>,
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn parse_digest(idx: &TarIndex, s: &str) -> Result<Digest> {
    s.parse()
        .map_err(|_| idx.invalid(format!("unsupported digest {s:?} (only sha256 is)")))
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn plan_oci(store: &Store, idx: &TarIndex) -> Result<Vec<Plan>> {
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
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Sniff an entry: "tar", "gzip" or an error for anything else.
fn sniff(idx: &TarIndex, entry: &str) -> Result<&'static str> {
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

fn plan_docker(idx: &TarIndex) -> Result<Vec<Plan>> {
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

fn store_err(idx: &TarIndex, entry: &str, e: StoreError) -> ArchiveError {
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

fn store_plan(store: &Store, idx: &TarIndex, p: &Plan) -> Result<Loaded> {
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
                let raw = super::unpack::decompressed(idx.section(entry)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert_eq!(normalize("./a//b/"), Some("a/b".into()));
        assert_eq!(normalize("x/../y.tar"), Some("y.tar".into()));
        assert_eq!(normalize("../y"), None);
        assert_eq!(
            tag_of("docker.io/library/busybox:fixture"),
            Some(("busybox".into(), "fixture".into()))
        );
        assert_eq!(
            tag_of("localhost/node-api:1.4"),
            Some(("node-api".into(), "1.4".into()))
        );
        assert_eq!(
            tag_of("127.0.0.1:5000/team/a"),
            Some(("127.0.0.1:5000/team/a".into(), "latest".into()))
        );
        assert_eq!(tag_of("Not A Name"), None);
    }

    fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar_header(content.len() as u64, 0o644);
        b.append_data(&mut h, name, content).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn loads_a_classic_docker_archive_with_symlinked_and_gzipped_layers() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("store")).unwrap();
        let l1 = layer_tar("one.txt", b"1\n");
        let l2 = layer_tar("two.txt", b"2\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&l2).unwrap();
        let l2gz = gz.finish().unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [
                Digest::of_bytes(&l1).to_string(), Digest::of_bytes(&l2).to_string()]},
            "container_config": {"Hostname": "kept"},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!([{
            "Config": "cfg.json",
            "RepoTags": ["docker.io/library/classic:1"],
            "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
        }]))
        .unwrap();
        let path = d.path().join("classic.tar");
        {
            let mut b = tar::Builder::new(File::create(&path).unwrap());
            append_bytes(&mut b, "l1.tar", &l1).unwrap();
            let mut h = tar_header(0, 0o777);
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, "aaa/layer.tar", "../l1.tar").unwrap();
            append_bytes(&mut b, "bbb/layer.tar", &l2gz).unwrap();
            append_bytes(&mut b, "cfg.json", &config).unwrap();
            append_bytes(&mut b, "manifest.json", &manifest).unwrap();
            b.finish().unwrap();
        }
        let loaded = load(&store, &path).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            loaded[0].tags,
            vec![("classic".to_string(), "1".to_string())]
        );
        // The config is kept byte for byte: the image id is docker's.
        assert_eq!(loaded[0].config_digest, Digest::of_bytes(&config));
        let img = LocalImage::load(&store, "classic:1").unwrap();
        assert_eq!(
            img.manifest.layers()[0].media_type(),
            &MediaType::ImageLayer
        );
        assert_eq!(
            img.manifest.layers()[1].media_type(),
            &MediaType::ImageLayerGzip
        );
        let dirs = img.layer_dirs(&store).unwrap();
        assert!(dirs[1].join("two.txt").is_file());

        // Saved back as a docker-archive, the gzipped layer comes out plain.
        let out = d.path().join("again.tar");
        let item = SaveItem {
            image: img,
            names: vec!["classic:1".into()],
        };
        save_to_file(&store, &[item], ArchiveFormat::Docker, &out).unwrap();
        let mut a = tar::Archive::new(File::open(&out).unwrap());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        let l2name = format!("{}.tar", Digest::of_bytes(&l2).hex());
        assert!(names.contains(&l2name), "{names:?}");
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}
