//! Registry and archive commands: login, logout, pull, push, save, load.

use super::images::{open_store, parse_tag};
use crate::image::archive::{self, ArchiveFormat, SaveItem};
use crate::image::local::LocalImage;
use crate::image::reference::ImageRef;
use crate::registry::{
    self, auth, Credentials, Platform, ProgressMode, PullOptions, PushOptions, TransportOptions,
};
use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgAction, Args, ValueEnum};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// `--tls-verify[=BOOL]`, as podman and skopeo spell it.
#[derive(Args, Debug, Clone, Copy)]
pub struct TlsArgs {
    /// Require https with a verified certificate; =false also allows plain
    /// http and self-signed certificates
    #[arg(
        long = "tls-verify",
        value_name = "BOOL",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub tls_verify: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry host[:port] (default: docker.io)
    pub server: Option<String>,
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password on the command line (visible to other users; prefer --password-stdin)
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry host[:port] (default: docker.io)
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/NAME[:TAG|@DIGEST]
    pub reference: String,
    /// Platform to pick from a multi-platform image, os/arch[/variant]
    #[arg(long)]
    pub platform: Option<String>,
    /// Print no progress
    #[arg(short, long)]
    pub quiet: bool,
    /// Layers downloaded at once
    #[arg(long, default_value_t = 3, hide = true)]
    pub jobs: usize,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Local image: NAME[:TAG], NAME@DIGEST or an image id
    pub image: String,
    /// Destination REGISTRY/NAME[:TAG] (default: IMAGE itself)
    pub destination: Option<String>,
    /// Print no progress
    #[arg(short, long)]
    pub quiet: bool,
    /// Upload blobs larger than this in chunks of this size (e.g. 16m; 0: never)
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    /// Blobs uploaded at once
    #[arg(long, default_value_t = 3, hide = true)]
    pub jobs: usize,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum SaveFormat {
    /// A tar of an OCI image layout
    #[default]
    OciArchive,
    /// docker's format, for `docker load`
    DockerArchive,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: SaveFormat,
    /// Images to save
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from FILE (an OCI archive or a docker-archive, maybe gzipped) instead of stdin
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print only image ids
    #[arg(short, long)]
    pub quiet: bool,
}

fn progress(quiet: bool) -> ProgressMode {
    if quiet {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    }
}

/// `https://host:5000/v2/` -> `host:5000`; Docker Hub's spellings -> docker.io.
fn registry_name(server: Option<&str>) -> Result<String> {
    let s = server.unwrap_or(registry::DOCKER_HUB).trim();
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        bail!("invalid registry {s:?}: expected host[:port]");
    }
    Ok(match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            registry::DOCKER_HUB.to_string()
        }
        h => h.to_string(),
    })
}

fn prompt(label: &str, echo: bool) -> Result<String> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let saved = if echo {
        None
    } else {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let old = tcgetattr(&stdin).context("cannot read the terminal settings")?;
        let mut quiet = old.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn off echo")?;
        Some(old)
    };
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if let Some(old) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &old);
        eprintln!();
    }
    read.context("cannot read from the terminal")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn login(a: LoginArgs) -> Result<i32> {
    let reg = registry_name(a.server.as_deref())?;
    let tty = std::io::stdin().is_terminal();
    let username = match a.username {
        Some(u) => u,
        None if tty && !a.password_stdin => prompt("Username: ", true)?,
        None => bail!("no user name: pass -u USER"),
    };
    if username.is_empty() || username.contains(':') {
        bail!("invalid user name {username:?}");
    }
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the password from stdin")?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if tty {
        prompt("Password: ", false)?
    } else {
        bail!("no password: use --password-stdin (or -p)");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let creds = Credentials { username, password };
    registry::check_login(&reg, &creds, a.tls.tls_verify)
        .with_context(|| format!("login to {reg} failed"))?;
    let path = auth::store(&reg, &creds)?;
    eprintln!("Credentials saved in {}", path.display());
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: LogoutArgs) -> Result<i32> {
    let reg = registry_name(a.server.as_deref())?;
    if auth::remove(&reg)? {
        println!("Removed login credentials for {reg}");
        Ok(0)
    } else {
        bail!("not logged in to {reg}");
    }
}

