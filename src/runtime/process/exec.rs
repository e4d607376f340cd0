//! The last step of the container init: find the program in the
//! container's PATH and execve it. Failures become docker's exit codes:
//! 127 when the program does not exist, 126 when it cannot be executed.

use crate::runtime::error::{Result, RuntimeError};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::fs::PermissionsExt;

pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_CANNOT_EXECUTE: i32 = 126;

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| RuntimeError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// The PATH value in `env`.
fn path_of(env: &[String]) -> &str {
    env.iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::runtime::spec::DEFAULT_PATH)
}

/// Resolve `name` as execvp would, in the (already pivoted) container.
pub fn find_program(name: &str, env: &[String]) -> Result<String> {
    if name.contains('/') {
        return Ok(name.to_string());
    }
    let mut denied = None;
    for dir in path_of(env).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{name}");
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.permissions().mode() & 0o111 != 0
            && nix::unistd::access(candidate.as_str(), nix::unistd::AccessFlags::X_OK).is_ok()
        {
            return Ok(candidate);
        }
        denied.get_or_insert(candidate);
    }
    match denied {
        Some(c) => Err(RuntimeError::Exec {
            code: EXIT_CANNOT_EXECUTE,
            message: format!("exec: {c:?}: permission denied"),
        }),
        None => Err(RuntimeError::Exec {
            code: EXIT_NOT_FOUND,
            message: format!("exec: {name:?}: executable file not found in $PATH"),
        }),
    }
}

/// The program, argv and environment as C strings.
fn prepare(
    args: &[String],
    env: &[String],
) -> Result<(String, CString, Vec<CString>, Vec<CString>)> {
    let program = find_program(&args[0], env)?;
    let path = cstr(&program)?;
    let argv: Vec<CString> = args.iter().map(|a| cstr(a)).collect::<Result<_>>()?;
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_>>()?;
    Ok((program, path, argv, envp))
}

/// A failed execve of `program` (`errno` from the kernel, here or in the
/// exec stub): docker's exit code — 127 if it does not exist, else 126 —
/// and what to say.
pub fn failed(program: &str, errno: i32) -> (i32, String) {
    let code = match errno {
        libc::ENOENT | libc::ENOTDIR => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    let message = format!(
        "exec {program:?}: {}",
        std::io::Error::from_raw_os_error(errno)
    );
    (code, message)
}

/// execve, or the reason it failed with the right exit code.
pub fn exec(args: &[String], env: &[String]) -> Result<Infallible> {
    let (program, path, argv, envp) = prepare(args, env)?;
    let err = match nix::unistd::execve(&path, &argv, &envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    let (code, message) = failed(&program, err as i32);
    Err(RuntimeError::Exec { code, message })
}

/// The same through skiff's sealed exec stub (`sys::exec_stub`), for an
/// init that runs from skiff's writable binary: the stub reports a failed
/// exec of the program on `report` (the init's end of the channel).
/// Returns only if the stub itself could not be exec'd.
pub fn exec_through_stub(
    stub: BorrowedFd<'_>,
    report: RawFd,
    args: &[String],
    env: &[String],
) -> Result<Infallible> {
    let (_, path, argv, envp) = prepare(args, env)?;
    let err = crate::sys::exec_stub::exec(stub, report, &path, &argv, &envp);
    Err(RuntimeError::Sys {
        what: "exec skiff's exec stub (a seccomp profile must allow execveat or execve)".into(),
        source: err,
    })
}
