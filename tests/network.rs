//! Bridge networks, end to end. Every test runs skiff inside a network
//! namespace it creates ("host"), and "the outside" is another namespace
//! it creates, joined by a veth pair on 192.0.2.0/24 (documentation
//! addresses): the outside is 192.0.2.1, the host 192.0.2.2. No packet
//! leaves these namespaces. Networks the tests create use documentation
//! subnets too (198.51.100.0/24, 203.0.113.0/24); the default network's
//! 10.88.0.0/16 exists only inside the test's namespace.

mod common;

use common::{fixtures, host_and_outside, must, show, skiff_bin, Netns, TestStore};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The host namespace (skiff runs there), the outside, and a store.
struct World {
    store: TestStore,
    host: Netns,
    outside: Netns,
    server: Option<Child>,
}

impl World {
    fn new() -> World {
        let (host, outside) = host_and_outside();
        host.must("ip route add default via 192.0.2.1");
        World {
            store: TestStore::new().with_busybox(),
            host,
            outside,
            server: None,
        }
    }

    /// The outside's TCP server (port 8080) and DNS responder (port 53,
    /// every name is 192.0.2.1), for at most 60 s.
    fn serve_outside(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/network/outside.py");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.outside.name, "python3", script])
            .args(["192.0.2.1", "8080", "192.0.2.1", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        self.server = Some(child);
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host.name, skiff_bin(), "--root"])
            .arg(self.store.root())
            .args(args)
            .env_remove("SKIFF_ROOT")
            .env_remove("SKIFF_NETWORK");
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "skiff {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(125), "skiff {args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// Links, addresses, routes and firewall rules of the host namespace.
    fn snapshot(&self) -> String {
        self.host.must(
            "ip -o link show | sed 's/^[0-9]*: //; s/@.*//; s/:.*//' | sort; \
             ip -o addr show | awk '{print $2, $4}' | sort; ip route | sed 's/ linkdown//'; \
             iptables-save | grep -E '^-|^:[^ ]+ - ' | sed 's/\\[[0-9]*:[0-9]*\\]//'; true",
        )
    }

    /// Wait (2 s at most) until the snapshot equals `want` (the kernel
    /// removes a veth pair shortly after its namespace ends).
    fn assert_snapshot(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let now = self.snapshot();
            if now == want {
                return;
            }
            if Instant::now() > deadline {
                assert_eq!(now, want, "the host namespace changed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn allocations(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(self.store.root().join("networks")) {
            for e in rd.flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path().join("ipam.json")) {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    for (ip, m) in v["addresses"].as_object().unwrap() {
                        out.push_str(&format!("{ip} {}\n", m["container"]));
                    }
                }
            }
        }
        out
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&[
            "rm", "-f", "api", "redis", "srv", "web", "c1", "c2", "cache", "fixed",
        ]);
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn outbound_tcp_and_dns_from_the_default_bridge() {
    let mut w = World::new();
    w.serve_outside();
    let before = w.snapshot();
    // TCP: the outside sees the host's address (masquerade), not 10.88.x.
    let got = w.ok(&[
        "run",
        "--rm",
        "busybox:fixture",
        "busybox",
        "nc",
        "192.0.2.1",
        "8080",
    ]);
    assert_eq!(got.trim(), "hello 192.0.2.2");
    let inside = w.ok(&[
        "run",
        "--rm",
        "busybox:fixture",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route",
    ]);
    assert!(inside.contains("inet 10.88.0."), "{inside}");
    assert!(inside.contains("default via 10.88.0.1"), "{inside}");
    // DNS through --dns, to the responder outside.
    let dns = w.ok(&[
        "run",
        "--rm",
        "--dns",
        "192.0.2.1",
        "--add-host",
        "db:198.51.100.10",
        "busybox:fixture",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hosts; busybox nslookup svc.example",
    ]);
    assert!(dns.contains("nameserver 192.0.2.1\n"), "{dns}");
    assert!(dns.contains("198.51.100.10\tdb\n"), "{dns}");
    assert!(
        dns.contains("Address: 192.0.2.1") || dns.contains("Address 1: 192.0.2.1"),
        "{dns}"
    );
    // `private` stays loopback-only; `none` has lo down.
    let private = w.ok(&[
        "run",
        "--rm",
        "--network",
        "private",
        "busybox:fixture",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(private, "lo\n");
    // The default network stays (as docker0 does) but holds no address.
    assert_eq!(w.allocations(), "");
    w.ok(&["network", "rm", "bridge"]);
    w.assert_snapshot(&before);
}

/// Node's dns.lookup (getaddrinfo) of each name, then an HTTP GET to the
/// first one.
const LOOKUP: &str = "const dns=require('dns'),http=require('http');\
    const names=process.argv.slice(1);let out=[];let n=names.length;\
    names.forEach((h,i)=>dns.lookup(h,{family:4},(e,a)=>{out[i]=h+'='+(e?e.code:a);\
    if(--n===0){http.get('http://'+names[0]+':6379/hostname',r=>{let b='';r.on('data',d=>b+=d);\
    r.on('end',()=>console.log(out.join(' ')+' body='+b.trim()))}).on('error',e=>console.log(out.join(' ')+' err='+e.code))}}))";

#[test]
fn names_resolve_between_containers_also_after_a_restart() {
    let w = World::new();
    w.store.ok(&[
        "import",
        fixtures().join("node.tar").to_str().unwrap(),
        "node:fixture",
    ]);
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "redis",
        "--hostname",
        "redis-host",
        "--network",
        "shop",
        "--network-alias",
        "cache",
        "-p",
        "16379:6379",
        "busybox:fixture",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "6379",
        "-h",
        "/etc",
    ]);
    let client = |w: &World| {
        w.ok(&[
            "run",
            "--rm",
            "--network",
            "shop",
            "node:fixture",
            "node",
            "-e",
            LOOKUP,
            "redis",
            "cache",
        ])
    };
    let first = client(&w);
    assert!(
        first.contains("redis=198.51.100.2 cache=198.51.100.2 body=redis-host"),
        "{first}"
    );
    // A restart keeps the address; peers still reach it by name.
    w.ok(&["restart", "-t", "1", "redis"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let again = client(&w);
        if again.contains("redis=198.51.100.2 cache=198.51.100.2 body=redis-host") {
            break;
        }
        assert!(Instant::now() < deadline, "after restart: {again}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let inspect = w.ok(&["network", "inspect", "shop"]);
    assert!(inspect.contains("198.51.100.2/24"), "{inspect}");
    // A container that joins later is seen by the one already running.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--network",
        "shop",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    let hosts = w.ok(&["exec", "redis", "cat", "/etc/hosts"]);
    assert!(hosts.contains("198.51.100.3\tapi "), "{hosts}");
    w.ok(&["rm", "-f", "api"]);
    let hosts = w.ok(&["exec", "redis", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("api"), "{hosts}");
    // A rollout (a new container beside the old one, then the name moves
    // over): peers find the new one under the old name and alias.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "shop",
        "node:fixture",
        "sleep",
        "60",
    ]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nENV V=2\n",
    )
    .unwrap();
    w.ok(&[
        "build",
        "-t",
        "busybox:fixture",
        ctx.path().to_str().unwrap(),
    ]);
    let id = |w: &World| {
        let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", "redis"])).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    };
    let old_id = id(&w);
    w.ok(&["rollout", "busybox:fixture"]);
    assert_ne!(old_id, id(&w));
    let after = client(&w);
    assert!(
        after.contains("cache=198.51.100.") && after.contains("body=redis-host"),
        "{after}"
    );
    let hosts = w.ok(&["exec", "c1", "cat", "/etc/hosts"]);
    assert_eq!(hosts.matches("\tredis ").count(), 1, "{hosts}");
    let members = w.ok(&["network", "inspect", "shop"]);
    assert_eq!(members.matches("IPv4Address").count(), 2, "{members}");
}

#[test]
fn networks_are_isolated_from_each_other() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "203.0.113.0/26", "a"]);
    w.ok(&["network", "create", "--subnet", "203.0.113.64/26", "b"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "a",
        "busybox:fixture",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    // busybox's nc (its wget is static glibc and crashes in getaddrinfo).
    let get = |net: &str, target: &str| {
        let o = w.run(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox:fixture",
            "sh",
            "-c",
            &format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {target} 80"),
        ]);
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
    };
    let same = get("a", "203.0.113.2");
    assert!(same.contains("200 OK"), "{same}");
    for net in ["b", "bridge"] {
        let other = get(net, "203.0.113.2");
        assert!(
            !other.contains("200 OK") && other.contains("timed out"),
            "{net} reached a: {other}"
        );
    }
    // Names: a's members know srv, b's do not.
    let hosts = |net: &str| {
        w.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox:fixture",
            "cat",
            "/etc/hosts",
        ])
    };
    assert!(hosts("a").contains("203.0.113.2\tsrv "), "{}", hosts("a"));
    assert!(!hosts("b").contains("srv"), "{}", hosts("b"));
}

#[test]
fn publish_on_a_bridge_network() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/25", "shop"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "--network",
        "shop",
        "-p",
        "18080:80",
        "busybox:fixture",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let get = "python3 -c \"import urllib.request as u; \
               print(u.urlopen('http://127.0.0.1:18080/hostname', timeout=2).read().decode())\"";
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = w.host.sh(get);
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "webhost");
            break;
        }
        assert!(Instant::now() < deadline, "{}", show(&o));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nothing_left_after_rm_and_network_rm() {
    let w = World::new();
    let before = w.snapshot();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "shop",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    w.ok(&[
        "run",
        "--rm",
        "--network",
        "shop",
        "busybox:fixture",
        "true",
    ]);
    assert_eq!(w.allocations().lines().count(), 2, "{}", w.allocations());
    let during = w.snapshot();
    assert!(
        during.contains("skiff0") && during.contains("skiff1"),
        "{during}"
    );
    assert!(during.contains("MASQUERADE"), "{during}");
    let err = w.fails(&["network", "rm", "shop"]);
    assert!(
        err.contains("network shop is in use by container(s) c2"),
        "{err}"
    );
    w.ok(&["rm", "-f", "c1", "c2"]);
    assert_eq!(w.allocations(), "");
    w.ok(&["network", "rm", "shop", "bridge"]);
    w.assert_snapshot(&before);
    let fsck = w.run(&["fsck"]);
    assert!(fsck.status.success(), "{}", show(&fsck));
}

