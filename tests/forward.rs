//! `-p` on a bridge network, forwarded by the kernel (DNAT,
//! `network/forward.rs`), end to end with real packets. Every test runs
//! skiff inside a network namespace it creates ("host") and its clients
//! in another ("the outside", 192.0.2.1, joined by a veth pair; the host
//! is 192.0.2.2) or on the host's loopback. No packet leaves them.
//!
//! The server is busybox httpd with a CGI script answering
//! `<version> <client address> <host name>`: the client address shows
//! who forwarded (the kernel keeps the outside's address; skiff's relay
//! would show 127.0.0.1).

mod common;

use common::{host_and_outside, must, show, skiff_bin, Netns, TestStore};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/forward/client.py");

struct World {
    store: TestStore,
    host: Netns,
    outside: Netns,
    tmp: tempfile::TempDir,
}

/// What a bounded client loop saw.
#[derive(Debug, Default)]
struct Seen {
    ok: Vec<String>,
    failed: Vec<String>,
}

impl Seen {
    /// Answers by host name (the last word).
    fn by_host(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for b in &self.ok {
            let h = b.split_whitespace().last().unwrap_or_default().to_string();
            *m.entry(h).or_insert(0) += 1;
        }
        m
    }
    fn no_failures(&self, what: &str) {
        assert!(
            self.failed.is_empty(),
            "{what}: {} of {} requests failed: {:?}",
            self.failed.len(),
            self.failed.len() + self.ok.len(),
            self.failed
        );
        assert!(self.ok.len() > 10, "{what}: too few requests: {self:?}");
    }
}

/// A client loop running in a namespace until [`Loop::finish`].
struct Loop {
    child: Child,
    stop: std::path::PathBuf,
}

impl Loop {
    fn finish(mut self) -> Seen {
        std::fs::write(&self.stop, "").unwrap();
        let mut out = String::new();
        use std::io::Read;
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        self.child.wait().unwrap();
        parse_seen(out.lines().last().unwrap_or_default())
    }
}

fn parse_seen(line: &str) -> Seen {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("client said {line:?}: {e}"));
    let list = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    Seen {
        ok: list("ok"),
        failed: list("failed"),
    }
}

impl World {
    fn new() -> World {
        let (host, outside) = host_and_outside();
        World {
            store: TestStore::new().with_busybox(),
            host,
            outside,
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.host.name, skiff_bin(), "--root"])
            .arg(self.store.root())
            .args(args)
            .env_remove("SKIFF_ROOT")
            .env_remove("SKIFF_NETWORK")
            .output()
            .unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "skiff {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `web:latest` answering `<version> <client address> <host name>` on
    /// 8080 (after `delay` seconds).
    fn build_web(&self, version: &str, delay: u32) {
        self.build_web_on(version, delay, "8080")
    }

    /// The same, listening on `listen` (`[IP:]PORT`, busybox httpd's -p).
    fn build_web_on(&self, version: &str, delay: u32, listen: &str) {
        let ctx = tempfile::tempdir().unwrap();
        let script = ctx.path().join("ip");
        std::fs::write(
            &script,
            "#!/bin/sh\necho Content-Type: text/plain\necho\necho $V $REMOTE_ADDR $(hostname)\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            format!(
                "FROM busybox:fixture\nENV V={version}\nCOPY ip /w/cgi-bin/ip\n\
                 CMD [\"sh\", \"-c\", \"sleep {delay}; exec httpd -f -p {listen} -h /w\"]\n"
            ),
        )
        .unwrap();
        self.store
            .ok(&["build", "-q", "-t", "web", ctx.path().to_str().unwrap()]);
    }

    /// `n` requests from `ns` to `addr:port`, one after the other.
    fn requests(&self, ns: &Netns, addr: &str, port: u16, n: usize) -> Seen {
        let stop = self.tmp.path().join("never");
        let o = ns.must(&format!(
            "python3 {CLIENT} {addr} {port} /cgi-bin/ip 30 {} {n}",
            stop.display()
        ));
        parse_seen(o.lines().last().unwrap_or_default())
    }

    /// A request loop from the outside until `finish`.
    fn start_loop(&self, port: u16) -> Loop {
        static LOOPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = LOOPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let stop = self.tmp.path().join(format!("stop-{n}"));
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.outside.name, "python3", CLIENT])
            .args(["192.0.2.2", &port.to_string(), "/cgi-bin/ip", "60"])
            .arg(&stop)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "started");
        Loop { child, stop }
    }

    /// The host namespace's nat and filter rules (counters dropped).
    fn rules(&self) -> String {
        self.host
            .must("iptables-save | grep -E '^-|^:[^ ]+ - ' | sed 's/\\[[0-9]*:[0-9]*\\]//'; true")
    }

    fn dnat_targets(&self) -> Vec<String> {
        self.rules()
            .lines()
            .filter(|l| l.starts_with("-A SKIFF-P-"))
            .filter_map(|l| l.split("--to-destination ").nth(1).map(str::to_string))
            .collect()
    }

    /// Wait (10 s at most) until `f` holds.
    fn wait(&self, what: &str, f: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(
                Instant::now() < until,
                "timed out: {what}\n{}",
                self.rules()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn supervisor_pid(&self, name: &str) -> i32 {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", name])).unwrap();
        let id = v[0]["Id"].as_str().unwrap().to_string();
        let st: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                self.store
                    .root()
                    .join("containers")
                    .join(id)
                    .join("state.json"),
            )
            .unwrap(),
        )
        .unwrap();
        st["supervisor"]["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-f", "web", "api"]);
    }
}

