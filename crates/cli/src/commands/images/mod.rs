//! The image commands — images, import, tag, rmi, save, load, pull, push,
//! image inspect/prune/history, system df — written once over
//! [`ImageEngine`]: the local store ([`local::Local`]) or a daemon
//! ([`remote::Remote`]) answers, these print.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use wharf_image::manifest::RunConfig;

use crate::format::{align, Template};

pub mod engine;
pub mod local;
pub mod progress;
pub mod remote;

pub use engine::ImageEngine;
pub use progress::Renderer;

/// Docker's "4.26MB": SI units, three significant digits (`%.3g`).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", units[i])
}

/// "3 minutes ago", as Docker prints it.
pub fn human_ago(rfc3339: Option<&str>) -> String {
    wharf_common::time::ago(rfc3339)
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show all images (intermediate ones too)
    #[arg(short, long)]
    pub all: bool,
    /// Format output using a Go template (through the daemon)
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate IDs
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only this repository[:tag]
    pub reference: Option<String>,
}

fn short(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}

pub fn images(e: &dyn ImageEngine, a: &ImagesArgs) -> Result<()> {
    let mut rows = e.list(a.all)?;
    if let Some(r) = &a.reference {
        let (repo, tag) =
            r.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or((r.as_str(), None), |(a, b)| (a, Some(b)));
        rows.retain(|row| row.repository == repo && tag.is_none_or(|t| row.tag == t));
    }
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"ID": short(&r.id, a.no_trunc), "Repository": r.repository, "Tag": r.tag, "Digest": r.digest,
                   "CreatedSince": human_ago(r.created.as_deref()), "CreatedAt": r.created.clone().unwrap_or_default(),
                   "Size": human_size(r.size)})
        })
        .collect();
    let f = match (&a.format, a.quiet, a.digests) {
        (_, true, _) => "{{.ID}}".to_string(),
        (Some(f), _, _) => f.clone(),
        (None, _, true) => {
            "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}".into()
        }
        (None, _, false) => "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}".into(),
    };
    // As the docker CLI: `-q` prints an image once per name.
    print!("{}", Template::new(&f)?.print_all(&rows, &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")])?);
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// Tarball path, or - for stdin
    pub file: String,
    /// Name for the new image
    pub reference: Option<String>,
    /// Dockerfile-style instruction applied to the config (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE)
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
}

/// Applies `--change` instructions the way `docker import -c` does.
pub fn apply_changes(changes: &[String]) -> Result<RunConfig> {
    let mut rc = RunConfig::default();
    rc.apply_changes(changes)?;
    if rc.env.is_none() {
        rc.env = Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]);
    }
    Ok(rc)
}

pub fn import(e: &dyn ImageEngine, a: &ImportArgs) -> Result<()> {
    let tarball: Box<dyn io::Read + Send> = if a.file == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(&a.file).with_context(|| format!("open {}", a.file))?)
    };
    println!("{}", e.import(tarball, a.reference.as_deref(), &a.change, a.message.as_deref())?);
    Ok(())
}

pub fn tag(e: &dyn ImageEngine, source: &str, target: &str) -> Result<()> {
    e.tag(source, target)
}

