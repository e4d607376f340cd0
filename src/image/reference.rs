//! Image references as docker writes them: `name`, `name:tag`,
//! `registry:5000/org/name:tag`, `name@sha256:…`.

use crate::store::Digest;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Repository name including any registry host: `127.0.0.1:5000/team/api`.
    pub name: String,
    /// Tag, `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {input:?}: {why}")]
pub struct BadReference {
    pub input: String,
    pub why: &'static str,
}

impl ImageRef {
    /// The tag to use: the given one, or `latest` when there is no digest.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The registry host, when the first component names one.
    pub fn registry(&self) -> Option<&str> {
        let first = self.name.split('/').next()?;
        if self.name.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost")
        {
            Some(first)
        } else {
            None
        }
    }

    /// The repository path without the registry host.
    pub fn repository(&self) -> &str {
        match self.registry() {
            Some(r) => &self.name[r.len() + 1..],
            None => &self.name,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+ separated by '.', '_', '__' or runs of '-'
    if c.is_empty()
        || !c.as_bytes()[0].is_ascii_alphanumeric()
        || !c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let b = c.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        match ch {
            b'.' => {
                if b.get(i + 1).is_some_and(|n| !n.is_ascii_alphanumeric()) {
                    return false;
                }
                i += 1;
            }
            b'_' => {
                let run = b[i..].iter().take_while(|&&x| x == b'_').count();
                if run > 2 {
                    return false;
                }
                i += run;
            }
            b'-' => i += 1,
            _ => return false,
        }
    }
    true
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (h, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl FromStr for ImageRef {
    type Err = BadReference;
    fn from_str(input: &str) -> Result<ImageRef, BadReference> {
        let bad = |why| BadReference {
            input: input.to_string(),
            why,
        };
        if input.is_empty() {
            return Err(bad("empty"));
        }
        if input.len() > 512 {
            return Err(bad("longer than 512 characters"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| bad("the digest must be sha256:<64 hex digits>"))?,
                ),
            ),
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(bad("a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"));
            }
        }
        let comps: Vec<&str> = name.split('/').collect();
        let (host, path) = if comps.len() > 1
            && (comps[0].contains('.') || comps[0].contains(':') || comps[0] == "localhost")
        {
            (Some(comps[0]), &comps[1..])
        } else {
            (None, &comps[..])
        };
        if let Some(h) = host {
            if !valid_host(h) {
                return Err(bad("the registry host is not a valid host[:port]"));
            }
        }
        if path.is_empty() || !path.iter().all(|c| valid_component(c)) {
            return Err(bad(
                "a name is lowercase letters, digits and separators ('.', '_', '-', '/')",
            ));
        }
        Ok(ImageRef {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms() {
        let r: ImageRef = "busybox".parse().unwrap();
        assert_eq!((r.name.as_str(), r.tag_or_latest()), ("busybox", "latest"));
        let r: ImageRef = "node-api:1.4".parse().unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("node-api", Some("1.4"))
        );
        let r: ImageRef = "127.0.0.1:5000/team/node-api:1.4".parse().unwrap();
        assert_eq!(r.name, "127.0.0.1:5000/team/node-api");
        assert_eq!(r.registry(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository(), "team/node-api");
        assert_eq!(r.tag.as_deref(), Some("1.4"));
        let r: ImageRef = "localhost:5000/a".parse().unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.registry(), Some("localhost:5000"));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r: ImageRef = format!("app@{d}").parse().unwrap();
        assert_eq!(r.digest.clone().unwrap().to_string(), d);
        assert_eq!(r.to_string().len(), "app@".len() + d.len());
    }

    #[test]
    fn bad_ones() {
        for s in [
            "",
            "Upper",
            "a:",
            "a:-x",
            "../etc",
            "a//b",
            "a/../b",
            "a@sha256:zz",
            "a b",
            "-a",
            "a_-_b/..",
            "a:b:c",
        ] {
            assert!(s.parse::<ImageRef>().is_err(), "{s} should be rejected");
        }
    }
}