pub fn pull(root: &Path, a: PullArgs) -> Result<i32> {
    let r: ImageRef = a.reference.parse()?;
    let platform = a
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let store = open_store(root)?;
    let opts = PullOptions {
        transport: TransportOptions {
            tls_verify: a.tls.tls_verify,
            credentials: None,
        },
        platform,
        jobs: a.jobs.max(1),
        progress: progress(a.quiet),
    };
    let report = registry::pull_image(&store, &r, &opts)?;
    store.emit(
        crate::store::events::Event::new("image", "pull", &report.config_digest.to_string())
            .attr("name", a.reference.clone()),
    );
    println!("{}", report.config_digest);
    Ok(0)
}

/// A registry chunk size: the one size parser, with context.
fn parse_size(s: &str) -> Result<u64> {
    Ok(crate::units::parse_size(s)?)
}

pub fn push(root: &Path, a: PushArgs) -> Result<i32> {
    let dest_text = a.destination.as_deref().unwrap_or(&a.image);
    let dest: ImageRef = dest_text.parse()?;
    let store = open_store(root)?;
    let image = LocalImage::load(&store, &a.image)?;
    let mut opts = PushOptions {
        transport: TransportOptions {
            tls_verify: a.tls.tls_verify,
            credentials: None,
        },
        jobs: a.jobs.max(1),
        progress: progress(a.quiet),
        ..PushOptions::default()
    };
    if let Some(c) = &a.chunk_size {
        opts.chunk_size = parse_size(c)?;
    }
    let report = registry::push(&store, &image, &dest, &opts)?;
    println!("{}", report.digest);
    Ok(0)
}

/// The names to record for an argument of `save`: its tag, when it is one.
fn save_names(store: &crate::store::Store, arg: &str) -> Result<Vec<String>> {
    match arg.parse::<ImageRef>() {
        Ok(r) if r.digest.is_none() => {
            let (name, tag) = parse_tag(arg)?;
            if store.resolve_tag(&name, &tag)?.is_some() {
                return Ok(vec![format!("{name}:{tag}")]);
            }
            Ok(Vec::new())
        }
        _ => Ok(Vec::new()),
    }
}

pub fn save(root: &Path, a: SaveArgs) -> Result<i32> {
    let store = open_store(root)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for arg in &a.images {
        let image = LocalImage::load(&store, arg)?;
        let names = save_names(&store, arg)?;
        match items
            .iter_mut()
            .find(|i| i.image.manifest_digest == image.manifest_digest)
        {
            Some(i) => i.names.extend(names),
            None => items.push(SaveItem { image, names }),
        }
    }
    let format = match a.format {
        SaveFormat::OciArchive => ArchiveFormat::Oci,
        SaveFormat::DockerArchive => ArchiveFormat::Docker,
    };
    match &a.output {
        Some(p) => archive::save_to_file(&store, &items, format, p)
            .with_context(|| format!("cannot save to {}", p.display()))?,
        None => {
            let out = std::io::stdout();
            if out.is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            archive::save(&store, &items, format, std::io::BufWriter::new(out.lock()))?;
        }
    }
    Ok(0)
}

pub fn load(root: &Path, a: LoadArgs) -> Result<i32> {
    let store = open_store(root)?;
    let loaded = match &a.input {
        Some(p) => archive::load(&store, p)?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("no archive: use -i FILE or pipe one to stdin");
            }
            archive::load_reader(&store, stdin.lock(), "stdin")?
        }
    };
    for l in &loaded {
        if a.quiet {
            println!("{}", l.config_digest);
        } else if l.tags.is_empty() {
            println!("Loaded image ID: {}", l.config_digest);
        } else {
            for (n, t) in &l.tags {
                println!("Loaded image: {n}:{t}");
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_registries() {
        assert_eq!(parse_size("16m").unwrap(), 16 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("x").is_err());
        assert_eq!(
            registry_name(Some("https://127.0.0.1:5000/v2/")).unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_name(None).unwrap(), "docker.io");
        assert_eq!(registry_name(Some("index.docker.io")).unwrap(), "docker.io");
    }
}
