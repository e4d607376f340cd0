//! Docker's seccomp profile format (`--security-opt seccomp=PROFILE.json`),
//! read into a [`Policy`] with docker's (moby `profiles/seccomp`, runc)
//! rules: an entry applies when its `includes` hold (every listed
//! capability held, the native architecture listed, the kernel at least
//! `minKernel`) and its `excludes` do not; its `args` are all required,
//! except that several conditions on the same argument are alternatives
//! (runc); names that exist only on other architectures are skipped; every
//! number above the newest one the profile names gets ENOSYS (runc).

use super::policy::{Action, Cond, Op, Policy, Rule};
use super::syscalls;
use serde::Deserialize;

/// A profile that cannot be used, naming the profile and the entry.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("seccomp profile {profile} is not valid JSON: {source}")]
    Json {
        profile: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("seccomp profile {profile}: {what}")]
    Invalid { profile: String, what: String },
    #[error("cannot read seccomp profile {profile}: {source}")]
    Read {
        profile: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileJson {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMapJson>>,
    #[serde(default)]
    syscalls: Option<Vec<SyscallJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapJson {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallJson {
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<ArgJson>>,
    #[serde(default)]
    includes: Option<FilterJson>,
    #[serde(default)]
    excludes: Option<FilterJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgJson {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct FilterJson {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What the entries' includes and excludes are checked against.
pub struct Host<'a> {
    /// Capabilities the container holds (`CAP_CHOWN`, ...).
    pub caps: &'a [&'a str],
    /// docker's (Go's) name of the native architecture: `amd64`, `arm64`...
    pub arch: &'a str,
    pub kernel: (u32, u32),
}

/// libseccomp's architecture names.
const ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// `4.8` or `5.10.3` → (major, minor).
pub fn kernel_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    let major = it.next()??;
    let minor = it.next().flatten().unwrap_or(0);
    Some((major, minor))
}

fn action(name: &str, errno: Option<u32>) -> Result<Action, String> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(errno),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => {
            return Err("action SCMP_ACT_NOTIFY needs a listener, which skiff does not run".into())
        }
        _ => {
            return Err(format!(
                "unknown action {name:?} (use SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, \
                 SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE or SCMP_ACT_LOG)"
            ))
        }
    })
}

fn op(a: &ArgJson) -> Result<(Op, u64), String> {
    Ok(match a.op.as_str() {
        "SCMP_CMP_EQ" => (Op::Eq, a.value),
        "SCMP_CMP_NE" => (Op::Ne, a.value),
        "SCMP_CMP_LT" => (Op::Lt, a.value),
        "SCMP_CMP_LE" => (Op::Le, a.value),
        "SCMP_CMP_GT" => (Op::Gt, a.value),
        "SCMP_CMP_GE" => (Op::Ge, a.value),
        // docker: value is the mask, valueTwo the expected result.
        "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq(a.value), a.value_two),
        o => return Err(format!("unknown comparison {o:?}")),
    })
}

/// The conditions of one entry: all of them, or (runc) one rule per
/// condition when an argument is compared more than once.
fn conditions(args: &[ArgJson]) -> Result<Vec<Vec<Cond>>, String> {
    let mut conds = Vec::new();
    for a in args {
        if a.index > 5 {
            return Err(format!("argument index {} (0 to 5)", a.index));
        }
        let (op, value) = op(a)?;
        conds.push(Cond {
            index: a.index as u8,
            op,
            value,
        });
    }
    if conds.is_empty() {
        return Ok(Vec::new());
    }
    let repeated = conds
        .iter()
        .enumerate()
        .any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
    Ok(if repeated {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    })
}

fn applies(f: &FilterJson, host: &Host, include: bool) -> Result<bool, String> {
    let caps = f.caps.as_deref().unwrap_or_default();
    let arches = f.arches.as_deref().unwrap_or_default();
    let kernel = match &f.min_kernel {
        Some(k) if !k.is_empty() => Some(
            kernel_version(k).ok_or_else(|| format!("minKernel {k:?} is not a kernel version"))?,
        ),
        _ => None,
    };
    let has_cap = |c: &String| host.caps.contains(&c.as_str());
    let has_arch = arches.iter().any(|a| a == host.arch);
    let kernel_ok = kernel.map(|k| host.kernel >= k);
    Ok(if include {
        caps.iter().all(has_cap) && (arches.is_empty() || has_arch) && kernel_ok.unwrap_or(true)
    } else {
        caps.iter().any(has_cap) || has_arch || kernel_ok.unwrap_or(false)
    })
}

