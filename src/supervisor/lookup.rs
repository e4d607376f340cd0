//! Containers are addressed as docker's: by name, by full id, or by a
//! unique prefix of the id.

use super::{Result, SupervisorError};
use crate::runtime::container::{NAME_FILE, RECORD_FILE};
use crate::store::Store;

/// The ids of all containers (those with a spec), unsorted.
pub fn all_ids(store: &Store) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(store.containers_dir()) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.path().join(RECORD_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The containers (ids) that mount named volume `volume`, whatever their state.
pub fn volume_users(store: &Store, volume: &str) -> Vec<String> {
    all_ids(store)
        .into_iter()
        .filter(|id| {
            let p = store.containers_dir().join(id).join(RECORD_FILE);
            std::fs::read(&p)
                .ok()
                .and_then(|b| {
                    serde_json::from_slice::<crate::runtime::container::ContainerRecord>(&b).ok()
                })
                .is_some_and(|r| {
                    r.spec
                        .mounts
                        .iter()
                        .any(|m| m.volume.as_deref() == Some(volume))
                })
        })
        .collect()
}

/// Remove named volume `name` unless a container uses it (the error
/// names them).
pub fn remove_unused_volume(store: &Store, name: &str) -> Result<()> {
    let users = volume_users(store, name);
    if !users.is_empty() {
        let names: Vec<String> = users
            .iter()
            .map(|id| name_of(store, id).unwrap_or_else(|| id.chars().take(12).collect()))
            .collect();
        return Err(SupervisorError::Invalid(format!(
            "volume {name} is in use by container(s) {} (remove them first)",
            names.join(", ")
        )));
    }
    store.remove_volume(name)?;
    Ok(())
}

/// The name of container `id`, if it has one.
pub fn name_of(store: &Store, id: &str) -> Option<String> {
    std::fs::read_to_string(store.containers_dir().join(id).join(NAME_FILE)).ok()
}

fn is_id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The id of the container `reference` names: an exact name first, then a
/// full id, then a unique id prefix.
pub fn resolve(store: &Store, reference: &str) -> Result<String> {
    if reference.is_empty() || reference.contains('/') || reference.starts_with('.') {
        return Err(SupervisorError::NotFound(reference.to_string()));
    }
    if let Some(id) = crate::runtime::container::find_by_name(store, reference) {
        return Ok(id);
    }
    if !is_id_like(reference) {
        return Err(SupervisorError::NotFound(reference.to_string()));
    }
    let ids = all_ids(store);
    if ids.iter().any(|i| i == reference) {
        return Ok(reference.to_string());
    }
    let mut matching = ids.into_iter().filter(|i| i.starts_with(reference));
    match (matching.next(), matching.next()) {
        (Some(id), None) => Ok(id),
        (Some(_), Some(_)) => Err(SupervisorError::Ambiguous(reference.to_string())),
        _ => Err(SupervisorError::NotFound(reference.to_string())),
    }
}

/// Names must look like docker's: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = name.len() <= 128
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SupervisorError::Invalid(format!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("api").is_ok());
        assert!(check_name("api-2.blue_x").is_ok());
        assert!(check_name("-api").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn by_name_id_and_prefix() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        for (id, name) in [("abc123", "api"), ("abd456", "web")] {
            let c = store.containers_dir().join(id);
            std::fs::create_dir_all(&c).unwrap();
            std::fs::write(c.join(RECORD_FILE), "{}").unwrap();
            std::fs::write(c.join(NAME_FILE), name).unwrap();
        }
        assert_eq!(resolve(&store, "api").unwrap(), "abc123");
        assert_eq!(resolve(&store, "abd456").unwrap(), "abd456");
        assert_eq!(resolve(&store, "abc").unwrap(), "abc123");
        assert!(matches!(
            resolve(&store, "ab"),
            Err(SupervisorError::Ambiguous(_))
        ));
        assert!(matches!(
            resolve(&store, "nope"),
            Err(SupervisorError::NotFound(_))
        ));
        assert!(matches!(
            resolve(&store, "../x"),
            Err(SupervisorError::NotFound(_))
        ));
    }
}
