//! Kubernetes object names from skiff's: `api.1`, `my_app` or `Shop_DB`
//! become DNS-1035 labels (`[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63
//! characters), valid for every kind `kube generate` emits (a Service's
//! name is the strictest). Two skiff names that would become the same
//! label get a short hash of the original each, so the output stays
//! deterministic and no object overwrites another.

use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The longest label; derived names (`<app>-env`) keep room for their suffix.
pub const MAX: usize = 63;

/// `name` as a DNS-1035 label of at most `max` characters.
pub fn label(name: &str, max: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    if out.is_empty() {
        out.push_str("app");
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out.insert_str(0, "x-");
    }
    out.truncate(max.max(1));
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// A short, stable hash of `name` (6 hex digits).
fn short_hash(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))[..6].to_string()
}

/// What a name is for: apps (Deployment, Service, ConfigMap) and
/// volumes (PersistentVolumeClaim) are named apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    App,
    Volume,
}

/// Names handed out so far: (space, label) -> the skiff name it stands for.
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeMap<(Space, String), String>,
}

impl Names {
    /// The label for `name` (with room for `reserve` more characters),
    /// the same each time it is asked for, never one another name has.
    pub fn get(&mut self, space: Space, name: &str, reserve: usize) -> String {
        let max = MAX - reserve;
        let plain = label(name, max);
        match self.taken.get(&(space, plain.clone())) {
            None => {
                self.taken.insert((space, plain.clone()), name.to_string());
                plain
            }
            Some(owner) if owner == name => plain,
            Some(_) => {
                let base = label(name, max - 7);
                let l = format!("{base}-{}", short_hash(name));
                self.taken.insert((space, l.clone()), name.to_string());
                l
            }
        }
    }
}

/// Is `s` a DNS-1035 label?
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_valid() {
        assert_eq!(label("api.1", MAX), "api-1");
        assert_eq!(label("my_app", MAX), "my-app");
        assert_eq!(label("Shop__DB-", MAX), "shop-db");
        assert_eq!(label("1st", MAX), "x-1st");
        assert_eq!(label("___", MAX), "app");
        let long = "a".repeat(100) + "_b";
        assert_eq!(label(&long, MAX).len(), 63);
        for s in ["api.1", "my_app", "-x-", "9", "ü", &long, "a-_-b"] {
            assert!(is_label(&label(s, MAX)), "{s:?} -> {:?}", label(s, MAX));
            assert!(is_label(&label(s, MAX - 4)));
        }
        // A cut that ends on a dash drops it.
        assert_eq!(label("abc-def", 4), "abc");
    }

    #[test]
    fn clashing_names_stay_apart_and_stable() {
        let mut n = Names::default();
        let a = n.get(Space::App, "my_app", 0);
        let b = n.get(Space::App, "my-app", 0);
        assert_eq!(a, "my-app");
        assert_ne!(a, b);
        assert!(is_label(&b) && b.starts_with("my-app-"));
        assert_eq!(n.get(Space::App, "my_app", 0), a);
        assert_eq!(n.get(Space::Volume, "my-app", 0), "my-app");
        let mut m = Names::default();
        m.get(Space::App, "my_app", 0);
        assert_eq!(m.get(Space::App, "my-app", 0), b);
    }
}
