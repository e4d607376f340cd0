//! docker's management commands as aliases: `container ls`, `image ls`,
//! `image rm`, `system prune`, `builder prune`... Each maps to the
//! top-level command that does the work.

use super::{build, containers, cp, images, registry, system, Command};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// List containers (as `ps`)
    #[command(visible_alias = "list", alias = "ps")]
    Ls(containers::PsArgs),
    /// Remove containers
    Rm(containers::RmArgs),
    /// Stop containers
    Stop(containers::StopArgs),
    /// Start stopped containers
    Start(containers::StartArgs),
    /// Stop and start containers again
    Restart(containers::RestartArgs),
    /// Show a container's output
    Logs(containers::LogsArgs),
    /// Run a command in a running container
    Exec(containers::ExecArgs),
    /// Copy files between a container and the host
    Cp(cp::CpArgs),
    /// Show a container's details as JSON
    Inspect(images::InspectArgs),
    /// Remove every stopped container
    Prune(system::ContainerPruneArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCommand {
    /// List tagged images (as `images`)
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove a tag (as `rmi`)
    #[command(visible_alias = "remove")]
    Rm(images::RmiArgs),
    /// Point a new tag at an existing image
    Tag(images::TagArgs),
    /// Show an image's details as JSON
    Inspect(images::InspectArgs),
    /// Show the layers of an image
    History(build::HistoryArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Import a rootfs as a one-layer image
    Import(images::ImportArgs),
    /// Download an image
    Pull(registry::PullArgs),
    /// Upload an image
    Push(registry::PushArgs),
    /// Write images to an archive
    Save(registry::SaveArgs),
    /// Read images from an archive
    Load(registry::LoadArgs),
    /// Remove images no tag revision or container uses (-a: all but the current revisions)
    Prune(system::ImagePruneArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum BuilderCommand {
    /// Drop the build cache (images and their revisions stay)
    Prune(system::BuilderPruneArgs),
}

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Remove stopped containers and the images nothing uses
    Prune(system::SystemPruneArgs),
    /// Show the store, the host's cgroups and kernel, and the defaults
    Info(system::InfoArgs),
}

/// `container ls` is `ps`, and so on: the top-level command that does it.
pub fn flatten(c: Command) -> Command {
    match c {
        Command::Container(c) => match c {
            ContainerCommand::Ls(a) => Command::Ps(a),
            ContainerCommand::Rm(a) => Command::Rm(a),
            ContainerCommand::Stop(a) => Command::Stop(a),
            ContainerCommand::Start(a) => Command::Start(a),
            ContainerCommand::Restart(a) => Command::Restart(a),
            ContainerCommand::Logs(a) => Command::Logs(a),
            ContainerCommand::Exec(a) => Command::Exec(a),
            ContainerCommand::Cp(a) => Command::Cp(a),
            ContainerCommand::Inspect(a) => Command::Inspect(a),
            ContainerCommand::Prune(a) => Command::ContainerPrune(a),
        },
        Command::Image(c) => match c {
            ImageCommand::Ls(a) => Command::Images(a),
            ImageCommand::Rm(a) => Command::Rmi(a),
            ImageCommand::Tag(a) => Command::Tag(a),
            ImageCommand::Inspect(a) => Command::Inspect(a),
            ImageCommand::History(a) => Command::History(a),
            ImageCommand::Build(a) => Command::Build(a),
            ImageCommand::Import(a) => Command::Import(a),
            ImageCommand::Pull(a) => Command::Pull(a),
            ImageCommand::Push(a) => Command::Push(a),
            ImageCommand::Save(a) => Command::Save(a),
            ImageCommand::Load(a) => Command::Load(a),
            ImageCommand::Prune(a) => Command::ImagePrune(a),
        },
        Command::System(c) => match c {
            SystemCommand::Prune(a) => Command::SystemPrune(a),
            SystemCommand::Info(a) => Command::Info(a),
        },
        Command::Builder(BuilderCommand::Prune(a)) => Command::BuilderPrune(a),
        c => c,
    }
}
