//! The command line: clap definitions and one small function per command.
//! Commands parse, call a module, print. No logic lives here.

mod build;
mod compose;
mod containers;
mod cp;
mod deploy;
mod format;
mod fsck;
mod generate;
mod groups;
mod images;
mod kube;
mod network;
mod observe;
pub mod oci;
mod prune;
mod registry;
mod run;
mod suggest;
mod system;
mod template;
mod volume;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Exit code for skiff's own errors, as docker uses.
pub const EXIT_SKIFF_ERROR: i32 = 125;

#[derive(Parser, Debug)]
#[command(name = "skiff", version, about = "A daemonless container runtime and image builder", long_about = None)]
pub struct Cli {
    /// Store directory (default: $SKIFF_ROOT, else /var/lib/skiff)
    #[arg(long, global = true, env = "SKIFF_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// `defer`: a command's arguments are built only when it is the one named
/// (clap builds each subcommand's whole argument list otherwise; for
/// `skiff run` that was about a third of a millisecond of every start).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing buys nothing
pub enum Command {
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Show the layers of an image and the instructions that made them
    History(build::HistoryArgs),
    /// List or prune the build's cache mounts (RUN --mount=type=cache)
    #[command(name = "build-cache")]
    BuildCache(build::BuildCacheArgs),
    /// Import a rootfs tarball or directory as a one-layer image
    Import(images::ImportArgs),
    /// List tagged images
    Images(images::ImagesArgs),
    /// Point a new tag at an existing image
    Tag(images::TagArgs),
    /// Remove a tag (the image's blobs stay until `prune`)
    Rmi(images::RmiArgs),
    /// Show a container's (or else an image's) details as JSON
    Inspect(images::InspectArgs),
    /// List the numbered revisions of a tag, newest first
    Revisions(images::RevisionsArgs),
    /// Remove blobs and layers that no recent revision, container or cache entry uses
    Prune(prune::PruneArgs),
    /// Move a tag back to an earlier revision, and its containers with it
    #[command(
        long_about = "Move a tag back to an earlier revision, and its containers with it.\n\n\
        The default target is the newest earlier revision with another image; --to picks a \
        revision number or an image digest. Rollback never deletes history: it \
        appends a new revision (reason rollback) that points at the older image, \
        so rolling back twice returns to where you were. Then every container started \
        from the tag is recreated on that image, as `rollout` does (--no-rollout: only \
        the tag moves). If a container fails to come up, the tag moves back."
    )]
    Rollback(deploy::RollbackArgs),
    /// Recreate the containers started from a tag on the tag's current image
    #[command(
        long_about = "Recreate the containers started from a tag on the tag's current image.\n\n\
        Every option of a container is kept (name, ports, env, limits, volumes, restart \
        policy, log options). A container with published ports is replaced with no \
        downtime: the new one starts beside it, takes over its ports once it answers on \
        them (within --ready-timeout), then the old one gets its stop signal and -t \
        seconds to finish requests in flight. A container without published ports is \
        stopped, then started on the new image. A new container that never answers is \
        removed and the old one keeps running."
    )]
    Rollout(deploy::RolloutArgs),
    /// Set the number of replicas of a service (started with run --replicas)
    Scale(deploy::ScaleArgs),
    /// Run a command in a new container
    Run(run::RunArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Show a container's output
    Logs(containers::LogsArgs),
    /// Stop containers (their stop signal, then SIGKILL after -t seconds)
    Stop(containers::StopArgs),
    /// Start stopped containers
    Start(containers::StartArgs),
    /// Stop and start containers again
    Restart(containers::RestartArgs),
    /// Remove containers
    Rm(containers::RmArgs),
    /// Run a command in a running container
    Exec(containers::ExecArgs),
    /// Copy files between a container and the host (or a tar stream)
    Cp(cp::CpArgs),
    /// Start the containers a restart policy wants running (after a host reboot)
    Boot(containers::BootArgs),
    #[command(name = "__supervise", hide = true)]
    Supervise(containers::SuperviseArgs),
    #[command(name = "__probe", hide = true)]
    Probe(containers::ProbeArgs),
    /// Save credentials for a registry (in docker's auth file)
    Login(registry::LoginArgs),
    /// Remove saved credentials for a registry
    Logout(registry::LogoutArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Write images to an OCI archive or a docker-archive
    Save(registry::SaveArgs),
    /// Read images from an OCI archive or a docker-archive
    Load(registry::LoadArgs),
    /// Check the store for corruption and leftovers (--repair fixes what it can)
    Fsck(fsck::FsckArgs),
    /// Manage bridge networks (create, ls, inspect, rm)
    Network(network::NetworkArgs),
    /// Show containers' CPU, memory, network, block I/O and pids (live)
    Stats(observe::StatsArgs),
    /// Show a container's processes
    Top(observe::TopArgs),
    /// Show what happens: container, image and deploy events (follows)
    Events(observe::EventsArgs),
    /// Prometheus metrics (cAdvisor's names plus skiff_*), once or served with --listen
    Metrics(observe::MetricsArgs),

    /// Show skiff's version, the kernel and the cgroup version
    Version(system::VersionArgs),
    /// Show the store, the host's cgroups and kernel, and the network and security defaults
    Info(system::InfoArgs),
    /// Container commands as docker names them (container ls, container prune, ...)
    #[command(subcommand)]
    Container(groups::ContainerCommand),
    /// Image commands as docker names them (image ls, image rm, image prune, ...)
    #[command(subcommand)]
    Image(groups::ImageCommand),
    /// system prune, system info
    #[command(subcommand)]
    System(groups::SystemCommand),
    /// builder prune: drop the build cache
    #[command(subcommand)]
    Builder(groups::BuilderCommand),
    /// Generate files for other tools: `generate systemd NAME`
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// Keep a named container supervised in the foreground (what a
    /// `generate systemd` unit runs; adopts it after a kill -9 of its supervisor)
    #[command(name = "supervise")]
    Keep(generate::SuperviseArgs),
    #[command(name = "__container-prune", hide = true)]
    ContainerPrune(system::ContainerPruneArgs),
    #[command(name = "__image-prune", hide = true)]
    ImagePrune(system::ImagePruneArgs),
    #[command(name = "__builder-prune", hide = true)]
    BuilderPrune(system::BuilderPruneArgs),
    #[command(name = "__system-prune", hide = true)]
    SystemPrune(system::SystemPruneArgs),
    /// Manage named volumes: create, ls, inspect, rm, prune
    Volume(volume::VolumeArgs),
    /// Run a project of services from a compose file
    Compose(compose::ComposeArgs),
    /// Kubernetes manifests from what runs: `kube generate NAME|--compose`
    #[command(subcommand)]
    Kube(kube::KubeCommand),
}

impl Command {
    /// Commands that only read and print: a closed pipe (`skiff ps | head
    /// -1`) ends them quietly, as it ends `ls`. Commands that change state
    /// keep SIGPIPE ignored so they always finish what they began.
    fn only_prints(&self) -> bool {
        matches!(
            self,
            Command::History(_)
                | Command::Images(_)
                | Command::Inspect(_)
                | Command::Revisions(_)
                | Command::Ps(_)
                | Command::Logs(_)
                | Command::Version(_)
                | Command::Info(_)
                | Command::Top(_)
                | Command::Stats(_)
        )
    }
}

/// Where the store lives: `--root`, else `$SKIFF_ROOT`, else /var/lib/skiff.
pub fn store_root(cli_root: &Option<PathBuf>) -> PathBuf {
    cli_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::store::DEFAULT_ROOT))
}

