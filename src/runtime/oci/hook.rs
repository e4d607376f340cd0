//! One OCI hook: `path` with `args` and `env`, the container's state JSON
//! on its stdin, killed after `timeout` seconds. A hook that fails or
//! times out is an error naming its path and exit status.

use crate::runtime::error::{Result, RuntimeError};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(hook: &Hook, state: &[u8]) -> Result<()> {
    let path = hook.path();
    let mut cmd = Command::new(path);
    let args = hook.args().clone().unwrap_or_default();
    if let Some(first) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, first);
        cmd.args(&args[1..]);
    }
    cmd.env_clear();
    for e in hook.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(RuntimeError::io("hook: cannot run", path))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state); // a hook may ignore its stdin
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => {
                return Err(RuntimeError::Init(format!(
                    "hook {} failed: {st}",
                    path.display()
                )))
            }
            Ok(None) => {}
            Err(e) => return Err(RuntimeError::io("hook: cannot wait for", path)(e)),
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::Init(format!(
                "hook {} timed out",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