/// Every name is tried; each failure is reported, and the command fails at the end.
pub fn rmi(e: &dyn ImageEngine, names: &[String], force: bool) -> Result<()> {
    crate::each_name(names, |n| {
        e.remove(n, force)?.iter().for_each(|l| println!("{l}"));
        Ok(())
    })
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// docker (Docker >= 25 shape), docker-legacy (Docker 20.10) or oci; oci-dir writes a layout directory
    #[arg(long, default_value = "docker")]
    pub format: String,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn save(e: &dyn ImageEngine, a: &SaveArgs) -> Result<()> {
    if a.format == "oci-dir" {
        let dir = a.output.as_ref().context("--format oci-dir needs --output DIR")?;
        return e.save_dir(&a.images, dir);
    }
    match &a.output {
        Some(p) => {
            // Write beside the target and rename: a failed save leaves no partial file.
            let tmp = p.with_extension("partial");
            let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
            let mut w = BufWriter::new(f);
            let result = e.save(&a.images, &a.format, &mut w).and_then(|()| Ok(w.flush()?));
            if let Err(err) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(err);
            }
            std::fs::rename(&tmp, p).with_context(|| format!("rename to {}", p.display()))?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut w = BufWriter::new(io::stdout().lock());
            e.save(&a.images, &a.format, &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

pub fn load(e: &dyn ImageEngine, a: &LoadArgs) -> Result<()> {
    let names = e.load(a.input.as_deref(), &Renderer::new(a.quiet))?;
    if !a.quiet {
        for n in names {
            if n.starts_with("sha256:") {
                println!("Loaded image ID: {n}");
            } else {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(())
}

/// `pull`: progress, the status line, then the full reference (as the docker CLI).
pub fn pull(e: &dyn ImageEngine, name: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let r: wharf_image::Reference = name.parse()?;
    e.pull(name, platform, &Renderer::new(quiet))?;
    println!("{r}");
    Ok(())
}

/// `push`: progress; with `--quiet`, the pushed `name@digest`.
pub fn push(e: &dyn ImageEngine, name: &str, quiet: bool) -> Result<()> {
    let r: wharf_image::Reference = name.parse()?;
    let digest = e.push(name, &Renderer::new(quiet))?;
    if quiet {
        match digest.map(|d| d.parse::<wharf_image::Digest>()).transpose()? {
            Some(d) => println!("{}", r.with_digest(d).familiar()),
            None => println!("{}", r.familiar()),
        }
    }
    Ok(())
}

/// `image inspect`: the engine's inspect shape, as a JSON array.
pub fn inspect(e: &dyn ImageEngine, names: &[String]) -> Result<()> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match e.inspect(n)? {
            Some(v) => out.push(v),
            None => missing.push(n.clone()),
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !missing.is_empty() {
        bail!("No such image: {}", missing.join(", "));
    }
    Ok(())
}

pub fn history(e: &dyn ImageEngine, name: &str, no_trunc: bool) -> Result<()> {
    let rows: Vec<Value> = e
        .history(name)?
        .into_iter()
        .map(|h| {
            let id = if h.id.starts_with("sha256:") { short(&h.id, no_trunc) } else { h.id };
            let by = if no_trunc || h.created_by.chars().count() <= 45 {
                h.created_by
            } else {
                format!("{}…", h.created_by.chars().take(44).collect::<String>())
            };
            json!({"ID": id, "CreatedSince": human_ago(h.created.as_deref()), "CreatedBy": by,
                   "Size": human_size(h.size), "Comment": h.comment})
        })
        .collect();
    let f = "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}";
    print!(
        "{}",
        Template::new(f)?
            .print_all(&rows, &[("ID", "IMAGE"), ("CreatedSince", "CREATED"), ("CreatedBy", "CREATED BY")])?
    );
    Ok(())
}

pub fn prune(e: &dyn ImageEngine, all: bool) -> Result<()> {
    let (deleted, freed) = e.prune(all)?;
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}

pub fn system_df(e: &dyn ImageEngine) -> Result<()> {
    let du = e.disk_usage()?;
    let lines = vec![
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string(),
        format!(
            "Images\t{}\t{}\t{}\t{}",
            du.images,
            du.images_active,
            human_size(du.images_size),
            human_size(du.images_reclaimable)
        ),
        format!("Containers\t{}\t{}\t0B\t0B", du.containers, du.containers_running),
        format!(
            "Local Volumes\t{}\t{}\t{}\t{}",
            du.volumes,
            du.volumes_active,
            human_size(du.volumes_size),
            human_size(du.volumes_reclaimable)
        ),
        "Build Cache\t0\t0\t0B\t0B".to_string(),
    ];
    print!("{}", align(&lines));
    Ok(())
}

#[derive(Subcommand)]
pub enum ImageVerb {
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on images
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove unused images
    Prune {
        /// Remove all images without a container, not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt (accepted for compatibility)
        #[arg(short, long)]
        force: bool,
    },
    /// Show the history of an image
    History {
        /// Don't truncate output
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        image: String,
    },
    /// Remove images
    Rm {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Create a tag TARGET that refers to SOURCE
    Tag { source: String, target: String },
    /// Import a root filesystem tarball as an image
    Import(ImportArgs),
    /// Save images to a tar archive
    Save(SaveArgs),
    /// Load images from a tar archive
    Load(LoadArgs),
}

#[derive(Args)]
pub struct LoadArgs {
    /// Archive or OCI layout directory (default: stdin)
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn image(e: &dyn ImageEngine, verb: &ImageVerb) -> Result<()> {
    match verb {
        ImageVerb::Ls(a) => images(e, a),
        ImageVerb::Inspect { images } => inspect(e, images),
        ImageVerb::Prune { all, .. } => prune(e, *all),
        ImageVerb::History { image, no_trunc } => history(e, image, *no_trunc),
        ImageVerb::Rm { force, images } => rmi(e, images, *force),
        ImageVerb::Tag { source, target } => tag(e, source, target),
        ImageVerb::Import(a) => import(e, a),
        ImageVerb::Save(a) => save(e, a),
        ImageVerb::Load(a) => load(e, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(1_500), "1.5kB");
    }

    #[test]
    fn changes() {
        let rc =
            apply_changes(&["CMD [\"sh\"]".into(), "ENV A=1".into(), "WORKDIR /w".into(), "EXPOSE 80".into()]).unwrap();
        assert_eq!(rc.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(rc.env, Some(vec!["A=1".to_string()]));
        assert_eq!(rc.working_dir.as_deref(), Some("/w"));
        assert!(rc.exposed_ports.unwrap().contains_key("80/tcp"));
        assert!(apply_changes(&["RUN x".into()]).is_err());
    }
}
