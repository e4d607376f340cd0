//! runc's command line, for containerd, CRI-O, podman and the OCI's
//! conformance suite: `skiff-runc` (a link to skiff; argv[0] decides) or
//! `skiff oci`. Errors exit 1, as runc's do, and go to `--log` as well.

use crate::oci::{self, CreateOptions};
use crate::runtime::process::sealed_exe;
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where state lives unless --root says otherwise (runc: /run/runc).
pub const DEFAULT_STATE_ROOT: &str = "/run/skiff-runc";

#[derive(Parser, Debug)]
#[command(
    name = "skiff-runc",
    version,
    about = "skiff as an OCI runtime (runc's command line)"
)]
pub struct OciCli {
    /// State directory
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_STATE_ROOT)]
    pub root: PathBuf,
    /// Also write errors to this file
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// systemd cgroup driver (not supported: cgroupfs paths only)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility
    #[arg(long, global = true, hide = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: OciCommand,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json)
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// AF_UNIX socket that receives the pty master (process.terminal)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// MS_MOVE + chroot instead of pivot_root (rootfs on a ramdisk)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility (no session keyring is made)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    pub id: String,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum OciCommand {
    /// Create a container; its program waits for `start`
    Create(CreateArgs),
    /// Start the program of a created container
    Start { id: String },
    /// Print the container's state (runtime-spec JSON)
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's init
    Kill {
        /// Every process of the container
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a stopped (or, with --force, running) container
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// create + start, then wait for the container and delete it (exit with its code)
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return after start, leave the container running
        #[arg(long, short = 'd')]
        detach: bool,
    },
    /// Freeze every process of a running container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Run a process in a running container
    Exec {
        /// process.json (a runtime-spec process object)
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// AF_UNIX socket that receives the pty master (process.terminal)
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        id: String,
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// List the container's processes
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// List containers
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// What this runtime supports (JSON)
    Features,
}

/// `skiff-runc ARGS` or `skiff oci ARGS` (args without the `oci`).
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match OciCli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            // The engine reads --log for the reason (containerd's shim:
            // "unable to retrieve OCI runtime error" otherwise).
            if let (1, Some(log)) = (code, raw_flag(&args, "--log")) {
                let format = raw_flag(&args, "--log-format").unwrap_or_else(|| "text".into());
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or("invalid arguments");
                log_error(
                    Path::new(&log),
                    &format,
                    first.trim_start_matches("error: "),
                );
            }
            let _ = e.print();
            return code;
        }
    };
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = super::error_chain(&e);
            eprintln!("skiff-runc: {msg}");
            if let Some(log) = &cli.log {
                log_error(log, &cli.log_format, &msg);
            }
            1
        }
    }
}

/// `--flag VALUE` or `--flag=VALUE` from arguments clap refused.
fn raw_flag(args: &[OsString], flag: &str) -> Option<String> {
    let mut it = args.iter().filter_map(|a| a.to_str());
    while let Some(a) = it.next() {
        if a == flag {
            return it.next().map(String::from);
        }
        if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_string());
        }
    }
    None
}

fn log_error(path: &Path, format: &str, msg: &str) {
    let now = chrono::Utc::now().to_rfc3339();
    let line = if format == "json" {
        serde_json::json!({"level": "error", "msg": msg, "time": now}).to_string()
    } else {
        format!("time=\"{now}\" level=error msg={msg:?}")
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

fn dispatch(cli: &OciCli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup is not supported by skiff-runc: configure the engine for the cgroupfs driver (containerd: SystemdCgroup = false)");
    }
    if !matches!(cli.log_format.as_str(), "text" | "json") {
        bail!("--log-format {:?}: use text or json", cli.log_format);
    }
    let root = &cli.root;
    match &cli.command {
        OciCommand::Create(a) => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            oci::create(root, &a.id, &create_options(a))?;
            Ok(0)
        }
        OciCommand::Start { id } => {
            oci::start(root, id)?;
            Ok(0)
        }
        OciCommand::State { id } => {
            let s = oci::state(root, id)?;
            std::io::stdout().write_all(&s)?;
            println!();
            Ok(0)
        }
        OciCommand::Kill { all, id, signal } => {
            let sig = match signal {
                None => libc::SIGTERM,
                Some(s) => s
                    .parse::<crate::runtime::Signum>()
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .raw(),
            };
            oci::kill(root, id, sig, *all)?;
            Ok(0)
        }
        OciCommand::Delete { force, id } => {
            oci::delete(root, id, *force)?;
            Ok(0)
        }
        OciCommand::Run { create, detach } => run(root, create, *detach),
        OciCommand::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            id,
            args,
        } => {
            sealed_exe::ensure().context("cannot protect the skiff binary")?;
            let mut sig = crate::runtime::signals::Forwarder::install()?;
            let req = oci::exec::ExecRequest {
                process_file: process.as_deref(),
                args,
                detach: *detach,
                pid_file: pid_file.as_deref(),
                console_socket: console_socket.as_deref(),
            };
            Ok(oci::exec::exec(root, id, &req, &mut sig)?)
        }
        OciCommand::Pause { id } => {
            oci::pause(root, id)?;
            Ok(0)
        }
        OciCommand::Resume { id } => {
            oci::resume(root, id)?;
            Ok(0)
        }
        OciCommand::Ps { format, id } => {
            let pids = oci::ps(root, id)?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID");
                for p in pids {
                    println!("{p}");
                }
            }
            Ok(0)
        }
        OciCommand::List { format, quiet } => {
            let list = oci::list(root)?;
            if *quiet {
                for (id, _, _) in &list {
                    println!("{id}");
                }
            } else if format == "json" {
                let v: Vec<_> = list
                    .iter()
                    .map(|(id, st, pid)| serde_json::json!({"id": id, "status": st, "pid": pid}))
                    .collect();
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!("{:<24} {:<8} STATUS", "ID", "PID");
                for (id, st, pid) in &list {
                    println!("{id:<24} {pid:<8} {st}");
                }
            }
            Ok(0)
        }
        OciCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&oci::features())?);
            Ok(0)
        }
    }
}

fn create_options(a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
    }
}

/// `run`: the init is our child, so we wait for it and hand back its code.
fn run(root: &Path, a: &CreateArgs, detach: bool) -> Result<i32> {
    sealed_exe::ensure().context("cannot protect the skiff binary")?;
    // Blocked before the clone, so none is lost (the init unblocks them).
    let mut sig = crate::runtime::signals::Forwarder::install()?;
    let pid = oci::create(root, &a.id, &create_options(a))?;
    if let Err(e) = oci::start(root, &a.id) {
        let _ = oci::delete(root, &a.id, true);
        return Err(e.into());
    }
    if detach {
        return Ok(0);
    }
    let code = oci::wait_foreground(pid, &mut sig)?;
    oci::delete(root, &a.id, true)?;
    Ok(code)
}