#[test]
fn outside_and_loopback_clients_are_forwarded_by_the_kernel_only_while_ready() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    let before = w.rules();
    // Listens 2 s after it starts: no rule until then, and a client that
    // comes early is kept by the relay until the server answers.
    w.build_web("v1", 2);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "shop",
        "-p",
        "18080:8080",
        "web",
    ]);
    assert!(w.dnat_targets().is_empty(), "{}", w.rules());
    let early = w.requests(&w.outside, "192.0.2.2", 18080, 1);
    assert_eq!(early.ok.len(), 1, "{early:?}");
    assert!(
        early.ok[0].starts_with("v1 127.0.0.1 "),
        "the relay answered: {early:?}"
    );
    w.wait("the DNAT rule of a ready container", || {
        w.dnat_targets().len() == 1
    });
    let ip = w.dnat_targets()[0].clone();
    assert!(
        ip.starts_with("198.51.100.") && ip.ends_with(":8080"),
        "{ip}"
    );

    // The outside: the app sees the client's own address.
    let out = w.requests(&w.outside, "192.0.2.2", 18080, 5);
    out.no_failures_of(5);
    assert!(out.ok.iter().all(|b| b.contains(" 192.0.2.1 ")), "{out:?}");
    // Loopback on the host: the app sees the bridge's gateway.
    let lo = w.requests(&w.host, "127.0.0.1", 18080, 5);
    lo.no_failures_of(5);
    assert!(lo.ok.iter().all(|b| b.contains(" 198.51.100.1 ")), "{lo:?}");

    // Stopped: the rules go, the listener is gone too.
    w.ok(&["stop", "-t", "1", "web"]);
    assert!(w.dnat_targets().is_empty(), "{}", w.rules());
    w.ok(&["start", "web"]);
    w.wait("the rule again after start", || w.dnat_targets().len() == 1);
    w.ok(&["rm", "-f", "web"]);
    assert_eq!(w.rules(), before, "rules left after rm");
    w.ok(&["fsck"]);
    w.ok(&["network", "rm", "shop"]);
}

impl Seen {
    fn no_failures_of(&self, n: usize) {
        assert!(
            self.failed.is_empty() && self.ok.len() == n,
            "{n} requests: {self:?}"
        );
    }
}

