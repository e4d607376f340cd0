//! The container securityContext that says what skiff does by default:
//! docker's 14 capabilities kept and every other one dropped (nothing
//! added), no privilege escalation (skiff sets no_new_privs), the runtime's
//! default seccomp profile, and a read-only root with `--read-only`.

use crate::runtime::capabilities::default_mask;
use crate::runtime::seccomp::Seccomp;
use crate::runtime::RunOptions;
use serde_json::{json, Map, Value};

/// The capabilities outside docker's default set, by number, as
/// Kubernetes names them (`SYS_ADMIN`, without `CAP_`).
pub fn dropped() -> Vec<String> {
    let keep = default_mask();
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.into_iter()
        .filter(|c| keep & (1u64 << c.index()) == 0)
        .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
        .collect()
}

/// `-u 1000[:1000]` as runAsUser/runAsGroup; a user name has no
/// Kubernetes field (it is the image's `/etc/passwd` that knows it).
fn user(u: &str, ctx: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let (uid, gid) = match u.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (u, None),
    };
    let num = |s: &str| s.parse::<i64>().ok();
    match (num(uid), gid.map(num)) {
        (Some(uid), None) => {
            ctx.insert("runAsUser".into(), json!(uid));
        }
        (Some(uid), Some(Some(gid))) => {
            ctx.insert("runAsUser".into(), json!(uid));
            ctx.insert("runAsGroup".into(), json!(gid));
        }
        _ => warnings.push(format!(
            "-u {u}: Kubernetes takes numeric ids only (runAsUser); set USER {u} in the image instead"
        )),
    }
}

pub fn container(run: &RunOptions, warnings: &mut Vec<String>) -> Value {
    let seccomp = match &run.seccomp {
        Seccomp::Unconfined => {
            warnings.push("seccomp=unconfined: the manifests say Unconfined too".into());
            "Unconfined"
        }
        Seccomp::Default => "RuntimeDefault",
        _ => {
            warnings.push(
                "a custom seccomp profile has no portable form: RuntimeDefault is used (install it on the nodes and use type Localhost)"
                    .into(),
            );
            "RuntimeDefault"
        }
    };
    let mut ctx = Map::new();
    ctx.insert("allowPrivilegeEscalation".into(), json!(false));
    ctx.insert("capabilities".into(), json!({ "drop": dropped() }));
    ctx.insert("privileged".into(), json!(false));
    ctx.insert("readOnlyRootFilesystem".into(), json!(run.read_only));
    ctx.insert("seccompProfile".into(), json!({ "type": seccomp }));
    if let Some(u) = &run.user {
        user(u, &mut ctx, warnings);
    }
    Value::Object(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_what_docker_drops_and_keeps_its_set() {
        let d = dropped();
        for kept in ["CHOWN", "NET_BIND_SERVICE", "KILL", "SETUID", "AUDIT_WRITE"] {
            assert!(!d.iter().any(|c| c == kept), "{kept} must be kept");
        }
        for gone in [
            "SYS_ADMIN",
            "NET_ADMIN",
            "SYS_PTRACE",
            "SYS_MODULE",
            "DAC_READ_SEARCH",
        ] {
            assert!(d.iter().any(|c| c == gone), "{gone} must be dropped");
        }
        assert_eq!(d.len(), caps::all().len() - 14);
    }

    #[test]
    fn user_and_read_only() {
        let mut w = Vec::new();
        let run = RunOptions {
            user: Some("1000:2000".into()),
            read_only: true,
            ..Default::default()
        };
        let c = container(&run, &mut w);
        assert_eq!(c["runAsUser"], 1000);
        assert_eq!(c["runAsGroup"], 2000);
        assert_eq!(c["readOnlyRootFilesystem"], true);
        assert_eq!(c["allowPrivilegeEscalation"], false);
        assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault");
        assert!(w.is_empty());
        let run = RunOptions {
            user: Some("node".into()),
            ..Default::default()
        };
        let c = container(&run, &mut w);
        assert!(c.get("runAsUser").is_none());
        assert_eq!(w.len(), 1);
    }
}
