//! Compiles `skiff-exec` (src/sys/exec_stub/program.rs), the static program
//! of about a kilobyte through which a container's program is exec'd (see
//! that file and `sys::exec_stub`), with the same rustc, into OUT_DIR; the
//! crate embeds it. x86_64 Linux only: elsewhere skiff re-executes itself
//! from a read-only view of its binary instead (`sealed_exe`), as before.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const PROGRAM: &str = "src/sys/exec_stub/program.rs";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(skiff_exec_stub)");
    println!("cargo::rerun-if-changed={PROGRAM}");
    println!("cargo::rerun-if-changed=build.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("skiff-exec");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(&rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--target",
            &target,
        ])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "relocation-model=static",
        ])
        .args(["-C", "strip=symbols", "-C", "debuginfo=0"])
        .args(["-C", "link-arg=-nostartfiles", "-C", "link-arg=-nostdlib"])
        .args([
            "-C",
            "link-arg=-static",
            "-C",
            "link-arg=-Wl,--build-id=none",
        ])
        .arg("-o")
        .arg(&out)
        .arg(PROGRAM)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", rustc.to_string_lossy()));
    assert!(status.success(), "compiling {PROGRAM} failed");
    println!("cargo::rustc-cfg=skiff_exec_stub");
}
