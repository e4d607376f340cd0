//! The escape corpus: attempts to break out of a container started with
//! default options, each of which must fail, and fail for the reason the
//! README's "Security" section gives. Most attempts are one system call
//! made by a small static C program (`tests/escape/probe.c`, compiled here
//! with `gcc -static` and bind-mounted read-only at /probe); each prints one
//! line `ATTEMPT|name|blocked or ESCAPED|what happened|what stopped it`.
//! `scripts/escape-test.sh` runs the same corpus and prints a table.
//!
//! Where it makes sense the host is checked too: its hostname, its network
//! links, and (CVE-2019-5736) the sha256 of the skiff binary, for which a
//! copy of the binary is used, never the real one.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- the probe

/// The directory holding `probe` (static) and `evil` (`#!/proc/self/exe`),
/// built once per test process.
fn probe_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/escape/probe.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("escape-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(dir.join("probe"))
            .arg(&src)
            .output()
            .expect("gcc (apt-get install gcc libc6-dev)");
        assert!(
            out.status.success(),
            "gcc -static {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let evil = dir.join("evil");
        std::fs::write(&evil, "#!/proc/self/exe\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    })
}

fn probe_volume() -> String {
    format!("{}:/probe:ro", probe_dir().display())
}

/// One parsed `ATTEMPT|...` line.
#[derive(Debug)]
struct Attempt {
    name: String,
    escaped: bool,
    what: String,
    mechanism: String,
}

fn attempts(out: &Output) -> Vec<Attempt> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.strip_prefix("ATTEMPT|")?.splitn(4, '|');
            Some(Attempt {
                name: f.next()?.to_string(),
                escaped: f.next()? != "blocked",
                what: f.next()?.to_string(),
                mechanism: f.next()?.to_string(),
            })
        })
        .collect()
}

/// The single attempt line in `o`; panics unless it says blocked.
fn blocked(o: &Output, name: &str) -> Attempt {
    let mut all = attempts(o);
    assert_eq!(all.len(), 1, "one ATTEMPT line expected: {}", show(o));
    let a = all.remove(0);
    assert_eq!(a.name, name, "{}", show(o));
    assert!(
        !a.escaped,
        "ESCAPED: {name}: {} ({})\n{}",
        a.what,
        a.mechanism,
        show(o)
    );
    println!("{name}: blocked: {} [{}]", a.what, a.mechanism);
    a
}

fn busybox() -> TestStore {
    TestStore::new().with_busybox()
}

/// `skiff run --rm -v probe:/probe:ro busybox:fixture /probe/probe NAME`.
fn probe(s: &TestStore, name: &str) -> Attempt {
    let o = s.run(&[
        "run",
        "--rm",
        "-v",
        &probe_volume(),
        "busybox:fixture",
        "/probe/probe",
        name,
    ]);
    blocked(&o, name)
}

fn assert_mechanism(a: &Attempt, needle: &str) {
    assert!(
        a.mechanism.contains(needle),
        "{}: expected {needle:?}, got {:?} ({})",
        a.name,
        a.mechanism,
        a.what
    );
}

/// Blocked by the seccomp filter, proven by the probe: the same call with
/// invalid arguments also got EPERM instead of EINVAL/EFAULT/EBADF.
fn seccomp_blocks(name: &str) {
    let s = busybox();
    let a = probe(&s, name);
    assert_mechanism(&a, "seccomp filter (EPERM)");
}

// ---------------------------------------------------------------- syscalls

#[test]
fn mount_is_refused() {
    seccomp_blocks("mount");
}

#[test]
fn mount_with_the_new_mount_api_is_refused() {
    seccomp_blocks("mount-new-api");
}

#[test]
fn umount_is_refused() {
    seccomp_blocks("umount");
}

#[test]
fn unshare_user_namespace_is_refused() {
    seccomp_blocks("unshare-user");
}

#[test]
fn unshare_mount_namespace_is_refused() {
    seccomp_blocks("unshare-mnt");
}

