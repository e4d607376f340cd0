//! What `RUN --mount`s (and RUN heredoc scripts) become while a step runs:
//! bind mounts and tmpfs mounts of the step's container, set up before it
//! starts and taken down after. Nothing mounted ever lands in the layer:
//! mount points the step's upper directory only got for a mount are
//! removed from it afterwards (buildkit's mount stubs cleaner).

use super::cache_mounts::{self, CacheMount};
use super::rootfs_view::RootfsView;
use super::run_mount::{MountKind, RunMount};
use super::secrets::Secrets;
use crate::runtime::spec::{BindMount, TmpfsMount};
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A tmpfs under `tmp/` (inside the build's own mount namespace) holding
/// secrets and heredoc scripts: their bytes never touch the disk.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(store: &Store) -> Result<Scratch, String> {
        let dir = store.layer_staging_dir().map_err(|e| e.to_string())?;
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("mode=0700,size=16m"),
        )
        .map_err(|e| {
            let _ = std::fs::remove_dir(&dir);
            format!("cannot mount a tmpfs for secrets on {}: {e}", dir.display())
        })?;
        Ok(Scratch { dir })
    }

    fn write(
        &self,
        name: &str,
        bytes: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<PathBuf, String> {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        std::fs::write(&p, bytes)
            .and_then(|_| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)))
            .and_then(|_| std::os::unix::fs::chown(&p, Some(uid), Some(gid)))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// A writable view of a read-only source (`type=bind,rw`): an overlay
/// whose upper directory is thrown away with the step.
struct Throwaway {
    dir: PathBuf,
    merged: PathBuf,
    mounted: bool,
}

impl Throwaway {
    fn new(store: &Store, source: &Path) -> Result<Throwaway, String> {
        let dir = store.layer_staging_dir().map_err(|e| e.to_string())?;
        let mut t = Throwaway {
            merged: dir.join("merged"),
            dir,
            mounted: false,
        };
        let (upper, work) = (t.dir.join("upper"), t.dir.join("work"));
        for d in [&upper, &work, &t.merged] {
            std::fs::create_dir(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        if source.is_dir() {
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                source.display(),
                upper.display(),
                work.display()
            );
            nix::mount::mount(
                Some("overlay"),
                &t.merged,
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(data.as_str()),
            )
            .map_err(|e| format!("cannot make {} writable: {e}", source.display()))?;
            t.mounted = true;
        } else {
            let _ = std::fs::remove_dir(&t.merged);
            std::fs::copy(source, &t.merged)
                .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
        }
        Ok(t)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = crate::store::layers::remove_tree(&self.dir);
    }
}

/// The mounts of one RUN step, alive until dropped.
#[derive(Default)]
pub struct Prepared {
    pub binds: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    /// Mount targets (and their parents) the image does not have: removed
    /// from the upper directory after the step.
    stubs: Vec<String>,
    caches: Vec<CacheMount>,
    throwaways: Vec<Throwaway>,
    scratch: Option<Scratch>,
}

/// Where `source=` of a bind or cache mount is read: the context, or the
/// root of a stage or image named by `from=`.
pub struct Sources<'a> {
    pub context: &'a Path,
    pub from: &'a BTreeMap<String, PathBuf>,
}

/// `source` inside `root`, refusing anything that leads out of it.
fn inside(root: &Path, source: &str) -> Result<PathBuf, String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot open {}: {e}", root.display()))?;
    let mut p = root.clone();
    for c in source.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if p != root {
                    p.pop();
                }
            }
            c => p.push(c),
        }
    }
    let real = p
        .canonicalize()
        .map_err(|_| format!("the mount source {source:?} does not exist"))?;
    if !real.starts_with(&root) {
        return Err(format!("the mount source {source:?} leads out of its root"));
    }
    Ok(real)
}

impl Prepared {
    fn scratch(&mut self, store: &Store) -> Result<&Scratch, String> {
        if self.scratch.is_none() {
            self.scratch = Some(Scratch::new(store)?);
        }
        self.scratch
            .as_ref()
            .ok_or_else(|| "no scratch tmpfs".to_string())
    }

    fn stub(&mut self, view: &RootfsView, target: &str) {
        let mut t = target.to_string();
        while t != "/" && !t.is_empty() && view.find(&t).is_none() {
            if !self.stubs.contains(&t) {
                self.stubs.push(t.clone());
            }
            t = match t.rsplit_once('/') {
                Some(("", _)) | None => "/".into(),
                Some((parent, _)) => parent.to_string(),
            };
        }
    }

