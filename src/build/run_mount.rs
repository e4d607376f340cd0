//! `RUN --mount=...` specifications: parsed and checked the way buildkit
//! reads them (comma-separated `key=value` fields, `type=bind` by default).
//! What a mount does while a step runs is `run_mounts.rs`'s job.

/// One `--mount` of a RUN step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// Absolute path inside the step's container.
    pub target: String,
    pub kind: MountKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A directory or file of the context, a stage or an image; read-only
    /// unless `rw` (writes are then thrown away with the step).
    Bind {
        from: Option<String>,
        source: String,
        rw: bool,
    },
    /// A directory kept in the store between builds (`cache-mounts/<id>/`).
    Cache {
        id: String,
        sharing: Sharing,
        mode: u32,
        uid: u32,
        gid: u32,
        from: Option<String>,
        source: String,
        readonly: bool,
    },
    /// A file given with `skiff build --secret id=...`.
    Secret {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An empty tmpfs.
    Tmpfs { size: Option<u64> },
}

/// `sharing=` of a cache mount: what concurrent builds using it do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Everyone uses the same directory at the same time.
    Shared,
    /// A build that finds it in use gets its own directory.
    Private,
    /// A build waits until the one using it is done.
    Locked,
}

impl Sharing {
    pub fn as_str(&self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

fn parse_mode(v: &str) -> Result<u32, String> {
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid mode {v:?}: write it in octal, like 0755"))
}

fn parse_id(what: &str, v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("invalid {what} {v:?}: a number is expected"))
}

fn parse_bool(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value {other:?} for {key}: true or false")),
    }
}

/// Sizes as tmpfs takes them: `64m`, `1g`, `1024` (bytes).
fn parse_size(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.find('k').unwrap_or(0)], 1u64 << 10),
        Some('m') => (&lower[..lower.find('m').unwrap_or(0)], 1 << 20),
        Some('g') => (&lower[..lower.find('g').unwrap_or(0)], 1 << 30),
        _ => (lower.as_str(), 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {v:?} (write it like 64m)"))
}

