//! `-u USER[:GROUP]` resolved against the container's own /etc/passwd and
//! /etc/group (read inside the container, after pivot_root), with docker's
//! rules: names must exist, numeric ids work without any passwd file, the
//! primary group comes from passwd, supplementary groups from /etc/group.

use super::error::{Result, RuntimeError};

/// Who the container's process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

impl ExecUser {
    pub fn root() -> ExecUser {
        ExecUser {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: "/root".into(),
        }
    }
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd<'_>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0],
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5],
            })
        })
}

fn group_entries(text: &str) -> impl Iterator<Item = Group<'_>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect();
            Some(Group {
                name: f[0],
                gid: f[2].parse().ok()?,
                members,
            })
        })
}

/// Resolve `spec` ("user", "uid", "user:group", "uid:gid", ...) given the
/// contents of the container's passwd and group files (empty if missing).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser> {
    let err = |msg: String| RuntimeError::User {
        user: spec.to_string(),
        msg,
    };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, mut gid, home, name) = if user_part.is_empty() {
        (0, 0, "/root".to_string(), Some("root".to_string()))
    } else if let Ok(uid) = user_part.parse::<u32>() {
        match passwd_entries(passwd).find(|p| p.uid == uid) {
            Some(p) => (uid, p.gid, p.home.to_string(), Some(p.name.to_string())),
            None => (uid, 0, "/".to_string(), None),
        }
    } else {
        match passwd_entries(passwd).find(|p| p.name == user_part) {
            Some(p) => (p.uid, p.gid, p.home.to_string(), Some(p.name.to_string())),
            None => {
                return Err(err(format!(
                    "unable to find user {user_part}: no matching entries in passwd file"
                )))
            }
        }
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match group_entries(group).find(|e| e.name == g) {
                Some(e) => e.gid,
                None => {
                    return Err(err(format!(
                        "unable to find group {g}: no matching entries in group file"
                    )))
                }
            },
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(name) = &name {
        for g in group_entries(group) {
            if g.members.contains(&name.as_str())
                && g.gid != gid
                && !additional_gids.contains(&g.gid)
            {
                additional_gids.push(g.gid);
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

/// Become `u`: supplementary groups, then gid, then uid (all three ids of
/// each, so nothing can switch back). The container init and `exec` share it.
pub fn switch_to(sys: &dyn crate::sys::syscall::Syscall, u: &ExecUser) -> Result<()> {
    sys.set_ids(u.uid, u.gid, &u.additional_gids)
        .map_err(RuntimeError::os(format!(
            "switch to uid {} gid {} (groups {:?})",
            u.uid, u.gid, u.additional_gids
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str =
        "root:x:0:\nnode:x:1000:\naudio:x:29:node\nvideo:x:44:node,other\nnogroup:x:65534:\n";

    #[test]
    fn by_name_with_supplementary_groups() {
        let u = resolve("node", PASSWD, GROUP).unwrap();
        assert_eq!(
            u,
            ExecUser {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![29, 44],
                home: "/home/node".into()
            }
        );
    }

    #[test]
    fn numeric_without_passwd() {
        let u = resolve("1234:5678", "", "").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1234, 5678, "/"));
        assert!(u.additional_gids.is_empty());
    }

    #[test]
    fn numeric_uid_found_in_passwd() {
        let u = resolve("1000", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/node"));
    }

    #[test]
    fn group_by_name_and_unknown_names() {
        let u = resolve("node:audio", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 29));
        assert_eq!(u.additional_gids, vec![44]);
        assert!(resolve("ghost", PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("no matching entries in passwd"));
        assert!(resolve("node:ghosts", PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("group file"));
    }

    #[test]
    fn root_default() {
        let u = resolve("root", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    }
}