#[test]
fn unshare_network_namespace_is_refused() {
    seccomp_blocks("unshare-net");
}

#[test]
fn clone_into_a_user_namespace_is_refused() {
    seccomp_blocks("clone-newuser");
}

#[test]
fn setns_is_refused() {
    seccomp_blocks("setns");
}

#[test]
fn keyctl_is_refused() {
    seccomp_blocks("keyctl");
}

#[test]
fn add_key_is_refused() {
    seccomp_blocks("add-key");
}

#[test]
fn bpf_is_refused() {
    seccomp_blocks("bpf");
}

#[test]
fn perf_event_open_is_refused() {
    seccomp_blocks("perf-event-open");
}

#[test]
fn io_uring_setup_is_refused() {
    seccomp_blocks("io-uring-setup");
}

/// ASLR cannot be turned off: docker's personas only.
#[test]
fn personality_addr_no_randomize_is_refused() {
    let s = busybox();
    let a = probe(&s, "personality");
    assert_mechanism(&a, "seccomp filter (EPERM)");
}

#[test]
fn kcmp_is_refused() {
    seccomp_blocks("kcmp");
}

#[test]
fn reboot_is_refused() {
    let s = busybox();
    let a = probe(&s, "reboot");
    assert_mechanism(&a, "seccomp");
}

#[test]
fn kexec_load_is_refused() {
    let s = busybox();
    let a = probe(&s, "kexec-load");
    assert_mechanism(&a, "seccomp");
}

#[test]
fn init_module_is_refused() {
    let s = busybox();
    let a = probe(&s, "init-module");
    assert_mechanism(&a, "seccomp");
}

// ---------------------------------------------------------------- hostname, network

