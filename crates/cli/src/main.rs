//! The `wharf` binary: a thin shell over the library crates.

#![forbid(unsafe_code)]

use wharf::{client, compose_backend};
mod commands;
mod format;
mod logging;
mod seal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use client::Client;
use commands::containers as ctr;
use commands::images::{self as img, ImageVerb, ImagesArgs, ImportArgs, LoadArgs, SaveArgs};

#[derive(Parser)]
#[command(name = "wharf", version, about = "Containers: sandbox, images and orchestration in one binary")]
struct Cli {
    /// Daemon socket to talk to (default: $WHARF_HOST, $DOCKER_HOST, unix:///run/wharf/wharf.sock)
    #[arg(short = 'H', long = "host")]
    host: Option<String>,
    /// Root of Wharf's persistent state (images, containers, volumes); given, commands
    /// work on it directly instead of through a daemon [default: /var/lib/wharf]
    #[arg(long = "data-root", global = true, env = "WHARF_DATA_ROOT")]
    data_root: Option<PathBuf>,
    /// Registries reachable over plain HTTP (loopback registries always are)
    #[arg(long = "insecure-registry", global = true, env = "WHARF_INSECURE_REGISTRIES", value_delimiter = ',')]
    insecure_registry: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// OCI runtime (runc-compatible command line)
    Runtime(Box<commands::runtime::RuntimeArgs>),
    /// Run a command in a new container (through the daemon if one runs, else in the foreground)
    Run(Box<ctr::RunArgs>),
    /// Create a new container
    Create(Box<ctr::CreateArgs>),
    /// List containers
    Ps(ctr::PsArgs),
    /// Start one or more stopped containers
    Start {
        /// Attach STDOUT/STDERR and wait for the exit
        #[arg(short, long)]
        attach: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop one or more running containers
    Stop(ctr::StopArgs),
    /// Restart one or more containers
    Restart(ctr::StopArgs),
    /// Kill one or more running containers
    Kill {
        #[arg(short, long)]
        signal: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove one or more containers
    Rm {
        /// Force the removal of a running container (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes associated with the container
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Pause all processes within one or more containers
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within one or more containers
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until one or more containers stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Display the running processes of a container
    Top { container: String },
    /// List port mappings of a container
    Port { container: String },
    /// Fetch the logs of a container
    Logs(ctr::LogsArgs),
    /// Execute a command in a running container
    Exec(ctr::ExecArgs),
    /// Return low-level information on Wharf objects
    Inspect {
        #[arg(short, long)]
        format: Option<String>,
        /// Only this type: container, image, volume, network
        #[arg(long = "type")]
        typ: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Copy files between a container and the local filesystem
    Cp { src: String, dst: String },
    /// Export a container's filesystem as a tar archive
    Export {
        #[arg(short, long)]
        output: Option<PathBuf>,
        container: String,
    },
    /// Create a new image from a container's changes
    Commit(ctr::CommitArgs),
    /// Display a live stream of container resource usage statistics
    Stats {
        #[arg(long = "no-stream")]
        no_stream: bool,
        #[arg(long)]
        format: Option<String>,
        containers: Vec<String>,
    },
    /// Get real time events from the daemon
    Events(ctr::EventsArgs),
    /// Define and run multi-container applications (Compose files)
    Compose(Box<commands::compose::ComposeArgs>),
    /// Manage networks
    Network {
        #[command(subcommand)]
        verb: ctr::NetworkVerb,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        verb: ctr::VolumeVerb,
    },
    /// Show the Wharf version information
    Version {
        #[arg(short, long)]
        format: Option<String>,
    },
    /// Display system-wide information
    Info {
        #[arg(short, long)]
        format: Option<String>,
    },
    /// Build an image from a Dockerfile
    Build(ctr::BuildArgs),
    /// Generate shell completions (bash, zsh, fish, elvish, powershell)
    Completion { shell: clap_complete::Shell },
    /// Serve the Docker Engine API
    Daemon(commands::daemon::DaemonArgs),
    /// Supervise one container (started by the daemon)
    #[command(hide = true)]
    Monitor {
        #[arg(long, default_value_t = 0)]
        attachers: usize,
        id: String,
    },
    /// Forward one published port to a container (started by the monitor)
    #[command(hide = true)]
    Proxy {
        #[arg(long, default_value = "tcp")]
        proto: String,
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        target: std::net::SocketAddr,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        verb: ImageVerb,
    },
    /// List images
    Images(ImagesArgs),
    /// Import a root filesystem tarball as an image
    Import(ImportArgs),
    /// Create a tag TARGET that refers to SOURCE
    Tag { source: String, target: String },
    /// Remove images
    Rmi {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Save images to a tar archive
    Save(SaveArgs),
    /// Load images from a tar archive or OCI layout
    Load(LoadArgs),
    /// Download an image from a registry
    Pull {
        /// os/arch[/variant] to pull (default: this machine's)
        #[arg(long)]
        platform: Option<String>,
        #[arg(short, long)]
        quiet: bool,
        name: String,
    },
    /// Upload an image to a registry
    Push {
        #[arg(short, long)]
        quiet: bool,
        name: String,
    },
    /// Log in to a registry
    Login {
        #[arg(short, long)]
        username: Option<String>,
        #[arg(short, long)]
        password: Option<String>,
        #[arg(long = "password-stdin")]
        password_stdin: bool,
        server: Option<String>,
    },
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Manage Wharf
    System {
        #[command(subcommand)]
        verb: SystemVerb,
    },
}

#[derive(Subcommand)]
enum SystemVerb {
    /// Show disk usage
    Df,
    /// Remove unused data (stopped containers, unused networks, dangling images)
    Prune {
        /// Remove all unused images, not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Prune anonymous volumes
        #[arg(long)]
        volumes: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

/// Global flags of the runc command line: when the binary is called with one
/// of these first (as containerd's shim does), it acts as `wharf runtime`.
const RUNTIME_GLOBALS: [&str; 7] =
    ["--root", "--log", "--log-format", "--systemd-cgroup", "--debug", "--rootless", "--criu"];

fn runtime_invocation(args: &[String]) -> bool {
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    if matches!(argv0, "wharf-runtime" | "runc") {
        return true;
    }
    args.get(1).is_some_and(|a| RUNTIME_GLOBALS.iter().any(|g| a == g || a.starts_with(&format!("{g}="))))
}

impl Cli {
    fn data_root(&self) -> PathBuf {
        self.data_root.clone().unwrap_or_else(|| PathBuf::from("/var/lib/wharf"))
    }

    /// The daemon to use for commands that can also work locally: given
    /// `-H`, or when no `--data-root` was given and the daemon answers.
    fn remote(&self) -> anyhow::Result<Option<Client>> {
        if self.host.is_some() {
            return Ok(Some(Client::new(self.host.as_deref())?));
        }
        if self.data_root.is_some() {
            return Ok(None);
        }
        let c = Client::new(None)?;
        Ok(c.reachable().then_some(c))
    }

    /// The daemon, for commands that only exist through it.
    fn daemon(&self) -> anyhow::Result<Client> {
        Client::new(self.host.as_deref())
    }
}

/// Runs a command; `Ok(code)` is the process exit code.
fn run(cli: Cli) -> anyhow::Result<i32> {
    let local = || img::local::Local::open(&cli.data_root(), &cli.insecure_registry);
    // The daemon's client outlives the engine that borrows it.
    let client = cli.remote()?;
    let images = || -> anyhow::Result<Box<dyn img::ImageEngine + '_>> {
        Ok(match &client {
            Some(c) => Box::new(img::remote::Remote(c)),
            None => Box::new(local()?),
        })
    };
    let d = || cli.daemon();
    match &cli.command {
        Command::Runtime(_)
        | Command::Run(_)
        | Command::Daemon(_)
        | Command::Monitor { .. }
        | Command::Proxy { .. } => {
            unreachable!("handled before")
        }
        Command::Images(a) => img::images(images()?.as_ref(), a)?,
        Command::Image { verb } => img::image(images()?.as_ref(), verb)?,
        Command::Import(a) => img::import(images()?.as_ref(), a)?,
        Command::Tag { source, target } => img::tag(images()?.as_ref(), source, target)?,
        Command::Rmi { force, images: names } => img::rmi(images()?.as_ref(), names, *force)?,
        // The Engine API saves the docker format only: the others read the local store.
        Command::Save(a) if a.format != "docker" && cli.host.is_none() => img::save(&local()?, a)?,
        Command::Save(a) => img::save(images()?.as_ref(), a)?,
        Command::Load(a) => img::load(images()?.as_ref(), a)?,
        Command::System { verb: SystemVerb::Df } => img::system_df(images()?.as_ref())?,
        Command::System { verb: SystemVerb::Prune { all, volumes, force } } => {
            ctr::system_prune(&d()?, *all, *volumes, *force)?
        }
        Command::Pull { platform, quiet, name } => img::pull(images()?.as_ref(), name, platform.as_deref(), *quiet)?,
        Command::Push { quiet, name } => img::push(images()?.as_ref(), name, *quiet)?,
        Command::Login { username, password, password_stdin, server } => commands::registry::login(
            &cli.insecure_registry,
            server.as_deref(),
            username.as_deref(),
            password.as_deref(),
            *password_stdin,
        )?,
        Command::Logout { server } => commands::registry::logout(server.as_deref())?,
        Command::Create(a) => ctr::create_cmd(&d()?, a)?,
        Command::Ps(a) => ctr::ps(&d()?, a)?,
        Command::Start { attach, containers } => return ctr::start(&d()?, containers, *attach),
        Command::Stop(a) => ctr::stop(&d()?, a, false)?,
        Command::Restart(a) => ctr::stop(&d()?, a, true)?,
        Command::Kill { signal, containers } => ctr::kill(&d()?, signal.as_deref(), containers)?,
        Command::Rm { force, volumes, containers } => ctr::rm(&d()?, *force, *volumes, containers)?,
        Command::Pause { containers } => ctr::simple(&d()?, "pause", containers)?,
        Command::Unpause { containers } => ctr::simple(&d()?, "unpause", containers)?,
        Command::Wait { containers } => return ctr::wait(&d()?, containers),
        Command::Rename { container, new_name } => ctr::rename(&d()?, container, new_name)?,
        Command::Top { container } => ctr::top(&d()?, container)?,
        Command::Port { container } => ctr::port(&d()?, container)?,
        Command::Logs(a) => ctr::logs(&d()?, a)?,
        Command::Exec(a) => return ctr::exec(&d()?, a),
        Command::Inspect { format, typ, names } => ctr::inspect(&d()?, format.as_deref(), typ.as_deref(), names)?,
        Command::Cp { src, dst } => ctr::cp(&d()?, src, dst)?,
        Command::Export { output, container } => ctr::export(&d()?, container, output.as_deref())?,
        Command::Commit(a) => ctr::commit(&d()?, a)?,
        Command::Stats { no_stream, format, containers } => {
            ctr::stats(&d()?, containers, *no_stream, format.as_deref())?
        }
        Command::Events(a) => ctr::events(&d()?, a)?,
        Command::Compose(a) => {
            // Through the daemon if one answers (or -H names one), else served from this process.
            return commands::compose::compose(a, || match cli.remote()? {
                Some(c) => Ok(wharf::embedded::Connection::remote(c)),
                None => wharf::embedded::Connection::local(&cli.data_root(), &cli.insecure_registry),
            });
        }
        Command::Network { verb } => ctr::network(&d()?, verb)?,
        Command::Volume { verb } => ctr::volume(&d()?, verb)?,
        Command::Version { format } => ctr::version(&d()?, format.as_deref())?,
        Command::Info { format } => ctr::info(&d()?, format.as_deref())?,
        Command::Build(a) => match &client {
            Some(c) => ctr::build(c, a)?,
            None => ctr::build_local(&wharf_engine::Engine::open(&cli.data_root())?, a)?,
        },
        Command::Completion { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "wharf", &mut std::io::stdout());
        }
    }
    Ok(0)
}

/// This binary, for the helpers it starts: by the path it was started with
/// (once sealed, /proc/self/exe names no path).
fn helper_exe() -> Option<std::path::PathBuf> {
    let exe = std::env::args_os().next().map(std::path::PathBuf::from).filter(|p| p.is_absolute());
    exe.or_else(|| std::env::current_exe().ok())
}

/// The long-lived helpers the daemon spawns (one per container or per
/// published port) are parsed by hand: clap's full command tree would cost
/// each of them a few hundred KiB of heap and stack for its whole life.
fn internal(args: &[String]) -> Option<ExitCode> {
    let a: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match a.as_slice() {
        ["--data-root", root, "--exec-root", exec_root, "monitor", "--attachers", n, id] => {
            let attachers: usize = n.parse().ok()?;
            seal::ensure_sealed();
            let code =
                match wharf_engine::Engine::open_with(std::path::Path::new(root), std::path::Path::new(exec_root)) {
                    Ok(engine) => {
                        // Without a daemon, the sandbox's names are served by a resolver helper.
                        let engine = match helper_exe() {
                            Some(exe) => engine.with_resolver(exe),
                            None => engine,
                        };
                        wharf_engine::monitor::monitor_main(&engine, id, attachers)
                    }
                    Err(e) => {
                        println!("error: {e}");
                        1
                    }
                };
            Some(ExitCode::from(code.clamp(0, 255) as u8))
        }
        ["--data-root", root, "--exec-root", exec_root, "resolver"] => {
            // Serves names and probes health without a daemon (wharf_engine::resolver);
            // `ok` or `error: why` on stdout. Its probes exec through this binary.
            let result = wharf_engine::Engine::open_with(std::path::Path::new(root), std::path::Path::new(exec_root))
                .and_then(|engine| match helper_exe() {
                    Some(exe) => engine.with_resolver(exe).resolver_main(),
                    None => Err(wharf_engine::EngineError::Other("cannot locate the wharf binary".into())),
                });
            if let Err(e) = result {
                println!("error: {e}");
                return Some(ExitCode::FAILURE);
            }
            Some(ExitCode::SUCCESS)
        }
        ["proxy", "--proto", proto, "--listen", listen, "--target", target] => {
            let (listen, target) = (listen.parse().ok()?, target.parse().ok()?);
            die_with_parent();
            if let Err(e) = wharf_network::proxy::serve(proto, listen, target, || println!("ok")) {
                println!("error: {e}");
            }
            Some(ExitCode::FAILURE)
        }
        _ => None,
    }
}

/// The docker CLI plugin protocol's metadata call (`docker-compose
/// docker-cli-plugin-metadata`, asked by `docker` of each plugin it finds).
const PLUGIN_METADATA: &str = "docker-cli-plugin-metadata";

/// As `docker-compose` (a docker CLI plugin, or run by that name): the
/// docker CLI runs `docker-compose [-H host] compose ARGS`, a user
/// `docker-compose ARGS`; both become `wharf [-H host] compose ARGS`.
fn compose_invocation(mut args: Vec<String>) -> Vec<String> {
    let argv0 = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if argv0 != "docker-compose" {
        return args;
    }
    // Past the global flags the docker CLI may put first.
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "-H" | "--host" => i += 2,
            a if a.starts_with("--host=") => i += 1,
            _ => break,
        }
    }
    if args.get(i).map(String::as_str) != Some("compose") {
        args.insert(i.min(args.len()), "compose".into());
    }
    args
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(code) = internal(&args) {
        return code;
    }
    if args.get(1).map(String::as_str) == Some(PLUGIN_METADATA) {
        let meta = serde_json::json!({
            "SchemaVersion": "0.1.0",
            "Vendor": "Wharf",
            "Version": env!("CARGO_PKG_VERSION"),
            "ShortDescription": "Docker Compose (Wharf's, native)",
        });
        println!("{meta}");
        return ExitCode::SUCCESS;
    }
    let mut args = compose_invocation(std::mem::take(&mut args));
    if runtime_invocation(&args) {
        args.insert(1, "runtime".into());
    }
    let cli = Cli::parse_from(&args);
    if let Command::Runtime(rt) = cli.command {
        return commands::runtime::main(*rt);
    }
    if let Command::Monitor { attachers, id } = &cli.command {
        // The monitor forks the container's init: seal it like the runtime.
        seal::ensure_sealed();
        let code = match wharf_engine::Engine::open(&cli.data_root()) {
            Ok(engine) => wharf_engine::monitor::monitor_main(&engine, id, *attachers),
            Err(e) => {
                println!("error: {e}");
                1
            }
        };
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Command::Proxy { proto, listen, target } = &cli.command {
        // One line for the parent: "ok" once bound, or why not.
        die_with_parent();
        let result = wharf_network::proxy::serve(proto, *listen, *target, || println!("ok"));
        if let Err(e) = result {
            println!("error: {e}");
        }
        return ExitCode::FAILURE;
    }
    if let Command::Daemon(args) = &cli.command {
        return match commands::daemon::run(args, &cli.data_root(), &cli.insecure_registry) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report(&e);
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Run(args) = &cli.command {
        logging::init(None, false, false);
        let result = match cli.remote() {
            Ok(Some(client)) => ctr::run(&client, args),
            Ok(None) => wharf_engine::Engine::open(&cli.data_root()).map_err(anyhow::Error::from).and_then(|e| {
                // Peers on a user network are named by the resolver helper.
                let e = match std::env::current_exe() {
                    Ok(exe) => e.with_resolver(exe),
                    Err(_) => e,
                };
                commands::run::run(&e, args)
            }),
            Err(e) => Err(e),
        };
        return match result {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                report(&e);
                // Docker's codes: 125 for the daemon/engine, 126/127 for the command.
                let not_found = e.chain().any(|c| {
                    c.downcast_ref::<wharf_engine::EngineError>().is_some_and(|e| e.is_command_not_found())
                        || c.downcast_ref::<wharf_runtime::RuntimeError>()
                            .is_some_and(|r| matches!(r, wharf_runtime::RuntimeError::ExecutableNotFound(_)))
                });
                let not_runnable = e.chain().any(|c| {
                    c.downcast_ref::<wharf_engine::EngineError>().is_some_and(|e| e.is_command_not_runnable())
                        || c.downcast_ref::<wharf_runtime::RuntimeError>()
                            .is_some_and(|r| matches!(r, wharf_runtime::RuntimeError::ExecutableNotRunnable(_)))
                });
                ExitCode::from(if not_found {
                    127
                } else if not_runnable {
                    126
                } else {
                    125
                })
            }
        };
    }
    logging::init(None, false, false);
    wharf_runtime::sys::default_sigpipe();
    match run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Runs `f` for every name: each failure is reported at once, and the whole
/// fails at the end (as the docker CLI does for `rm`, `rmi`, `stop`, …).
pub(crate) fn each_name(names: &[String], mut f: impl FnMut(&str) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut failed = false;
    for n in names {
        if let Err(e) = f(n) {
            report(&e);
            failed = true;
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

/// A failure whose errors were printed already (the command exits 1 and says nothing more).
#[derive(Debug)]
pub(crate) struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("errors were reported")
    }
}

impl std::error::Error for Reported {}

/// Prints an error once, as the docker CLI does: a daemon's answer is
/// "Error response from daemon: …" on its own; anything else "Error: …".
pub(crate) fn report(e: &anyhow::Error) {
    if e.downcast_ref::<Reported>().is_some() {
        return;
    }
    match e.downcast_ref::<client::ApiFailure>() {
        Some(f) => eprintln!("{f}"),
        None => eprintln!("Error: {e:#}"),
    }
}

/// A port proxy lives exactly as long as the monitor that started it: if the
/// monitor is killed, its proxies must not keep the host ports bound.
fn die_with_parent() {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The parent may have died before the line above: then we were reparented.
    if let Ok(parent) = std::env::var("WHARF_PARENT_PID") {
        if nix::unistd::getppid().as_raw().to_string() != parent {
            std::process::exit(1);
        }
    }
}
