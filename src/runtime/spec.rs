//! `ContainerSpec`: everything the runtime needs to start one container,
//! computed from the image config and the `run` options with docker's rules.
//! Pure: no I/O here (the CLI reads env files and looks up host variables),
//! so every rule is unit tested below. `-v`/`--tmpfs` parsing is
//! `spec/mounts.rs`, `--env-file`'s format `spec/env_file.rs`.

use super::error::{Result, RuntimeError};
use crate::image::config::ContainerConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

mod env_file;
mod mounts;

pub use env_file::{env_file_checked, env_file_lines, MAX_ENV_LINE};
pub use mounts::{absolute_volume, parse_tmpfs, parse_volume};

/// The PATH a container gets when its image sets none (docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own network namespace with loopback up (the default).
    #[default]
    Private,
    /// The host's network namespace.
    Host,
    /// Own network namespace, loopback left down.
    None,
    /// Own network namespace joined to bridge networks (`networks`; the
    /// default network if empty): an address, a default route, names.
    Bridge,
}

impl std::str::FromStr for NetworkMode {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<NetworkMode> {
        match s {
            "private" => Ok(NetworkMode::Private),
            "bridge" | "default" => Ok(NetworkMode::Bridge),
            "host" => Ok(NetworkMode::Host),
            "none" => Ok(NetworkMode::None),
            _ => Err(RuntimeError::Invalid(format!(
                "unknown network mode {s:?} (use private, host or none)"
            ))),
        }
    }
}

/// `--network X`: a mode (`private`, `host`, `none`), or the name of a
/// bridge network (`bridge`/`default` is the default network).
pub fn network_choice(s: &str) -> (NetworkMode, Vec<String>) {
    match s {
        "private" => (NetworkMode::Private, Vec::new()),
        "host" => (NetworkMode::Host, Vec::new()),
        "none" => (NetworkMode::None, Vec::new()),
        "default" => (NetworkMode::Bridge, vec!["bridge".to_string()]),
        name => (NetworkMode::Bridge, vec![name.to_string()]),
    }
}

/// `-v /host:/ctr[:ro]` or `-v NAME:/ctr[:ro]` (a named volume).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// The host path; for a named volume, its `_data` directory in the
    /// store (set when the container is created).
    pub source: PathBuf,
    pub target: String,
    pub readonly: bool,
    /// The named volume mounted here, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
}

/// `--tmpfs /path[:opts]`: mount flags plus the filesystem data string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsMount {
    pub target: String,
    pub readonly: bool,
    pub noexec: bool,
    pub nosuid: bool,
    pub nodev: bool,
    /// size=, mode=, uid=, gid=, nr_inodes=
    pub data: String,
}

/// cgroup limits; `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes (`-m`); swap is limited to the same value (no swap), as docker.
    pub memory: Option<u64>,
    /// CFS quota in microseconds per `CPU_PERIOD_US` (`--cpus`).
    pub cpu_quota: Option<u64>,
    /// `--pids-limit`
    pub pids: Option<u64>,
}

pub const CPU_PERIOD_US: u64 = 100_000;

/// The `run` options as given on the command line (already split, env files
/// already read into lines). This is the one record of a container's
/// options: `run` fills it from its flags, the supervisor's config.json
/// stores it as it is (flattened), and restart, rollout and rollback build
/// the new spec from the stored copy. A new option is one field here and
/// one flag in `cli/run.rs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    pub name: Option<String>,
    pub hostname: Option<String>,
    /// `-e` values in order (`NAME=value` or `NAME` to copy from the host).
    pub env: Vec<String>,
    /// Lines of the `--env-file`s, in order.
    pub env_file_lines: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `--entrypoint`; `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// Everything after IMAGE.
    pub args: Vec<String>,
    pub network: NetworkMode,
    /// Bridge networks to join (`--network NAME`), first one first.
    #[serde(default)]
    pub networks: Vec<String>,
    /// `--network-alias`
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// `--ip`
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
    /// `--dns`
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--add-host NAME:IP`
    #[serde(default)]
    pub add_hosts: Vec<String>,
    pub volumes: Vec<String>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub no_new_privileges: bool,
    pub tty: bool,
    /// `--security-opt seccomp=...` (configs written before it existed get the default).
    #[serde(default)]
    pub seccomp: super::seccomp::Seccomp,
}