fn host_hostname() -> String {
    nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn sethostname_is_refused_and_the_host_keeps_its_name() {
    let s = busybox();
    let before = host_hostname();
    let a = probe(&s, "sethostname");
    assert_mechanism(&a, "no CAP_SYS_ADMIN");
    // busybox's applet too
    let o = s.run(&["run", "--rm", "busybox:fixture", "hostname", "escaped"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(host_hostname(), before);
}

#[test]
fn writing_proc_sys_kernel_hostname_is_refused() {
    let s = busybox();
    let before = host_hostname();
    let a = probe(&s, "write-proc-sys-hostname");
    assert_mechanism(&a, "read-only mount");
    assert_eq!(host_hostname(), before);
}

fn host_links() -> String {
    let o = Command::new("ip").args(["-o", "link", "show"]).output();
    let o = o.expect("ip (iproute2)");
    // names only: counters and states may change on their own
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn adding_a_dummy_link_is_refused() {
    let s = busybox();
    let before = host_links();
    let a = probe(&s, "link-dummy");
    assert_mechanism(&a, "no CAP_NET_ADMIN");
    let o = s.run(&[
        "run",
        "--rm",
        "busybox:fixture",
        "ip",
        "link",
        "add",
        "dummy0",
        "type",
        "dummy",
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(host_links(), before);
}

#[test]
fn adding_a_veth_pair_is_refused() {
    let s = busybox();
    let before = host_links();
    let a = probe(&s, "link-veth");
    assert_mechanism(&a, "no CAP_NET_ADMIN");
    assert_eq!(host_links(), before);
}

// ---------------------------------------------------------------- devices

#[test]
fn a_block_device_made_with_mknod_cannot_be_opened() {
    let s = busybox();
    let a = probe(&s, "mknod-block");
    // mknod itself succeeds (CAP_MKNOD, as in docker); the device cgroup
    // refuses the open with EPERM before the driver is reached.
    assert!(a.what.contains(" ok, open: EPERM"), "{a:?}");
    assert_mechanism(&a, "device cgroup");
}

// ---------------------------------------------------------------- /proc and /sys

#[test]
fn writing_proc_sysrq_trigger_is_refused() {
    let s = busybox();
    let a = probe(&s, "write-sysrq-trigger");
    // absent on kernels without CONFIG_MAGIC_SYSRQ; read-only elsewhere
    assert!(
        a.mechanism.contains("read-only mount") || a.mechanism.contains("not in this kernel"),
        "{a:?}"
    );
}

#[test]
fn writing_proc_sys_vm_drop_caches_is_refused() {
    let s = busybox();
    let a = probe(&s, "write-proc-sys-drop-caches");
    assert_mechanism(&a, "read-only mount");
}

#[test]
fn writing_core_pattern_is_refused() {
    let s = busybox();
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let a = probe(&s, "write-core-pattern");
    assert_mechanism(&a, "read-only mount");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}

#[test]
fn writing_sys_is_refused() {
    let s = busybox();
    let a = probe(&s, "write-sys");
    assert_mechanism(&a, "read-only mount");
}

#[test]
fn writing_the_cgroupfs_is_refused() {
    let s = busybox();
    let a = probe(&s, "write-cgroupfs");
    assert_mechanism(&a, "read-only mount");
}

#[test]
fn reading_proc_kcore_is_refused() {
    let s = busybox();
    let a = probe(&s, "read-kcore");
    assert!(
        a.mechanism.contains("masked") || a.mechanism.contains("not in this kernel"),
        "{a:?}"
    );
}

#[test]
fn reading_proc_keys_shows_nothing() {
    let s = busybox();
    let a = probe(&s, "read-proc-keys");
    assert_mechanism(&a, "masked path");
}

#[test]
fn reading_sys_firmware_shows_nothing() {
    let s = busybox();
    let a = probe(&s, "read-sys-firmware");
    assert_mechanism(&a, "masked path");
}

// ---------------------------------------------------------------- descriptors, working directory

/// Hand `file` to skiff as descriptor 7 (CVE-2024-21626's setting).
fn with_fd7<'a>(cmd: &'a mut Command, file: &std::fs::File) -> &'a mut Command {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; the duplicate has no CLOEXEC.
    unsafe {
        cmd.pre_exec(move || {
            if fd != 7 && libc::dup2(fd, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if fd == 7 {
                libc::fcntl(7, libc::F_SETFD, 0);
            }
            Ok(())
        })
    }
}

#[test]
fn a_descriptor_inherited_from_the_host_does_not_reach_the_container() {
    let s = busybox();
    let host = std::fs::File::open("/etc/hostname").unwrap();
    let mut cmd = s.cmd();
    cmd.args([
        "run",
        "--rm",
        "-v",
        &probe_volume(),
        "busybox:fixture",
        "/probe/probe",
        "inherited-fd",
    ]);
    let o = with_fd7(&mut cmd, &host).output().unwrap();
    let a = blocked(&o, "inherited-fd");
    assert_mechanism(&a, "close_range");
}

/// A host directory with a marker file, for the working-directory attacks.
fn host_dir(s: &TestStore) -> (PathBuf, std::fs::File) {
    let dir = s.root().join("host-dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("HOST_MARKER"), "host").unwrap();
    let f = std::fs::File::open(&dir).unwrap();
    (dir, f)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// CVE-2024-21626: `-w /proc/self/fd/7` while skiff holds a host directory
/// as fd 7. The container must not start there, nor see the host directory.
fn workdir_attack(s: &TestStore, workdir: &str) -> Output {
    let (_, fd7) = host_dir(s);
    let mut cmd = s.cmd();
    cmd.args([
        "run",
        "--rm",
        "-w",
        workdir,
        "-v",
        &probe_volume(),
        "busybox:fixture",
        "/probe/probe",
        "cwd",
        "workdir-fd",
        "HOST_MARKER",
    ]);
    with_fd7(&mut cmd, &fd7).output().unwrap()
}

fn workdir_refused_or_inside(o: &Output) {
    if o.status.code() == Some(125) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("working directory"), "{}", show(o));
        println!(
            "workdir-fd: blocked: skiff refused to start: {}",
            err.trim()
        );
    } else {
        blocked(o, "workdir-fd");
    }
}

#[test]
fn workdir_through_a_leaked_fd_is_refused() {
    let s = busybox();
    let o = workdir_attack(&s, "/proc/self/fd/7");
    workdir_refused_or_inside(&o);
    let o = workdir_attack(&s, "/proc/self/fd/7/../..");
    workdir_refused_or_inside(&o);
}

#[test]
fn workdir_through_a_leaked_fd_creates_nothing_on_the_host() {
    // Regression: the missing working directory was created with
    // create_dir_all through /proc/self/fd/7, i.e. in the host directory,
    // before the getcwd check refused it.
    let s = busybox();
    let (dir, _) = host_dir(&s);
    let o = workdir_attack(&s, "/proc/self/fd/7/created-by-the-container");
    workdir_refused_or_inside(&o);
    assert_eq!(entries(&dir), ["HOST_MARKER"], "{}", show(&o));
}

#[test]
fn exec_workdir_through_a_leaked_fd_is_refused() {
    let s = busybox();
    let name = "escape-exec-workdir";
    s.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "busybox:fixture",
        "sleep",
        "60",
    ]);
    let (dir, fd7) = host_dir(&s);
    for w in ["/proc/self/fd/7", "/proc/self/fd/7/created-by-exec"] {
        let mut cmd = s.cmd();
        cmd.args(["exec", "-w", w, name, "pwd"]);
        let o = with_fd7(&mut cmd, &fd7).output().unwrap();
        assert_eq!(o.status.code(), Some(125), "exec -w {w}: {}", show(&o));
    }
    assert_eq!(entries(&dir), ["HOST_MARKER"]);
    s.ok(&["rm", "-f", name]);
}

// ---------------------------------------------------------------- CVE-2019-5736

/// A copy of skiff to attack, in the store's directory: the real binary is
/// never at risk.
struct SkiffCopy {
    store: TestStore,
    bin: PathBuf,
}

impl SkiffCopy {
    fn new(images: &[&str]) -> SkiffCopy {
        let store = TestStore::new();
        let bin = store.root().join("skiff-copy");
        // cp, not std::fs::copy: a writable descriptor of the copy held by
        // this process could leak into a concurrent test's fork and make
        // executing the copy fail with ETXTBSY.
        let o = Command::new("cp")
            .arg(skiff_bin())
            .arg(&bin)
            .output()
            .unwrap();
        assert!(o.status.success(), "cp: {}", show(&o));
        let c = SkiffCopy { store, bin };
        for image in images {
            let tar = fixtures().join(format!("{}.tar", image.split(':').next().unwrap()));
            let o = c.run(&["import", tar.to_str().unwrap(), image]);
            assert!(o.status.success(), "{}", show(&o));
        }
        c
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.store.root());
        c.env_remove("SKIFF_ROOT");
        c.env("SKIFF_NETWORK", "private");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// sha256sum's answer (sha2 in an unoptimized test build takes seconds
    /// for a debug skiff).
    fn sha256(&self) -> String {
        let o = Command::new("sha256sum").arg(&self.bin).output().unwrap();
        assert!(o.status.success(), "sha256sum: {}", show(&o));
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    fn size(&self) -> String {
        std::fs::metadata(&self.bin).unwrap().len().to_string()
    }
}

#[test]
fn run_of_a_proc_self_exe_program_leaves_the_binary_intact() {
    // The image's program is `#!/proc/self/exe`. In the foreground the init
    // execs skiff's sealed exec stub first, so the interpreter found there
    // is the stub (a sealed memfd), never skiff: it refuses to run by hand.
    let c = SkiffCopy::new(&["node:fixture"]);
    let before = c.sha256();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        let vol = probe_volume();
        args.extend_from_slice(&["-v", &vol, "node:fixture", "/probe/evil"]);
        c.run(&args)
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("skiff-exec:") && !err.contains("unknown command"),
        "the exec stub, not skiff, should have run inside the container: {}",
        show(&o)
    );
    assert_eq!(o.status.code(), Some(127), "{}", show(&o));
    assert_eq!(c.sha256(), before, "the skiff binary changed");
    println!("cve-2019-5736-run: blocked: the sealed exec stub ran inside, binary unchanged");
    // With --init, PID 1 stays skiff's code: skiff re-executes from the
    // read-only view of its binary, which is what runs inside (node:fixture
    // has the dynamic loader skiff needs), and can write nothing.
    let o = run(&["--init"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown command") && err.contains("/probe/evil"),
        "skiff's binary should have run inside the container: {}",
        show(&o)
    );
    assert_eq!(c.sha256(), before, "the skiff binary changed");
    println!("cve-2019-5736-run --init: blocked: skiff ran inside, binary unchanged");
}

#[test]
fn exec_of_a_proc_self_exe_program_cannot_overwrite_skiff() {
    // The classic exploit: a process in the container waits for skiff to
    // enter (`skiff exec` of a `#!/proc/self/exe` program), grabs
    // /proc/PID/exe and opens it O_WRONLY|O_TRUNC.
    let c = SkiffCopy::new(&["node:fixture"]);
    let before = c.sha256();
    let name = "escape-5736";
    let size = c.size();
    let o = c.run(&[
        "run",
        "-d",
        "--name",
        name,
        "-v",
        &probe_volume(),
        "node:fixture",
        "/probe/probe",
        "attack-exe",
        &size,
        "60",
    ]);
    assert!(o.status.success(), "{}", show(&o));
    // The window between skiff's execve and its exit is milliseconds: enter
    // until the attacker has caught one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut logs = String::new();
    let mut tries = 0;
    while Instant::now() < deadline {
        tries += 1;
        let _ = c
            .cmd()
            .args(["exec", name, "/probe/evil"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(200));
        logs = String::from_utf8_lossy(&c.run(&["logs", name]).stdout).into_owned();
        if logs.contains("ATTEMPT|") {
            break;
        }
    }
    let _ = c.run(&["rm", "-f", name]);
    let line = logs
        .lines()
        .find(|l| l.starts_with("ATTEMPT|"))
        .unwrap_or_else(|| panic!("the attacker saw no skiff process in {tries} execs: {logs}"));
    println!("{line} (after {tries} execs)");
    assert!(
        line.starts_with("ATTEMPT|cve-2019-5736-exec|blocked|pid "),
        "{line}"
    );
    assert!(
        line.contains("EROFS") || line.contains("sealed memfd"),
        "{line}"
    );
    assert_eq!(c.sha256(), before, "the skiff binary changed");
}

#[test]
fn the_tiny_init_binary_cannot_be_overwritten() {
    // With --init, PID 1 stays skiff's binary beside the program.
    let c = SkiffCopy::new(&["busybox:fixture"]);
    let before = c.sha256();
    let o = c.run(&[
        "run",
        "--rm",
        "--init",
        "-v",
        &probe_volume(),
        "busybox:fixture",
        "/probe/probe",
        "attack-pid1",
        &c.size(),
    ]);
    let a = blocked(&o, "cve-2019-5736-init");
    assert!(
        a.mechanism.contains("not dumpable") || a.mechanism.contains("sealed_exe"),
        "{a:?}"
    );
    assert_eq!(c.sha256(), before, "the skiff binary changed");
}

#[test]
fn init_environment_is_not_readable() {
    // Regression: the tiny init became non-dumpable only after forking the
    // program, which could read /proc/1/environ (skiff's environment, the
    // host's) in between. The race was lost about one run in three.
    let s = busybox();
    let size = std::fs::metadata(skiff_bin()).unwrap().len().to_string();
    for _ in 0..12 {
        let o = s
            .cmd()
            .env("SKIFF_ESCAPE_TEST_SECRET", "hunter2")
            .args([
                "run",
                "--rm",
                "--init",
                "-v",
                &probe_volume(),
                "busybox:fixture",
                "/probe/probe",
                "attack-pid1",
                &size,
            ])
            .output()
            .unwrap();
        let all = attempts(&o);
        assert!(
            all.iter().all(|a| a.name != "init-environ"),
            "PID 1's environment was readable: {}",
            show(&o)
        );
        blocked(&o, "cve-2019-5736-init");
    }
}

// ---------------------------------------------------------------- the whole corpus at once

#[test]
fn the_whole_corpus_in_one_container_is_blocked() {
    let s = busybox();
    let o = s.run(&[
        "run",
        "--rm",
        "-v",
        &probe_volume(),
        "busybox:fixture",
        "/probe/probe",
        "all",
    ]);
    let all = attempts(&o);
    let listed = Command::new(probe_dir().join("probe"))
        .arg("list")
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert_eq!(all.len(), names, "{}", show(&o));
    let escaped: Vec<&Attempt> = all.iter().filter(|a| a.escaped).collect();
    assert!(escaped.is_empty(), "ESCAPED: {escaped:#?}");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

/// A health check is a process the supervisor starts inside the
/// container (`skiff __probe`, joined like `exec`): the whole corpus run
/// as the check is blocked as well.
#[test]
fn the_whole_corpus_run_as_a_health_check_is_blocked() {
    let s = busybox();
    let name = format!("escape-health-{}", std::process::id());
    s.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &probe_volume(),
        "--health-cmd",
        "/probe/probe all > /tmp/report.part 2>&1; mv /tmp/report.part /tmp/report",
        "--health-interval",
        "300ms",
        "busybox:fixture",
        "sleep",
        "120",
    ]);
    let until = Instant::now() + Duration::from_secs(60);
    let o = loop {
        let o = s.run(&["exec", &name, "cat", "/tmp/report"]);
        if o.status.success() {
            break o;
        }
        assert!(Instant::now() < until, "the check never ran: {}", show(&o));
        std::thread::sleep(Duration::from_millis(100));
    };
    s.ok(&["rm", "-f", &name]);
    let all = attempts(&o);
    let listed = Command::new(probe_dir().join("probe"))
        .arg("list")
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout).lines().count();
    assert_eq!(all.len(), names, "{}", show(&o));
    let escaped: Vec<&Attempt> = all.iter().filter(|a| a.escaped).collect();
    assert!(
        escaped.is_empty(),
        "ESCAPED from a health check: {escaped:#?}"
    );
}

// ---------------------------------------------------------------- build mounts

/// `RUN --mount=type=bind` cannot reach the host through the context (a
/// symlink pointing out of it), and a writable bind cannot write into it.
#[test]
fn build_mounts_stay_inside_the_context() {
    let s = busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", ctx.path().join("hostetc")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN --mount=type=bind,source=hostetc,target=/h cat /h/shadow\n",
    )
    .unwrap();
    let o = s.run(&["build", "-t", "esc:1", ctx.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("Dockerfile:2") && err.contains("leads out of its root"),
        "{err}"
    );
    std::fs::write(ctx.path().join("a.txt"), "original\n").unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN --mount=type=bind,target=/c,rw sh -c 'echo changed > /c/a.txt; rm -f /c/Dockerfile; ln -sf /etc/shadow /c/link'\n",
    )
    .unwrap();
    s.ok(&["build", "-t", "esc:2", ctx.path().to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("a.txt")).unwrap(),
        "original\n"
    );
    assert!(ctx.path().join("Dockerfile").exists());
    assert!(!ctx.path().join("link").exists());
}

// ---------------------------------------------------------------- skiff cp

/// Removes the store's containers when dropped (also when the test fails):
/// supervisors would outlive the test otherwise.
struct Reaper<'a>(&'a TestStore);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        let ids = self.0.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

/// A tar entry written byte by byte (the tar crate refuses `..` names).
fn raw_tar_entry(out: &mut Vec<u8>, name: &str, kind: u8, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn cp_stdin(s: &TestStore, dest: &str, tar: &[u8]) -> Output {
    use std::io::Write;
    let mut child = s
        .cmd()
        .args(["cp", "-", dest])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(tar).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn cp_through_symlinks_planted_in_the_container_stays_inside_it() {
    let s = busybox();
    let _reaper = Reaper(&s);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "cpx",
        "busybox:fixture",
        "sleep",
        "600",
    ]);
    let host = tempfile::tempdir().unwrap();
    let hd = host.path().to_str().unwrap().to_string();
    std::fs::write(host.path().join("secret"), "host secret\n").unwrap();
    let before = tree_snapshot(host.path());
    // Symlinks to the host directory, absolute and through `..` (the same
    // path exists in the container: that is where the copy must land).
    s.ok(&[
        "exec", "cpx", "sh", "-c",
        &format!("mkdir -p {hd} && ln -s {hd} /abs && ln -s ../../../../../../..{hd} /rel && ln -s {hd}/secret /file"),
    ]);
    let src = host.path().join("payload");
    std::fs::write(&src, "pwned\n").unwrap();
    let before_payload = tree_snapshot(host.path());
    for dest in ["cpx:/abs/x", "cpx:/rel/x", "cpx:/abs/", "cpx:/rel/"] {
        let o = s.run(&["cp", src.to_str().unwrap(), dest]);
        assert!(o.status.success(), "{dest}: {}", show(&o));
    }
    s.ok(&["cp", src.to_str().unwrap(), "cpx:/file"]);
    assert_eq!(
        tree_snapshot(host.path()),
        before_payload,
        "the host directory was written"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("secret")).unwrap(),
        "host secret\n"
    );
    // What was written landed inside the container's root.
    let inside = s.ok(&[
        "exec",
        "cpx",
        "sh",
        "-c",
        &format!("cat {hd}/x {hd}/payload /file"),
    ]);
    assert_eq!(inside, "pwned\npwned\npwned\n");
    // Reading: the host's file is never read through the container's links.
    s.ok(&[
        "exec",
        "cpx",
        "sh",
        "-c",
        "rm /file && ln -s /../../../../etc/hostname /file2",
    ]);
    let out = tempfile::tempdir().unwrap();
    s.ok(&["cp", "cpx:/file2", out.path().join("f").to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(out.path().join("f"))
        .unwrap()
        .file_type()
        .is_symlink());
    let o = s.run(&[
        "cp",
        "cpx:/rel/secret",
        out.path().join("g").to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "read the host's secret: {}", show(&o));
    assert!(!out.path().join("g").exists());
    // The same through a stopped container's privately mounted overlay.
    s.ok(&["stop", "-t", "0", "cpx"]);
    s.ok(&["cp", src.to_str().unwrap(), "cpx:/rel/y"]);
    s.ok(&["cp", src.to_str().unwrap(), "cpx:/abs/"]);
    assert_eq!(
        tree_snapshot(host.path()),
        before_payload,
        "written through a stopped container"
    );
    let o = s.run(&[
        "cp",
        "cpx:/rel/secret",
        out.path().join("h").to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "read the host's secret: {}", show(&o));
    s.ok(&["start", "cpx"]);
    assert_eq!(s.ok(&["exec", "cpx", "cat", &format!("{hd}/y")]), "pwned\n");
    drop(before);
}

#[test]
fn cp_tar_streams_cannot_leave_the_destination() {
    let s = busybox();
    let _reaper = Reaper(&s);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "cpt",
        "busybox:fixture",
        "sleep",
        "600",
    ]);
    let host = tempfile::tempdir().unwrap();
    let hd = host.path().to_str().unwrap().to_string();
    let before = tree_snapshot(host.path());
    // `..` past the destination.
    let mut t = Vec::new();
    raw_tar_entry(
        &mut t,
        "../../../../../../../../tmp/cp-dotdot",
        b'0',
        "",
        b"x",
    );
    t.resize(t.len() + 1024, 0);
    let o = cp_stdin(&s, "cpt:/tmp", &t);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("leaves the destination"),
        "{}",
        show(&o)
    );
    // A symlink to the host, then a file through it.
    let mut t = Vec::new();
    raw_tar_entry(&mut t, "l", b'2', &hd, b"");
    raw_tar_entry(&mut t, "l/pwn", b'0', "", b"x");
    t.resize(t.len() + 1024, 0);
    let o = cp_stdin(&s, "cpt:/tmp", &t);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is a symlink"),
        "{}",
        show(&o)
    );
    // Copied out to the host, the same tree cannot write through `l` either.
    let out = tempfile::tempdir().unwrap();
    s.ok(&["cp", "cpt:/tmp/l", out.path().join("l").to_str().unwrap()]);
    assert_eq!(tree_snapshot(host.path()), before);
    // Device nodes and fifos are refused in a stream.
    let mut t = Vec::new();
    raw_tar_entry(&mut t, "sda", b'4', "", b"");
    t.resize(t.len() + 1024, 0);
    let o = cp_stdin(&s, "cpt:/tmp", &t);
    assert_eq!(o.status.code(), Some(125), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("device node"),
        "{}",
        show(&o)
    );
    assert!(!s.ok(&["exec", "cpt", "ls", "/tmp"]).contains("sda"));
}

