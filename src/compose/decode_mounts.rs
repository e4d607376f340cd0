//! A service's `ports` and `volumes`, short and long syntax, as `skiff
//! run -p` and `-v` take them.

use super::decoder::Decoder;
use super::model::{Mount, VolumeDef};
use super::yaml::{Node, Value};
use super::Result;
use std::collections::BTreeMap;

pub(super) fn ports(d: &mut Decoder, v: &Node, what: &str) -> Result<Vec<String>> {
    let Value::Seq(items) = &v.value else {
        return Err(d.err(v.line, format!("{what} must be a list")));
    };
    let mut out = Vec::new();
    for i in items {
        let p = match &i.value {
            Value::Map(m) => {
                d.check_keys(
                    m,
                    &[
                        "target",
                        "published",
                        "host_ip",
                        "protocol",
                        "mode",
                        "name",
                        "app_protocol",
                    ],
                    what,
                )?;
                let target = i
                    .get("target")
                    .ok_or_else(|| d.err(i.line, format!("{what}: a port needs a target")))?;
                let target = d.string(target, what)?;
                let published = match i.get("published") {
                    Some(p) => d.string(p, what)?,
                    None => {
                        return Err(d.err(
                            i.line,
                            format!("{what}: skiff needs a published port for {target}"),
                        ))
                    }
                };
                let mut s = match i.get("host_ip") {
                    Some(h) => format!("{}:{published}:{target}", d.string(h, what)?),
                    None => format!("{published}:{target}"),
                };
                if let Some(proto) = i.get("protocol") {
                    s = format!("{s}/{}", d.string(proto, what)?);
                }
                s
            }
            _ => d.string(i, what)?,
        };
        if !p.contains(':') {
            return Err(d.err(
                i.line,
                format!("{what}: {p:?} publishes no host port; skiff needs HOST:CONTAINER"),
            ));
        }
        let spec: crate::supervisor::ports::PortSpec = p
            .parse()
            .map_err(|e| d.err(i.line, format!("{what}: {e}")))?;
        out.push((spec.to_string(), i.line, p));
    }
    for (n, (spec, line, _)) in out.iter().enumerate() {
        if out[..n].iter().any(|(o, _, _)| o == spec) {
            return Err(d.err(*line, format!("{what}: port {spec} is published twice")));
        }
    }
    Ok(out.into_iter().map(|(_, _, p)| p).collect())
}

pub(super) fn mounts(
    d: &mut Decoder,
    v: &Node,
    what: &str,
    volumes: &BTreeMap<String, VolumeDef>,
) -> Result<Vec<Mount>> {
    let Value::Seq(items) = &v.value else {
        return Err(d.err(v.line, format!("{what} must be a list")));
    };
    let mut out = Vec::new();
    for i in items {
        let (kind, source, target, read_only) = match &i.value {
            Value::Map(m) => {
                d.check_keys(
                    m,
                    &["type", "source", "target", "read_only", "volume", "bind"],
                    what,
                )?;
                let kind = match i.get("type") {
                    Some(t) => d.string(t, what)?,
                    None => "volume".into(),
                };
                let source = match i.get("source") {
                    Some(s) => d.string(s, what)?,
                    None => String::new(),
                };
                let target = match i.get("target") {
                    Some(t) => d.string(t, what)?,
                    None => return Err(d.err(i.line, format!("{what}: a mount needs a target"))),
                };
                let ro = match i.get("read_only") {
                    Some(r) => d.boolean(r, what)?,
                    None => false,
                };
                (kind, source, target, ro)
            }
            _ => {
                let s = d.string(i, what)?;
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, opts) = match parts.as_slice() {
                    [dst] => ("", *dst, ""),
                    [s, d] => (*s, *d, ""),
                    [s, d, o] => (*s, *d, *o),
                    _ => return Err(d.err(i.line, format!("{what}: invalid volume {s:?}"))),
                };
                let mut ro = false;
                for o in opts.split(',').filter(|o| !o.is_empty()) {
                    match o {
                        "ro" => ro = true,
                        "rw" | "z" | "Z" => {}
                        _ => {
                            return Err(d.err(
                                i.line,
                                format!("{what}: invalid volume option {o:?} in {s:?}"),
                            ))
                        }
                    }
                }
                let kind = if src.starts_with(['.', '/', '~']) {
                    "bind"
                } else {
                    "volume"
                };
                (kind.to_string(), src.to_string(), dst.to_string(), ro)
            }
        };
        if !target.starts_with('/') || target.split('/').any(|c| c == "..") {
            return Err(d.err(
                i.line,
                format!("{what}: the container path {target:?} must be absolute, without .."),
            ));
        }
        let source = match kind.as_str() {
            "bind" => {
                let s = if let Some(rest) = source.strip_prefix("~/") {
                    let home = (d.lookup)("HOME").unwrap_or_else(|| "/root".into());
                    format!("{home}/{rest}")
                } else {
                    source
                };
                d.path(&s).to_string_lossy().into_owned()
            }
            "volume" => {
                if source.is_empty() {
                    return Err(d.err(i.line, format!("{what}: anonymous volumes are not supported; name the volume (NAME:{target})")));
                }
                if !volumes.contains_key(&source) {
                    return Err(d.err(
                        i.line,
                        format!(
                            "{what}: volume {source:?} is not declared under the top-level volumes"
                        ),
                    ));
                }
                source
            }
            o => {
                return Err(d.err(
                    i.line,
                    format!("{what}: mount type {o:?} is not supported (volume or bind)"),
                ))
            }
        };
        out.push(Mount {
            kind,
            source,
            target,
            read_only,
        });
    }
    Ok(out)
}