#[test]
fn replicas_share_the_port_in_the_kernel_and_a_killed_supervisor_is_dropped() {
    let w = World::new();
    w.build_web("v1", 0);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--replicas",
        "2",
        "-p",
        "18081:8080",
        "web",
    ]);
    w.wait("both replicas in the chain", || w.dnat_targets().len() == 2);
    let seen = w.requests(&w.outside, "192.0.2.2", 18081, 20);
    seen.no_failures_of(20);
    let hosts = seen.by_host();
    // Round robin: 10 each.
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.values().all(|n| *n == 10), "{hosts:?}");

    // kill -9 of one replica's supervisor (its container dies with it):
    // the sibling takes it out of the chain on its next tick.
    let pid = w.supervisor_pid("api.1");
    must(&format!("kill -9 {pid}"));
    w.wait("the killed one out of the chain", || {
        w.dnat_targets().len() == 1
    });
    let after = w.requests(&w.outside, "192.0.2.2", 18081, 20);
    after.no_failures_of(20);
    assert_eq!(after.by_host().len(), 1, "{after:?}");
    // A later command on the service mends the rest: start it again.
    w.ok(&["start", "api"]);
    w.wait("both again", || w.dnat_targets().len() == 2);
    // The restarted one kept its address and, with it, its MAC: the
    // host's neighbour entry from before the kill still leads to it.
    let again = w.requests(&w.outside, "192.0.2.2", 18081, 20);
    again.no_failures_of(20);
    assert_eq!(again.by_host().len(), 2, "{again:?}");
    // Scale down under a request loop: the drained one leaves the chain
    // before its stop signal, and no request fails.
    let l = w.start_loop(18081);
    std::thread::sleep(Duration::from_millis(1000));
    w.ok(&["scale", "-t", "2", "api=1"]);
    std::thread::sleep(Duration::from_millis(1000));
    l.finish().no_failures("scale down");
    assert_eq!(w.dnat_targets().len(), 1, "{}", w.rules());
    w.ok(&["rm", "-f", "api"]);
    assert!(w.dnat_targets().is_empty(), "{}", w.rules());
    assert!(!w.rules().contains("SKIFF-P-"), "{}", w.rules());
}

