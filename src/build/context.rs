//! The build context: a directory, filtered by `.dockerignore`. Resolves
//! COPY/ADD sources (globs included) without ever leaving the context, walks
//! them, and hashes what they select (paths, contents, modes, owners, link
//! targets, never mtimes) for the cache key.

use super::dockerignore::DockerIgnore;
use crate::store::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is outside the build context")]
    Outside(String),
    #[error("{0}: no such file or directory in the build context")]
    NotFound(String),
    #[error("{0}: excluded by .dockerignore")]
    Excluded(String),
    #[error(transparent)]
    Ignore(#[from] super::dockerignore::IgnoreError),
    #[error("bad pattern {0:?}: {1}")]
    Pattern(String, String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file or directory selected from the context.
#[derive(Clone, Debug)]
pub struct ContextEntry {
    /// Path relative to the selected source (empty for the source itself).
    pub rel: PathBuf,
    /// Absolute path on the host.
    pub path: PathBuf,
    pub meta: fs::Metadata,
}

#[derive(Debug)]
pub struct BuildContext {
    root: PathBuf,
    ignore: DockerIgnore,
}

impl BuildContext {
    /// Open a context directory and read its `.dockerignore`.
    pub fn open(root: &Path) -> Result<BuildContext, ContextError> {
        let root = fs::canonicalize(root).map_err(io(root))?;
        let ignore_path = root.join(".dockerignore");
        let ignore = match fs::read_to_string(&ignore_path) {
            Ok(text) => DockerIgnore::parse(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
            Err(e) => {
                return Err(ContextError::Io {
                    path: ignore_path,
                    source: e,
                })
            }
        };
        Ok(BuildContext { root, ignore })
    }

    /// A directory as a source without any `.dockerignore` (the rootfs of
    /// another stage or image, for `COPY --from`).
    pub fn plain(root: &Path) -> BuildContext {
        BuildContext {
            root: root.to_path_buf(),
            ignore: DockerIgnore::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Normalize a source path to a context-relative one, refusing `..`
    /// escapes (a leading `/` means the context root, as in docker).
    fn normalize(&self, src: &str) -> Result<PathBuf, ContextError> {
        let mut out = PathBuf::new();
        for c in Path::new(src).components() {
            match c {
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return Err(ContextError::Outside(src.to_string()));
                    }
                }
                Component::Normal(n) => out.push(n),
            }
        }
        Ok(out)
    }

    /// Follow the symlinks among the parent components of the normalized
    /// `rel` *inside* the root, as if the root were `/` (an absolute target
    /// starts at the root, `..` stops there), as docker does. The host's
    /// resolution would follow a link out of the context (or out of another
    /// stage's rootfs, for `COPY --from`) and copy host files into the
    /// image. The last component is left as it is: a symlink source is
    /// copied as a link.
    fn in_root(&self, rel: &Path, src: &str) -> Result<PathBuf, ContextError> {
        use std::collections::VecDeque;
        use std::ffi::OsString;
        fn parts(p: &Path) -> impl Iterator<Item = OsString> + '_ {
            p.components().filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
        }
        let mut pending: VecDeque<OsString> = parts(rel).collect();
        let mut out = PathBuf::new();
        let mut links = 0;
        while let Some(c) = pending.pop_front() {
            if c == ".." {
                out.pop();
                continue;
            }
            let candidate = out.join(&c);
            if pending.is_empty() {
                return Ok(candidate);
            }
            let full = self.root.join(&candidate);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > 40 {
                        return Err(ContextError::NotFound(format!(
                            "{src} (too many levels of symbolic links)"
                        )));
                    }
                    let target = fs::read_link(&full).map_err(io(&full))?;
                    if target.is_absolute() {
                        out = PathBuf::new();
                    }
                    let mut next: VecDeque<OsString> = parts(&target).collect();
                    next.extend(pending);
                    pending = next;
                }
                _ => out = candidate,
            }
        }
        Ok(out)
    }

    fn excluded(&self, rel: &Path) -> bool {
        let s = rel.to_string_lossy();
        !s.is_empty() && self.ignore.is_excluded(&s)
    }

    /// Resolve one COPY source, which may be a glob, to context-relative paths.
    pub fn resolve(&self, src: &str) -> Result<Vec<PathBuf>, ContextError> {
        let rel = self.normalize(src)?;
        let has_glob = src.contains(['*', '?', '[']);
        if !has_glob {
            let rel = self.in_root(&rel, src)?;
            let full = self.root.join(&rel);
            fs::symlink_metadata(&full).map_err(|_| ContextError::NotFound(src.to_string()))?;
            if self.excluded(&rel) {
                return Err(ContextError::Excluded(src.to_string()));
            }
            return Ok(vec![rel]);
        }
        let pattern = self.root.join(&rel);
        let pattern = pattern.to_string_lossy();
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut out = Vec::new();
        for m in glob::glob_with(&pattern, opts)
            .map_err(|e| ContextError::Pattern(src.to_string(), e.to_string()))?
        {
            let p = m.map_err(|e| ContextError::Pattern(src.to_string(), e.to_string()))?;
            let r = p
                .strip_prefix(&self.root)
                .map_err(|_| ContextError::Outside(src.to_string()))?
                .to_path_buf();
            // glob follows symlinks on the host: resolve the match again
            // inside the root, and drop it if it is not there.
            let r = self.in_root(&r, src)?;
            if fs::symlink_metadata(self.root.join(&r)).is_err() {
                continue;
            }
            if !self.excluded(&r) {
                out.push(r);
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(ContextError::NotFound(src.to_string()));
        }
        Ok(out)
    }

    /// Every entry under a resolved source (itself first), sorted, skipping
    /// what `.dockerignore` excludes. Symlinks are entries, never followed.
    pub fn walk(&self, rel: &Path) -> Result<Vec<ContextEntry>, ContextError> {
        let path = self.root.join(rel);
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let mut out = vec![ContextEntry {
            rel: PathBuf::new(),
            path: path.clone(),
            meta: meta.clone(),
        }];
        if meta.is_dir() {
            self.walk_dir(rel, &PathBuf::new(), &mut out)?;
        }
        Ok(out)
    }

    fn walk_dir(
        &self,
        base: &Path,
        sub: &Path,
        out: &mut Vec<ContextEntry>,
    ) -> Result<(), ContextError> {
        let dir = self.root.join(base).join(sub);
        let mut names: Vec<_> = fs::read_dir(&dir)
            .map_err(io(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io(&dir))?;
        names.sort();
        for name in names {
            let rel_in_src = sub.join(&name);
            let rel_in_ctx = base.join(&rel_in_src);
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
            let excluded = self.excluded(&rel_in_ctx);
            if meta.is_dir() {
                if excluded && !self.ignore.may_include_under(&rel_in_ctx.to_string_lossy()) {
                    continue;
                }
                let at = out.len();
                out.push(ContextEntry {
                    rel: rel_in_src.clone(),
                    path,
                    meta,
                });
                self.walk_dir(base, &rel_in_src, out)?;
                // An excluded directory stays only to hold re-included files.
                if excluded && out.len() == at + 1 {
                    out.pop();
                }
            } else if !excluded {
                out.push(ContextEntry {
                    rel: rel_in_src,
                    path,
                    meta,
                });
            }
        }
        Ok(())
    }

    /// Hash the sources for a cache key: per entry its path, type, mode,
    /// owner, link target and content hash. mtimes never count, so a fresh
    /// clone of the same tree hits the cache.
    pub fn hash_sources(&self, sources: &[PathBuf]) -> Result<Digest, ContextError> {
        let mut h = Sha256::new();
        for src in sources {
            h.update(src.as_os_str().as_encoded_bytes());
            h.update([0]);
            for e in self.walk(src)? {
                hash_entry(&mut h, &e)?;
            }
        }
        Digest::from_hex(&hex::encode(h.finalize()))
            .map_err(|e| ContextError::Pattern(String::new(), e.to_string()))
    }
}

/// Feed one entry into a hasher (shared with COPY --from sources).
pub fn hash_entry(h: &mut Sha256, e: &ContextEntry) -> Result<(), ContextError> {
    let m = &e.meta;
    h.update(e.rel.as_os_str().as_encoded_bytes());
    h.update(format!("\0{:o}\0{}\0{}\0", m.mode(), m.uid(), m.gid()).as_bytes());
    if m.file_type().is_symlink() {
        let t = fs::read_link(&e.path).map_err(io(&e.path))?;
        h.update(t.as_os_str().as_encoded_bytes());
    } else if m.is_file() {
        let mut f = fs::File::open(&e.path).map_err(io(&e.path))?;
        let mut fh = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(io(&e.path))?;
            if n == 0 {
                break;
            }
            fh.update(&buf[..n]);
        }
        h.update(fh.finalize());
    } else if !m.is_dir() {
        h.update(format!("dev {}", m.rdev()).as_bytes());
    }
    h.update([0xff]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("src/lib")).unwrap();
        fs::create_dir_all(d.path().join("node_modules/x")).unwrap();
        fs::write(d.path().join("src/a.js"), "a").unwrap();
        fs::write(d.path().join("src/lib/b.js"), "b").unwrap();
        fs::write(d.path().join("node_modules/x/i.js"), "x").unwrap();
        fs::write(d.path().join("package.json"), "{}").unwrap();
        fs::write(d.path().join("package-lock.json"), "{}").unwrap();
        fs::write(d.path().join(".dockerignore"), "node_modules\n*.md\n").unwrap();
        fs::write(d.path().join("README.md"), "r").unwrap();
        d
    }

    #[test]
    fn globs_and_ignores() {
        let d = ctx();
        let c = BuildContext::open(d.path()).unwrap();
        assert_eq!(
            c.resolve("package*.json").unwrap(),
            vec![
                PathBuf::from("package-lock.json"),
                PathBuf::from("package.json")
            ]
        );
        assert!(matches!(
            c.resolve("../etc/passwd"),
            Err(ContextError::Outside(_))
        ));
        assert!(matches!(c.resolve("nope"), Err(ContextError::NotFound(_))));
        assert!(matches!(
            c.resolve("README.md"),
            Err(ContextError::Excluded(_))
        ));
        let all: Vec<String> = c
            .walk(Path::new(""))
            .unwrap()
            .iter()
            .map(|e| e.rel.to_string_lossy().to_string())
            .collect();
        assert!(all.contains(&"src/lib/b.js".to_string()));
        assert!(
            !all.iter()
                .any(|p| p.starts_with("node_modules") || p == "README.md"),
            "{all:?}"
        );
    }

    #[test]
    fn symlinks_in_source_paths_resolve_inside_the_context() {
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(outside.path().join("etc")).unwrap();
        fs::write(outside.path().join("etc/secret"), "host").unwrap();
        fs::write(outside.path().join("secret"), "host").unwrap();
        let d = ctx();
        let root = d.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/inside"), "ctx").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("src/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc-abs")).unwrap();
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        let c = BuildContext::open(root).unwrap();
        let outside_rel = outside.path().strip_prefix("/").unwrap();
        // A link to a directory outside resolves inside the context: not found.
        assert!(matches!(
            c.resolve("abs/secret"),
            Err(ContextError::NotFound(_))
        ));
        assert!(matches!(c.resolve("abs/*"), Err(ContextError::NotFound(_))));
        let via_up = format!("up/{}/secret", outside_rel.display());
        assert!(matches!(c.resolve(&via_up), Err(ContextError::NotFound(_))));
        // Links that stay inside work, an absolute one from the context root.
        assert_eq!(
            c.resolve("lib/b.js").unwrap(),
            vec![PathBuf::from("src/lib/b.js")]
        );
        assert_eq!(
            c.resolve("lib/*.js").unwrap(),
            vec![PathBuf::from("src/lib/b.js")]
        );
        assert_eq!(
            c.resolve("etc-abs/inside").unwrap(),
            vec![PathBuf::from("etc/inside")]
        );
        // The link itself is a source (copied as a link).
        assert_eq!(c.resolve("abs").unwrap(), vec![PathBuf::from("abs")]);
        assert!(matches!(
            c.resolve("loop1/x"),
            Err(ContextError::NotFound(_))
        ));
        // The same holds for another stage's rootfs (COPY --from).
        let p = BuildContext::plain(root);
        assert!(matches!(
            p.resolve("abs/secret"),
            Err(ContextError::NotFound(_))
        ));
        assert!(matches!(
            p.resolve("etc-abs/secret"),
            Err(ContextError::NotFound(_))
        ));
    }

    #[test]
    fn hash_ignores_mtime_but_not_content_or_mode() {
        let d = ctx();
        let c = BuildContext::open(d.path()).unwrap();
        let srcs = vec![PathBuf::from("src")];
        let h1 = c.hash_sources(&srcs).unwrap();
        let f = d.path().join("src/a.js");
        let t = fs::File::options().write(true).open(&f).unwrap();
        t.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(h1, c.hash_sources(&srcs).unwrap(), "mtime must not matter");
        fs::set_permissions(&f, fs::Permissions::from_mode(0o755)).unwrap();
        let h2 = c.hash_sources(&srcs).unwrap();
        assert_ne!(h1, h2);
        fs::write(&f, "changed").unwrap();
        assert_ne!(h2, c.hash_sources(&srcs).unwrap());
        // An ignored file changing does not change the hash of `.`.
        let dot = vec![PathBuf::from("")];
        let h3 = c.hash_sources(&dot).unwrap();
        fs::write(d.path().join("node_modules/x/i.js"), "y").unwrap();
        assert_eq!(h3, c.hash_sources(&dot).unwrap());
    }
}
