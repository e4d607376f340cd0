//! Image commands: import, images, tag, rmi, inspect, revisions
//! (rollback and rollout are in `deploy.rs`).

use super::format::{human_age, human_size, print_table};
use super::template::{Output, Row};
use crate::image::local::LocalImage;
use crate::image::reference::ImageRef;
use crate::store::events::Event;
use crate::store::{Digest, Reason, Store};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A rootfs tarball (plain or gzip) or a directory
    pub source: PathBuf,
    /// Name of the new image, NAME[:TAG]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Output: table, json, or a template such as '{{.Repository}}:{{.Tag}}'
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Existing image: NAME[:TAG], NAME@DIGEST or an image id
    pub source: String,
    /// New tag, NAME[:TAG]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Tags (NAME[:TAG]) or image ids to remove
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove every tag of an image id even when it has several
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Image references
    #[arg(required = true)]
    pub targets: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RevisionsArgs {
    /// NAME[:TAG] (tag defaults to latest)
    pub name: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `LocalImage::load`, and for a name that is not there, the closest tag
/// ("did you mean node-api?").
pub fn load_image(store: &Store, r: &str) -> Result<LocalImage> {
    match LocalImage::load(store, r) {
        Err(crate::image::local::ImageError::NotFound(n)) => {
            let tags = store.tags().unwrap_or_default();
            let full: Vec<String> = tags.iter().map(|(n, t, _)| format!("{n}:{t}")).collect();
            let names: Vec<&str> = tags.iter().map(|(n, _, _)| n.as_str()).collect();
            let hit = if r.contains(':') {
                super::suggest::closest(r, full.iter().map(String::as_str))
            } else {
                super::suggest::closest(r, names)
            };
            match hit {
                Some(h) => bail!("no such image: {n} (did you mean {h}?)"),
                None => bail!("no such image: {n}"),
            }
        }
        r => Ok(r?),
    }
}

pub fn open_store(root: &Path) -> Result<Store> {
    Store::open(root).with_context(|| format!("cannot open the store at {}", root.display()))
}

/// Parse NAME[:TAG] for a tag to write (no digest allowed).
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    let r: ImageRef = s.parse()?;
    if r.digest.is_some() {
        bail!("{s}: a tag cannot contain a digest");
    }
    Ok((r.name.clone(), r.tag_or_latest().to_string()))
}

pub fn import(root: &Path, a: ImportArgs) -> Result<i32> {
    let (name, tag) = parse_tag(&a.name)?;
    let store = open_store(root)?;
    let _gc = store.gc_shared()?;
    let digest = crate::image::import::import(&store, &a.source)
        .with_context(|| format!("cannot import {}", a.source.display()))?;
    let rev = store.set_tag(&name, &tag, Some(&digest), Reason::Import, None)?;
    store.emit(
        Event::new("image", "import", &digest.to_string())
            .attr("name", format!("{name}:{tag}"))
            .attr("revision", rev.rev.to_string()),
    );
    let img = LocalImage::by_digest(&store, &digest)?;
    println!("{}", img.id());
    Ok(0)
}

/// `images --format` template fields: (name, header).
pub const IMAGE_FIELDS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Size", "SIZE"),
];

pub fn images(root: &Path, a: ImagesArgs) -> Result<i32> {
    let output = Output::parse(&a.format, IMAGE_FIELDS)?;
    let store = open_store(root)?;
    let mut rows = Vec::new();
    let mut json = Vec::new();
    let mut trows: Vec<Row> = Vec::new();
    for (name, tag, digest) in store.tags()? {
        let img = LocalImage::by_digest(&store, &digest)
            .with_context(|| format!("image {name}:{tag}"))?;
        let created = img.config.created.clone().unwrap_or_default();
        if a.quiet {
            println!("{}", img.id().short());
            continue;
        }
        rows.push(vec![
            name.clone(),
            tag.clone(),
            img.id().short().to_string(),
            human_age(&created),
            human_size(img.size()),
        ]);
        trows.push(Row::from([
            ("ID", img.id().short().to_string()),
            ("Repository", name.clone()),
            ("Tag", tag.clone()),
            ("Digest", digest.to_string()),
            ("CreatedAt", created.clone()),
            ("CreatedSince", human_age(&created)),
            ("Size", human_size(img.size())),
        ]));
        json.push(serde_json::json!({
            "Repository": name, "Tag": tag, "Id": img.id().to_string(), "Digest": digest.to_string(),
            "Created": created, "Size": img.size(),
        }));
    }
    if a.quiet {
        return Ok(0);
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Output::Table => print_table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows),
        Output::Template { .. } => output.print(IMAGE_FIELDS, &trows),
    }
    Ok(0)
}

pub fn tag(root: &Path, a: TagArgs) -> Result<i32> {
    let (name, tag) = parse_tag(&a.target)?;
    let store = open_store(root)?;
    // Keep prune away between reading the source and the new tag naming it.
    let _gc = store.gc_shared()?;
    let img = load_image(&store, &a.source)?;
    // The store makes `tag X X` a no-op under its lock; an event only for
    // a tag that moved.
    let unchanged = store.resolve_tag(&name, &tag)?.as_ref() == Some(&img.manifest_digest);
    let rev = store.set_tag(&name, &tag, Some(&img.manifest_digest), Reason::Tag, None)?;
    if !unchanged {
        store.emit(
            Event::new("image", "tag", &img.manifest_digest.to_string())
                .attr("name", format!("{name}:{tag}"))
                .attr("revision", rev.rev.to_string()),
        );
    }
    Ok(0)
}

