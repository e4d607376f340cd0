//! Finding the compose file, its `.env`, and the project name, as docker
//! compose does: `-f FILE`, else `compose.yaml`, `compose.yml`,
//! `docker-compose.yaml`, `docker-compose.yml` in the directory; the
//! name from `-p`, else the file's `name:`, else the directory's name.

use super::decode;
use super::decoder::Decoder;
use super::interpolate::parse_env_file;
use super::model::Project;
use super::{ComposeError, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// What the command line says about where the project is.
#[derive(Clone, Debug, Default)]
pub struct Source {
    pub file: Option<PathBuf>,
    pub project_name: Option<String>,
    /// `--project-directory`, else the file's directory.
    pub dir: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// `--profile`s to enable.
    pub profiles: Vec<String>,
}

pub fn find_file(dir: &Path) -> Result<PathBuf> {
    FILE_NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            ComposeError::Invalid(format!(
                "no compose file in {} (looked for {})",
                dir.display(),
                FILE_NAMES.join(", ")
            ))
        })
}

/// Load and decode the project. Variables: the process environment over
/// the `.env` file's.
pub fn load(src: &Source) -> Result<Project> {
    let cwd = std::env::current_dir()
        .map_err(|e| ComposeError::Invalid(format!("cannot read the current directory: {e}")))?;
    let file = match &src.file {
        Some(f) => std::path::absolute(f).unwrap_or_else(|_| f.clone()),
        None => find_file(src.dir.as_deref().unwrap_or(&cwd))?,
    };
    let dir = match &src.dir {
        Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        None => file.parent().map_or(cwd.clone(), Path::to_path_buf),
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ComposeError::Invalid(format!("cannot read {}: {e}", file.display())))?;
    let env_path = src.env_file.clone().unwrap_or_else(|| dir.join(".env"));
    let mut dotenv: HashMap<String, String> = HashMap::new();
    if env_path.is_file() || src.env_file.is_some() {
        let t = std::fs::read_to_string(&env_path).map_err(|e| {
            ComposeError::Invalid(format!("cannot read {}: {e}", env_path.display()))
        })?;
        let vars = parse_env_file(&t).map_err(|(line, msg)| ComposeError::At {
            file: env_path.clone(),
            line,
            msg,
        })?;
        for (k, v) in vars {
            if let Some(v) = v.or_else(|| std::env::var(&k).ok()) {
                dotenv.insert(k, v);
            }
        }
    }
    let lookup = |k: &str| std::env::var(k).ok().or_else(|| dotenv.get(k).cloned());
    let root = super::yaml::parse(&file, &text)?;
    let mut d = Decoder {
        file: &file,
        dir: &dir,
        lookup: &lookup,
        warnings: Vec::new(),
    };
    let name = src.project_name.clone().or_else(|| {
        std::env::var("COMPOSE_PROJECT_NAME")
            .ok()
            .filter(|n| !n.is_empty())
    });
    if let Some(n) = &name {
        decode::check_project_name(n).map_err(ComposeError::Invalid)?;
    }
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut p = decode::decode(&mut d, &root, name.as_deref(), &dir_name)?;
    // Profiles: a service with profiles runs only when one is enabled.
    let mut profiles = src.profiles.clone();
    if let Ok(v) = std::env::var("COMPOSE_PROFILES") {
        profiles.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    p.services
        .retain(|s| s.profiles.is_empty() || s.profiles.iter().any(|x| profiles.contains(x)));
    for s in &p.services {
        for dep in &s.depends_on {
            if !p.services.iter().any(|o| o.name == dep.service) {
                return Err(ComposeError::At {
                    file: file.clone(),
                    line: dep.line,
                    msg: format!(
                        "service {:?} depends on {:?}, which is disabled by its profiles",
                        s.name, dep.service
                    ),
                });
            }
        }
    }
    Ok(p)
}