pub fn main() -> i32 {
    // runc's command line: as `skiff-runc` (a link) or `skiff oci ...`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let called = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "skiff-runc");
    if called {
        return oci::main(args);
    }
    if args.get(1).is_some_and(|a| a == "oci") {
        args.remove(1);
        return oci::main(args);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if let Some(code) = unknown_command(&e) {
                return code;
            }
            let code = if e.use_stderr() { EXIT_SKIFF_ERROR } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let root = store_root(&cli.root);
    let command = groups::flatten(cli.command);
    if command.only_prints() {
        crate::sys::signal::default_sigpipe();
    }
    let result = match command {
        Command::Build(a) => build::build(&root, a),
        Command::History(a) => build::history(&root, a),
        Command::Import(a) => images::import(&root, a),
        Command::Images(a) => images::images(&root, a),
        Command::Tag(a) => images::tag(&root, a),
        Command::Rmi(a) => images::rmi(&root, a),
        Command::Inspect(a) => containers::inspect(&root, a),
        Command::Revisions(a) => images::revisions(&root, a),
        Command::Prune(a) => prune::prune(&root, a),
        Command::BuildCache(a) => build::build_cache(&root, a),
        Command::Rollback(a) => deploy::rollback(&root, a),
        Command::Rollout(a) => deploy::rollout(&root, a),
        Command::Scale(a) => deploy::scale(&root, a),
        Command::Run(a) => run::run(&root, a),
        Command::Ps(a) => containers::ps(&root, a),
        Command::Logs(a) => containers::logs(&root, a),
        Command::Stop(a) => containers::stop(&root, a),
        Command::Start(a) => containers::start(&root, a),
        Command::Restart(a) => containers::restart(&root, a),
        Command::Rm(a) => containers::rm(&root, a),
        Command::Exec(a) => containers::exec(&root, a),
        Command::Cp(a) => cp::cp(&root, a),
        Command::Boot(a) => containers::boot(&root, a),
        Command::Supervise(a) => containers::supervise(&root, a),
        Command::Probe(a) => containers::probe(&root, a),
        Command::Login(a) => registry::login(a),
        Command::Logout(a) => registry::logout(a),
        Command::Pull(a) => registry::pull(&root, a),
        Command::Push(a) => registry::push(&root, a),
        Command::Save(a) => registry::save(&root, a),
        Command::Load(a) => registry::load(&root, a),
        Command::Fsck(a) => fsck::fsck(&root, a),
        Command::Network(a) => network::network(&root, a),
        Command::Stats(a) => observe::stats(&root, a),
        Command::Top(a) => observe::top(&root, a),
        Command::Events(a) => observe::events(&root, a),
        Command::Metrics(a) => observe::metrics(&root, a),

        Command::Version(a) => system::version(a),
        Command::Info(a) => system::info(&root, a),
        Command::Generate(c) => generate::generate(&root, c),
        Command::Keep(a) => generate::supervise(&root, a),
        Command::ContainerPrune(a) => system::container_prune(&root, a),
        Command::BuilderPrune(a) => system::builder_prune(&root, a),
        Command::ImagePrune(a) => system::image_prune(&root, a),
        Command::SystemPrune(a) => system::system_prune(&root, a),
        Command::Container(_) | Command::Image(_) | Command::System(_) | Command::Builder(_) => {
            Err(anyhow::anyhow!("a command group was not resolved"))
        }
        Command::Volume(a) => volume::volume(&root, a),
        Command::Compose(a) => compose::compose(&root, a),
        Command::Kube(c) => kube::kube(&root, c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skiff: {}", error_chain(&e));
            EXIT_SKIFF_ERROR
        }
    }
}

/// A mistyped command: say what was meant (by habit, else by close
/// spelling), instead of clap's nearest spelling among all commands.
fn unknown_command(e: &clap::Error) -> Option<i32> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    // The group the word was typed in (`skiff image lss`), else the top level.
    let top = <Cli as clap::CommandFactory>::command();
    let group = std::env::args()
        .skip(1)
        .take_while(|a| a != typed)
        .filter(|a| !a.starts_with('-'))
        .last()
        .and_then(|g| top.find_subcommand(&g).cloned());
    let (cmd, prefix) = match &group {
        Some(g) => (g, format!("skiff {} ", g.get_name())),
        None => (&top, "skiff ".to_string()),
    };
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string())
                .chain(c.get_visible_aliases().map(str::to_string))
        })
        .collect();
    eprintln!(
        "skiff: unknown command {:?}",
        format!("{prefix}{typed}").trim()
    );
    match suggest::suggest(typed, &names) {
        suggest::Suggestion::Command(c) => eprintln!("  did you mean: {prefix}{c}"),
        suggest::Suggestion::Missing => {
            eprintln!("  skiff has no {typed:?} command; see `skiff --help` for what it has")
        }
        suggest::Suggestion::None => eprintln!("  see `{}--help`", prefix),
    }
    Some(EXIT_SKIFF_ERROR)
}

/// "outer: inner: innermost" on one line.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s
}
