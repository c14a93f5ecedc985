//! `wharf compose`: Compose projects (issue 13): `config` (the project's
//! model loaded, interpolated, validated, merged and filtered by profiles,
//! written as Compose v2 writes it), `up -d`, `down`, `ps` on the daemon
//! through the Engine API (`compose_api.rs`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use wharf_compose::convert::Cx;
use wharf_compose::load::{load, Project, Request};
use wharf_compose::project::Options;
use wharf_compose::up::{down, up, DownOptions, Plan, UpOptions};
use wharf_compose::yaml::Value;

use super::compose_api::ApiBackend;
use crate::client::Client;

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
    /// Create and start the project's containers
    Up {
        /// Detached: start and return (required: attaching is not implemented yet)
        #[arg(short, long)]
        detach: bool,
        /// Recreate containers even if their configuration is unchanged
        #[arg(long)]
        force_recreate: bool,
        /// Keep existing containers even if their configuration changed
        #[arg(long, conflicts_with = "force_recreate")]
        no_recreate: bool,
        /// Remove containers of services not in the project
        #[arg(long)]
        remove_orphans: bool,
        /// Services to start (with what they depend on)
        services_named: Vec<String>,
    },
    /// Stop and remove the project's containers and networks
    Down {
        /// Remove the named volumes declared in the project, and anonymous ones
        #[arg(short, long)]
        volumes: bool,
        /// Remove containers of services not in the project
        #[arg(long)]
        remove_orphans: bool,
    },
    /// List the project's containers
    Ps {
        /// Stopped containers too
        #[arg(short, long)]
        all: bool,
        /// Only ids
        #[arg(short, long)]
        quiet: bool,
    },
}

fn names(model: &wharf_compose::yaml::Node, key: &str) -> Vec<String> {
    match model.get(key).map(|n| &n.value) {
        Some(Value::Map(entries)) => entries.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => Vec::new(),
    }
}

pub fn compose(a: &ComposeArgs, daemon: impl FnOnce() -> Result<Client>) -> Result<i32> {
    let targets = match &a.verb {
        ComposeVerb::Config { services_named, .. } | ComposeVerb::Up { services_named, .. } => services_named.clone(),
        _ => Vec::new(),
    };
    let req = Request {
        options: Options {
            files: a.file.clone(),
            project_directory: a.project_directory.clone(),
            project_name: a.project_name.clone(),
            env_files: a.env_file.clone(),
        },
        profiles: a.profile.clone(),
        services: targets,
    };
    if let ComposeVerb::Config { format, .. } = &a.verb {
        if !matches!(format.as_str(), "yaml" | "json") {
            bail!("unsupported format {format:?}: yaml or json");
        }
    }
    if let ComposeVerb::Up { detach: false, .. } = &a.verb {
        bail!("wharf compose up: attaching to the services' output is not implemented yet; use up -d");
    }
    let cwd = std::env::current_dir()?;
    let shell = |n: &str| std::env::var(n).ok();
    let project = load(&req, &cwd, &shell)?;
    for w in &project.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let ComposeVerb::Config { services, volumes, profiles, format, quiet, .. } = &a.verb else {
        return run(&project, &a.verb, &daemon()?, &shell);
    };
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

fn run(project: &Project, verb: &ComposeVerb, client: &Client, shell: &dyn Fn(&str) -> Option<String>) -> Result<i32> {
    let backend = ApiBackend(client);
    let lookup =
        |n: &str| project.environment.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).or_else(|| shell(n));
    let files: Vec<String> = project.files.iter().map(|f| f.display().to_string()).collect();
    let volumes = wharf_compose::convert::volume_names(&project.name, &project.model);
    let directory = project.directory.display().to_string();
    let plan = Plan {
        project: &project.name,
        model: &project.model,
        cx: Cx { project: &project.name, lookup: &lookup, files: &files, directory: &directory, volumes: &volumes },
    };
    let mut progress = |kind: &str, name: &str, status: &str| eprintln!(" {kind} {name}  {status}");
    match verb {
        ComposeVerb::Up { force_recreate, no_recreate, remove_orphans, .. } => {
            let opts = UpOptions {
                force_recreate: *force_recreate,
                no_recreate: *no_recreate,
                remove_orphans: *remove_orphans,
            };
            up(&plan, &backend, &opts, &mut progress)?;
        }
        ComposeVerb::Down { volumes, remove_orphans } => {
            down(&plan, &backend, &DownOptions { volumes: *volumes, remove_orphans: *remove_orphans }, &mut progress)?;
        }
        ComposeVerb::Ps { all, quiet } => ps(client, &project.name, *all, *quiet)?,
        ComposeVerb::Config { .. } => unreachable!("handled by compose()"),
    }
    Ok(0)
}

/// Compose v2's columns: NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS.
fn ps(client: &Client, project: &str, all: bool, quiet: bool) -> Result<()> {
    use std::io::Write;
    let filters = crate::client::enc(
        &serde_json::json!({"label": [format!("com.docker.compose.project={project}")]}).to_string(),
    );
    let list = client.get(&format!("/containers/json?all={}&filters={filters}", u8::from(all)))?;
    let mut rows: Vec<&serde_json::Value> = list.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    rows.sort_by_key(|c| c["Names"][0].as_str().unwrap_or_default().to_string());
    if quiet {
        for c in rows {
            println!("{}", c["Id"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let mut tw = tabwriter::TabWriter::new(std::io::stdout()).padding(3);
    writeln!(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")?;
    for c in rows {
        let ports: Vec<String> = c["Ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| match p["PublicPort"].as_u64() {
                        Some(pp) => format!(
                            "{}:{pp}->{}/{}",
                            p["IP"].as_str().unwrap_or("0.0.0.0"),
                            p["PrivatePort"],
                            p["Type"].as_str().unwrap_or("tcp")
                        ),
                        None => format!("{}/{}", p["PrivatePort"], p["Type"].as_str().unwrap_or("tcp")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let created = c["Created"].as_i64().unwrap_or(0);
        let ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64 - created)
            .unwrap_or(0)
            .max(0);
        writeln!(
            tw,
            "{}\t{}\t{:?}\t{}\t{} ago\t{}\t{}",
            c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/'),
            c["Image"].as_str().unwrap_or_default(),
            c["Command"].as_str().unwrap_or_default(),
            c["Labels"]["com.docker.compose.service"].as_str().unwrap_or_default(),
            humantime::format_duration(std::time::Duration::from_secs(ago as u64)),
            c["Status"].as_str().unwrap_or_default(),
            ports.join(", ")
        )?;
    }
    tw.flush()?;
    Ok(())
}
