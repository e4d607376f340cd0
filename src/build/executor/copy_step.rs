//! COPY and ADD: the source (context, stage or image), the cache key over
//! the sources' content, heredoc files, ownership, and the copy itself.

use super::base::load_image;
use super::{BuildError, HeredocDir, MergedMount, StageExec, StageOut};
use crate::build::context::BuildContext;
use crate::build::copy;
use crate::build::copy::Ownership;
use crate::build::dockerfile::Instruction;
use crate::build::plan::{CopySource, ExpandedCopy};
use crate::build::rootfs_view::RootfsView;
use std::collections::BTreeMap;
use std::path::PathBuf;

impl StageExec<'_> {
    /// The source of a COPY: the context, or the merged rootfs of a stage or image.
    pub(super) fn copy_source(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(SourceRoot, Vec<u8>), BuildError> {
        match &c.from {
            None => Ok((SourceRoot::Context, Vec::new())),
            Some(CopySource::Stage(i)) => {
                let o = outs.get(i).ok_or_else(|| {
                    self.err(
                        inst,
                        format!("stage {} was not built", self.plan.stage_label(*i)),
                    )
                })?;
                let dirs = o
                    .state
                    .layers
                    .iter()
                    .map(|l| self.store.layer_dir(&l.diff_id))
                    .collect();
                Ok((SourceRoot::Layers(dirs), o.key.hex().as_bytes().to_vec()))
            }
            Some(CopySource::Image(r)) => {
                let (img, dirs) = load_image(self.store, r).map_err(|e| self.err(inst, e))?;
                Ok((
                    SourceRoot::Layers(dirs),
                    img.manifest_digest.to_string().into_bytes(),
                ))
            }
        }
    }

    pub(super) fn copy_key(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<Vec<u8>, BuildError> {
        for s in &c.sources {
            if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
                return Err(self.err(inst, format!("{s}: sources from URLs are not supported; put the file in the build context (or fetch it with RUN)")));
            }
        }
        if !inst.heredocs.is_empty() {
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            for (name, body) in self.heredoc_files(inst, c)? {
                sha2::Digest::update(&mut h, format!("{name}\0{}\0", body.len()).as_bytes());
                sha2::Digest::update(&mut h, body.as_bytes());
            }
            return Ok(hex::encode(sha2::Digest::finalize(h)).into_bytes());
        }
        let (root, key) = self.copy_source(inst, c, outs)?;
        match root {
            SourceRoot::Context => {
                let ctx = self.opts.context;
                let mut resolved = Vec::new();
                for s in &c.sources {
                    resolved.extend(ctx.resolve(s).map_err(|e| self.err(inst, e.to_string()))?);
                }
                Ok(ctx
                    .hash_sources(&resolved)
                    .map_err(|e| self.err(inst, e.to_string()))?
                    .to_string()
                    .into_bytes())
            }
            SourceRoot::Layers(_) => Ok(key),
        }
    }

    /// The files a COPY/ADD heredoc makes: (name, body after `<<-` and
    /// expansion). Every source must be a heredoc.
    pub(super) fn heredoc_files(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
    ) -> Result<Vec<(String, String)>, BuildError> {
        if c.sources.len() != inst.heredocs.len() {
            return Err(self.err(inst, "mixing heredocs and files of the context in one instruction is not supported: use one COPY for the heredocs and one for the files"));
        }
        inst.heredocs
            .iter()
            .map(|h| {
                let body = if h.expand {
                    self.out.env.expand_heredoc(inst, &h.body())?
                } else {
                    h.body()
                };
                Ok((h.name.clone(), body))
            })
            .collect()
    }

    pub(super) fn ownership(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        view: &RootfsView,
    ) -> Result<Ownership, BuildError> {
        let (uid, gid) = match &c.chown {
            None => (0, 0),
            Some(spec) => {
                let u = crate::runtime::user::resolve(
                    spec,
                    &view.read_to_string("/etc/passwd"),
                    &view.read_to_string("/etc/group"),
                )
                .map_err(|e| self.err(inst, format!("--chown={spec}: {e}")))?;
                (u.uid, u.gid)
            }
        };
        Ok(Ownership {
            uid,
            gid,
            chmod: c.chmod,
        })
    }

    pub(super) fn copy(
        &mut self,
        inst: &Instruction,
        c: &ExpandedCopy,
        is_add: bool,
        text: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(), BuildError> {
        let mut sources = c.sources.clone();
        let heredoc_dir = if inst.heredocs.is_empty() {
            None
        } else {
            let files = self.heredoc_files(inst, c)?;
            let dir = HeredocDir::new(self.store, &files).map_err(|e| self.err(inst, e))?;
            sources = files.into_iter().map(|(n, _)| n).collect();
            Some(dir)
        };
        let (root, _) = match &heredoc_dir {
            Some(d) => (
                SourceRoot::Layers(Vec::new()),
                d.dir.clone().into_os_string().into_encoded_bytes(),
            ),
            None => self.copy_source(inst, c, outs)?,
        };
        let view = RootfsView::new(&self.layer_dirs());
        let own = self.ownership(inst, c, &view)?;
        let workdir = self.workdir();
        let dest = copy::resolve_dest(&c.dest, &workdir);
        let staged = self
            .store
            .layer_staging_dir()
            .map_err(|e| self.err(inst, e.to_string()))?;
        let result = (|| -> Result<(), BuildError> {
            let mounted;
            let ctx_plain;
            let ctx: &BuildContext = match (&root, &heredoc_dir) {
                (_, Some(d)) => {
                    ctx_plain = BuildContext::plain(&d.dir);
                    &ctx_plain
                }
                (SourceRoot::Context, None) => self.opts.context,
                (SourceRoot::Layers(dirs), None) => {
                    mounted = MergedMount::new(self.store, dirs).map_err(|e| self.err(inst, e))?;
                    ctx_plain = BuildContext::plain(mounted.path());
                    &ctx_plain
                }
            };
            let mut resolved = Vec::new();
            for s in &sources {
                resolved.extend(ctx.resolve(s).map_err(|e| self.err(inst, e.to_string()))?);
            }
            if resolved.len() > 1 && !dest.ends_with('/') && !view.is_dir(&dest) {
                return Err(self.err(inst, "when copying several sources the destination must be a directory and end with a /"));
            }
            let mut plain = Vec::new();
            for r in resolved {
                let full = ctx.root().join(&r);
                if is_add
                    && std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_file())
                    && copy::add_archive(&staged, &full, &dest, &view)
                        .map_err(|e| self.err(inst, e.to_string()))?
                {
                    continue;
                }
                plain.push(r);
            }
            if !plain.is_empty() {
                copy::copy_sources(&staged, ctx, &plain, &dest, &view, own)
                    .map_err(|e| self.err(inst, e.to_string()))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = crate::store::layers::remove_tree(&staged);
            return Err(e);
        }
        self.commit_layer(inst, &staged, false, text)
    }
}

pub(super) enum SourceRoot {
    Context,
    Layers(Vec<PathBuf>),
}
