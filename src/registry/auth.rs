//! Credentials as docker keeps them, and `WWW-Authenticate` challenges.
//!
//! The auth file is `$REGISTRY_AUTH_FILE` (podman's and skopeo's variable),
//! else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`: a JSON
//! object whose `auths` maps a registry to `{"auth": base64("user:pass")}`.
//! Other keys in the file are kept as they are, so docker users need
//! nothing new and nothing of theirs is lost.

use super::{RegistryError, Result, DOCKER_HUB};
use base64::Engine as _;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        format!("Basic {}", self.encoded())
    }

    /// base64 of `user:pass`, as the auth file stores it.
    pub fn encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.username, self.password))
    }

    fn decode(s: &str) -> Option<Credentials> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (u, p) = text.split_once(':')?;
        Some(Credentials {
            username: u.to_string(),
            password: p.to_string(),
        })
    }
}

/// The auth file in use (it need not exist yet).
pub fn auth_file_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(d).join("config.json"));
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".docker/config.json")),
        None => Err(RegistryError::AuthFile {
            path: "~/.docker/config.json".into(),
            msg: "HOME is not set; set REGISTRY_AUTH_FILE".into(),
        }),
    }
}

/// The keys under which `registry` may be stored: docker writes Docker Hub as
/// `https://index.docker.io/v1/`, others as the bare `host[:port]`, and some
/// tools add a scheme or a `/v2/` suffix.
fn key_matches(key: &str, registry: &str) -> bool {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let k = k.split('/').next().unwrap_or(k);
    if registry == DOCKER_HUB {
        matches!(
            k,
            "index.docker.io" | "docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    } else {
        k == registry
    }
}

/// The key a new login is stored under.
fn key_for(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> RegistryError {
    RegistryError::AuthFile {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

fn read_file(path: &Path) -> Result<serde_json::Value> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(serde_json::json!({})),
        Ok(b) => {
            let v: serde_json::Value = serde_json::from_slice(&b)
                .map_err(|e| file_err(path, format!("not valid JSON: {e}")))?;
            if !v.is_object() {
                return Err(file_err(path, "not a JSON object"));
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(file_err(path, e)),
    }
}

/// Credentials for `registry` from the auth file at `path`, if any.
pub fn lookup_in(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let v = read_file(path)?;
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    // An exact key first, then any equivalent spelling.
    let entry = auths
        .get(&key_for(registry))
        .or_else(|| {
            auths
                .iter()
                .find(|(k, _)| key_matches(k, registry))
                .map(|(_, v)| v)
        })
        .and_then(|e| e.get("auth"))
        .and_then(|a| a.as_str());
    match entry {
        None | Some("") => Ok(None),
        Some(s) => Credentials::decode(s).map(Some).ok_or_else(|| {
            file_err(
                path,
                format!("the entry for {registry} is not base64 of user:password"),
            )
        }),
    }
}

/// Credentials for `registry` from the auth file in use, if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    lookup_in(&auth_file_path()?, registry)
}

/// Record `creds` for `registry` in the auth file (created 0600 if missing),
/// keeping every other key. Returns the file's path.
pub fn store(registry: &str, creds: &Credentials) -> Result<PathBuf> {
    let path = auth_file_path()?;
    let mut v = read_file(&path)?;
    let key = key_for(registry);
    let obj = v
        .as_object_mut()
        .ok_or_else(|| file_err(&path, "not a JSON object"))?;
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| file_err(&path, "\"auths\" is not an object"))?;
    // Drop other spellings of the same registry so one login wins.
    auths.retain(|k, _| k == &key || !key_matches(k, registry));
    auths.insert(key, serde_json::json!({ "auth": creds.encoded() }));
    write_file(&path, &v)?;
    Ok(path)
}

/// Remove `registry` from the auth file. Returns whether it was there.
pub fn remove(registry: &str) -> Result<bool> {
    let path = auth_file_path()?;
    let mut v = read_file(&path)?;
    let Some(auths) = v.get_mut("auths").and_then(|a| a.as_object_mut()) else {
        return Ok(false);
    };
    let before = auths.len();
    auths.retain(|k, _| !key_matches(k, registry));
    if auths.len() == before {
        return Ok(false);
    }
    write_file(&path, &v)?;
    Ok(true)
}

/// Write the auth file atomically, readable by its owner only.
fn write_file(path: &Path, v: &serde_json::Value) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(path, e))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| file_err(path, e))?;
    bytes.push(b'\n');
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(file_err(path, e));
    }
    Ok(())
}

/// One parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
        error: Option<String>,
    },
}

/// Parse `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
            error: get("error"),
        })
    } else {
        None
    }
}

/// `k="v", k2=v2` with commas allowed inside quotes and `\"` escapes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
                error: None,
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn auth_file_round_trip_keeps_other_keys() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"http://127.0.0.1:5000/v2/":{"auth":"eDp5"}},"credsStore":"desktop"}"#,
        )
        .unwrap();
        let c = lookup_in(&p, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("x", "y"));
        assert_eq!(lookup_in(&p, "127.0.0.1:5001").unwrap(), None);
        assert_eq!(
            lookup_in(&d.path().join("missing.json"), "a").unwrap(),
            None
        );
        let hub = std::collections::BTreeMap::from([(
            "https://index.docker.io/v1/",
            serde_json::json!({"auth": Credentials{username:"u".into(), password:"p:q".into()}.encoded()}),
        )]);
        std::fs::write(
            &p,
            serde_json::to_vec(&serde_json::json!({ "auths": hub })).unwrap(),
        )
        .unwrap();
        let c = lookup_in(&p, DOCKER_HUB).unwrap().unwrap();
        assert_eq!(c.password, "p:q");
    }
}
