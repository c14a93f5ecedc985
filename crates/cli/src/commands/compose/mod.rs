//! `wharf compose`: Compose projects (issue 13). The project's model is
//! loaded by `wharf_compose` (files, variables, schema, merge, profiles);
//! the verbs run on any Docker-API daemon through the Engine API
//! (`api.rs`): the lifecycle ones in `wharf_compose::up`/`ops`, the
//! streaming ones (logs, attached `up`, `run`, `exec`) in `attach.rs`, the
//! listings and the rest in `verbs.rs`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use wharf_compose::convert::Cx;
use wharf_compose::load::{load, Project, Request};
use wharf_compose::ops::{self, DownOptions, Rmi, Verb};
use wharf_compose::project::Options;
use wharf_compose::up::{up, BuildPolicy, Plan, UpOptions};

use crate::client::Client;
use crate::compose_backend::ApiBackend;

mod attach;
mod progress;
mod verbs;
mod watch;

#[derive(Args)]
pub struct ComposeArgs {
    /// Compose configuration files (several are merged in order)
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Alternate working directory (default: the first file's directory)
    #[arg(long = "project-directory")]
    project_directory: Option<PathBuf>,
    /// Alternate environment files (default: .env in the project directory)
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Profiles to enable
    #[arg(long = "profile")]
    profile: Vec<String>,
    /// Progress output: auto, tty, plain or quiet
    #[arg(long, default_value = "auto")]
    progress: String,
    #[command(subcommand)]
    verb: ComposeVerb,
}

/// What `up` and `create` share: how containers and images are made.
#[derive(Args)]
pub struct CreateFlags {
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    build: bool,
    /// Do not build images, even if missing
    #[arg(long)]
    no_build: bool,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long)]
    force_recreate: bool,
    /// Keep existing containers even if their configuration changed
    #[arg(long, conflicts_with = "force_recreate")]
    no_recreate: bool,
    /// Remove containers of services not in the project
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM replicas (SERVICE=NUM), over the file's scale
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
}

impl CreateFlags {
    /// The options of `up` (`no_start` for `create`); `only` for `--no-deps`.
    fn options(&self, only: Option<Vec<String>>, no_start: bool) -> Result<UpOptions> {
        Ok(UpOptions {
            force_recreate: self.force_recreate,
            no_recreate: self.no_recreate,
            remove_orphans: self.remove_orphans,
            only,
            scale: scale(&self.scale)?,
            build: build_policy(self.build, self.no_build),
            no_start,
            timeout: None,
        })
    }
}

#[derive(Args)]
pub struct UpArgs {
    /// Detached: start the containers and return
    #[arg(short, long)]
    detach: bool,
    /// Wait for the services to be running (healthy with a healthcheck); implies -d
    #[arg(long)]
    wait: bool,
    /// Seconds --wait waits at most
    #[arg(long = "wait-timeout", requires = "wait")]
    wait_timeout: Option<u64>,
    #[command(flatten)]
    create: CreateFlags,
    /// Do not start the services the named ones depend on
    #[arg(long)]
    no_deps: bool,
    /// Stop all containers if any container stops (attached only)
    #[arg(long, conflicts_with_all = ["detach", "wait"])]
    abort_on_container_exit: bool,
    /// Exit with the code of this service's container; implies --abort-on-container-exit
    #[arg(long, conflicts_with_all = ["detach", "wait"])]
    exit_code_from: Option<String>,
    /// Seconds containers have to stop: replaced ones, and all when an attached up ends
    #[arg(short = 't', long)]
    timeout: Option<i64>,
    /// Produce monochrome output
    #[arg(long)]
    no_color: bool,
    /// Do not prefix the log lines with the service's name
    #[arg(long)]
    no_log_prefix: bool,
    /// Attach to the output of the named services' dependencies too
    #[arg(long, conflicts_with_all = ["detach", "wait"])]
    attach_dependencies: bool,
    /// Services to start (with what they depend on)
    services: Vec<String>,
}