#[test]
fn fsck_repairs_what_a_crash_leaves() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    let before = w.snapshot();
    // A network create killed after its bridge and rules (no record), and
    // a container killed and wiped without skiff (its address held).
    w.host.must(
        "ip link add skiff9 type bridge && iptables -N SKIFF-skiff9 && \
         iptables -A FORWARD -i skiff9 -j SKIFF-skiff9 && \
         iptables -t nat -A POSTROUTING -s 203.0.113.0/24 ! -o skiff9 -j MASQUERADE",
    );
    let id = w.ok(&[
        "run",
        "-d",
        "--network",
        "shop",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    let id = id.trim();
    let _ = w.run(&["stop", "-t", "0", id]);
    std::fs::remove_dir_all(w.store.root().join("containers").join(id)).unwrap();
    // Bring the rules of shop's bridge to nothing too.
    w.host.must("iptables -F SKIFF-skiff1");
    let found = w.run(&["fsck"]);
    assert_eq!(found.status.code(), Some(1), "{}", show(&found));
    let text = String::from_utf8_lossy(&found.stdout);
    assert!(text.contains("address held by removed container"), "{text}");
    assert!(text.contains("bridge skiff9"), "{text}");
    let repaired = w.run(&["fsck", "--repair"]);
    assert!(repaired.status.success(), "{}", show(&repaired));
    assert_eq!(w.allocations(), "");
    w.assert_snapshot(&before);
    w.ok(&["fsck"]);
}

#[test]
fn hostile_network_input() {
    let w = World::new();
    let n_links = || w.host.must("ip -o link show | wc -l");
    let links = n_links();
    for (args, want) in [
        (
            &["network", "create", "--subnet", "198.51.100.1/24", "x"][..],
            "host bits are set",
        ),
        (
            &["network", "create", "--subnet", "banana", "x"][..],
            "invalid subnet",
        ),
        (
            &["network", "create", "--subnet", "198.51.100.0/40", "x"][..],
            "prefix length",
        ),
        (
            &["network", "create", "--subnet", "192.0.2.0/25", "x"][..],
            "overlaps the host's route",
        ),
        (&["network", "create", "x/y"][..], "invalid network name"),
        (&["network", "create", "host"][..], "network mode"),
        (&["network", "rm", "nosuch"][..], "network nosuch not found"),
        (
            &[
                "run",
                "--rm",
                "--network",
                "nosuch",
                "busybox:fixture",
                "true",
            ][..],
            "network nosuch not found",
        ),
        (
            &[
                "run",
                "--rm",
                "--network",
                "host",
                "--ip",
                "198.51.100.9",
                "busybox:fixture",
                "true",
            ][..],
            "need a bridge network",
        ),
        (
            &[
                "run",
                "--rm",
                "--add-host",
                "nocolon",
                "busybox:fixture",
                "true",
            ][..],
            "invalid --add-host",
        ),
        (
            &[
                "run",
                "--rm",
                "--dns",
                "not-an-ip",
                "busybox:fixture",
                "true",
            ][..],
            "invalid --dns",
        ),
    ] {
        let err = w.fails(args);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(n_links(), links, "a failed command left a link");
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    let err = w.fails(&["network", "create", "shop"]);
    assert!(err.contains("network shop already exists"), "{err}");
    let err = w.fails(&[
        "network",
        "create",
        "--subnet",
        "198.51.100.128/25",
        "other",
    ]);
    assert!(err.contains("overlaps network shop"), "{err}");
    for (ip, want) in [
        (
            "203.0.113.5",
            "outside the subnet 198.51.100.0/24 of network shop",
        ),
        ("198.51.100.1", "reserved"),
    ] {
        let err = w.fails(&[
            "run",
            "--rm",
            "--network",
            "shop",
            "--ip",
            ip,
            "busybox:fixture",
            "true",
        ]);
        assert!(err.contains(want), "{ip}: {err}");
    }
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "shop",
        "--ip",
        "198.51.100.77",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    let err = w.fails(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "shop",
        "--ip",
        "198.51.100.77",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    assert!(err.contains("already taken"), "{err}");
    let got = w.ok(&["exec", "c1", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(got.contains("198.51.100.77/24"), "{got}");
    assert_eq!(w.allocations().lines().count(), 1, "{}", w.allocations());
}

#[test]
fn a_container_cannot_rewrite_names_or_aim_them_at_the_host() {
    let w = World::new();
    // An image whose /etc/.skiff points out of the root and whose
    // /etc/hosts points at a secret: skiff resolves both inside the root.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    must(&format!(
        "cp -a {}/busybox {r} && rm -f {r}/etc/hosts && \
         ln -s /../../../../tmp/skiff-escape-net {r}/etc/.skiff && ln -s /etc/shadow {r}/etc/hosts",
        fixtures().display(),
        r = root.display()
    ));
    w.ok(&["import", root.to_str().unwrap(), "evil"]);
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "shop",
        "busybox:fixture",
        "sleep",
        "30",
    ]);
    let out = w.ok(&[
        "run",
        "--rm",
        "--network",
        "shop",
        "evil",
        "sh",
        "-c",
        "cat /etc/hosts; readlink /etc/hosts; echo x >> /etc/.skiff/hosts && echo WROTE; \
         rm -f /etc/.skiff/hosts && echo REMOVED; true",
    ]);
    assert!(out.contains("198.51.100.2\tsrv "), "{out}");
    assert!(out.contains(".skiff/hosts\n"), "{out}");
    assert!(!out.contains("WROTE") && !out.contains("REMOVED"), "{out}");
    assert!(!std::path::Path::new("/tmp/skiff-escape-net").exists());
    // Nor from a container that is on the network: its peers' files stay.
    let o = w.run(&["exec", "srv", "sh", "-c", "echo x >> /etc/.skiff/hosts"]);
    assert!(!o.status.success(), "{}", show(&o));
    let hosts = w.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(!hosts.ends_with("x\n"), "{hosts}");
}

#[test]
fn build_steps_on_a_bridge_network() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "198.51.100.0/24", "shop"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--hostname",
        "srvhost",
        "--network",
        "shop",
        "busybox:fixture",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\n\
         RUN grep srv /etc/hosts > /seen && \
         printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 198.51.100.2 80 > /got\n",
    )
    .unwrap();
    w.ok(&[
        "build",
        "--network",
        "shop",
        "-t",
        "made",
        ctx.path().to_str().unwrap(),
    ]);
    let got = w.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "made",
        "sh",
        "-c",
        "cat /seen /got; readlink /etc/hosts; ls -a /etc",
    ]);
    assert!(got.contains("198.51.100.2\tsrv "), "{got}");
    assert!(got.contains("200 OK") && got.contains("srvhost"), "{got}");
    assert!(
        !got.contains(".skiff"),
        "the image got skiff's hosts link: {got}"
    );
    let err = w.fails(&[
        "build",
        "--network",
        "nosuch",
        "-t",
        "x",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(err.contains("network nosuch not found"), "{err}");
    // The build's container left no address behind.
    assert_eq!(w.allocations().lines().count(), 1, "{}", w.allocations());
}

#[test]
fn connect_and_disconnect() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "203.0.113.0/26", "a"]);
    w.ok(&["network", "create", "--subnet", "203.0.113.64/26", "b"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--hostname",
        "srvhost",
        "--network",
        "a",
        "busybox:fixture",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c1",
        "--network",
        "b",
        "busybox:fixture",
        "sleep",
        "60",
    ]);
    let get = "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 203.0.113.2 80";
    w.ok(&["network", "connect", "a", "c1"]);
    let addrs = w.ok(&["exec", "c1", "ip", "-o", "-4", "addr", "show"]);
    assert!(
        addrs.contains("eth0    inet 203.0.113.66/26") || addrs.contains("inet 203.0.113.66/26"),
        "{addrs}"
    );
    assert!(
        addrs.contains("eth1") && addrs.contains("inet 203.0.113.3/26"),
        "{addrs}"
    );
    assert!(w.ok(&["exec", "c1", "sh", "-c", get]).contains("srvhost"));
    assert!(w
        .ok(&["exec", "srv", "cat", "/etc/hosts"])
        .contains("203.0.113.3\tc1 "));
    let err = w.fails(&["network", "connect", "a", "c1"]);
    assert!(err.contains("already on network a"), "{err}");
    // A restart keeps both networks and both addresses.
    w.ok(&["restart", "-t", "0", "c1"]);
    let addrs = w.ok(&["exec", "c1", "ip", "-o", "-4", "addr", "show"]);
    assert!(
        addrs.contains("inet 203.0.113.66/26") && addrs.contains("inet 203.0.113.3/26"),
        "{addrs}"
    );
    w.ok(&["network", "disconnect", "a", "c1"]);
    let addrs = w.ok(&["exec", "c1", "ip", "-o", "-4", "addr", "show"]);
    assert!(!addrs.contains("203.0.113.3/"), "{addrs}");
    assert!(!w.ok(&["exec", "srv", "cat", "/etc/hosts"]).contains("c1"));
    let err = w.fails(&["network", "disconnect", "b", "c1"]);
    assert!(err.contains("only network"), "{err}");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c2",
        "--network",
        "private",
        "busybox:fixture",
        "sleep",
        "60",
    ]);
    let err = w.fails(&["network", "connect", "a", "c2"]);
    assert!(err.contains("has no bridge network"), "{err}");
    assert_eq!(w.allocations().lines().count(), 2, "{}", w.allocations());
}

