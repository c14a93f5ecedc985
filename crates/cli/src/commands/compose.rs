//! `wharf compose`: Compose projects (issue 13). Today `config`: the
//! project's model loaded, interpolated, validated, merged and filtered by
//! profiles, written as Compose v2 writes it.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use wharf_compose::load::{load, Request};
use wharf_compose::project::Options;
use wharf_compose::yaml::Value;

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
    #[command(subcommand)]
    verb: ComposeVerb,
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
}

fn names(model: &wharf_compose::yaml::Node, key: &str) -> Vec<String> {
    match model.get(key).map(|n| &n.value) {
        Some(Value::Map(entries)) => entries.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => Vec::new(),
    }
}

pub fn compose(a: &ComposeArgs) -> Result<i32> {
    let ComposeVerb::Config { services, volumes, profiles, format, quiet, services_named } = &a.verb;
    if !matches!(format.as_str(), "yaml" | "json") {
        bail!("unsupported format {format:?}: yaml or json");
    }
    let req = Request {
        options: Options {
            files: a.file.clone(),
            project_directory: a.project_directory.clone(),
            project_name: a.project_name.clone(),
            env_files: a.env_file.clone(),
        },
        profiles: a.profile.clone(),
        services: services_named.clone(),
    };
    let cwd = std::env::current_dir()?;
    let shell = |n: &str| std::env::var(n).ok();
    let project = load(&req, &cwd, &shell)?;
    for w in &project.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if *quiet {
        return Ok(0);
    }
    let lines = if *services {
        Some(names(&project.model, "services"))
    } else if *volumes {
        Some(names(&project.model, "volumes"))
    } else if *profiles {
        Some(project.profiles.clone())
    } else {
        None
    };
    match lines {
        Some(lines) => lines.iter().for_each(|l| println!("{l}")),
        None if format == "json" => print!("{}", wharf_compose::render::json(&project.model)),
        None => print!("{}", wharf_compose::render::yaml(&project.model)),
    }
    Ok(0)
}