/// Where a container with `notify_socket` sees its supervisor's sd_notify
/// socket (podman's path), and the directory of `containers/<id>/` that
/// holds it on the host.
pub const NOTIFY_DIR: &str = "/run/notify";
pub const NOTIFY_SOCKET: &str = "/run/notify/notify.sock";
pub const NOTIFY_HOST_DIR: &str = "notify";
pub const NOTIFY_SOCKET_NAME: &str = "notify.sock";

/// One container, fully decided. Serialized to `containers/<id>/spec.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub id: String,
    pub name: Option<String>,
    /// The image reference as given and the manifest digest it resolved to.
    pub image: String,
    pub image_digest: Option<String>,
    pub hostname: String,
    /// argv; `args[0]` is looked up in the container's PATH if it has no `/`.
    pub args: Vec<String>,
    /// `NAME=value`; HOME is added inside the container from its passwd.
    pub env: Vec<String>,
    pub cwd: String,
    /// `USER[:GROUP]`, resolved inside the container; `None` is root.
    pub user: Option<String>,
    pub network: NetworkMode,
    /// Bridge networks joined (`NetworkMode::Bridge`), with the names
    /// other members know this container by, the address asked for,
    /// resolvers and extra hosts entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<std::net::Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<String>,
    /// On a bridge network, bind the hosts file as it is at start instead
    /// of the live one (a build step: its writable layer becomes an image
    /// layer, which must not get skiff's /etc/hosts symlink).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hosts_snapshot: bool,
    /// `--sdnotify container`: `containers/<id>/notify/` (where the
    /// supervisor binds its sd_notify socket) is mounted read-only at
    /// [`NOTIFY_DIR`]; NOTIFY_SOCKET in `env` names the socket in it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify_socket: bool,
    pub mounts: Vec<BindMount>,
    pub tmpfs: Vec<TmpfsMount>,
    pub readonly_rootfs: bool,
    pub resources: Resources,
    pub no_new_privileges: bool,
    pub terminal: bool,
    /// The seccomp filter (specs written before it existed get the default).
    #[serde(default)]
    pub seccomp: super::seccomp::Seccomp,
}

