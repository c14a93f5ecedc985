//! The `wharf` binary: a thin shell over the library crates.

mod commands;
mod logging;
mod seal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::images::{self as img, ImageVerb, ImagesArgs, ImportArgs, LoadArgs, SaveArgs};

#[derive(Parser)]
#[command(name = "wharf", version, about = "Containers: sandbox, images and orchestration in one binary")]
struct Cli {
    /// Root of Wharf's persistent state (images, containers, volumes)
    #[arg(long = "data-root", global = true, env = "WHARF_DATA_ROOT", default_value = "/var/lib/wharf")]
    data_root: PathBuf,
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
    /// Run a command in a new container (foreground)
    Run(Box<commands::run::RunArgs>),
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

fn run(cli: Cli) -> anyhow::Result<()> {
    let store = || wharf_image::Images::open(cli.data_root.join("image"));
    match &cli.command {
        Command::Runtime(_)
        | Command::Run(_)
        | Command::Daemon(_)
        | Command::Monitor { .. }
        | Command::Proxy { .. } => {
            unreachable!("handled before")
        }
        Command::Image { verb } => img::image(&store()?, verb),
        Command::Images(a) => img::images(&store()?, a),
        Command::Import(a) => img::import(&store()?, a),
        Command::Tag { source, target } => img::tag(&store()?, source, target),
        Command::Rmi { force, images } => img::rmi(&store()?, images, *force),
        Command::Save(a) => img::save(&store()?, a),
        Command::Load(a) => img::load(&store()?, a),
        Command::System { verb: SystemVerb::Df } => img::system_df(&store()?),
        Command::Pull { platform, quiet, name } => {
            commands::registry::pull(&store()?, &cli.insecure_registry, name, platform.as_deref(), *quiet)
        }
        Command::Push { quiet, name } => commands::registry::push(&store()?, &cli.insecure_registry, name, *quiet),
        Command::Login { username, password, password_stdin, server } => commands::registry::login(
            &cli.insecure_registry,
            server.as_deref(),
            username.as_deref(),
            password.as_deref(),
            *password_stdin,
        ),
        Command::Logout { server } => commands::registry::logout(server.as_deref()),
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
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
        let code = match wharf_engine::Engine::open(&cli.data_root) {
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
        let result = wharf_network::proxy::serve(proto, *listen, *target, || println!("ok"));
        if let Err(e) = result {
            println!("error: {e}");
        }
        return ExitCode::FAILURE;
    }
    if let Command::Daemon(args) = &cli.command {
        return match commands::daemon::run(args, &cli.data_root, &cli.insecure_registry) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Run(args) = &cli.command {
        logging::init(None, false, false);
        let result = wharf_engine::Engine::open(&cli.data_root)
            .map_err(anyhow::Error::from)
            .and_then(|e| commands::run::run(&e, args));
        return match result {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("Error: {e:#}");
                // Docker's codes: 125 for the daemon/engine, 126/127 for the command.
                let msg = format!("{e:#}");
                ExitCode::from(if msg.contains("executable file not found") || msg.contains("no such executable") {
                    127
                } else {
                    125
                })
            }
        };
    }
    logging::init(None, false, false);
    wharf_runtime::sys::default_sigpipe();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
