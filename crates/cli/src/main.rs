//! The `wharf` binary: a thin shell over the library crates.

mod commands;
mod logging;
mod seal;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wharf", version, about = "Containers: sandbox, images and orchestration in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// OCI runtime (runc-compatible command line)
    Runtime(commands::runtime::RuntimeArgs),
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

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    if runtime_invocation(&args) {
        args.insert(1, "runtime".into());
    }
    let cli = Cli::parse_from(&args);
    match cli.command {
        Command::Runtime(rt) => commands::runtime::main(rt),
    }
}
