//! skiff as an OCI runtime (`skiff oci` / `skiff-runc`), end to end with a
//! busybox bundle made from the fixture tar: runc's lifecycle, its error
//! behaviour and exit codes (1), what the spec asks honoured inside the
//! container, hostile config.json files refused with nothing left behind.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Bundle {
    tmp: TestStore,
    dir: PathBuf,
    state: PathBuf,
}

fn config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ocitest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}], "pids": {"limit": 64}},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

impl Bundle {
    fn new(cfg: &Value) -> Bundle {
        let tmp = TestStore::new();
        let dir = tmp.root().join("bundle");
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let st = Command::new("tar")
            .arg("-xf")
            .arg(fixtures().join("busybox.tar"))
            .arg("-C")
            .arg(dir.join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
        let state = tmp.root().join("state");
        let b = Bundle { tmp, dir, state };
        b.write_config(cfg);
        b
    }

    fn write_config(&self, cfg: &Value) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
    }

    /// `skiff oci --root STATE ARGS`, the container's stdio to `out`.
    fn oci(&self, args: &[&str]) -> Output {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.root().join("out"))
            .unwrap();
        // stderr to a file too: the container init inherits both and
        // outlives `create`, so pipes would never reach end-of-file.
        let err_path = self.tmp.root().join("stderr");
        let err = std::fs::File::create(&err_path).unwrap();
        let mut c = Command::new(skiff_bin());
        c.arg("oci").arg("--root").arg(&self.state).args(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let status = c.status().expect("run skiff oci");
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    fn ok(&self, args: &[&str]) {
        let o = self.oci(args);
        assert!(
            o.status.success(),
            "skiff oci {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.oci(args);
        assert_eq!(o.status.code(), Some(1), "skiff oci {args:?} should exit 1");
        String::from_utf8_lossy(&o.stderr).to_string()
    }

    fn state(&self, id: &str) -> Value {
        let o = Command::new(skiff_bin())
            .arg("oci")
            .arg("--root")
            .arg(&self.state)
            .args(["state", id])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn create(&self, id: &str) {
        let b = self.dir.to_str().unwrap();
        self.ok(&["create", "--bundle", b, id]);
    }

    fn wait_status(&self, id: &str, want: &str) {
        let t = Instant::now();
        while self.state(id)["status"] != want {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{id} never became {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.tmp.root().join("out")).unwrap_or_default()
    }

    fn nothing_left(&self, id: &str) {
        assert!(!self.state.join(id).exists(), "state of {id} left behind");
        for h in ["pids", "memory", "cpu", "cpuacct", "cpuset", "devices"] {
            let p = Path::new("/sys/fs/cgroup").join(h).join("skiff").join(id);
            assert!(!p.exists(), "cgroup {} left behind", p.display());
        }
    }
}

fn uid(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[test]
fn create_start_state_kill_delete() {
    let b = Bundle::new(&config(&[
        "sh",
        "-c",
        "echo started as $(hostname); sleep 30",
    ]));
    let id = uid("life");
    let pidfile = b.tmp.root().join("pid");
    b.ok(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["bundle"], b.dir.to_str().unwrap());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    // Created: the program has not run yet.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!b.output().contains("started"), "ran before start");
    b.ok(&["start", &id]);
    assert_eq!(b.state(&id)["status"], "running");
    let t = Instant::now();
    while !b.output().contains("started as ocitest") {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no output: {}",
            b.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second start of a running container is refused.
    assert!(b.fails(&["start", &id]).contains("running"));
    b.ok(&["kill", &id, "KILL"]);
    b.wait_status(&id, "stopped");
    assert!(b.state(&id).get("pid").is_none());
    b.ok(&["delete", &id]);
    b.nothing_left(&id);
    assert!(b.fails(&["state", &id]).contains("does not exist"));
}

#[test]
fn two_creates_with_one_id() {
    let b = Bundle::new(&config(&["sleep", "30"]));
    let id = uid("twice");
    b.create(&id);
    let pid = b.state(&id)["pid"].clone();
    let err = b.fails(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(err.contains("already exists"), "{err}");
    // The first one is untouched.
    assert_eq!(b.state(&id)["status"], "created");
    assert_eq!(b.state(&id)["pid"], pid);
    b.ok(&["delete", &id]); // a created container may be deleted
    b.nothing_left(&id);
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let b = Bundle::new(&config(&["sleep", "30"]));
    let id = uid("running");
    b.create(&id);
    b.ok(&["start", &id]);
    let err = b.fails(&["delete", &id]);
    assert!(err.contains("running") && err.contains("--force"), "{err}");
    assert_eq!(b.state(&id)["status"], "running");
    b.ok(&["delete", "--force", &id]);
    b.nothing_left(&id);
}

#[test]
fn kill_of_an_exited_container() {
    let b = Bundle::new(&config(&["true"]));
    let id = uid("exited");
    b.create(&id);
    b.ok(&["start", &id]);
    b.wait_status(&id, "stopped");
    let err = b.fails(&["kill", &id, "TERM"]);
    assert!(err.contains("not running"), "{err}");
    b.ok(&["delete", &id]);
    b.nothing_left(&id);
    assert!(b.fails(&["kill", &id]).contains("does not exist"));
}

#[test]
fn run_honours_user_capabilities_rlimits_and_masks() {
    let mut cfg = config(&[
        "sh",
        "-c",
        "id -u; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; ulimit -n; \
         ls /sys/firmware | wc -l; touch /x 2>/dev/null && echo rootfs-writable; \
         echo > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; exit 3",
    ]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
    let b = Bundle::new(&cfg);
    let id = uid("run");
    let o = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = b.output();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000", "{out}");
    assert!(lines[1].split(' ').any(|g| g == "10"), "{out}");
    // CHOWN(0) KILL(5) NET_BIND_SERVICE(10): bounding as given; a non-root
    // user keeps none effective at execve.
    assert!(out.contains("CapBnd:\t0000000000000421"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("\n1024\n"), "{out}");
    // /sys/firmware (not empty on the host) is masked by an empty tmpfs.
    assert!(out.contains("\n0\n"), "/sys/firmware not masked: {out}");
    assert!(!out.contains("rootfs-writable"), "{out}");
    assert!(!out.contains("sysrq-writable"), "{out}");
    b.nothing_left(&id);
}

#[test]
fn seccomp_from_the_spec_is_installed() {
    use skiff::runtime::seccomp::default_profile::ALLOWED;
    let mut cfg = config(&[
        "sh",
        "-c",
        "touch /tmp/f && echo touch-ok; mkdir /tmp/d && echo mkdir-ok; exit 0",
    ]);
    // An allow-list (as skiff's loader takes) without mkdir, answered EACCES.
    let names: Vec<&str> = ALLOWED
        .iter()
        .copied()
        .filter(|n| *n != "mkdir" && *n != "mkdirat")
        .chain(["arch_prctl", "clone", "personality", "socket"])
        .collect();
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    });
    let b = Bundle::new(&cfg);
    let id = uid("seccomp");
    let o = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(b.output().contains("touch-ok"), "{}", b.output());
    assert!(!b.output().contains("mkdir-ok"), "{}", b.output());
    b.nothing_left(&id);
}

#[test]
fn hostile_config_json_is_refused_with_nothing_left() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "mount outside the root",
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(
                    json!({"destination": "/../../../../tmp/escape", "type": "tmpfs", "source": "tmpfs"}),
                )
            }),
            "mounts[].destination",
        ),
        (
            "unknown namespace type",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "bogus"}))
            }),
            "config.json",
        ),
        (
            "masked path outside the root",
            Box::new(|c| c["linux"]["maskedPaths"] = json!(["/proc/../../etc/passwd"])),
            "maskedPaths",
        ),
        (
            "cgroupsPath climbing",
            Box::new(|c| c["linux"]["cgroupsPath"] = json!("/../../escape")),
            "cgroupsPath",
        ),
        (
            "user namespace without mappings",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "user"}))
            }),
            "uidMappings",
        ),
        (
            "hostname without a uts namespace",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "uts")
            }),
            "uts namespace",
        ),
        (
            "no mount namespace",
            Box::new(|c| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "mount")
            }),
            "mount namespace",
        ),
        (
            "seccomp that allows by default (skiff takes allow-lists)",
            Box::new(|c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
            }),
            "allow-lists only",
        ),
        (
            "seccomp with an unknown action",
            Box::new(|c| {
                c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_EXPLODE"}]})
            }),
            "config.json",
        ),
        (
            "unsupported resource",
            Box::new(|c| c["linux"]["resources"]["blockIO"] = json!({"weight": 10})),
            "blockIO",
        ),
        (
            "program missing",
            Box::new(|c| c["process"]["args"] = json!(["/no/such/program"])),
            "no/such/program",
        ),
    ];
    let b = Bundle::new(&config(&["true"]));
    for (what, edit, needle) in cases {
        let mut cfg = config(&["true"]);
        edit(&mut cfg);
        b.write_config(&cfg);
        let id = uid("hostile");
        let o = b.oci(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        b.nothing_left(&id);
    }
    assert!(!Path::new("/tmp/escape").exists());
    let left: Vec<_> = std::fs::read_dir(&b.state)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn called_as_skiff_runc() {
    let tmp = TestStore::new();
    let link = tmp.root().join("skiff-runc");
    std::os::unix::fs::symlink(skiff_bin(), &link).unwrap();
    let v = Command::new(&link).arg("--version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("skiff-runc "));
    let f = Command::new(&link).arg("features").output().unwrap();
    let f: Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!("pid")));
    let s = Command::new(&link)
        .args(["--systemd-cgroup", "state", "x"])
        .output()
        .unwrap();
    assert_eq!(s.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&s.stderr).contains("--systemd-cgroup is not supported"));
    let log = tmp.root().join("log.json");
    let s = Command::new(&link)
        .arg("--root")
        .arg(tmp.root().join("st"))
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "nope"])
        .output()
        .unwrap();
    assert_eq!(s.status.code(), Some(1));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn resources_and_cgroups_path_reach_the_cgroup() {
    let unified = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    let mut cfg = config(&["sleep", "30"]);
    let id = uid("res");
    let rel = format!("skiff-oci-test/{id}");
    cfg["linux"]["cgroupsPath"] = json!(format!("/{rel}"));
    cfg["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    cfg["linux"]["resources"]["pids"] = json!({"limit": 32});
    if !unified {
        cfg["linux"]["resources"]["cpu"] =
            json!({"shares": 512, "quota": 50000, "period": 200000, "cpus": "0"});
    }
    let b = Bundle::new(&cfg);
    b.create(&id);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&rel), "{cg}");
    if !unified {
        let read = |h: &str, f: &str| {
            std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(h).join(&rel).join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(read("pids", "pids.max"), "32");
        assert_eq!(read("cpu", "cpu.shares"), "512");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "200000");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    }
    b.ok(&["delete", "--force", &id]);
    for h in ["pids", "memory", "cpu", "cpuset"] {
        let p = Path::new("/sys/fs/cgroup").join(h).join(&rel);
        assert!(!p.exists(), "{} left behind", p.display());
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(h).join("skiff-oci-test"));
    }
}

