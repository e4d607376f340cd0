//! Build secrets: `skiff build --secret id=npmrc,src=FILE` or
//! `id=ca,env=VAR`. Their bytes stay in memory until a RUN step with
//! `--mount=type=secret` mounts them from a tmpfs; they never reach a
//! layer, a blob, a cache key or the build log.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid --secret {0:?}: expected id=NAME,src=FILE or id=NAME,env=VARIABLE")]
    Syntax(String),
    #[error("--secret id={id}: cannot read {}: {source}", path.display())]
    Read {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--secret id={id}: the environment variable {var} is not set")]
    NoEnv { id: String, var: String },
    #[error("--secret id={0} is given twice")]
    Duplicate(String),
}

/// The secrets of one build, by id.
#[derive(Default, Clone)]
pub struct Secrets {
    by_id: BTreeMap<String, Vec<u8>>,
}

/// Never prints a secret's bytes, only the ids.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_id.keys()).finish()
    }
}

impl Secrets {
    /// Parses `--secret` values as docker buildx does: `id=`, then `src=`
    /// (also `source=`) for a file or `env=` for a variable; with neither,
    /// the variable named like the id. `type=file|env` is accepted.
    pub fn from_cli<S: AsRef<str>>(
        specs: &[S],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Secrets, SecretError> {
        let mut out = Secrets::default();
        for spec in specs {
            let spec = spec.as_ref();
            let (mut id, mut src, mut var, mut typ) = (None, None, None, None);
            for field in spec.split(',') {
                let (k, v) = field
                    .split_once('=')
                    .ok_or_else(|| SecretError::Syntax(spec.to_string()))?;
                match k.trim() {
                    "id" => id = Some(v.to_string()),
                    "src" | "source" => src = Some(v.to_string()),
                    "env" => var = Some(v.to_string()),
                    "type" if v == "file" || v == "env" => typ = Some(v.to_string()),
                    _ => return Err(SecretError::Syntax(spec.to_string())),
                }
            }
            let id = id
                .filter(|i| !i.is_empty())
                .ok_or_else(|| SecretError::Syntax(spec.to_string()))?;
            if src.is_some() && var.is_some() {
                return Err(SecretError::Syntax(spec.to_string()));
            }
            let bytes = match (src, var) {
                (Some(path), _) => std::fs::read(&path).map_err(|source| SecretError::Read {
                    id: id.clone(),
                    path: path.into(),
                    source,
                })?,
                (None, v) => {
                    let name = v.unwrap_or_else(|| id.clone());
                    if typ.as_deref() == Some("file") {
                        return Err(SecretError::Syntax(spec.to_string()));
                    }
                    env(&name)
                        .ok_or(SecretError::NoEnv {
                            id: id.clone(),
                            var: name,
                        })?
                        .into_bytes()
                }
            };
            if out.by_id.insert(id.clone(), bytes).is_some() {
                return Err(SecretError::Duplicate(id));
            }
        }
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.by_id.get(id).map(Vec::as_slice)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_env_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("npmrc");
        std::fs::write(&f, "//registry/:_authToken=s3cr3t\n").unwrap();
        let env = |k: &str| (k == "CA" || k == "tok").then(|| format!("value of {k}"));
        let s = Secrets::from_cli(
            &[
                format!("id=npmrc,src={}", f.display()),
                "id=ca,env=CA".into(),
                "id=tok".into(),
            ],
            env,
        )
        .unwrap();
        assert_eq!(s.get("npmrc").unwrap(), b"//registry/:_authToken=s3cr3t\n");
        assert_eq!(s.get("ca").unwrap(), b"value of CA");
        assert_eq!(s.get("tok").unwrap(), b"value of tok");
        assert!(!format!("{s:?}").contains("s3cr3t"));
        let missing = format!("id=x,src={}", dir.path().join("nope").display());
        assert!(matches!(
            Secrets::from_cli(&[missing], env),
            Err(SecretError::Read { .. })
        ));
        assert!(matches!(
            Secrets::from_cli(&["id=x,env=UNSET"], env),
            Err(SecretError::NoEnv { .. })
        ));
        assert!(matches!(
            Secrets::from_cli(&["src=/etc/hostname"], env),
            Err(SecretError::Syntax(_))
        ));
        assert!(matches!(
            Secrets::from_cli(&["id=ca,env=CA", "id=ca,env=CA"], env),
            Err(SecretError::Duplicate(_))
        ));
    }
}
