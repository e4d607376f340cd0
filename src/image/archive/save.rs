//! `skiff save`: an OCI archive or a docker-archive of stored images.

use super::{
    io_err, ArchiveError, ArchiveFormat, Result, SaveItem, OCI_INDEX, OCI_MANIFEST, REF_NAME,
};
use crate::image::local::{oci_to_digest, ImageError};
use crate::store::digest::{HashingReader, HashingWriter};
use crate::store::{Digest, Store, StoreError};
use std::fs::File;
use std::io;
use std::io::{BufReader, SeekFrom, Write};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

pub(super) fn tar_header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

pub(super) fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut h = tar_header(bytes.len() as u64, 0o644);
    b.append_data(&mut h, name, bytes)
}

pub(super) fn append_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = tar_header(0, 0o755);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, name, io::empty())
}

/// Append a stored blob, checking while copying that it still hashes to its
/// digest (a damaged store must not produce a damaged archive silently).
pub(super) fn append_blob<W: Write>(
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
pub(super) fn manifest_media_type(store: &Store, digest: &Digest) -> Result<String> {
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

pub(super) fn save_oci<W: Write>(
    store: &Store,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<()> {
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

pub(super) fn save_docker<W: Write>(
    store: &Store,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<()> {
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
pub(super) struct TempFile(pub(super) PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Append a layer as an uncompressed tar named `name`. A plain tar blob is
/// copied as it is; a compressed one is first decompressed (and its diff id
/// checked) into `tmp/`, since a tar header needs the size up front.
pub(super) fn append_layer_tar<W: Write>(
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
    let mut raw = crate::image::unpack::decompressed(BufReader::with_capacity(256 * 1024, file))
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