    /// A heredoc script mounted read-only at `/dev/pipes/<name>` (in the
    /// container's /dev tmpfs); returns the path to run.
    pub fn add_script(&mut self, store: &Store, name: &str, body: &str) -> Result<String, String> {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let file = format!("heredoc-{}-{safe}", self.binds.len());
        let source = self
            .scratch(store)?
            .write(&file, body.as_bytes(), 0o755, 0, 0)?;
        let target = format!("/dev/pipes/{safe}");
        self.binds.push(BindMount {
            source,
            target: target.clone(),
            readonly: true,
            volume: None,
        });
        Ok(target)
    }

    /// Removes the mount stubs from a finished step's upper directory:
    /// empty files and empty directories the image did not have.
    pub fn clean_upper(&self, upper: &Path) {
        let mut stubs = self.stubs.clone();
        // Deepest first, so a parent is empty when its turn comes.
        stubs.sort_by_key(|s| std::cmp::Reverse(s.matches('/').count()));
        for s in stubs {
            let p = upper.join(s.trim_start_matches('/'));
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() && m.len() == 0 => {
                    let _ = std::fs::remove_file(&p);
                }
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir(&p);
                }
                _ => {}
            }
        }
    }
}

/// Sets up `mounts` for one step over the image seen through `view`.
/// Errors say what is wrong with which mount (the caller adds file:line).
pub fn prepare(
    store: &Store,
    mounts: &[RunMount],
    secrets: &Secrets,
    sources: &Sources<'_>,
    view: &RootfsView,
) -> Result<Prepared, String> {
    let mut p = Prepared::default();
    for m in mounts {
        if p.binds.iter().any(|b| b.target == m.target)
            || p.tmpfs.iter().any(|t| t.target == m.target)
        {
            return Err(format!("two mounts have the same target {}", m.target));
        }
        match &m.kind {
            MountKind::Bind { from, source, rw } => {
                let root =
                    match from {
                        None => sources.context.to_path_buf(),
                        Some(f) => sources.from.get(f).cloned().ok_or_else(|| {
                            format!("from={f} names no stage or image the build has")
                        })?,
                    };
                let mut src = inside(&root, source)?;
                if *rw {
                    let t = Throwaway::new(store, &src)?;
                    src = t.merged.clone();
                    p.throwaways.push(t);
                }
                p.stub(view, &m.target);
                p.binds.push(BindMount {
                    source: src,
                    target: m.target.clone(),
                    readonly: !rw,
                    volume: None,
                });
            }
            MountKind::Cache {
                id,
                sharing,
                mode,
                uid,
                gid,
                from,
                source,
                readonly,
            } => {
                let seed = match from {
                    Some(f) => {
                        let root = sources.from.get(f).cloned().ok_or_else(|| {
                            format!("from={f} names no stage or image the build has")
                        })?;
                        Some(inside(&root, source)?)
                    }
                    None => None,
                };
                // A new cache starts as a copy of from= (buildkit's seed).
                let c = cache_mounts::acquire(
                    store,
                    id,
                    *sharing,
                    (*mode, *uid, *gid),
                    seed.as_deref(),
                )?;
                p.stub(view, &m.target);
                p.binds.push(BindMount {
                    source: c.path().to_path_buf(),
                    target: m.target.clone(),
                    readonly: *readonly,
                    volume: None,
                });
                p.caches.push(c);
            }
            MountKind::Secret {
                id,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(bytes) = secrets.get(id) else {
                    if *required {
                        return Err(format!("the secret {id:?} is required but was not given: add --secret id={id},src=FILE (or env=VARIABLE) to skiff build"));
                    }
                    continue;
                };
                let file = format!("secret-{}", p.binds.len());
                let source = p.scratch(store)?.write(&file, bytes, *mode, *uid, *gid)?;
                p.stub(view, &m.target);
                p.binds.push(BindMount {
                    source,
                    target: m.target.clone(),
                    readonly: true,
                    volume: None,
                });
            }
            MountKind::Tmpfs { size } => {
                p.stub(view, &m.target);
                p.tmpfs.push(TmpfsMount {
                    target: m.target.clone(),
                    readonly: false,
                    noexec: false,
                    nosuid: true,
                    nodev: true,
                    data: size.map(|s| format!("size={s}")).unwrap_or_default(),
                });
            }
        }
    }
    Ok(p)
}
