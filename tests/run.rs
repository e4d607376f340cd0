//! End-to-end tests of `skiff run`: real containers from the busybox fixture,
//! each test in its own temporary store. They need root, overlayfs and the
//! fixtures (scripts/fixtures.sh); a missing fixture fails loudly.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::Duration;

/// The leftover test counts cgroups and mounts host-wide, so it runs alone:
/// every other test holds this lock shared, it holds it exclusively.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

fn busybox() -> TestStore {
    TestStore::new().with_busybox()
}

/// `skiff run --rm busybox:fixture ARGS...` with extra options before the image.
fn run(s: &TestStore, opts: &[&str], args: &[&str]) -> Output {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(opts);
    all.push("busybox:fixture");
    all.extend_from_slice(args);
    s.run(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a shell script in the container; require exit 0; return stdout.
fn sh(s: &TestStore, opts: &[&str], script: &str) -> String {
    let o = run(s, opts, &["sh", "-c", script]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "script {script:?} with {opts:?}:\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn containers_left(s: &TestStore) -> usize {
    std::fs::read_dir(s.root().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// All container cgroup directories skiff has on the host.
fn skiff_cgroups() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let parents: Vec<PathBuf> = if unified() {
        vec![PathBuf::from("/sys/fs/cgroup/skiff")]
    } else {
        std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path().join("skiff"))
                    .collect()
            })
            .unwrap_or_default()
    };
    for p in parents {
        if let Ok(d) = std::fs::read_dir(&p) {
            out.extend(
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.path()),
            );
        }
    }
    out.sort();
    out
}