#[test]
fn kill_9_during_set_up_leaves_nothing_after_rm_and_repair() {
    let w = World::new();
    let before = w.snapshot();
    // SIGKILL `network create` and `run` at growing delays, through their
    // set-up (lock, record, rules, bridge, address, veth, init).
    for i in 0..12u64 {
        let delay = Duration::from_millis(3 * i);
        let name = format!("k{i}");
        let subnet = format!("198.51.100.{}/28", 16 * (i % 16));
        for args in [
            vec![
                "network",
                "create",
                "--subnet",
                subnet.as_str(),
                name.as_str(),
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "bridge",
                "busybox:fixture",
                "true",
            ],
        ] {
            let mut child = w
                .cmd(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            // `ip netns exec` execs skiff: the child's pid is skiff's.
            let _ = Command::new("kill")
                .args(["-9", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
    // What a user does next: remove the containers, the networks, repair.
    let ids = w.ok(&["ps", "-aq"]);
    for id in ids.split_whitespace() {
        w.ok(&["rm", "-f", id]);
    }
    let nets = w.ok(&["network", "ls", "-q"]);
    for n in nets.split_whitespace() {
        w.ok(&["network", "rm", n]);
    }
    let _ = w.run(&["fsck", "--repair"]);
    w.ok(&["fsck"]);
    assert_eq!(w.allocations(), "");
    w.assert_snapshot(&before);
}

/// The `/etc/hosts` line naming `who` in container `c`.
fn hosts_line(w: &World, c: &str, who: &str) -> String {
    let hosts = w.ok(&["exec", c, "cat", "/etc/hosts"]);
    hosts
        .lines()
        .find(|l| {
            l.split('\t')
                .nth(1)
                .is_some_and(|n| n.split(' ').any(|x| x == who))
        })
        .unwrap_or_else(|| panic!("no {who} in {c}'s hosts: {hosts}"))
        .to_string()
}

#[test]
fn aliases_belong_to_the_network_they_were_given_with() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "203.0.113.0/26", "a"]);
    w.ok(&["network", "create", "--subnet", "203.0.113.64/26", "b"]);
    let sleeper = |name: &str, net: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name, "--network", net];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox:fixture", "sleep", "60"]);
        w.ok(&args);
    };
    sleeper("srv", "a", &["--network-alias", "cache"]);
    sleeper("c1", "b", &[]);
    sleeper("c2", "a", &[]);
    w.ok(&["network", "connect", "--alias", "store", "b", "srv"]);
    // On b, srv is "store" and never "cache"; on a, the other way round.
    let on_b = hosts_line(&w, "c1", "srv");
    assert!(
        on_b.contains("\tsrv store ") && !on_b.contains("cache"),
        "{on_b}"
    );
    let on_a = hosts_line(&w, "c2", "srv");
    assert!(
        on_a.contains("\tsrv cache ") && !on_a.contains("store"),
        "{on_a}"
    );
    // A restart keeps each network's own aliases.
    w.ok(&["restart", "-t", "0", "srv"]);
    assert_eq!(hosts_line(&w, "c1", "srv"), on_b);
    assert_eq!(hosts_line(&w, "c2", "srv"), on_a);
    // A stopped container connects too: it holds its address and name
    // on b at once, and has the interface when it starts.
    w.ok(&["stop", "-t", "0", "c2"]);
    w.ok(&["network", "connect", "--alias", "late", "b", "c2"]);
    assert!(hosts_line(&w, "c1", "late").contains("\tc2 late "));
    w.ok(&["start", "c2"]);
    let addrs = w.ok(&["exec", "c2", "ip", "-o", "-4", "addr", "show"]);
    assert!(
        addrs.contains("eth1") && addrs.contains("203.0.113.68/26"),
        "{addrs}"
    );
    // An alias is a name, never a line of its own in a peer's hosts file.
    let before = w.allocations();
    let err = w.fails(&["network", "connect", "--alias", "x 192.0.2.9", "a", "c1"]);
    assert!(err.contains("invalid network alias"), "{err}");
    let err = w.fails(&[
        "run",
        "--rm",
        "--network",
        "a",
        "--network-alias",
        "a#b",
        "busybox:fixture",
        "true",
    ]);
    assert!(err.contains("invalid network alias"), "{err}");
    assert_eq!(w.allocations(), before);
}