impl ContainerSpec {
    /// Docker's rules for combining an image config with `run` options.
    /// `host_env` looks up host variables for `-e NAME` without a value.
    pub fn build(
        id: &str,
        image: &str,
        image_config: &ContainerConfig,
        opts: &RunOptions,
        host_env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ContainerSpec> {
        let hostname = match &opts.hostname {
            Some(h) => validate_hostname(h)?,
            None => id.chars().take(12).collect(),
        };
        let args = command(image_config, opts)?;
        let env = environment(image_config, opts, &hostname, host_env)?;
        let cwd = match opts.workdir.as_deref().filter(|w| !w.is_empty()) {
            Some(w) if !w.starts_with('/') => {
                return Err(RuntimeError::Invalid(format!(
                    "the working directory {w:?} is invalid, it needs to be an absolute path"
                )))
            }
            Some(w) => w.to_string(),
            None => image_config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
        };
        let cwd = if cwd.starts_with('/') {
            cwd
        } else {
            format!("/{cwd}")
        };
        let user = opts
            .user
            .clone()
            .or_else(|| image_config.user.clone())
            .filter(|u| !u.is_empty());
        let mounts = opts
            .volumes
            .iter()
            .map(|v| parse_volume(v))
            .collect::<Result<Vec<_>>>()?;
        let tmpfs = opts
            .tmpfs
            .iter()
            .map(|t| parse_tmpfs(t))
            .collect::<Result<Vec<_>>>()?;
        let resources = Resources {
            memory: opts.memory.as_deref().map(parse_memory).transpose()?,
            cpu_quota: opts.cpus.as_deref().map(parse_cpus).transpose()?,
            pids: match opts.pids_limit {
                None | Some(0) | Some(-1) => None,
                Some(n) if n > 0 => Some(n as u64),
                Some(n) => return Err(RuntimeError::Invalid(format!("invalid --pids-limit {n}"))),
            },
        };
        Ok(ContainerSpec {
            id: id.to_string(),
            name: opts.name.clone(),
            image: image.to_string(),
            image_digest: None,
            hostname,
            args,
            env,
            cwd,
            user,
            network: opts.network,
            networks: opts.networks.clone(),
            network_aliases: opts.network_aliases.clone(),
            ip: opts.ip,
            dns: check_dns(&opts.dns)?,
            add_hosts: check_add_hosts(&opts.add_hosts)?,
            hosts_snapshot: false,
            notify_socket: false,
            mounts,
            tmpfs,
            readonly_rootfs: opts.read_only,
            resources,
            no_new_privileges: opts.no_new_privileges,
            terminal: opts.tty,
            seccomp: opts.seccomp.clone(),
        })
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// `--dns` values must be IP addresses.
fn check_dns(list: &[String]) -> Result<Vec<String>> {
    for d in list {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(RuntimeError::Invalid(format!(
                "invalid --dns {d:?}: expected an IP address"
            )));
        }
    }
    Ok(list.to_vec())
}

/// `--add-host NAME:IP` (docker also takes `NAME=IP`), normalized to `NAME:IP`.
fn check_add_hosts(list: &[String]) -> Result<Vec<String>> {
    list.iter()
        .map(|h| {
            let (name, ip) = h
                .split_once('=')
                .or_else(|| h.split_once(':'))
                .ok_or_else(|| {
                    RuntimeError::Invalid(format!("invalid --add-host {h:?}: expected NAME:IP"))
                })?;
            let ok_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok_name || ip.parse::<std::net::IpAddr>().is_err() {
                return Err(RuntimeError::Invalid(format!(
                    "invalid --add-host {h:?}: expected NAME:IP"
                )));
            }
            Ok(format!("{name}:{ip}"))
        })
        .collect()
}

/// Entrypoint + Cmd: args after IMAGE replace Cmd; `--entrypoint` replaces
/// Entrypoint and clears the image's Cmd.
fn command(cfg: &ContainerConfig, opts: &RunOptions) -> Result<Vec<String>> {
    let entrypoint: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint.clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !opts.args.is_empty() {
        opts.args.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        cfg.cmd.clone().unwrap_or_default()
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() || argv[0].is_empty() {
        return Err(RuntimeError::Invalid(
            "no command specified: the image has no Entrypoint or Cmd and none was given".into(),
        ));
    }
    Ok(argv)
}

/// Image Env, then env files, then `-e`, later names replacing earlier ones;
/// PATH defaulted, HOSTNAME set, TERM for a terminal.
fn environment(
    cfg: &ContainerConfig,
    opts: &RunOptions,
    hostname: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| {
        let name = kv.split('=').next().unwrap_or_default().to_string();
        if let Some(slot) = env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(name.as_str()))
        {
            *slot = kv;
        } else {
            env.push(kv);
        }
    };
    set(format!("HOSTNAME={hostname}"));
    for kv in cfg.env.iter().flatten() {
        if kv.contains('=') {
            set(kv.clone());
        }
    }
    let file_lines = opts
        .env_file_lines
        .iter()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    for item in file_lines.chain(opts.env.iter().map(String::as_str)) {
        match item.split_once('=') {
            Some(("", _)) => {
                return Err(RuntimeError::Invalid(format!(
                    "invalid environment variable {item:?}"
                )))
            }
            Some(_) => set(item.to_string()),
            None => {
                let name = item.trim_end();
                if let Some(v) = host_env(name) {
                    set(format!("{name}={v}"));
                }
            }
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    Ok(env)
}

fn validate_hostname(h: &str) -> Result<String> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    if ok {
        Ok(h.to_string())
    } else {
        Err(RuntimeError::Invalid(format!("invalid hostname {h:?}")))
    }
}

/// `64m`, `1g`, `512k`, `1048576`, `1.5g` (docker's binary units).
pub fn parse_memory(s: &str) -> Result<u64> {
    let bad = || {
        RuntimeError::Invalid(format!("invalid memory value {s:?} (expected a number with an optional unit b, k, m or g, e.g. 64m)"))
    };
    let bytes = crate::units::parse_size(s).map_err(|_| bad())?;
    if bytes == 0 {
        return Err(bad());
    }
    if bytes < 6 << 20 {
        return Err(RuntimeError::Invalid(format!(
            "memory limit {s:?} is too small: the minimum is 6m"
        )));
    }
    Ok(bytes)
}

/// `--cpus 0.5` → CFS quota in µs per 100 ms period.
pub fn parse_cpus(s: &str) -> Result<u64> {
    let bad = || {
        RuntimeError::Invalid(format!(
            "invalid --cpus value {s:?} (expected a positive number such as 0.5 or 2)"
        ))
    };
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 || v > 4096.0 {
        return Err(bad());
    }
    let quota = (v * CPU_PERIOD_US as f64).round() as u64;
    if quota < 1000 {
        return Err(RuntimeError::Invalid(format!(
            "--cpus {s} is too small: the minimum is 0.01"
        )));
    }
    Ok(quota)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
        ContainerConfig {
            entrypoint: ep.map(|v| v.iter().map(|s| s.to_string()).collect()),
            cmd: cmd.map(|v| v.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }
    fn no_env(_: &str) -> Option<String> {
        None
    }
    fn build(c: &ContainerConfig, o: &RunOptions) -> Result<ContainerSpec> {
        ContainerSpec::build("0123456789abcdef0123", "img", c, o, &no_env)
    }

    #[test]
    fn env_files_follow_dockers_rules() {
        let ok = env_file_checked("e", b"# c\n\nA=1\nB = x\n")
            .unwrap_err()
            .to_string();
        assert!(ok.contains("line 4") && ok.contains("\"B \""), "{ok}");
        let e = env_file_checked("e", b"export A=1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("whitespace"), "{e}");
        let e = env_file_checked("e", b"A=1\nB=\0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("NUL"), "{e}");
        let long = format!("A={}", "x".repeat(MAX_ENV_LINE));
        assert!(env_file_checked("e", long.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("longer"));
        assert_eq!(
            env_file_checked("e", b"A=1\r\n  # x\nHOME\nC=a b\n").unwrap(),
            ["A=1", "  # x", "HOME", "C=a b"]
        );
    }

    #[test]
    fn relative_volumes_resolve_against_the_working_directory() {
        let cwd = Path::new("/srv/app");
        assert_eq!(absolute_volume("./data:/data", cwd), "/srv/app/data:/data");
        assert_eq!(absolute_volume("../x:/x:ro", cwd), "/srv/x:/x:ro");
        assert_eq!(absolute_volume(".:/app", cwd), "/srv/app:/app");
        assert_eq!(absolute_volume("/abs:/a", cwd), "/abs:/a");
        assert_eq!(absolute_volume("named:/a", cwd), "named:/a");
    }

    #[test]
    fn command_rules() {
        let c = cfg(Some(&["/ep", "-x"]), Some(&["a", "b"]));
        assert_eq!(
            build(&c, &RunOptions::default()).unwrap().args,
            ["/ep", "-x", "a", "b"]
        );
        let o = RunOptions {
            args: vec!["z".into()],
            ..Default::default()
        };
        assert_eq!(build(&c, &o).unwrap().args, ["/ep", "-x", "z"]);
        let o = RunOptions {
            entrypoint: Some("/other".into()),
            ..Default::default()
        };
        assert_eq!(build(&c, &o).unwrap().args, ["/other"]);
        let o = RunOptions {
            entrypoint: Some("/other".into()),
            args: vec!["q".into()],
            ..Default::default()
        };
        assert_eq!(build(&c, &o).unwrap().args, ["/other", "q"]);
        let o = RunOptions {
            entrypoint: Some("".into()),
            args: vec!["sh".into()],
            ..Default::default()
        };
        assert_eq!(build(&c, &o).unwrap().args, ["sh"]);
        let none = cfg(None, None);
        assert!(build(&none, &RunOptions::default())
            .unwrap_err()
            .to_string()
            .contains("no command"));
    }

    #[test]
    fn env_rules() {
        let mut c = cfg(None, Some(&["sh"]));
        c.env = Some(vec!["A=1".into(), "B=2".into()]);
        let o = RunOptions {
            env: vec!["B=3".into(), "FROM_HOST".into(), "MISSING".into()],
            env_file_lines: vec!["# comment".into(), "".into(), "C=4".into(), "A=5".into()],
            ..Default::default()
        };
        let host = |n: &str| (n == "FROM_HOST").then(|| "h".to_string());
        let s = ContainerSpec::build("0123456789abcdef", "img", &c, &o, &host).unwrap();
        assert_eq!(
            s.env,
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=0123456789ab".into(),
                "A=5".into(),
                "B=3".into(),
                "C=4".into(),
                "FROM_HOST=h".into()
            ]
        );
        c.env = Some(vec!["PATH=/x".into()]);
        let s = build(
            &c,
            &RunOptions {
                tty: true,
                hostname: Some("box".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.env, ["HOSTNAME=box", "PATH=/x", "TERM=xterm"]);
        assert_eq!(s.hostname, "box");
    }

    #[test]
    fn workdir_user_defaults() {
        let mut c = cfg(None, Some(&["sh"]));
        let s = build(&c, &RunOptions::default()).unwrap();
        assert_eq!(
            (s.cwd.as_str(), s.user.as_deref(), s.hostname.as_str()),
            ("/", None, "0123456789ab")
        );
        c.working_dir = Some("/app".into());
        c.user = Some("node".into());
        let s = build(&c, &RunOptions::default()).unwrap();
        assert_eq!((s.cwd.as_str(), s.user.as_deref()), ("/app", Some("node")));
        let s = build(
            &c,
            &RunOptions {
                workdir: Some("/tmp".into()),
                user: Some("1000:1000".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            (s.cwd.as_str(), s.user.as_deref()),
            ("/tmp", Some("1000:1000"))
        );
        assert!(build(
            &c,
            &RunOptions {
                workdir: Some("rel".into()),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn memory_and_cpus() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_memory("10485760").unwrap(), 10 << 20);
        for bad in ["", "abc", "-5m", "12x", "1k", "m"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cpus("0.5").unwrap(), 50_000);
        assert_eq!(parse_cpus("2").unwrap(), 200_000);
        for bad in ["0", "-1", "x", "0.001", "NaN", "inf"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_and_tmpfs() {
        assert_eq!(
            parse_volume("/srv/data:/data:ro").unwrap(),
            BindMount {
                source: "/srv/data".into(),
                target: "/data".into(),
                readonly: true,
                volume: None,
            }
        );
        assert!(!parse_volume("/a:/b").unwrap().readonly);
        assert_eq!(
            parse_volume("named:/b").unwrap().volume.as_deref(),
            Some("named")
        );
        assert!(parse_volume("a/b:/b").is_err());
        assert!(parse_volume("..:/b").is_err());
        assert!(parse_volume("/a:rel").is_err());
        assert!(parse_volume("/a:/b/../c").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        let t = parse_tmpfs("/run").unwrap();
        assert!(t.noexec && t.nosuid && t.nodev && !t.readonly && t.data.is_empty());
        let t = parse_tmpfs("/run:exec,size=64m,mode=1777").unwrap();
        assert!(!t.noexec);
        assert_eq!(t.data, "size=64m,mode=1777");
        assert!(parse_tmpfs("/run:weird").is_err());
    }

    #[test]
    fn pids_and_network() {
        let c = cfg(None, Some(&["sh"]));
        assert_eq!(
            build(
                &c,
                &RunOptions {
                    pids_limit: Some(50),
                    ..Default::default()
                }
            )
            .unwrap()
            .resources
            .pids,
            Some(50)
        );
        assert_eq!(
            build(
                &c,
                &RunOptions {
                    pids_limit: Some(-1),
                    ..Default::default()
                }
            )
            .unwrap()
            .resources
            .pids,
            None
        );
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert!("bogus".parse::<NetworkMode>().is_err());
    }
}