#[test]
fn cp_refuses_devices_and_kernel_filesystems() {
    let s = busybox();
    let _reaper = Reaper(&s);
    s.ok(&[
        "run",
        "-d",
        "--name",
        "cpd",
        "busybox:fixture",
        "sleep",
        "600",
    ]);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("o");
    let e = s.fails(&["cp", "cpd:/dev/zero", o.to_str().unwrap()], 125);
    assert!(e.contains("device node"), "{e}");
    let e = s.fails(&["cp", "cpd:/proc/1/environ", o.to_str().unwrap()], 125);
    assert!(e.contains("proc filesystem"), "{e}");
    let f = out.path().join("core_pattern");
    std::fs::write(&f, "|/tmp/pwn\n").unwrap();
    let host_before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let e = s.fails(&["cp", f.to_str().unwrap(), "cpd:/proc/sys/kernel/"], 125);
    assert!(e.contains("proc filesystem"), "{e}");
    let e = s.fails(&["cp", f.to_str().unwrap(), "cpd:/sys/kernel/x"], 125);
    assert!(e.contains("sysfs filesystem"), "{e}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        host_before
    );
    // A whole-root copy skips /proc, /sys and devices with a warning.
    let o = s.run(&["cp", "cpd:/", "-"]);
    assert!(o.status.success(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("skipped proc") && err.contains("skipped dev/null"),
        "{err}"
    );
    assert!(!out.path().join("o").exists());
}
/// A named volume is filled from the image's directory on first use; an
/// image whose path is a symlink to a host directory (`/data -> /etc`)
/// must not get the host's files copied into the volume.
#[test]
fn a_new_volume_is_never_filled_through_an_image_symlink() {
    let s = busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN rm -rf /data && ln -s /etc /data && mkdir -p /real && ln -s /etc/ssl /real/ssl\n",
    )
    .unwrap();
    s.ok(&["build", "-t", "esc:vol", ctx.path().to_str().unwrap()]);
    for (vol, target) in [
        ("viasym", "/data"),
        ("viasub", "/data/ssl"),
        ("leaf", "/real/ssl"),
    ] {
        let _ = s.run(&[
            "run",
            "--rm",
            "-v",
            &format!("{vol}:{target}"),
            "esc:vol",
            "true",
        ]);
        let data = s.root().join("volumes").join(vol).join("_data");
        assert!(data.is_dir(), "volume {vol} was not created");
        let inside: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(inside.is_empty(), "volume {vol} got host files: {inside:?}");
    }
}