#[test]
fn a_fixed_address_is_refused_by_a_live_rollout_and_kept_by_a_stopped_one() {
    let w = World::new();
    w.ok(&["network", "create", "--subnet", "203.0.113.0/26", "a"]);
    w.ok(&["tag", "busybox:fixture", "fx:1"]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "a",
        "--ip",
        "203.0.113.50",
        "fx:1",
        "sleep",
        "60",
    ]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nENV V=2\n",
    )
    .unwrap();
    w.ok(&["build", "-t", "fx:1", ctx.path().to_str().unwrap()]);
    let id = |w: &World| {
        let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", "fixed"])).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    };
    let old = id(&w);
    let err = w.fails(&["rollout", "fx:1"]);
    assert!(
        err.contains("fixed address (--ip 203.0.113.50)") && err.contains("stop it first"),
        "{err}"
    );
    // Nothing was made: the old container runs on with its address.
    assert_eq!(id(&w), old);
    assert_eq!(w.allocations().lines().count(), 1, "{}", w.allocations());
    let addrs = w.ok(&["exec", "fixed", "ip", "-o", "-4", "addr", "show"]);
    assert!(addrs.contains("203.0.113.50/26"), "{addrs}");
    // Stopped, it is replaced and its replacement starts on the address.
    w.ok(&["stop", "-t", "0", "fixed"]);
    w.ok(&["rollout", "fx:1"]);
    assert_ne!(id(&w), old);
    w.ok(&["start", "fixed"]);
    let addrs = w.ok(&["exec", "fixed", "ip", "-o", "-4", "addr", "show"]);
    assert!(addrs.contains("203.0.113.50/26"), "{addrs}");
    assert_eq!(w.allocations().lines().count(), 1, "{}", w.allocations());
}