/// Splits on commas outside double quotes, as a CSV reader does.
fn fields(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

fn clean_target(t: &str, workdir: &str) -> Result<String, String> {
    if t.is_empty() {
        return Err("the mount has no target (add target=/path)".into());
    }
    let abs = if t.starts_with('/') {
        t.to_string()
    } else {
        format!("{workdir}/{t}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in abs.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Parses one `--mount` value (a relative target is taken from `/`).
pub fn parse(spec: &str) -> Result<RunMount, String> {
    parse_in(spec, "/")
}

/// Parses one `--mount` value; a relative target is inside `workdir`, as
/// buildkit resolves it.
pub fn parse_in(spec: &str, workdir: &str) -> Result<RunMount, String> {
    let mut typ = "bind".to_string();
    let mut kv: Vec<(String, Option<String>)> = Vec::new();
    for f in fields(spec) {
        let (k, v) = match f.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (f.to_ascii_lowercase(), None),
        };
        if k == "type" {
            typ = v.unwrap_or_default().to_ascii_lowercase();
        } else {
            kv.push((k, v));
        }
    }
    let allowed: &[&str] = match typ.as_str() {
        "bind" => &[
            "source",
            "src",
            "target",
            "dst",
            "destination",
            "from",
            "readonly",
            "ro",
            "readwrite",
            "rw",
        ],
        "cache" => &[
            "source",
            "src",
            "target",
            "dst",
            "destination",
            "from",
            "readonly",
            "ro",
            "readwrite",
            "rw",
            "id",
            "sharing",
            "mode",
            "uid",
            "gid",
        ],
        "secret" => &[
            "id",
            "target",
            "dst",
            "destination",
            "required",
            "mode",
            "uid",
            "gid",
            "env",
        ],
        "tmpfs" => &["target", "dst", "destination", "size"],
        "ssh" => {
            return Err("RUN --mount=type=ssh is not supported by skiff (SSH agent forwarding); fetch private sources with a secret mount (type=secret) instead".into())
        }
        other => {
            return Err(format!(
                "unknown mount type {other:?} (use bind, cache, secret or tmpfs)"
            ))
        }
    };
    let mut get = std::collections::BTreeMap::new();
    for (k, v) in kv {
        if !allowed.contains(&k.as_str()) {
            return Err(format!(
                "unexpected key {k:?} for a mount of type={typ} (allowed: {})",
                allowed.join(", ")
            ));
        }
        let canon = match k.as_str() {
            "src" => "source",
            "dst" | "destination" => "target",
            "ro" => "readonly",
            "readwrite" => "rw",
            k => k,
        }
        .to_string();
        if get.insert(canon.clone(), v).is_some() {
            return Err(format!("{canon} is given twice"));
        }
    }
    let value = |k: &str| -> Result<Option<String>, String> {
        match get.get(k) {
            None => Ok(None),
            Some(Some(v)) => Ok(Some(v.clone())),
            Some(None) => Err(format!("{k} needs a value ({k}=...)")),
        }
    };
    let flag = |k: &str| -> Result<Option<bool>, String> {
        match get.get(k) {
            None => Ok(None),
            Some(v) => parse_bool(k, v.as_deref()).map(Some),
        }
    };
    let mode = |default: u32| -> Result<u32, String> {
        value("mode")?.map_or(Ok(default), |v| parse_mode(&v))
    };
    let uid = |k: &str| -> Result<u32, String> { value(k)?.map_or(Ok(0), |v| parse_id(k, &v)) };
    let rw = match (flag("rw")?, flag("readonly")?) {
        (Some(true), Some(true)) => return Err("a mount cannot be both rw and readonly".into()),
        (Some(rw), _) => rw,
        (None, Some(ro)) => !ro,
        (None, None) => typ != "bind",
    };
    let from = value("from")?.filter(|f| !f.is_empty());
    let source = value("source")?.unwrap_or_default();
    match typ.as_str() {
        "bind" => Ok(RunMount {
            target: clean_target(&value("target")?.unwrap_or_default(), workdir)?,
            kind: MountKind::Bind { from, source, rw },
        }),
        "cache" => {
            let target = clean_target(&value("target")?.unwrap_or_default(), workdir)?;
            if target == "/" {
                return Err("a cache mount cannot have / as its target (name the directory the tool caches in, like /root/.npm)".into());
            }
            if from.is_none() && !source.is_empty() {
                return Err(
                    "source= of a cache mount is a path inside from=; add from=STAGE".into(),
                );
            }
            let sharing = match value("sharing")?.as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("private") => Sharing::Private,
                Some("locked") => Sharing::Locked,
                Some(o) => {
                    return Err(format!(
                        "invalid sharing {o:?} (use shared, private or locked)"
                    ))
                }
            };
            Ok(RunMount {
                kind: MountKind::Cache {
                    id: value("id")?.unwrap_or_else(|| target.clone()),
                    sharing,
                    mode: mode(0o755)?,
                    uid: uid("uid")?,
                    gid: uid("gid")?,
                    from,
                    source,
                    readonly: !rw,
                },
                target,
            })
        }
        "secret" => {
            if get.contains_key("env") {
                return Err("secret mounts as environment variables (env=) are not supported; mount the secret as a file (target=/run/secrets/ID) and read it".into());
            }
            let id = value("id")?.filter(|s| !s.is_empty());
            let target = value("target")?.filter(|s| !s.is_empty());
            let (id, target) = match (id, target) {
                (None, None) => {
                    return Err(
                        "a secret mount needs an id (id=NAME, given with skiff build --secret id=NAME,...)"
                            .into(),
                    )
                }
                (Some(i), None) => (i.clone(), format!("/run/secrets/{i}")),
                (None, Some(t)) => {
                    let t = clean_target(&t, workdir)?;
                    (t.rsplit('/').next().unwrap_or_default().to_string(), t)
                }
                (Some(i), Some(t)) => (i, clean_target(&t, workdir)?),
            };
            if target == "/" {
                return Err("a secret mount cannot have / as its target".into());
            }
            Ok(RunMount {
                target,
                kind: MountKind::Secret {
                    id,
                    required: flag("required")?.unwrap_or(false),
                    mode: mode(0o400)?,
                    uid: uid("uid")?,
                    gid: uid("gid")?,
                },
            })
        }
        _ => {
            let target = clean_target(&value("target")?.unwrap_or_default(), workdir)?;
            if target == "/" {
                return Err("a tmpfs mount cannot have / as its target".into());
            }
            Ok(RunMount {
                target,
                kind: MountKind::Tmpfs {
                    size: value("size")?.map(|s| parse_size(&s)).transpose()?,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_defaults_and_options() {
        let m = parse("type=cache,target=/root/.npm").unwrap();
        assert_eq!(m.target, "/root/.npm");
        match m.kind {
            MountKind::Cache {
                id, sharing, mode, ..
            } => {
                assert_eq!(id, "/root/.npm");
                assert_eq!(sharing, Sharing::Shared);
                assert_eq!(mode, 0o755);
            }
            k => panic!("{k:?}"),
        }
        let m = parse("type=cache,id=npm,target=/c,sharing=locked,mode=0700,uid=1000,gid=1000")
            .unwrap();
        assert_eq!(
            m.kind,
            MountKind::Cache {
                id: "npm".into(),
                sharing: Sharing::Locked,
                mode: 0o700,
                uid: 1000,
                gid: 1000,
                from: None,
                source: String::new(),
                readonly: false,
            }
        );
    }

    #[test]
    fn secrets_binds_tmpfs() {
        let m = parse("type=secret,id=npmrc,target=/root/.npmrc").unwrap();
        assert_eq!(m.target, "/root/.npmrc");
        let m = parse("type=secret,id=ca").unwrap();
        assert_eq!(m.target, "/run/secrets/ca");
        match parse("type=secret,target=/run/secrets/tok,required")
            .unwrap()
            .kind
        {
            MountKind::Secret {
                id, required, mode, ..
            } => {
                assert_eq!(id, "tok");
                assert!(required);
                assert_eq!(mode, 0o400);
            }
            k => panic!("{k:?}"),
        }
        let m = parse("target=/src,source=app,from=build").unwrap();
        assert_eq!(
            m.kind,
            MountKind::Bind {
                from: Some("build".into()),
                source: "app".into(),
                rw: false
            }
        );
        assert!(matches!(
            parse("type=bind,target=/x,rw").unwrap().kind,
            MountKind::Bind { rw: true, .. }
        ));
        assert_eq!(
            parse("type=tmpfs,target=/t,size=64m").unwrap().kind,
            MountKind::Tmpfs {
                size: Some(64 << 20)
            }
        );
    }

    #[test]
    fn relative_targets_are_inside_the_workdir() {
        assert_eq!(
            parse_in("type=cache,target=node_modules/.cache", "/app")
                .unwrap()
                .target,
            "/app/node_modules/.cache"
        );
        assert_eq!(
            parse_in("type=tmpfs,target=../tmp", "/app").unwrap().target,
            "/tmp"
        );
        assert_eq!(parse("type=tmpfs,target=t").unwrap().target, "/t");
    }

    #[test]
    fn refusals() {
        for (spec, want) in [
            ("type=ssh", "not supported"),
            ("type=nfs,target=/x", "unknown mount type"),
            ("type=cache,target=/", "cannot have / as its target"),
            ("type=cache,target=/x,sharing=maybe", "invalid sharing"),
            ("type=cache,target=/x,color=red", "unexpected key \"color\""),
            ("type=bind,target=/x,mode=0755", "unexpected key \"mode\""),
            ("type=secret", "needs an id"),
            ("type=cache,target=/x,source=/y", "add from=STAGE"),
            ("type=bind", "no target"),
            ("type=cache,target=/x,mode=999", "invalid mode"),
            ("type=cache,target=/x,uid=me", "invalid uid"),
        ] {
            let e = parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }
}
