//! The privilege drop both the container init and `exec`'s joiner make
//! right before their final execve, in this order:
//!
//! bounding set limited to docker's defaults (needs CAP_SETPCAP, so first)
//! → seccomp now if there is no no_new_privs (installing a filter then
//! needs CAP_SYS_ADMIN, which a non-root user is about to lose) → user and
//! groups → permitted/effective sets → umask 022 → no_new_privs, then
//! seccomp (the filter must come last: it may refuse the calls above).

use crate::runtime::capabilities;
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::seccomp::{self, Seccomp};
use crate::runtime::user::{self, ExecUser};
use crate::sys::syscall::Syscall;

/// Drop to `user` with docker's capabilities and the filter `filter`.
pub fn drop_to(
    sys: &dyn Syscall,
    user: &ExecUser,
    no_new_privileges: bool,
    filter: &Seccomp,
) -> Result<()> {
    capabilities::limit_bounding_set(sys)?;
    if !no_new_privileges {
        seccomp::install(sys, filter)?;
    }
    user::switch_to(sys, user)?;
    capabilities::apply_process_sets(sys)?;
    sys.umask(0o022);
    if no_new_privileges {
        sys.set_no_new_privs()
            .map_err(RuntimeError::os("set no_new_privs"))?;
        seccomp::install(sys, filter)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::syscall::Recorder;

    fn node() -> ExecUser {
        ExecUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![29],
            home: "/home/node".into(),
        }
    }

    #[test]
    fn no_new_privs_comes_before_the_filter_and_after_the_user_switch() {
        let rec = Recorder::default();
        drop_to(&rec, &node(), true, &Seccomp::Default).unwrap();
        let nnp = rec.first("no_new_privs");
        assert!(rec.first("set_ids 1000 1000 [29]") < nnp);
        assert!(rec.last("caps_set") < nnp);
        let filters = rec.first("seccomp ");
        assert!(nnp < filters, "{:#?}", rec.lines());
        // Nothing after the filter: it may refuse what comes later.
        assert!(rec.lines()[filters..]
            .iter()
            .all(|l| l.starts_with("seccomp ")));
    }

    #[test]
    fn without_no_new_privs_the_filter_goes_in_while_still_root() {
        let rec = Recorder::default();
        drop_to(&rec, &node(), false, &Seccomp::Default).unwrap();
        assert!(rec.first("seccomp ") < rec.first("set_ids"));
        assert!(!rec.lines().iter().any(|l| l == "no_new_privs"));
    }

    #[test]
    fn caps_are_limited_before_the_user_switch_and_set_to_the_default() {
        let rec = Recorder::default();
        drop_to(&rec, &node(), true, &Seccomp::Unconfined).unwrap();
        let lines = rec.lines();
        let switch = rec.first("set_ids");
        assert!(rec.last("cap_bounding_drop") < switch);
        assert!(rec.first("cap_ambient_clear") < switch);
        // CAP_SYS_ADMIN (21) leaves the bounding set; CAP_CHOWN (0) stays.
        assert!(lines.contains(&"cap_bounding_drop 21".to_string()));
        assert!(!lines.contains(&"cap_bounding_drop 0".to_string()));
        let mask = capabilities::default_mask();
        let set = format!("caps_set effective={mask:#x} permitted={mask:#x} inheritable=0x0");
        assert!(rec.first(&set) > switch, "{lines:#?}");
        assert!(!lines.iter().any(|l| l.starts_with("seccomp ")));
        assert!(lines.contains(&"umask 22".to_string()));
    }
}