#[test]
fn user_namespace_with_mappings() {
    let mut cfg = config(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/gid_map; ls -l /dev/null",
    ]);
    cfg["process"]["user"] = json!({"uid": 0, "gid": 0});
    cfg["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let b = Bundle::new(&cfg);
    let id = uid("userns");
    let o = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = b.output();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words[0], "0", "{out}");
    assert_eq!(&words[1..4], ["0", "100000", "65536"], "{out}");
    assert_eq!(&words[4..7], ["0", "100000", "65536"], "{out}");
    assert!(
        out.contains("1,   3"),
        "/dev/null is not the null device: {out}"
    );
    b.nothing_left(&id);
}

#[test]
fn exec_runs_in_the_running_container() {
    let b = Bundle::new(&config(&["sleep", "30"]));
    let id = uid("exec");
    b.create(&id);
    // Not yet running: refused.
    assert!(b.fails(&["exec", &id, "true"]).contains("created"));
    b.ok(&["start", &id]);
    let o = b.oci(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline; echo; exit 4",
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let proc_json = b.tmp.root().join("process.json");
    std::fs::write(
        &proc_json,
        json!({"args": ["sh", "-c", "id -u; echo $FOO; pwd"], "env": ["FOO=bar", "PATH=/bin"],
               "cwd": "/tmp", "user": {"uid": 1000, "gid": 1000}})
        .to_string(),
    )
    .unwrap();
    b.ok(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    let out = b.output();
    assert!(out.contains("ocitest\nsleep"), "{out}");
    assert!(out.contains("1000\nbar\n/tmp\n"), "{out}");
    b.ok(&["delete", "--force", &id]);
    b.nothing_left(&id);
}

/// A symlink in the bundle's rootfs pointing at a host directory: a mount
/// on it and a device path through it land inside the rootfs, never on
/// the host (destinations resolve with RESOLVE_IN_ROOT).
#[test]
fn mount_through_a_symlink_stays_inside_the_rootfs() {
    let host = TestStore::new();
    let host_dir = host.root().join("host-dir");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("keep"), "host").unwrap();
    let mut cfg = config(&["sh", "-c", "ls /evil; ls /evil2"]);
    cfg["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    cfg["linux"]["devices"] =
        json!([{"path": "/evil2/null2", "type": "c", "major": 1, "minor": 3}]);
    let b = Bundle::new(&cfg);
    std::os::unix::fs::symlink(&host_dir, b.dir.join("rootfs/evil")).unwrap();
    std::os::unix::fs::symlink(&host_dir, b.dir.join("rootfs/evil2")).unwrap();
    let id = uid("symlink");
    let o = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The host directory is untouched: no tmpfs over it, no device node in it.
    let entries: Vec<_> = std::fs::read_dir(&host_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("keep")]);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(host_dir.to_str().unwrap()));
    b.nothing_left(&id);
}
