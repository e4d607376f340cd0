//! Links on the host: the bridge of a network and a veth pair per
//! container, through iproute2 (`ip -batch -`: one process for all the
//! steps of one change), and IPv4 forwarding.

use super::{NetworkError, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Run `prog args` with `input` on stdin; a failure carries its stderr.
pub fn tool(what: &str, prog: &str, args: &[&str], input: &str) -> Result<String> {
    let spawned = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawned.map_err(|e| NetworkError::Tool {
        what: what.to_string(),
        detail: format!(
            "cannot run {prog}: {e} (install {})",
            match prog {
                "ip" => "iproute2",
                "nsenter" => "util-linux",
                _ => "iptables",
            }
        ),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| NetworkError::Tool {
        what: what.to_string(),
        detail: format!("{prog}: {e}"),
    })?;
    if !out.status.success() {
        return Err(NetworkError::Tool {
            what: what.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip_batch(what: &str, lines: &str) -> Result<()> {
    tool(what, "ip", &["-batch", "-"], lines).map(|_| ())
}

/// Does the link exist in this network namespace? (An ioctl on a socket
/// of the caller's namespace: /sys may show another namespace's links.)
pub fn exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

/// The bridge with the gateway address, up.
pub fn create_bridge(bridge: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    ip_batch(
        &format!("create bridge {bridge}"),
        &format!(
            "link add {bridge} type bridge\naddr add {gateway}/{prefix} dev {bridge}\nlink set {bridge} up\n"
        ),
    )
}

pub fn delete_link(name: &str) -> Result<()> {
    if !exists(name) {
        return Ok(());
    }
    ip_batch(&format!("delete {name}"), &format!("link del {name}\n"))
}

/// One veth pair per attachment: `host` on `bridge`, its peer named
/// `inside` created directly in the network namespace of `pid`.
pub fn add_veths(pid: i32, pairs: &[(&str, &str, &str)]) -> Result<()> {
    let mut lines = String::new();
    for (host, inside, bridge) in pairs {
        lines.push_str(&format!(
            "link add {host} type veth peer name {inside} netns {pid}\nlink set {host} master {bridge} up\n"
        ));
    }
    ip_batch("connect the container to its network", &lines)
}

/// Route between interfaces (for the default route through NAT).
pub fn enable_forwarding() -> Result<()> {
    let p = std::path::Path::new("/proc/sys/net/ipv4/ip_forward");
    if std::fs::read_to_string(p)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return Ok(());
    }
    std::fs::write(p, "1").map_err(NetworkError::io("cannot enable IPv4 forwarding in", p))
}

/// Links named `skiff<N>` that exist here (bridges skiff made).
pub fn skiff_bridges() -> Vec<String> {
    let mut out: Vec<String> = nix::net::if_::if_nameindex()
        .map(|list| {
            list.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(super::record::BRIDGE_PREFIX)
                        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Run `ip ARGS` inside the network namespace of `pid` (nsenter).
fn ip_in(pid: i32, what: &str, args: &[&str]) -> Result<String> {
    let ns = format!("--net=/proc/{pid}/ns/net");
    let mut all = vec![ns.as_str(), "ip"];
    all.extend_from_slice(args);
    tool(what, "nsenter", &all, "")
}

/// Interface names inside the network namespace of `pid`.
pub fn names_in(pid: i32) -> Result<Vec<String>> {
    let out = ip_in(
        pid,
        "list the container's interfaces",
        &["-o", "link", "show"],
    )?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (idx, rest) = l.split_once(": ")?;
            idx.trim().parse::<u32>().ok()?;
            let name = rest.split([':', '@']).next()?;
            Some(name.trim().to_string())
        })
        .collect())
}

/// Address and up for `name` inside the namespace of `pid` (a container
/// that is already running).
pub fn configure_in(pid: i32, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    let ns = format!("--net=/proc/{pid}/ns/net");
    tool(
        &format!("configure {name} in the container"),
        "nsenter",
        &[ns.as_str(), "ip", "-batch", "-"],
        &format!("addr add {addr}/{prefix} dev {name}\nlink set {name} up\n"),
    )
    .map(|_| ())
}

/// The interface holding `addr` inside the namespace of `pid`, removed
/// (its veth pair goes with it).
pub fn remove_in(pid: i32, addr: Ipv4Addr) -> Result<()> {
    let to = format!("{addr}/32");
    let out = ip_in(
        pid,
        "find the container's interface",
        &["-o", "-4", "addr", "show", "to", to.as_str()],
    )?;
    let Some(name) = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .next()
        .map(str::to_string)
    else {
        return Ok(());
    };
    ip_in(
        pid,
        &format!("remove {name} from the container"),
        &["link", "del", name.as_str()],
    )
    .map(|_| ())
}