/// Parse and check a profile; `profile` names it in errors.
pub fn parse(profile: &str, json: &str, host: &Host) -> Result<Policy, ProfileError> {
    let p: ProfileJson = serde_json::from_str(json).map_err(|source| ProfileError::Json {
        profile: profile.to_string(),
        source,
    })?;
    let invalid = |what: String| ProfileError::Invalid {
        profile: profile.to_string(),
        what,
    };
    let default = action(&p.default_action, p.default_errno_ret)
        .map_err(|e| invalid(format!("defaultAction: {e}")))?;
    if default.allows() {
        return Err(invalid(format!(
            "defaultAction {} lets every system call the profile does not name through; \
             skiff takes allow-lists only (a profile that refuses by default, as docker's), \
             or --security-opt seccomp=unconfined to run without a filter",
            p.default_action
        )));
    }
    let mut arches: Vec<&String> = p.architectures.iter().flatten().collect();
    for m in p.arch_map.iter().flatten() {
        arches.push(&m.architecture);
        arches.extend(m.sub_architectures.iter().flatten());
    }
    if let Some(a) = arches.iter().find(|a| !ARCHES.contains(&a.as_str())) {
        return Err(invalid(format!(
            "unknown architecture {a:?} (libseccomp's names, such as SCMP_ARCH_X86_64)"
        )));
    }
    let mut rules = Vec::new();
    let mut newest = 0;
    for (i, s) in p.syscalls.iter().flatten().enumerate() {
        let names: Vec<&String> = s.names.iter().flatten().chain(&s.name).collect();
        let at = |what: String| {
            let first = names
                .first()
                .map(|n| format!(" ({n:?})"))
                .unwrap_or_default();
            invalid(format!("syscalls[{i}]{first}: {what}"))
        };
        if names.is_empty() {
            return Err(at("names no system call".into()));
        }
        let act = action(&s.action, s.errno_ret).map_err(&at)?;
        let when = conditions(s.args.as_deref().unwrap_or_default()).map_err(&at)?;
        let inc = applies(&s.includes.clone().unwrap_or_default(), host, true).map_err(&at)?;
        let exc = applies(&s.excludes.clone().unwrap_or_default(), host, false).map_err(&at)?;
        for n in &names {
            let nr = match syscalls::number(n) {
                Some(nr) => nr,
                None if syscalls::other_arch(n) => continue,
                None => return Err(at(format!("unknown system call {n:?}"))),
            };
            newest = newest.max(nr);
            if inc && !exc {
                rules.push(Rule {
                    nr,
                    action: act,
                    when: when.clone(),
                });
            }
        }
    }
    Ok(Policy {
        default,
        newest,
        unknown: Vec::new(),
        enosys: Vec::new(),
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::super::policy::tests::{decide, errno, ALLOW};
    use super::*;

    const HOST: Host = Host {
        caps: &["CAP_CHOWN", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"],
        arch: "amd64",
        kernel: (6, 18),
    };

    fn nr(n: &str) -> u32 {
        syscalls::number(n).unwrap()
    }

    fn err(json: &str) -> String {
        parse("p.json", json, &HOST).unwrap_err().to_string()
    }

    #[test]
    fn docker_shapes() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "_llseek"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
                 "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
                {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["cacheflush"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
            ]
        }"#;
        let p = parse("p.json", json, &HOST).unwrap();
        let progs = p.programs().unwrap();
        let d = |n: &str, a0: u64| decide(&progs, nr(n), [a0, 0, 0, 0, 0, 0]);
        assert_eq!(d("read", 0), ALLOW);
        assert_eq!(d("mkdir", 0), errno(13));
        assert_eq!(d("personality", 8), ALLOW);
        assert_eq!(d("personality", 0x40000), errno(1));
        assert_eq!(d("clone", 0x11), ALLOW);
        assert_eq!(d("clone", 0x1000_0000), errno(1));
        assert_eq!(d("chroot", 0), ALLOW);
        assert_eq!(d("bpf", 0), errno(1));
        assert_eq!(d("arch_prctl", 0), ALLOW);
        assert_eq!(d("ptrace", 0), ALLOW);
        assert_eq!(d("kcmp", 0), errno(1));
        assert_eq!(d("socket", 1), ALLOW);
        assert_eq!(d("socket", 2), ALLOW);
        assert_eq!(d("socket", 3), errno(1));
        assert_eq!(d("open", 0), errno(1));
        // Newer than the newest call the profile names (bpf, 321): ENOSYS.
        assert_eq!(d("io_uring_setup", 0), errno(libc::ENOSYS));
        assert_eq!(p.newest, nr("bpf"));
    }

    #[test]
    fn podmans_copy_of_dockers_profile_loads() {
        let Ok(json) = std::fs::read_to_string("/usr/share/containers/seccomp.json") else {
            return; // containers-common is not installed here
        };
        let p = parse("seccomp.json", &json, &HOST).unwrap();
        let progs = p.programs().unwrap();
        let d = |n: &str| decide(&progs, nr(n), [0; 6]);
        assert_eq!(d("read"), ALLOW);
        assert_eq!(d("io_uring_setup"), errno(libc::ENOSYS));
        assert_eq!(d("kcmp"), errno(1));
    }

    #[test]
    fn bad_profiles_name_the_entry() {
        assert!(err("{not json").contains("p.json is not valid JSON"));
        assert!(err(r#"{"syscalls": []}"#).contains("not valid JSON"));
        let e = err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}"#);
        assert!(e.contains("SCMP_ACT_ALLOW lets every system call"), "{e}");
        assert!(err(r#"{"defaultAction": "SCMP_ACT_LOG"}"#).contains("lets every"));
        let e = err(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#);
        assert!(
            e.contains("defaultAction: unknown action \"SCMP_ACT_NOPE\""),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mkdir", "frobnicate"], "action": "SCMP_ACT_ERRNO"}]}"#);
        assert!(
            e.contains("syscalls[1] (\"mkdir\"): unknown system call \"frobnicate\""),
            "{e}"
        );
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_PERMIT"}]}"#);
        assert!(e.contains("syscalls[0] (\"read\"): unknown action"), "{e}");
        let e = err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#);
        assert!(e.contains("unknown architecture \"SCMP_ARCH_Z80\""), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("argument index 7"), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SORTOF"}]}]}"#,
        );
        assert!(e.contains("unknown comparison"), "{e}");
        let e = err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(e.contains("syscalls[0]: names no system call"), "{e}");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("4.8"), Some((4, 8)));
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("5"), Some((5, 0)));
        assert_eq!(kernel_version("x"), None);
    }
}
