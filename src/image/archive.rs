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
//!
//! | concern | file |
//! | --- | --- |
//! | formats, errors, what save takes and load returns | `archive.rs` |
//! | writing both formats | `archive/save.rs` |
//! | the archive's index: entries, links, bounded reads | `archive/tar_index.rs` |
//! | checking what an archive holds before writing (OCI, docker) | `archive/plan.rs` |
//! | storing a checked plan | `archive/load.rs` |

use super::local::{ImageError, LocalImage};
use crate::store::{Digest, StoreError};
use std::io;
use std::path::Path;

mod load;
mod plan;
mod save;
mod tar_index;

pub use load::{load, load_reader};
pub use save::{save, save_to_file};

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

#[cfg(test)]
mod tests {
    use super::plan::tag_of;
    use super::save::{append_bytes, tar_header};
    use super::tar_index::normalize;
    use super::*;
    use crate::store::Store;
    use oci_spec::image::MediaType;
    use std::fs::File;
    use std::io::Write;

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
