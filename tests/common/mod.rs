//! Shared helpers for the end-to-end tests: the real binary, a temporary
//! store, and the fixture base images.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// The fixtures directory: `$SKIFF_FIXTURES`, else `<repo>/.fixtures`.
/// Fails loudly when the fixture tarballs are missing.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("SKIFF_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".fixtures"));
    assert!(
        dir.join("busybox.tar").is_file(),
        "test fixtures missing in {}: run scripts/fixtures.sh (scripts/test.sh does it)",
        dir.display()
    );
    dir
}

/// A temporary store that is removed when dropped.
pub struct TestStore {
    pub dir: tempfile::TempDir,
}

impl TestStore {
    pub fn new() -> TestStore {
        let base = std::env::var_os("SKIFF_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base).expect("test tmp dir");
        TestStore {
            dir: tempfile::Builder::new()
                .prefix("skiff-test-")
                .tempdir_in(base)
                .expect("tempdir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(skiff_bin());
        c.arg("--root").arg(self.root());
        c.env_remove("SKIFF_ROOT");
        // These tests run in the host's network namespace: a container
        // without --network stays loopback-only there instead of joining
        // the default bridge (tests/network.rs covers bridges, each in a
        // namespace it makes).
        c.env("SKIFF_NETWORK", "private");
        c
    }

    /// Run skiff with `args`, returning its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run skiff")
    }

    /// Run skiff and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run skiff and require the given exit code; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "skiff {args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Import the busybox fixture as `busybox:fixture`.
    pub fn with_busybox(self) -> TestStore {
        let tar = fixtures().join("busybox.tar");
        self.ok(&[
            "import",
            tar.to_str().expect("utf8 path"),
            "busybox:fixture",
        ]);
        self
    }

    /// Import the node fixture as `node:fixture`.
    pub fn with_node(self) -> TestStore {
        let tar = fixtures().join("node.tar");
        self.ok(&["import", tar.to_str().expect("utf8 path"), "node:fixture"]);
        self
    }

    /// Import the Redis fixture (Debian's redis-server over busybox) as
    /// `redis:fixture`.
    pub fn with_redis(self) -> TestStore {
        let tar = fixtures().join("redis.tar");
        self.ok(&["import", tar.to_str().expect("utf8 path"), "redis:fixture"]);
        self
    }
}

/// A snapshot of every file under `dir` with its size and mode, to prove a
/// failed command left the store as it was.
pub fn tree_snapshot(dir: &Path) -> Vec<(PathBuf, u64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
            if rel.as_os_str() == "lock" || rel.as_os_str() == "gc.lock" {
                continue;
            }
            out.push((rel, if m.is_dir() { 0 } else { m.len() }, m.mode()));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

static ONCE: OnceLock<()> = OnceLock::new();

/// Whether a command exists on PATH.
pub fn have(cmd: &str) -> bool {
    let _ = &ONCE;
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A TCP port free on the host's loopback at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET /` over HTTP/1.0 to 127.0.0.1:`port`: the trimmed body of a 200
/// answer, or what went wrong (connect, write, read, another status).
pub fn http_get_body(port: u16, read_timeout: std::time::Duration) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr = ([127, 0, 0, 1], port).into();
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(read_timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read: {e}"))?;
    let status = out.lines().next().unwrap_or("");
    if !(status.starts_with("HTTP/1.") && status.split(' ').nth(1) == Some("200")) {
        return Err(format!("answer {out:?}"));
    }
    out.split("\r\n\r\n")
        .nth(1)
        .map(|b| b.trim().to_string())
        .ok_or_else(|| format!("no body in {out:?}"))
}

/// A test store whose containers are removed (`rm -f`) when it is dropped,
/// even when the test fails: supervisors outlive the test process otherwise.
pub struct CleanStore(pub TestStore);

impl std::ops::Deref for CleanStore {
    type Target = TestStore;
    fn deref(&self) -> &TestStore {
        &self.0
    }
}

impl Drop for CleanStore {
    fn drop(&mut self) {
        let ids = self.0.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

/// A command's exit code and output, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run a shell script on the host; its stdout, or a panic with its output.
pub fn must(script: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(o.status.success(), "{script}: {}", show(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A network namespace made by the test (`ip netns add`, loopback up) and
/// removed when dropped. Its name carries `tag`, the test's pid and a
/// counter, so tests running at once never share one.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("skt-{tag}-{}-{n}", std::process::id());
        must(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        Netns { name }
    }

    /// Where `setns` finds it.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Run a shell script inside the namespace.
    pub fn sh(&self, script: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .output()
            .unwrap()
    }

    /// The same; its stdout, or a panic with its output.
    pub fn must(&self, script: &str) -> String {
        let o = self.sh(script);
        assert!(o.status.success(), "{script}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces made by the test and joined by a veth pair on a
/// documentation network: "the host" (`vh`, 192.0.2.2/24), where skiff
/// runs, and "the outside" (`vo`, 192.0.2.1/24), where its clients and
/// servers stand. No packet leaves them.
pub fn host_and_outside() -> (Netns, Netns) {
    let host = Netns::new("h");
    let outside = Netns::new("o");
    must(&format!(
        "ip link add vh netns {h} type veth peer name vo netns {o}",
        h = host.name,
        o = outside.name
    ));
    host.must("ip addr add 192.0.2.2/24 dev vh && ip link set vh up");
    outside.must("ip addr add 192.0.2.1/24 dev vo && ip link set vo up");
    (host, outside)
}