fn mountinfo() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    // Drop the mount ids, which are not stable across identical mounts.
    let mut v: Vec<String> = text
        .lines()
        .map(|l| l.split(' ').skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

#[test]
fn echo_and_exit_codes() {
    let _g = shared();
    let s = busybox();
    let o = run(&s, &[], &["echo", "hi"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str()),
        (Some(0), "hi\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(run(&s, &[], &["sh", "-c", "exit 3"]).status.code(), Some(3));
    // Everything after IMAGE belongs to the container, dashes included.
    assert_eq!(
        stdout(&run(&s, &[], &["echo", "-n", "--rm", "-e"])),
        "--rm -e"
    );
    // (128 + signal when the init is killed: see killing_the_init_cleans_up.)
    assert_eq!(containers_left(&s), 0);
}

#[test]
fn command_not_found_or_not_executable() {
    let _g = shared();
    let s = busybox();
    let o = run(&s, &[], &["no-such-command"]);
    assert_eq!(o.status.code(), Some(127));
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert_eq!(run(&s, &[], &["/no/such/file"]).status.code(), Some(127));
    let o = run(&s, &[], &["/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stderr(&o).contains("ermission denied"), "{}", stderr(&o));
    assert_eq!(containers_left(&s), 0);
}

#[test]
fn bad_input_is_one_line_and_125() {
    let _g = shared();
    let s = busybox();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--rm", "no-such-image:1", "true"], "no such image"),
        (
            &["run", "--rm", "-m", "12x", "busybox:fixture", "true"],
            "invalid memory value",
        ),
        (
            &["run", "--rm", "--cpus", "lots", "busybox:fixture", "true"],
            "invalid --cpus",
        ),
        (
            &[
                "run",
                "--rm",
                "-v",
                "/no/such/dir:/data",
                "busybox:fixture",
                "true",
            ],
            "bind mount source /no/such/dir does not exist",
        ),
        (
            &[
                "run",
                "--rm",
                "--network",
                "bogus",
                "busybox:fixture",
                "true",
            ],
            "network bogus not found",
        ),
        (&["run", "--rm", "busybox:fixture"], "no command specified"),
    ];
    for (args, want) in cases {
        let err = s.fails(args, 125);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(containers_left(&s), 0);
}

#[test]
fn missing_layers_are_a_clear_error() {
    let _g = shared();
    let s = busybox();
    // Remove the unpacked layer and its blob (the largest blob).
    std::fs::remove_dir_all(s.root().join("layers")).expect("remove layers");
    std::fs::create_dir(s.root().join("layers")).expect("layers dir");
    let blobs = s.root().join("oci/blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .filter_map(|e| e.ok())
        .max_by_key(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .expect("a blob");
    std::fs::remove_file(biggest.path()).unwrap();
    let err = s.fails(&["run", "--rm", "busybox:fixture", "true"], 125);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("layer") || err.contains("blob"), "{err}");
    assert_eq!(containers_left(&s), 0);
}

#[test]
fn env_workdir_user_hostname() {
    let _g = shared();
    let s = busybox();
    let envfile = s.root().join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=1\nFOO=from-file\n").unwrap();
    let out = sh(
        &s,
        &["-e", "FOO=bar", "--env-file", envfile.to_str().unwrap(), "-w", "/tmp/new/dir", "-u", "1000:1000", "--hostname", "box"],
        "id -u; id -g; pwd; echo $FOO $FROM_FILE $HOME $HOSTNAME; hostname; cat /etc/hostname; echo $PATH",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "1000",
            "1000",
            "/tmp/new/dir",
            "bar 1 /home/node box",
            "box",
            "box",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ]
    );
    // A user name from the image's passwd, HOME from there.
    let out = sh(&s, &["-u", "node"], "id -un; echo $HOME");
    assert_eq!(out, "node\n/home/node\n");
    let o = run(&s, &["-u", "ghost"], &["true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("unable to find user ghost"),
        "{}",
        stderr(&o)
    );
    // Default hostname: the short container id.
    let h = sh(&s, &[], "hostname").trim().to_string();
    assert!(
        h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit()),
        "{h}"
    );
    // --entrypoint replaces the image's and takes the args.
    let o = run(&s, &["--entrypoint", "/bin/echo"], &["a", "b"]);
    assert_eq!(stdout(&o), "a b\n");
}

#[test]
fn command_is_pid_1_in_own_namespaces() {
    let _g = shared();
    let s = busybox();
    let out = sh(&s, &[], "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/self/cgroup | grep memory || cat /proc/self/cgroup");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    assert!(lines[1].parse::<u32>().unwrap() <= 3, "{out}");
    assert!(lines[2].ends_with(":/"), "cgroup namespace: {out}");
    // /proc/1/exe is the container's program, never skiff.
    assert_eq!(sh(&s, &[], "readlink /proc/1/exe"), "/bin/busybox\n");
}

#[test]
fn limits_are_set_in_the_cgroup() {
    let _g = shared();
    let s = busybox();
    let script = if unified() {
        "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max"
    } else {
        "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us pids/pids.max"
    };
    let out = sh(
        &s,
        &["-m", "64m", "--cpus", "0.5", "--pids-limit", "50"],
        script,
    );
    let want = if unified() {
        "67108864\n0\n50000 100000\n50\n"
    } else {
        "67108864\n67108864\n50000\n100000\n50\n"
    };
    assert_eq!(out, want);
}

#[test]
fn allocation_past_the_limit_is_oom_killed() {
    let _g = shared();
    let s = busybox();
    let o = run(
        &s,
        &["-m", "32m"],
        &[
            "sh",
            "-c",
            "x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo survived ${#x}",
        ],
    );
    assert_eq!(o.status.code(), Some(137), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("out of memory"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("survived"));
}

#[test]
fn fork_bomb_stops_at_pids_limit() {
    let _g = shared();
    let s = busybox();
    let pids = if unified() {
        "/sys/fs/cgroup/pids.current"
    } else {
        "/sys/fs/cgroup/pids/pids.current"
    };
    let script = format!(
        "sh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done' 2>/dev/null; cat {pids}"
    );
    let started = std::time::Instant::now();
    let out = sh(&s, &["--pids-limit", "20"], &script);
    let current: u32 = out.trim().parse().unwrap();
    assert!(current <= 20, "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn read_only_rootfs_and_tmpfs() {
    let _g = shared();
    let s = busybox();
    let o = run(&s, &["--read-only"], &["touch", "/x"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // /dev, /dev/shm and a --tmpfs stay writable.
    sh(
        &s,
        &["--read-only", "--tmpfs", "/run"],
        "touch /run/x /dev/shm/y && echo ok > /dev/null",
    );
    let out = sh(
        &s,
        &["--tmpfs", "/run:size=1m"],
        "grep ' /run ' /proc/mounts",
    );
    assert!(out.contains("tmpfs") && out.contains("noexec"), "{out}");
}

#[test]
fn bind_mounts() {
    let _g = shared();
    let s = busybox();
    let data = s.root().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), "hello\n").unwrap();
    let ro = format!("{}:/srv/data:ro", data.display());
    let o = run(
        &s,
        &["-v", &ro],
        &["sh", "-c", "cat /srv/data/f; touch /srv/data/g"],
    );
    assert_eq!(stdout(&o), "hello\n");
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert!(!data.join("g").exists());
    let rw = format!("{}:/srv/data", data.display());
    sh(&s, &["-v", &rw], "echo new > /srv/data/g");
    assert_eq!(std::fs::read_to_string(data.join("g")).unwrap(), "new\n");
    // A single file.
    let file = format!("{}:/etc/motd:ro", data.join("f").display());
    assert_eq!(sh(&s, &["-v", &file], "cat /etc/motd"), "hello\n");
}

#[test]
fn network_modes() {
    let _g = shared();
    let s = busybox();
    let private = sh(&s, &[], "ls /sys/class/net; ip link show lo");
    assert!(private.starts_with("lo\n"), "{private}");
    assert!(private.contains("UP"), "{private}");
    let none = sh(
        &s,
        &["--network", "none"],
        "ls /sys/class/net; ip link show lo",
    );
    assert!(none.starts_with("lo\n") && !none.contains(",UP"), "{none}");
    let host = sh(&s, &["--network", "host"], "ls /sys/class/net");
    let mut want: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want.sort();
    let mut got: Vec<String> = host.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn docker_default_security() {
    let _g = shared();
    let s = busybox();
    let out = sh(
        &s,
        &[],
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
    );
    let want = "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
    assert_eq!(out, want);
    let out = sh(
        &s,
        &["-u", "1000"],
        "grep -E '^(CapEff|CapBnd):' /proc/self/status",
    );
    assert_eq!(
        out,
        "CapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n"
    );
    let out = sh(
        &s,
        &["--security-opt", "no-new-privileges=false"],
        "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
    );
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t2\n");
    // Blocked by seccomp even where capabilities would allow: unshare, and
    // clock_settime (date -s) needs CAP_SYS_TIME anyway; check the errno.
    let o = run(&s, &[], &["unshare", "-U", "true"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not permitted"), "{}", stderr(&o));
}

#[test]
fn masked_and_read_only_paths() {
    let _g = shared();
    let s = busybox();
    let out = sh(
        &s,
        &[],
        "cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; grep -c . /proc/keys || true",
    );
    assert_eq!(out, "0\n0\n0\n");
    let o = run(&s, &[], &["sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let mounts = sh(&s, &[], "cat /proc/self/mountinfo");
    for p in [" /proc/sys ", " /proc/bus ", " /proc/fs ", " /proc/irq "] {
        let line = mounts
            .lines()
            .find(|l| l.contains(p))
            .unwrap_or_else(|| panic!("{p} not mounted:\n{mounts}"));
        assert!(line.contains(" ro,") || line.contains(" ro "), "{line}");
    }
    let sys = mounts.lines().find(|l| l.contains(" /sys ")).unwrap();
    assert!(sys.contains(" ro,"), "{sys}");
}

#[test]
fn only_default_devices_and_no_leaked_fds() {
    let _g = shared();
    let s = busybox();
    let out = sh(&s, &[], "ls /dev | tr '\\n' ' '");
    assert_eq!(
        out,
        "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
    );
    // mknod works (CAP_MKNOD), opening a disk does not (device cgroup).
    let o = run(
        &s,
        &[],
        &["sh", "-c", "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda"],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not permitted"), "{}", stderr(&o));
    // Only 0, 1, 2 and the directory ls itself opens.
    let out = sh(&s, &[], "ls /proc/self/fd | tr '\\n' ' '");
    assert_eq!(out, "0 1 2 3 ");
    // Even when skiff is given extra descriptors.
    let extra = std::fs::File::open("/etc/hostname").unwrap();
    let mut cmd = s.cmd();
    cmd.args(["run", "--rm", "busybox:fixture", "ls", "/proc/self/fd"]);
    let o = unsafe_inherit(&mut cmd, &extra).output().unwrap();
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
}

/// Let `fd` survive into skiff (clear close-on-exec in the child).
fn unsafe_inherit<'a>(cmd: &'a mut Command, file: &std::fs::File) -> &'a mut Command {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::fcntl(fd, libc::F_SETFD, 0);
            Ok(())
        })
    }
}

#[test]
fn terminal() {
    let _g = shared();
    let s = busybox();
    let o = run(&s, &["-t"], &["sh", "-c", "tty; ls -l /proc/self/fd/1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("-> /dev/pts/0"), "{out:?}");
}

#[test]
fn signals_are_forwarded() {
    let _g = shared();
    let s = busybox();
    let child = s
        .cmd()
        .args([
            "run",
            "--rm",
            "busybox:fixture",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 7' TERM; echo ready; sleep 100 & wait",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    wait_for_init(&child);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stdout(&o).contains("got TERM"));
}

/// Wait until the container init runs the container's program.
fn wait_for_init(child: &std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if init_of(child.id()).is_some() {
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("container did not start");
}

/// The container init: the child of skiff's (re-executed) process.
fn init_of(skiff: u32) -> Option<i32> {
    let children = std::fs::read_to_string(format!("/proc/{skiff}/task/{skiff}/children")).ok()?;
    let pid: i32 = children.split_whitespace().next()?.parse().ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    (exe == Path::new("/bin/busybox")).then_some(pid)
}

#[test]
fn killing_the_init_cleans_up() {
    let _g = shared();
    let s = busybox();
    let child = s
        .cmd()
        .args([
            "run",
            "--rm",
            "-m",
            "64m",
            "busybox:fixture",
            "sleep",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_init(&child);
    let init = init_of(child.id()).expect("init");
    let cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let id = cgroup
        .lines()
        .find_map(|l| l.split("/skiff/").nth(1))
        .expect("in a skiff cgroup")
        .to_string();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(137));
    assert!(
        skiff_cgroups().iter().all(|p| !p.ends_with(&id)),
        "cgroup {id} left behind"
    );
    assert_eq!(containers_left(&s), 0);
}

#[test]
fn skiff_binary_is_read_only_to_the_container() {
    // CVE-2019-5736: with --init skiff's code stays in the container as
    // PID 1, so what a container could reach through /proc/<pid>/exe of
    // skiff's processes is on a read-only mount, even after skiff exits.
    // (Without --init nothing in the container runs skiff's binary: the
    // program is exec'd through the sealed exec stub, tests/escape.rs.)
    let _g = shared();
    let s = busybox();
    // A private copy of the binary: while another test runs the shared one,
    // the kernel answers "text file busy" before it checks the mount.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("skiff");
    std::fs::copy(common::skiff_bin(), &bin).unwrap();
    let child = std::process::Command::new(&bin)
        .env("SKIFF_NETWORK", "private")
        .arg("--root")
        .arg(s.root())
        .args(["run", "--rm", "--init", "busybox:fixture", "sleep", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The tiny init (skiff's code) is skiff's child.
    let pid = child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .is_ok_and(|c| c.trim().is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "container did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let exe = open_path(&format!("/proc/{}/exe", child.id()));
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let reopened = std::fs::OpenOptions::new().write(true).open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&exe)
    ));
    let err = reopened.expect_err("the skiff binary must not be writable");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
}

fn open_path(p: &str) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(p)
        .expect("open O_PATH")
}

#[test]
fn named_containers_are_unique() {
    let _g = shared();
    let s = busybox();
    s.ok(&["run", "--name", "web", "busybox:fixture", "true"]);
    let err = s.fails(&["run", "--name", "web", "busybox:fixture", "true"], 125);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(containers_left(&s), 1);
}

#[test]
fn nothing_left_behind_after_100_runs() {
    let _g = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    let s = busybox();
    // One run first: it creates the shared `skiff` parent cgroups.
    run(&s, &[], &["true"]);
    let (mounts, cgroups) = (mountinfo(), skiff_cgroups());
    let mut ids = Vec::new();
    for i in 0..100 {
        let o = run(
            &s,
            &[
                "-m",
                "64m",
                "--pids-limit",
                "50",
                "-v",
                "/etc:/host-etc:ro",
                "--tmpfs",
                "/run",
            ],
            &["sh", "-c", "sleep 0 & echo $$ $(hostname)"],
        );
        // The host name is the short container id: the cgroups to look for.
        let out = stdout(&o);
        let (pid, short_id) = out.trim().split_once(' ').unwrap_or_default();
        assert_eq!(pid, "1", "run {i}: {}", stderr(&o));
        ids.push(short_id.to_string());
    }
    // Failures must not leave anything either.
    run(&s, &[], &["no-such-command"]);
    run(&s, &["-u", "ghost"], &["true"]);
    assert_eq!(mountinfo(), mounts, "mounts changed");
    // Only this test's containers count: other skiff processes on this host
    // may start and end containers (and their cgroups) meanwhile.
    let left: Vec<PathBuf> = skiff_cgroups()
        .into_iter()
        .filter(|c| !cgroups.contains(c))
        .filter(|c| {
            let name = c.file_name().unwrap_or_default().to_string_lossy();
            ids.iter()
                .any(|id| !id.is_empty() && name.starts_with(id.as_str()))
        })
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new(), "cgroups left behind");
    assert_eq!(containers_left(&s), 0);
    // No process of a container survives (they would sit in our store's dirs).
    let root = s.root().to_string_lossy().into_owned();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        if let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) {
            assert!(
                !cwd.to_string_lossy().starts_with(&root),
                "process {:?} still in {root}",
                e.file_name()
            );
        }
    }
}