pub fn rmi(root: &Path, a: RmiArgs) -> Result<i32> {
    let store = open_store(root)?;
    for r in &a.images {
        let tags = tags_named_by(&store, r, a.force)?;
        for (name, tag) in tags {
            let rev = store.set_tag(&name, &tag, None, Reason::Untag, None)?;
            store.emit(
                Event::new("image", "untag", &format!("{name}:{tag}"))
                    .attr("name", format!("{name}:{tag}"))
                    .attr("revision", rev.rev.to_string()),
            );
            println!("Untagged: {name}:{tag}");
        }
    }
    Ok(0)
}

/// The tags `r` names: itself if it is a tag, else every tag of that image id.
fn tags_named_by(store: &Store, r: &str, force: bool) -> Result<Vec<(String, String)>> {
    if let Ok(parsed) = r.parse::<ImageRef>() {
        let current = match parsed.digest {
            None => store.resolve_tag(&parsed.name, parsed.tag_or_latest())?,
            Some(_) => None,
        };
        if let Some(digest) = current {
            // The last tag of an image a container uses: docker refuses.
            let others = store
                .tags()?
                .into_iter()
                .filter(|(n, t, d)| {
                    *d == digest && (n != &parsed.name || t != parsed.tag_or_latest())
                })
                .count();
            if others == 0 && !force {
                refuse_if_used(store, r, &digest)?;
            }
            return Ok(vec![(
                parsed.name.clone(),
                parsed.tag_or_latest().to_string(),
            )]);
        }
    }
    let img = load_image(store, r)?;
    let tags: Vec<(String, String)> = store
        .tags()?
        .into_iter()
        .filter(|(_, _, d)| *d == img.manifest_digest)
        .map(|(n, t, _)| (n, t))
        .collect();
    if !force {
        refuse_if_used(store, r, &img.manifest_digest)?;
    }
    if tags.is_empty() {
        bail!("image {r} has no tags (its blobs go with `skiff prune`)");
    }
    if tags.len() > 1 && !force {
        let names: Vec<String> = tags.iter().map(|(n, t)| format!("{n}:{t}")).collect();
        bail!(
            "image {r} is tagged {}; name one tag, or use -f to remove them all",
            names.join(", ")
        );
    }
    Ok(tags)
}

/// Docker refuses to remove an image a container was created from.
fn refuse_if_used(store: &Store, r: &str, digest: &Digest) -> Result<()> {
    let users: Vec<String> = crate::deploy::prune::images_in_use(store)
        .into_iter()
        .filter(|(_, d)| d == digest)
        .map(|(n, _)| n)
        .collect();
    if users.is_empty() {
        Ok(())
    } else {
        bail!(
            "image {r} is used by container {}; remove the container first, or use -f",
            users.join(", ")
        )
    }
}

pub fn image_json(store: &Store, img: &LocalImage) -> Result<serde_json::Value> {
    let tags: Vec<String> = store
        .tags()?
        .into_iter()
        .filter(|(_, _, d)| *d == img.manifest_digest)
        .map(|(n, t, _)| format!("{n}:{t}"))
        .collect();
    Ok(serde_json::json!({
        "Id": img.id().to_string(),
        "Digest": img.manifest_digest.to_string(),
        "RepoTags": tags,
        "Created": img.config.created,
        "Size": img.size(),
        "Architecture": img.config.architecture,
        "Os": img.config.os,
        "Config": img.config.config,
        "RootFS": img.config.rootfs,
        "History": img.config.history,
        "Manifest": img.manifest,
    }))
}

pub fn revisions(root: &Path, a: RevisionsArgs) -> Result<i32> {
    let (name, tag) = parse_tag(&a.name)?;
    let store = open_store(root)?;
    let revs = store.revisions(&name, &tag)?;
    if revs.is_empty() {
        bail!("no such tag {name}:{tag}");
    }
    let current = revs.last().map(|r| r.rev);
    match a.format {
        Format::Json => {
            let v: Vec<serde_json::Value> = revs
                .iter()
                .rev()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["current"] = serde_json::Value::Bool(Some(r.rev) == current);
                    v
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = revs
                .iter()
                .rev()
                .map(|r| {
                    let reason = match r.to {
                        Some(to) => format!("{} (to {to})", r.reason),
                        None => r.reason.to_string(),
                    };
                    let image = match &r.digest {
                        Some(d) => LocalImage::by_digest(&store, d)
                            .map(|i| i.id().short().to_string())
                            .unwrap_or_else(|_| format!("{} (pruned)", d.short())),
                        None => "-".into(),
                    };
                    let mark = if Some(r.rev) == current { "*" } else { "" };
                    vec![
                        format!("{mark}{}", r.rev),
                        image,
                        r.digest
                            .as_ref()
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        reason,
                        human_age(&r.at),
                    ]
                })
                .collect();
            print_table(&["REV", "IMAGE ID", "DIGEST", "REASON", "CREATED"], &rows);
        }
    }
    Ok(0)
}