#[derive(Subcommand)]
pub enum ComposeVerb {
    /// Parse, resolve and render the project's model
    Config {
        /// Print the service names, one per line
        #[arg(long)]
        services: bool,
        /// Print the volume names, one per line
        #[arg(long)]
        volumes: bool,
        /// Print the profile names, one per line
        #[arg(long)]
        profiles: bool,
        /// Format: yaml or json
        #[arg(long, default_value = "yaml")]
        format: String,
        /// Only validate the configuration, print nothing
        #[arg(short, long)]
        quiet: bool,
        /// Services to include (with what they depend on)
        services_named: Vec<String>,
    },
    /// Create and start the project's containers
    Up(Box<UpArgs>),
    /// Create the project's containers without starting them
    Create {
        #[command(flatten)]
        create: CreateFlags,
        services: Vec<String>,
    },
    /// Stop and remove the project's containers and networks
    Down {
        /// Remove the named volumes declared in the project, and anonymous ones
        #[arg(short, long)]
        volumes: bool,
        /// Remove images: local (built without an image name) or all
        #[arg(long)]
        rmi: Option<String>,
        /// Remove containers of services not in the project
        #[arg(long)]
        remove_orphans: bool,
        /// Seconds to wait for each container to stop
        #[arg(short = 't', long)]
        timeout: Option<i64>,
    },
    /// List the project's containers
    Ps(verbs::PsArgs),
    /// The output of the services' containers
    Logs(attach::LogsArgs),
    /// Build the services' images
    Build {
        /// Do not use the build cache
        #[arg(long)]
        no_cache: bool,
        /// Print nothing but errors
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// Pull the services' images
    Pull {
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// Push the services' images
    Push { services: Vec<String> },
    /// Start the services' existing containers
    Start { services: Vec<String> },
    /// Stop the services' containers
    Stop {
        #[arg(short = 't', long)]
        timeout: Option<i64>,
        services: Vec<String>,
    },
    /// Restart the services' containers
    Restart {
        #[arg(short = 't', long)]
        timeout: Option<i64>,
        services: Vec<String>,
    },
    /// Send a signal to the services' containers (SIGKILL by default)
    Kill {
        #[arg(short, long)]
        signal: Option<String>,
        services: Vec<String>,
    },
    /// Pause the services' containers
    Pause { services: Vec<String> },
    /// Unpause the services' containers
    Unpause { services: Vec<String> },
    /// Remove the services' stopped containers
    Rm {
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
        /// Stop the containers first
        #[arg(short, long)]
        stop: bool,
        /// Remove the containers' anonymous volumes
        #[arg(short, long)]
        volumes: bool,
        services: Vec<String>,
    },
    /// Run a command in a running container of a service
    Exec(attach::ExecArgs),
    /// Run a one-off command on a service
    Run(attach::RunArgs),
    /// The processes of the services' containers
    Top { services: Vec<String> },
    /// The host address a service's container port is published on
    Port(verbs::PortArgs),
    /// The engine's events for the project's containers
    Events {
        /// One JSON object per line
        #[arg(long)]
        json: bool,
        services: Vec<String>,
    },
    /// The images the project's containers use
    Images {
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// The Compose projects on the engine
    Ls(verbs::LsArgs),
    /// Copy files between a service's container and the local filesystem
    Cp(verbs::CpArgs),
    /// Bring the project up, then sync, restart or rebuild as files change (develop.watch)
    Watch(watch::WatchArgs),
    /// Wait for the services' containers to stop; print their exit codes
    Wait {
        /// Down the project when the first container stops
        #[arg(long)]
        down_project: bool,
        #[arg(required = true)]
        services: Vec<String>,
    },
}

impl ComposeVerb {
    /// The services named on the command line (they select what is loaded).
    fn targets(&self) -> Vec<String> {
        match self {
            ComposeVerb::Config { services_named: s, .. } => s.clone(),
            ComposeVerb::Up(a) => a.services.clone(),
            ComposeVerb::Create { services: s, .. } => s.clone(),
            ComposeVerb::Run(a) => vec![a.service.clone()],
            ComposeVerb::Watch(a) => a.services.clone(),
            _ => Vec::new(),
        }
    }
}

fn scale(items: &[String]) -> Result<Vec<(String, u32)>> {
    items
        .iter()
        .map(|i| match i.split_once('=').map(|(s, n)| (s, n.parse::<u32>())) {
            Some((s, Ok(n))) => Ok((s.to_string(), n)),
            _ => bail!("invalid --scale {i:?}: expected SERVICE=NUM"),
        })
        .collect()
}

/// `daemon` connects to the engine: a daemon's, or one served from this process.
pub fn compose(a: &ComposeArgs, daemon: impl FnOnce() -> Result<wharf::embedded::Connection>) -> Result<i32> {
    if let ComposeVerb::Config { format, .. } = &a.verb {
        if !matches!(format.as_str(), "yaml" | "json") {
            bail!("unsupported format {format:?}: yaml or json");
        }
    }
    if !matches!(a.progress.as_str(), "auto" | "tty" | "plain" | "quiet") {
        bail!("unsupported --progress {:?}: auto, tty, plain or quiet", a.progress);
    }
    // `ls` is of the engine's projects, not of one in files.
    if let ComposeVerb::Ls(l) = &a.verb {
        return verbs::ls(&*daemon()?, l).map(|_| 0);
    }
    let req = Request {
        options: Options {
            files: a.file.clone(),
            project_directory: a.project_directory.clone(),
            project_name: a.project_name.clone(),
            env_files: a.env_file.clone(),
        },
        profiles: a.profile.clone(),
        services: a.verb.targets(),
    };
    let cwd = std::env::current_dir()?;
    let shell = |n: &str| std::env::var(n).ok();
    let project = load(&req, &cwd, &shell)?;
    for w in &project.warnings {
        eprintln!("WARN[0000] {w}");
    }
    match &a.verb {
        ComposeVerb::Config { services, volumes, profiles, format, quiet, .. } => {
            config(&project, *services, *volumes, *profiles, format, *quiet);
            Ok(0)
        }
        verb => run(&project, verb, &*daemon()?, &a.progress),
    }
}

fn config(project: &Project, services: bool, volumes: bool, profiles: bool, format: &str, quiet: bool) {
    if quiet {
        return;
    }
    let names = |key: &str| -> Vec<String> {
        project.model.get(key).map(|n| n.entries().map(|(k, _)| k.to_string()).collect()).unwrap_or_default()
    };
    let lines = if services {
        Some(names("services"))
    } else if volumes {
        Some(names("volumes"))
    } else if profiles {
        Some(project.profiles.clone())
    } else {
        None
    };
    match lines {
        Some(lines) => lines.iter().for_each(|l| println!("{l}")),
        None if format == "json" => print!("{}", wharf_compose::render::json(&project.model)),
        None => print!("{}", wharf_compose::render::yaml(&project.model)),
    }
}

/// A verb on the project through the daemon; the exit code.
fn run(project: &Project, verb: &ComposeVerb, client: &Client, progress_mode: &str) -> Result<i32> {
    let backend = ApiBackend(client);
    let lookup = |n: &str| {
        project.environment.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).or_else(|| std::env::var(n).ok())
    };
    let files: Vec<String> = project.files.iter().map(|f| f.display().to_string()).collect();
    let volumes = wharf_compose::convert::volume_names(&project.name, &project.model);
    let directory = project.directory.display().to_string();
    let plan = Plan {
        project: &project.name,
        model: &project.model,
        cx: Cx { project: &project.name, lookup: &lookup, files: &files, directory: &directory, volumes: &volumes },
        known: &project.all_services,
    };
    let printer = progress::Printer::new(progress_mode);
    let p = &|k: &str, n: &str, s: &str| printer.event(k, n, s);
    match verb {
        ComposeVerb::Up(a) => return attach::up(&plan, &backend, client, a, p),
        ComposeVerb::Create { create, services } => {
            plan.check(services)?;
            up(&plan, &backend, &create.options(None, true)?, p)?;
        }
        ComposeVerb::Down { volumes, rmi, remove_orphans, timeout } => {
            let rmi = match rmi.as_deref() {
                None => None,
                Some("local") => Some(Rmi::Local),
                Some("all") => Some(Rmi::All),
                Some(other) => bail!("invalid --rmi {other:?}: local or all"),
            };
            let opts = DownOptions { volumes: *volumes, remove_orphans: *remove_orphans, rmi, timeout: *timeout };
            ops::down(&plan, &backend, &opts, p)?;
        }
        ComposeVerb::Start { services } => ops::act(&plan, &backend, services, &Verb::Start, p)?,
        ComposeVerb::Stop { timeout, services } => {
            ops::act(&plan, &backend, services, &Verb::Stop { timeout: *timeout }, p)?
        }
        ComposeVerb::Restart { timeout, services } => {
            ops::act(&plan, &backend, services, &Verb::Restart { timeout: *timeout }, p)?
        }
        ComposeVerb::Kill { signal, services } => {
            ops::act(&plan, &backend, services, &Verb::Kill { signal: signal.clone() }, p)?
        }
        ComposeVerb::Pause { services } => ops::act(&plan, &backend, services, &Verb::Pause, p)?,
        ComposeVerb::Unpause { services } => ops::act(&plan, &backend, services, &Verb::Unpause, p)?,
        ComposeVerb::Rm { force, stop, volumes, services } => {
            verbs::rm(&plan, &backend, services, *force, *stop, *volumes, p)?
        }
        ComposeVerb::Build { no_cache, quiet, services } => {
            verbs::build(&plan, &backend, services, *no_cache, if *quiet { &|_, _, _| {} } else { p })?
        }
        ComposeVerb::Pull { quiet, services } => {
            verbs::pull(&plan, &backend, services, if *quiet { &|_, _, _| {} } else { p })?
        }
        ComposeVerb::Push { services } => verbs::push(&plan, &backend, services, p)?,
        ComposeVerb::Ps(a) => verbs::ps(&plan, &backend, client, a)?,
        ComposeVerb::Logs(a) => return attach::logs(&plan, &backend, client, a),
        ComposeVerb::Exec(a) => return attach::exec(&plan, &backend, client, a),
        ComposeVerb::Run(a) => return attach::run(&plan, &backend, client, a, p),
        ComposeVerb::Top { services } => verbs::top(&plan, &backend, client, services)?,
        ComposeVerb::Port(a) => verbs::port(&plan, &backend, client, a)?,
        ComposeVerb::Events { json, services } => verbs::events(&plan, client, *json, services)?,
        ComposeVerb::Images { quiet, services } => verbs::images(&plan, &backend, client, *quiet, services)?,
        ComposeVerb::Cp(a) => verbs::cp(&plan, &backend, client, a)?,
        ComposeVerb::Watch(a) => return watch::watch(&plan, &backend, client, a, p),
        ComposeVerb::Wait { down_project, services } => {
            return attach::wait(&plan, &backend, client, services, *down_project, p)
        }
        ComposeVerb::Config { .. } | ComposeVerb::Ls(_) => unreachable!("handled by compose()"),
    }
    Ok(0)
}

fn build_policy(build: bool, no_build: bool) -> BuildPolicy {
    match (build, no_build) {
        (true, _) => BuildPolicy::Always,
        (_, true) => BuildPolicy::Never,
        _ => BuildPolicy::Missing,
    }
}
