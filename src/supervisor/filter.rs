//! `ps --filter KEY=VALUE`, docker's keys: `id`, `name` (a substring),
//! `status` (created, running, restarting, exited, dead), `label` (KEY or
//! KEY=VALUE, on the container's labels: its image's and `run --label`), `ancestor`
//! (NAME, NAME:TAG, or an image id / digest prefix), `health` (starting,
//! healthy, unhealthy, none). Values of one key are
//! alternatives; different keys must all match.

use super::ops::Info;
use super::{Result, SupervisorError};
use std::collections::BTreeMap;

const KEYS: &str = "id, name, status, label, ancestor, health";
const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
const STATUSES: [&str; 7] = [
    "created",
    "running",
    "restarting",
    "exited",
    "dead",
    "paused",
    "removing",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    id: Vec<String>,
    name: Vec<String>,
    status: Vec<String>,
    label: Vec<(String, Option<String>)>,
    ancestor: Vec<String>,
    health: Vec<String>,
}

/// What a filter needs to know of a container's image.
pub struct ImageFacts<'a> {
    /// Image id (config digest), e.g. `sha256:…`.
    pub id: Option<&'a str>,
    /// The image's labels with the container's own (`run --label`) over them.
    pub labels: BTreeMap<String, String>,
}

impl Filters {
    pub fn parse(args: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                SupervisorError::Invalid(format!(
                    "invalid filter {a:?}: expected KEY=VALUE (keys: {KEYS})"
                ))
            })?;
            let v = v.to_string();
            match k {
                "id" => f.id.push(v),
                "name" => f.name.push(v),
                "status" => {
                    if !STATUSES.contains(&v.as_str()) {
                        return Err(SupervisorError::Invalid(format!(
                            "invalid filter {a:?}: status is one of {}",
                            STATUSES.join(", ")
                        )));
                    }
                    f.status.push(v)
                }
                "label" => f.label.push(match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v, None),
                }),
                "ancestor" => f.ancestor.push(v),
                "health" => {
                    if !HEALTH.contains(&v.as_str()) {
                        return Err(SupervisorError::Invalid(format!(
                            "invalid filter {a:?}: health is one of {}",
                            HEALTH.join(", ")
                        )));
                    }
                    f.health.push(v)
                }
                _ => {
                    return Err(SupervisorError::Invalid(format!(
                        "invalid filter {k:?}: the keys are {KEYS}"
                    )))
                }
            }
        }
        Ok(f)
    }

    /// A status filter shows stopped containers without `-a`, as docker.
    pub fn has_status(&self) -> bool {
        !self.status.is_empty()
    }

    pub fn matches(&self, i: &Info, image: &ImageFacts) -> bool {
        let any = |vals: &[String], f: &dyn Fn(&str) -> bool| {
            vals.is_empty() || vals.iter().any(|v| f(v))
        };
        any(&self.id, &|v| i.id.starts_with(v))
            && any(&self.name, &|v| {
                i.name.as_deref().is_some_and(|n| n.contains(v))
            })
            && any(&self.status, &|v| i.observed.word() == v)
            && self
                .label
                .iter()
                .all(|(k, want)| match (image.labels.get(k), want) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
            && any(&self.ancestor, &|v| ancestor(i, image, v))
            && any(&self.health, &|v| {
                let have = i.state.health.as_ref().map_or("none", |h| h.status.word());
                have == v
            })
    }
}

fn ancestor(i: &Info, image: &ImageFacts, v: &str) -> bool {
    let hex = |d: &str| d.strip_prefix("sha256:").unwrap_or(d).to_string();
    let want = hex(v);
    let is_hex = want.len() >= 4 && want.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(c) = &i.config else {
        return i.record.spec.image == v;
    };
    if is_hex
        && (hex(&c.image.digest).starts_with(&want)
            || image.id.is_some_and(|id| hex(id).starts_with(&want)))
    {
        return true;
    }
    if c.image.reference == v {
        return true;
    }
    // NAME matches every tag of NAME; NAME:TAG that tag.
    let (name, tag) = match v.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (v, None),
    };
    c.image.name.as_deref() == Some(name) && tag.is_none_or(|t| c.image.tag.as_deref() == Some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_are_checked() {
        assert!(Filters::parse(&["name=api".into(), "status=running".into()]).is_ok());
        let e = Filters::parse(&["nmae=api".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"nmae\"") && e.contains("ancestor"), "{e}");
        assert!(Filters::parse(&["status=up".into()]).is_err());
        assert!(Filters::parse(&["health=healthy".into()]).is_ok());
        assert!(Filters::parse(&["health=ok".into()]).is_err());
        assert!(Filters::parse(&["name".into()]).is_err());
        let f = Filters::parse(&["label=a=b=c".into()]).unwrap();
        assert_eq!(f.label, vec![("a".to_string(), Some("b=c".to_string()))]);
    }
}
