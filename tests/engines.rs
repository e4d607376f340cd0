//! A real engine drives skiff-runc: containerd (Debian's package) on a
//! private socket, root and state directory, with the busybox fixture
//! imported from `skiff save`, runs containers through the runc shim with
//! `--runc-binary skiff-runc`: run with an exit code, a detached task,
//! exec (with its pid file read by the shim), pause and resume, SIGKILL of
//! a paused task, and removal. Skipped, saying why, only when containerd
//! is not installed and cannot be. Containers get only a loopback network
//! (ctr makes no CNI network); every wait is bounded.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// containerd and ctr, installed from Debian's packages when missing.
fn containerd_installed() -> bool {
    if have("containerd") && have("ctr") && have("containerd-shim-runc-v2") {
        return true;
    }
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "containerd"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok && have("containerd") && have("ctr")
}

/// A containerd of our own: its socket, root and state under a temporary
/// directory (never the system's), stopped on drop.
struct Containerd {
    dir: tempfile::TempDir,
    child: Child,
    ns: String,
    ids: Vec<String>,
}

impl Containerd {
    fn start() -> Containerd {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{0}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{0}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{0}/debug.sock\"\n",
            d.display()
        );
        std::fs::write(d.join("config.toml"), config).expect("config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start containerd");
        std::fs::create_dir(d.join("bin")).expect("mkdir");
        std::os::unix::fs::symlink(skiff_bin(), d.join("bin/skiff-runc")).expect("link");
        let c = Containerd {
            dir,
            child,
            ns: format!("skiff-test-{}", std::process::id()),
            ids: Vec::new(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        while !c.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < until,
                "containerd did not answer within 20 s: {}",
                std::fs::read_to_string(c.dir.path().join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn runtime(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            self.dir.path().join("bin/skiff-runc").display().to_string(),
            "--runc-root".into(),
            self.dir.path().join("runc").display().to_string(),
        ]
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("60")
            .arg("ctr")
            .arg("-a")
            .arg(self.sock())
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(
            o.status.success(),
            "ctr {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn task_status(&self, id: &str) -> String {
        let out = self.ok(&["task", "ls"]);
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let st = self.task_status(id);
            if st == want {
                return;
            }
            assert!(Instant::now() < until, "task {id} is {st:?}, not {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for id in self.ids.clone() {
            let _ = self.ctr(&["task", "kill", "-s", "SIGKILL", &id]);
            let _ = self.ctr(&["task", "rm", "-f", &id]);
            let _ = self.ctr(&["container", "rm", &id]);
        }
        // The namespace's parent cgroup (cgroupsPath /<namespace>/<id>),
        // which containerd leaves for the next container, as with runc.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.filter_map(|e| e.ok()) {
                let _ = std::fs::remove_dir(h.path().join(&self.ns));
            }
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.ns));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The busybox fixture as containerd's `busybox:fixture`, from `skiff save`.
fn import_busybox(c: &Containerd, dir: &Path) {
    let s = TestStore::new().with_busybox();
    let tar = dir.join("busybox.tar");
    s.ok(&["save", "-o", tar.to_str().expect("utf8"), "busybox:fixture"]);
    c.ok(&["images", "import", tar.to_str().expect("utf8")]);
    assert!(c.ok(&["images", "ls", "-q"]).contains("busybox:fixture"));
}

#[test]
fn containerd_runs_containers_through_skiff_runc() {
    if !containerd_installed() {
        eprintln!("SKIPPED: containerd is not installed and `apt-get install containerd` failed");
        return;
    }
    let mut c = Containerd::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    import_busybox(&c, tmp.path());
    let rt = c.runtime();
    let rt: Vec<&str> = rt.iter().map(String::as_str).collect();

    // run --rm: output and exit code come back through the shim.
    let id = format!("run-{}", std::process::id());
    c.ids.push(id.clone());
    let mut args = vec!["run", "--rm", "--seccomp"];
    args.extend(&rt);
    args.extend([
        "busybox:fixture",
        &id,
        "sh",
        "-c",
        "echo hello from skiff-runc; grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; exit 3",
    ]);
    let o = c.ctr(&args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("hello from skiff-runc"), "{out}");
    // What the bundle asks for (`--seccomp`: containerd's default
    // profile; docker's capability set) is what the process has.
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("CapBnd:\t00000000a80425fb"), "{out}");

    // A detached task: exec (the shim reads exec's --pid-file), exit codes
    // of exec, pause and resume, then SIGKILL while paused.
    let id = format!("task-{}", std::process::id());
    c.ids.push(id.clone());
    let mut args = vec!["run", "-d"];
    args.extend(&rt);
    args.extend(["busybox:fixture", &id, "sleep", "300"]);
    c.ok(&args);
    c.wait_status(&id, "RUNNING");
    let out = c.ok(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec ok; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(
        out.contains("exec ok") && out.contains("sleep 300"),
        "{out}"
    );
    let o = c.ctr(&["task", "exec", "--exec-id", "e2", &id, "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    let ps = c.ok(&["task", "ps", &id]);
    assert!(ps.lines().count() >= 2, "{ps}");

    c.ok(&["task", "pause", &id]);
    c.wait_status(&id, "PAUSED");
    let o = c.ctr(&["task", "exec", "--exec-id", "e3", &id, "true"]);
    assert!(!o.status.success(), "exec into a paused task must fail");
    c.ok(&["task", "resume", &id]);
    c.wait_status(&id, "RUNNING");
    c.ok(&["task", "exec", "--exec-id", "e4", &id, "true"]);

    c.ok(&["task", "pause", &id]);
    c.wait_status(&id, "PAUSED");
    c.ok(&["task", "kill", "-s", "SIGKILL", &id]);
    c.wait_status(&id, "STOPPED");
    // A kill of the exited task is "already finished", not an error.
    c.ok(&["task", "rm", "-f", &id]);
    c.ok(&["container", "rm", &id]);
    assert!(!c.ok(&["container", "ls", "-q"]).contains(&id));
    // Nothing of skiff-runc's state is left behind (the shim gives it
    // `--root <runc-root>/<namespace>`).
    let left: Vec<_> = std::fs::read_dir(c.dir.path().join("runc").join(&c.ns))
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left in --runc-root: {left:?}");
}

/// podman with skiff-runc as its runtime, on a private store. podman's
/// default rlimits (nofile and nproc 1048576) are above this host's hard
/// limits, which no runtime may raise (runc and crun fail the same way),
/// so the test gives its own with `--ulimit`.
#[test]
fn podman_runs_containers_through_skiff_runc() {
    if !have("podman") {
        eprintln!("SKIPPED: podman is not installed (scripts/test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::os::unix::fs::symlink(skiff_bin(), d.join("skiff-runc")).expect("link");
    let podman = |args: &[&str]| -> Output {
        Command::new("timeout")
            .arg("60")
            .arg("podman")
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .arg("--runtime")
            .arg(d.join("skiff-runc"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman")
    };
    let ok = |args: &[&str]| -> String {
        let o = podman(args);
        assert!(
            o.status.success(),
            "podman {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let s = TestStore::new().with_busybox();
    let tar = d.join("busybox.tar");
    s.ok(&["save", "-o", tar.to_str().expect("utf8"), "busybox:fixture"]);
    ok(&["load", "-i", tar.to_str().expect("utf8")]);
    let limits = [
        "--ulimit",
        "nofile=1024:4096",
        "--ulimit",
        "nproc=1024:4096",
        "--network",
        "none",
    ];
    // podman's default sysctl (net.ipv4.ping_group_range) is written
    // before /proc/sys turns read-only, as runc does.
    let mut args = vec!["run", "--rm"];
    args.extend(limits);
    args.extend([
        "localhost/busybox:fixture",
        "sh",
        "-c",
        "echo hi; cat /proc/sys/net/ipv4/ping_group_range; grep Seccomp: /proc/self/status",
    ]);
    let out = ok(&args);
    assert!(out.contains("hi") && out.contains("0\t0"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");

    let name = format!("pk-{}", std::process::id());
    let mut args = vec!["run", "-d", "--name", &name];
    args.extend(limits);
    args.extend(["localhost/busybox:fixture", "sleep", "300"]);
    ok(&args);
    assert!(ok(&["exec", &name, "sh", "-c", "echo exec ok"]).contains("exec ok"));
    assert_eq!(
        podman(&["exec", &name, "sh", "-c", "exit 5"]).status.code(),
        Some(5)
    );
    ok(&["pause", &name]);
    ok(&["unpause", &name]);
    ok(&["rm", "-f", "-t", "0", &name]);
    assert!(!ok(&["ps", "-a"]).contains(&name));
    let _ = podman(&["rmi", "-a", "-f"]);
}
