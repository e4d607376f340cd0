//! `skiff ps`: one row per container (or replica set), its image and how
//! far behind its tag it is, in a table or a template.

use super::{ports_text, status_text};
use crate::cli::format::{human_age, print_table};
use crate::cli::images::open_store;
use crate::cli::template::{Output, Row};
use crate::image::local::LocalImage;
use crate::supervisor::filter::{Filters, ImageFacts};
use crate::supervisor::ops;
use crate::supervisor::ops::Info;
use crate::supervisor::state::Observed;
use anyhow::Result;
use clap::Args;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default: those that run or should)
    #[arg(short, long)]
    pub all: bool,
    /// Only show container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Output: table, json, or a template such as '{{.Names}}' or 'table {{.ID}}\t{{.Status}}'
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: String,
    /// Only containers that match KEY=VALUE: id, name, status, label, ancestor, health (repeatable)
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// `ps --format` template fields: (name, header).
pub const PS_FIELDS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Restarts", "RESTARTS"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// Each tag's current revision and digest, looked up once per `ps`.
pub(super) type TagHeads =
    std::collections::HashMap<(String, String), Option<(u64, Option<String>)>>;

/// The tag's current revision when the container runs another image than
/// the tag's current one (it is behind its tag: `rollout` moves it).
pub(super) fn behind(store: &crate::store::Store, i: &Info, cache: &mut TagHeads) -> Option<u64> {
    let img = &i.config.as_ref()?.image;
    let (name, tag) = (img.name.clone()?, img.tag.clone()?);
    let cur = cache
        .entry((name.clone(), tag.clone()))
        .or_insert_with(|| {
            let revs = store.revisions(&name, &tag).ok()?;
            let last = revs.last()?;
            Some((last.rev, last.digest.as_ref().map(|d| d.to_string())))
        })
        .clone()?;
    (cur.1.as_deref() != Some(img.digest.as_str())).then_some(cur.0)
}

/// `node-api:latest (rev 6, behind 7)`.
pub(super) fn image_text(i: &Info, behind: Option<u64>) -> String {
    match (
        behind,
        i.config.as_ref().and_then(|c| {
            let u = &c.image;
            Some((u.name.clone()?, u.tag.clone()?, u.revision?))
        }),
    ) {
        (Some(cur), Some((n, t, r))) => format!("{n}:{t} (rev {r}, behind {cur})"),
        _ => i.image_display(),
    }
}

/// The labels and id of each container's image, read once per image.
pub(super) type ImageCache =
    std::collections::HashMap<String, (Option<String>, BTreeMap<String, String>)>;

pub(super) fn image_facts<'a>(
    store: &crate::store::Store,
    i: &Info,
    cache: &'a mut ImageCache,
) -> ImageFacts<'a> {
    let digest = i
        .config
        .as_ref()
        .map(|c| c.image.digest.clone())
        .or_else(|| i.record.spec.image_digest.clone())
        .unwrap_or_default();
    let (id, labels) = cache.entry(digest.clone()).or_insert_with(|| {
        match digest
            .parse()
            .ok()
            .and_then(|d| LocalImage::by_digest(store, &d).ok())
        {
            Some(img) => (
                Some(img.id().to_string()),
                img.config.config.labels.clone().unwrap_or_default(),
            ),
            None => (None, BTreeMap::new()),
        }
    });
    let mut labels = labels.clone();
    // The container's own labels over its image's, as docker merges them.
    for (k, v) in i.config.iter().flat_map(|c| c.labels.iter()) {
        labels.insert(k.clone(), v.clone());
    }
    ImageFacts {
        id: id.as_deref(),
        labels,
    }
}

pub(super) fn quoted_command(i: &Info) -> String {
    let mut cmd = i.record.spec.args.join(" ");
    if cmd.chars().count() > 24 {
        cmd = cmd.chars().take(21).collect::<String>() + "...";
    }
    format!("\"{cmd}\"")
}

pub(super) fn template_row(i: &Info, image: String, labels: &BTreeMap<String, String>) -> Row {
    let created = chrono::DateTime::parse_from_rfc3339(&i.record.created)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_else(|_| i.record.created.clone());
    let network = i
        .config
        .as_ref()
        .map(|c| format!("{:?}", c.options.run.network).to_lowercase())
        .unwrap_or_default();
    Row::from([
        ("ID", i.id[..12.min(i.id.len())].to_string()),
        ("Names", i.name.clone().unwrap_or_default()),
        ("Image", image),
        ("Command", quoted_command(i)),
        ("CreatedAt", created),
        ("RunningFor", human_age(&i.record.created)),
        ("Ports", ports_text(i)),
        ("State", i.observed.word().to_string()),
        ("Status", status_text(i)),
        ("Restarts", i.state.restart_count.to_string()),
        (
            "Labels",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "Mounts",
            i.record
                .spec
                .mounts
                .iter()
                .map(|m| m.target.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("Networks", network),
    ])
}

pub fn ps(root: &Path, a: PsArgs) -> Result<i32> {
    let output = Output::parse(&a.format, PS_FIELDS)?;
    let filters = Filters::parse(&a.filter)?;
    let store = open_store(root)?;
    let mut tags = TagHeads::new();
    let mut images = ImageCache::new();
    let all = a.all || filters.has_status();
    let shown: Vec<Info> = ops::list(&store)
        .into_iter()
        .filter(|i| all || i.observed.is_live() || matches!(i.observed, Observed::Dead { .. }))
        .filter(|i| filters.matches(i, &image_facts(&store, i, &mut images)))
        .collect();
    if a.quiet {
        for i in &shown {
            println!("{}", &i.id[..12.min(i.id.len())]);
        }
        return Ok(0);
    }
    match output {
        Output::Template { .. } => {
            let rows: Vec<Row> = shown
                .iter()
                .map(|i| {
                    let image = image_text(i, behind(&store, i, &mut tags));
                    let labels = image_facts(&store, i, &mut images).labels;
                    template_row(i, image, &labels)
                })
                .collect();
            output.print(PS_FIELDS, &rows);
        }
        Output::Json => {
            let v: Vec<serde_json::Value> = shown
                .iter()
                .map(|i| {
                    let behind = behind(&store, i, &mut tags);
                    serde_json::json!({
                        "id": i.id,
                        "name": i.name,
                        "image": image_text(i, behind),
                        "behind": behind,
                        "image_ref": i.config.as_ref().map(|c| c.image.clone()),
                        "command": i.record.spec.args,
                        "created": i.record.created,
                        "state": i.observed.word(),
                        "status": status_text(i),
                        "restarts": i.state.restart_count,
                        "ports": i.config.as_ref().map(|c| c.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
                        "pid": if matches!(i.observed, Observed::Up { .. }) { i.state.pid } else { None },
                        "exit_code": i.state.exit_code,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Table => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|i| {
                    vec![
                        i.id[..12.min(i.id.len())].to_string(),
                        i.name.clone().unwrap_or_default(),
                        image_text(i, behind(&store, i, &mut tags)),
                        quoted_command(i),
                        status_text(i),
                        i.state.restart_count.to_string(),
                        ports_text(i),
                    ]
                })
                .collect();
            print_table(
                &[
                    "CONTAINER ID",
                    "NAME",
                    "IMAGE",
                    "COMMAND",
                    "STATUS",
                    "RESTARTS",
                    "PORTS",
                ],
                &rows,
            );
        }
    }
    Ok(0)
}