#[test]
fn a_rollout_under_a_request_loop_drops_nothing() {
    let w = World::new();
    w.build_web("v1", 0);
    w.ok(&["run", "-d", "--name", "web", "-p", "18082:8080", "web"]);
    w.wait("the rule", || w.dnat_targets().len() == 1);
    let old = w.dnat_targets();
    w.build_web("v2", 0);
    let l = w.start_loop(18082);
    std::thread::sleep(Duration::from_millis(300));
    let out = w.ok(&["rollout", "web", "-t", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    let seen = l.finish();
    seen.no_failures("rollout");
    assert!(out.contains("no downtime"), "{out}");
    let mut versions: Vec<&str> = seen
        .ok
        .iter()
        .filter_map(|b| b.split_whitespace().next())
        .collect();
    versions.dedup();
    assert_eq!(versions.first(), Some(&"v1"), "{versions:?}");
    assert_eq!(versions.last(), Some(&"v2"), "{versions:?}");
    // The kernel forwarded (the outside's address), and now to the new one only.
    assert!(
        seen.ok.iter().any(|b| b.contains(" 192.0.2.1 ")),
        "{seen:?}"
    );
    let now = w.dnat_targets();
    assert_eq!(now.len(), 1, "{}", w.rules());
    assert_ne!(now, old, "still the old container");
    w.ok(&["rm", "-f", "web"]);
    assert!(!w.rules().contains("SKIFF-P-"), "{}", w.rules());
}

#[test]
fn fsck_finds_and_repairs_a_chain_a_killed_supervisor_left() {
    let w = World::new();
    w.build_web("v1", 0);
    w.ok(&["run", "-d", "--name", "web", "-p", "18083:8080", "web"]);
    w.wait("the rule", || w.dnat_targets().len() == 1);
    let pid = w.supervisor_pid("web");
    must(&format!("kill -9 {pid}"));
    std::thread::sleep(Duration::from_millis(200));
    // Nobody is left to notice: the chain points at a dead container.
    assert_eq!(w.dnat_targets().len(), 1);
    let found = w.run(&["fsck"]);
    assert_eq!(found.status.code(), Some(1), "{}", show(&found));
    let text = String::from_utf8_lossy(&found.stdout);
    assert!(
        text.contains("published port 18083: the kernel's forwarding is out of date"),
        "{text}"
    );
    // (The dead container itself is left for `rm` or `start`.)
    let repaired = w.run(&["fsck", "--repair"]);
    assert!(
        !String::from_utf8_lossy(&repaired.stdout).contains("left: published port"),
        "{}",
        show(&repaired)
    );
    assert!(!w.rules().contains("SKIFF-P-"), "{}", w.rules());
    w.ok(&["rm", "-f", "web"]);
    // A stray chain no container publishes goes too.
    w.host.must(
        "iptables -t nat -N SKIFF-P-9 && \
         iptables -t nat -A OUTPUT -p tcp -m tcp --dport 9 -j SKIFF-P-9",
    );
    let found = w.run(&["fsck"]);
    assert!(
        String::from_utf8_lossy(&found.stdout).contains("SKIFF-P-9 belongs to no container"),
        "{}",
        show(&found)
    );
    w.ok(&["fsck", "--repair"]);
    assert!(!w.rules().contains("SKIFF-P-"), "{}", w.rules());
    w.ok(&["fsck"]);
}

/// The bridge has `route_localnet` (for loopback clients of published
/// ports), which would let a container send to the host's 127.0.0.1: a
/// neighbour on the bridge (what a container with CAP_NET_RAW can forge)
/// routes 127.0.0.1 through the gateway and must not reach a service the
/// host binds to loopback only.
#[test]
fn a_bridge_neighbour_cannot_reach_the_hosts_loopback() {
    let w = World::new();
    w.build_web("v1", 0);
    w.ok(&["run", "-d", "--name", "web", "-p", "18084:8080", "web"]);
    w.wait("the rule", || w.dnat_targets().len() == 1);
    let lo = w.requests(&w.host, "127.0.0.1", 18084, 1);
    lo.no_failures_of(1);
    // The host's loopback-only service.
    let mut server = Command::new("ip")
        .args(["netns", "exec", &w.host.name, "python3", "-c"])
        .arg(
            "import socket\n\
             s = socket.socket(); s.bind(('127.0.0.1', 7777)); s.listen()\n\
             s.settimeout(6); print('ready', flush=True)\n\
             try:\n    c, a = s.accept(); print('reached from', a[0], flush=True)\n\
             except OSError:\n    print('not reached', flush=True)\n",
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // The neighbour: a veth on skiff0 from a namespace the test makes,
    // whose 127.0.0.1 is routed to the gateway. 10.88.0.0/16 is the
    // default bridge's subnet inside the test's "host" namespace: these
    // addresses exist only between the namespaces this test made.
    let evil = Netns::new("e");
    must(&format!(
        "ip -n {h} link add ev0 type veth peer name ev1 netns {e} && \
         ip -n {h} link set ev0 master skiff0 up",
        h = w.host.name,
        e = evil.name
    ));
    let tried = evil.sh(
        "ip addr add 10.88.0.200/16 dev ev1 && ip link set ev1 up && \
         echo 1 > /proc/sys/net/ipv4/conf/ev1/route_localnet && \
         echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && \
         ip route del local 127.0.0.0/8 dev lo table local; \
         ip route del local 127.0.0.1 dev lo table local; ip addr flush dev lo; \
         ip route add 127.0.0.1/32 via 10.88.0.1 dev ev1 && \
         python3 -c \"import socket; s = socket.socket(); s.settimeout(2); s.connect(('127.0.0.1', 7777))\"",
    );
    assert!(!tried.status.success(), "connected: {}", show(&tried));
    line.clear();
    out.read_line(&mut line).unwrap();
    server.wait().unwrap();
    assert_eq!(line.trim(), "not reached");
    w.ok(&["rm", "-f", "web"]);
}

#[test]
fn a_program_listening_on_loopback_only_is_served_by_the_relay() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    // Ready by its 127.0.0.1 (what the readiness check connects to), not
    // reachable on its bridge address: the kernel must not forward to it.
    w.build_web_on("v1", 0, "127.0.0.1:8080");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "shop",
        "-p",
        "18081:8080",
        "web",
    ]);
    w.wait("the container ready", || {
        let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", "web"])).unwrap();
        v[0]["State"]["Ready"] == true
    });
    let out = w.requests(&w.outside, "192.0.2.2", 18081, 5);
    out.no_failures_of(5);
    assert!(
        out.ok.iter().all(|b| b.starts_with("v1 127.0.0.1 ")),
        "the relay answered: {out:?}"
    );
    assert!(w.dnat_targets().is_empty(), "{}", w.rules());
    w.ok(&["rm", "-f", "web"]);
    w.ok(&["network", "rm", "shop"]);
}
